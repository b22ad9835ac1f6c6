"""The balance window packed: 48 bytes a posting, exact to 64 bits and refused past them."""

from __future__ import annotations

import datetime as dt
import json
from array import array
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.balance import BalanceFallBlock
from churnwatch.rules.balance_state import (
    BalanceState,
    insert_rows,
    snapshot_dec_hook,
    snapshot_enc_hook,
)
from churnwatch.rules.durations import micros
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.models import TransactionEvent
from churnwatch.schemas.screen import Limits
from churnwatch.streams.replay.driver import ReplayDriver

START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def posting(
    number: int, account: str, direction: str, amount: Decimal, after: Decimal, hours: float = 0
) -> TransactionEvent:
    return TransactionEvent(
        event_id=f"tx-{number}",
        occurred_at=START + dt.timedelta(hours=hours if hours else number),
        account_id=account,
        customer_id="C1",
        direction=direction,
        amount=amount,
        balance_after=after,
        kind="transfer",
        channel="mobile",
    )


def block(drop_at_least: Decimal = Decimal(500)) -> BalanceFallBlock:
    return BalanceFallBlock(2 * 86400, Decimal("0.5"), drop_at_least, lambda e, c: False)


def feed(fall: BalanceFallBlock, state: BalanceState, event: TransactionEvent) -> Any:
    return fall.on_event(event, None, micros(event.occurred_at), True, state)


def test_a_posting_takes_six_machine_integers() -> None:
    """100 postings in order: 100 x 48 bytes in one array, not 100 objects."""
    fall, state = block(), BalanceState()
    for number in range(100):
        feed(fall, state, posting(number, "A1", "debit", Decimal("1.00"), Decimal(10_000 - number)))
    assert type(state.window) is array
    assert len(state.window) * state.window.itemsize == 100 * 48
    first, second = state.observations[:2]
    assert first.balance_before == 1_000_100  # the first sight of A1 keeps its balance before
    assert second.balance_before is None  # a known account's is not kept


def test_a_balance_past_64_bits_is_a_rule_error_and_the_state_stays() -> None:
    """With ``max_amount`` raised, decode lets balances of 5 x 10^16 through; two such
    accounts pass 2^63 cents: that posting is a ``rule_error`` dead letter, the customer's
    state is as it was before it, and the next posting is evaluated."""

    def line(number: int, account: str, direction: str, amount: str, after: str) -> bytes:
        return json.dumps(
            {
                "type": "transaction",
                "event_id": f"tx-{number}",
                "occurred_at": (START + dt.timedelta(hours=number)).isoformat(),
                "account_id": account,
                "customer_id": "C1",
                "direction": direction,
                "amount": amount,
                "balance_after": after,
                "kind": "transfer",
                "channel": "mobile",
            }
        ).encode()

    huge = 5 * 10**16
    driver = ReplayDriver(
        Engine(load_rules(SHIPPED_RULES)),
        None,
        limits=Limits(max_amount=Decimal(10**17)),
        clock=lambda: START,
    )
    summary = driver.run(
        [
            line(0, "A1", "credit", "1.00", f"{huge}.00"),
            line(1, "A2", "credit", "1.00", f"{huge}.00"),
            line(2, "A1", "debit", "1.00", f"{huge - 1}.00"),
        ]
    )
    assert dict(summary.dead_letters) == {"rule_error": 1}
    balance = driver.states["C1"].blocks["balance-sharp-fall"]
    assert isinstance(balance, BalanceState)
    assert balance.window_accounts == ["A1", "A1"]
    assert balance.total == (huge - 1) * 100
    with pytest.raises(OverflowError):
        insert_rows(balance, 0, [0, 2**63, 2**63, 0, 2**63, 2**63], ["A2"])
    assert balance.window_accounts == ["A1", "A1"] and len(balance.window) == 12


rows = st.lists(
    st.tuples(
        st.sampled_from(["A1", "A2", "A3"]),
        st.sampled_from(["debit", "credit"]),
        st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3),
        st.decimals(min_value=Decimal(-(10**6)), max_value=Decimal(10**7), places=3),
        st.integers(-40, 40),  # hours off the posting's place in order (late when < 0)
        st.booleans(),  # pruned after it
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_money_times_10_to_the_8_gives_every_figure_times_10_to_the_8(rows: list[Any]) -> None:
    """The same postings with 10^8 times the money (figures up to 10^18 of the 2^63 the
    window holds): the same firings, and every figure 10^8 times, through late postings,
    prunes and the rescale to three decimals."""
    times = 8
    small_block, large_block = block(), block(Decimal(500).scaleb(times))
    small, large = BalanceState(), BalanceState()

    def money(state: BalanceState, value: int, shift: int = 0) -> Decimal:
        return Decimal(value).scaleb(shift - state.scale)

    for number, (account, direction, amount, after, off, prune) in enumerate(rows):
        event = posting(number, account, direction, amount, after, hours=6 * number + off or 0.1)
        scaled = msgspec.structs.replace(
            event, amount=amount.scaleb(times), balance_after=after.scaleb(times)
        )
        fired, fired_large = feed(small_block, small, event), feed(large_block, large, scaled)
        assert (fired is None) == (fired_large is None)
        if fired is not None:
            assert fired.trigger_event_ids == fired_large.trigger_event_ids
            assert fired.facts["share_of_peak"] == fired_large.facts["share_of_peak"]
            assert fired.facts["peak_at"] == fired_large.facts["peak_at"]
        assert money(small, small.total, times) == money(large, large.total)
        assert money(small, small.peak, times) == money(large, large.peak)
        assert [(o.at, money(small, o.total_after, times)) for o in small.observations] == [
            (o.at, money(large, o.total_after)) for o in large.observations
        ]
        if prune:
            at = micros(event.occurred_at)
            small_block.prune(small, at)
            large_block.prune(large, at)


def test_a_snapshot_gives_back_an_equal_state() -> None:
    """The isolation journal's snapshot (msgpack, the window as its bytes) decodes to a
    state equal to the one encoded."""
    encoder = msgspec.msgpack.Encoder(enc_hook=snapshot_enc_hook)
    decoder = msgspec.msgpack.Decoder(CustomerState, dec_hook=snapshot_dec_hook)
    fall, balance = block(), BalanceState()
    for number in range(5):
        feed(fall, balance, posting(number, "A1", "debit", Decimal("2.50"), Decimal(900 - number)))
    state = CustomerState(blocks={"balance-sharp-fall": balance})
    restored = decoder.decode(encoder.encode(state))
    assert restored == state
    window = restored.blocks["balance-sharp-fall"].window  # type: ignore[union-attr]
    assert type(window) is array and window == balance.window


def test_a_balance_before_of_exactly_minus_2_to_the_63_is_refused_not_forgotten() -> None:
    """The one 64-bit figure that marks a balance before as not kept is refused as a
    balance before, like a figure past 64 bits, rather than read as not kept."""
    fall, state = block(), BalanceState()
    after = Decimal(-(2**63) + 100).scaleb(-2)  # a credit of 1.00 onto -2^63 cents
    with pytest.raises(OverflowError):
        feed(fall, state, posting(0, "A1", "credit", Decimal("1.00"), after))
