"""The balance tracker's money: exact integer minor units, or a sign that the scale must grow."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnwatch.rules.balance import BalanceFallBlock, _minor_units
from churnwatch.rules.balance_row import BalanceRow, read_balance
from churnwatch.rules.durations import micros
from churnwatch.rules.state import BalanceState, rebuild_balance
from churnwatch.rules.stored_rows import stored_block
from churnwatch.schemas.models import TransactionEvent

money = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15)


@given(money, st.integers(0, 6))
def test_minor_units_are_exact_or_none(value: Decimal, scale: int) -> None:
    """The units are the value times 10^scale when that is whole, else None (rescale);
    exactly, whatever the number of digits (Fraction: Decimal arithmetic would round
    to its context's 28 digits)."""
    scaled = Fraction(value) * 10**scale
    expected = scaled.numerator if scaled.denominator == 1 else None
    assert _minor_units(value, scale) == expected


def test_minor_units_of_a_value_longer_than_28_digits_are_exact() -> None:
    """Found by the property above: 29 digits, the last far past the hundredths."""
    value = Decimal("1.0000000000000000000000000001")
    assert _minor_units(value, 2) is None
    assert _minor_units(value, 28) == 10**28 + 1


posting = st.tuples(
    st.sampled_from(["A1", "A2", "A3"]),
    st.sampled_from(["debit", "credit"]),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**6), places=2),
    st.decimals(min_value=Decimal(-(10**6)), max_value=Decimal(10**7), places=2),
    st.booleans(),  # into the bank's own products (parked)
)
postings = st.lists(posting, min_size=1, max_size=25)


def posted(number: int, row: Any, hours: int, unit: Decimal = Decimal("0.01")) -> TransactionEvent:
    """The event of ``row`` (the ``posting`` strategy's), ``hours`` after the first, its
    money in steps of ``unit``."""
    account, direction, amount, after, parks = row
    return TransactionEvent(
        event_id=f"tx-{number}",
        occurred_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC) + dt.timedelta(hours=hours),
        account_id=account,
        customer_id="C1",
        direction=direction,
        amount=amount.quantize(unit),
        balance_after=after.quantize(unit),
        kind="product" if parks else "transfer",
        channel="mobile",
    )


@settings(max_examples=60, deadline=None)
@given(postings)
def test_postings_in_order_keep_the_figures_a_rebuild_gives(rows: list[Any]) -> None:
    """The in-order path updates totals in place; they equal a rebuild from the base."""
    block = BalanceFallBlock(
        7 * 86400, Decimal("0.5"), Decimal(50000), lambda e, c: e.kind == "product"
    )
    state = BalanceState()
    for number, row in enumerate(rows):
        event = posted(number, row, number)
        block.on_event(event, None, micros(event.occurred_at), True, state)
    live = (
        state.total,
        state.parked,
        dict(state.accounts),
        [(o.total_before, o.total_after) for o in state.observations],
    )
    rebuild_balance(state)
    assert live == (
        state.total,
        state.parked,
        state.accounts,
        [(o.total_before, o.total_after) for o in state.observations],
    )


def test_the_window_keeps_one_string_per_account_not_one_per_posting() -> None:
    """Each posting decodes its own copy of the account id; the observations share one
    (a busy customer's window holds dozens, each copy 65 bytes and a cache miss apart)."""
    block = BalanceFallBlock(7 * 86400, Decimal("0.5"), Decimal(50000), lambda e, c: False)
    state = BalanceState()
    for number in range(3):
        event = TransactionEvent(
            event_id=f"tx-{number}",
            occurred_at=dt.datetime(2026, 9, 1, number, tzinfo=dt.UTC),
            account_id="".join(["AC", "6222", "0001"]),  # a new string object each time
            customer_id="C1",
            direction="debit",
            amount=Decimal("10.00"),
            balance_after=Decimal(1000 - 10 * number),
            kind="transfer",
            channel="mobile",
        )
        block.on_event(event, None, micros(event.occurred_at), True, state)
    first, *rest = state.observations
    assert len(rest) == 2 and all(o.account_id is first.account_id for o in rest)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            posting,
            st.integers(-40, 40),  # hours off the posting's place in order (late when < 0)
            st.booleans(),  # stored and read back before it
            st.booleans(),  # pruned after it
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([2, 3]),  # decimal places of the money: three rescale the balance
)
def test_a_balance_read_back_as_stored_gives_the_same_figures_and_firings(
    rows: list[Any], places: int
) -> None:
    """Read back with its postings left as stored (read_balance), a balance fires as
    the one never stored does, through late postings, prunes and rescales, and is
    stored as the same row."""
    block = BalanceFallBlock(
        2 * 86400, Decimal("0.5"), Decimal(500), lambda e, c: e.kind == "product"
    )
    plain, lazy = BalanceState(), BalanceState()
    unit = Decimal(1).scaleb(-places)
    for number, (row, off, store, prune) in enumerate(rows):
        event = posted(number, row, 6 * number + off, unit)
        if store:
            row = stored_block(lazy)
            assert isinstance(row, BalanceRow)
            lazy = read_balance(row)
        at = micros(event.occurred_at)
        assert block.on_event(event, None, at, True, plain) == block.on_event(
            event, None, at, True, lazy
        )
        assert (lazy.total, lazy.parked, lazy.accounts, lazy.peak, lazy.peak_at) == (
            plain.total,
            plain.parked,
            plain.accounts,
            plain.peak,
            plain.peak_at,
        )
        if prune:
            block.prune(plain, at)
            block.prune(lazy, at)
        assert stored_block(lazy) == stored_block(plain)


@settings(max_examples=80, deadline=None)
@given(postings, st.lists(st.integers(-30, 30), min_size=25, max_size=25))
def test_the_peak_is_the_highest_total_in_the_window_last_seen(
    rows: list[Any], offsets: list[int]
) -> None:
    """The peak search gives the highest total before or after any posting at most
    ``over`` before the latest, and the latest time it stood there; late postings
    included."""
    block = BalanceFallBlock(
        2 * 86400, Decimal("0.5"), Decimal(500), lambda e, c: e.kind == "product"
    )
    state = BalanceState()
    for number, row in enumerate(rows):
        event = posted(number, row, 4 * number + offsets[number])
        block.on_event(event, None, micros(event.occurred_at), True, state)
        latest = state.observations[-1].at
        window = [o for o in state.observations if o.at >= latest - block.span]
        peak = max(max(o.total_before, o.total_after) for o in window)
        stood = max(o.at for o in window if peak in (o.total_before, o.total_after))
        assert block._peak(state.observations) == (peak, stood)


def test_a_figure_past_64_bits_is_refused_before_the_state_changes() -> None:
    """Stored state and snapshots are msgpack (64 bits): a posting that would put a
    balance figure past them raises OverflowError and leaves the block as it was."""
    block = BalanceFallBlock(7 * 86400, Decimal("0.5"), Decimal(500), lambda e, c: False)
    state = BalanceState()
    huge = Decimal(5 * 10**16)  # 5 x 10^18 cents: two such accounts pass 2^63
    for number, account in enumerate(["A1", "A2"]):
        event = posted(number, (account, "credit", Decimal(1), huge, False), number)
        if number == 0:
            block.on_event(event, None, micros(event.occurred_at), True, state)
            continue
        kept = msgspec.msgpack.encode(state)
        with pytest.raises(OverflowError):
            block.on_event(event, None, micros(event.occurred_at), True, state)
        assert msgspec.msgpack.encode(state) == kept
