"""The customer's balance at the bank, and the ``balance_fall`` block that watches it.

The balance is the latest ``balance_after`` of each account by event time, plus money
moved into the bank's own products. Postings arriving in order update running totals in
O(1); a late posting is placed by event time and the totals are rebuilt from the state
folded up to the window start.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from decimal import Decimal
from struct import error as StructError
from sys import intern
from typing import Any

from churnwatch.rules.balance_row import fold_unread, read_postings
from churnwatch.rules.balance_state import (
    AFTER,
    AT,
    BEFORE,
    NOT_KEPT,
    PARKED,
    STRIDE,
    TOTAL_AFTER,
    TOTAL_BEFORE,
    BalanceState,
    Window,
    insert_rows,
    pack_row,
    rebuild_balance,
)
from churnwatch.rules.blocks import Firing, iso_time, money
from churnwatch.rules.durations import MICROS_PER_SECOND, format_duration
from churnwatch.rules.state import BlockState
from churnwatch.schemas.models import TransactionEvent

__all__ = ["BalanceFallBlock"]


class BalanceFallBlock:
    """The customer's balance at the bank falls far from its peak within ``over``.

    The balance is the latest ``balance_after`` of each account by event time, plus
    money moved into the bank's own products (which has not left the bank). An account
    seen for the first time counts from its balance before that posting.
    """

    sees_unmatched = True
    timed = False

    def __init__(
        self,
        over: int,
        share: Decimal,
        drop_at_least: Decimal,
        parks_money: Callable[[Any, Any], Any],
    ) -> None:
        self.horizon = over
        self.span = over * MICROS_PER_SECOND
        self.share = share
        self.drop_at_least = drop_at_least
        self.parks_money = parks_money

    def new_state(self) -> BalanceState:
        return BalanceState()

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, BalanceState)
        if not isinstance(event, TransactionEvent):
            return None
        # money to integer minor units, inlined (_minor_units): this runs for every posting
        power = _POWERS[state.scale]
        numerator, denominator = event.balance_after.as_integer_ratio()
        after, rest = divmod(numerator * power, denominator)
        numerator, denominator = event.amount.as_integer_ratio()
        amount, rest_amount = divmod(numerator * power, denominator)
        if rest or rest_amount:  # more digits than the scale
            factor = _rescale(state, event.amount, event.balance_after)
            after = int(event.balance_after * factor)
            amount = int(event.amount * factor)
        signed = amount if event.direction == "debit" else -amount
        parked = signed if self.parks_money(event, customer) else 0
        window = state.window
        # one string per account, not one per posting: the window keeps it for each
        # posting, and a busy customer's holds dozens (65 bytes each, and a cache miss apart)
        account_id = intern(event.account_id)
        # after the latest posting; with none since the balance was read back, after the
        # postings it read, if any
        in_order = at >= window[-STRIDE] if window else not state.unread or at >= state.unread_last
        if in_order:
            # in order: the running balances updated in place (rebuild_balance's step)
            accounts = state.accounts
            total = state.total
            previous = accounts.get(account_id)
            if previous is None:  # first sight: the account held its balance before this
                before = previous = after + signed
                if before == NOT_KEPT:  # the one 64-bit figure the window cannot hold
                    raise OverflowError("a balance figure past 64 bits")
                total += previous
            else:  # an account already known never needs its balance before
                before = NOT_KEPT
            delta = parked  # the window keeps it as posted; the totals clamp it
            if delta:
                held = state.parked
                if held + delta < 0:
                    delta = -held
                state.parked = held + delta
            total_before = total
            total += after - previous + delta
            try:  # packed by struct: the array's own conversion parses each item's format
                window.frombytes(pack_row(at, before, after, parked, total_before, total))
            except StructError:  # past 64 bits (rules/balance_state.py): a rule_error
                raise OverflowError("a balance figure past 64 bits") from None
            state.window_accounts.append(account_id)
            accounts[account_id] = after
            state.total = total
            peak = state.peak
            if total_before >= peak:
                peak = state.peak = total_before
                state.peak_at = at
            if total >= peak:
                state.peak, state.peak_at = total, at
        else:  # late: place it by event time and recompute the running totals
            read_postings(state)
            window = state.window
            place = bisect.bisect_right(window[AT::STRIDE], at)
            before = after + signed
            if before == NOT_KEPT:
                raise OverflowError("a balance figure past 64 bits")
            insert_rows(state, place, (at, before, after, parked, 0, 0), (account_id,))
            rebuild_balance(state)
            state.peak, state.peak_at = self._peak(state.window)
            window = state.window
        if not matched:
            return None
        if state.peak_at < window[-STRIDE] - self.span:  # the peak left the window
            read_postings(state)
            state.peak, state.peak_at = self._peak(state.window)
        peak, peak_at = state.peak, state.peak_at
        current = state.total
        drop = peak - current
        factor = _FACTORS[state.scale]
        if peak <= 0 or drop < self.drop_at_least * factor or current > peak * self.share:
            return None
        exponent = -state.scale
        peak_money = Decimal(peak).scaleb(exponent)
        current_money = Decimal(current).scaleb(exponent)
        return Firing(
            (event.event_id,),
            {
                "peak_balance": money(peak_money),
                "balance": money(current_money),
                "drop": money(Decimal(drop).scaleb(exponent)),
                "share_of_peak": str((current_money / peak_money).quantize(Decimal("0.0001"))),
                "peak_at": iso_time(peak_at),
                "window": format_duration(self.horizon),
            },
        )

    def _peak(self, window: Window) -> tuple[int, int]:
        """Highest balance within ``over`` before the latest posting, and the latest time
        it stood there."""
        last = len(window) - STRIDE
        start = window[last] - self.span
        peak = window[last + TOTAL_AFTER]
        peak_at = window[last]
        for row in range(last, -1, -STRIDE):
            at = window[row]
            if at < start:
                break
            total = window[row + TOTAL_BEFORE]
            if total > peak:
                peak, peak_at = total, at
            total = window[row + TOTAL_AFTER]
            if total > peak:
                peak, peak_at = total, at
        return peak, peak_at

    def prune(self, state: BlockState, cutoff: int) -> None:
        assert isinstance(state, BalanceState)
        start = cutoff - self.span
        if state.unread:  # read back and not put in the window: folded as they are
            fold_unread(state, start)
            if state.unread:
                return  # the rest, and every observation after them, are in the window
        window = state.window
        if not window or window[0] >= start:
            return
        # a walk from the oldest: the postings folded are a handful
        base_accounts = state.base_accounts
        accounts = state.window_accounts
        parked = state.base_parked
        folded = 0
        for row in range(0, len(window), STRIDE):
            at = window[row]
            if at >= start:
                break
            base_accounts[accounts[folded]] = (at, window[row + AFTER])
            moved = window[row + PARKED]
            if moved:
                parked = max(0, parked + moved)
            folded += 1
        state.base_parked = parked
        del window[: folded * STRIDE]
        del accounts[:folded]


#: 10 ** scale as a Decimal, for the scales money comes in
_FACTORS = [Decimal(10) ** scale for scale in range(29)]
_POWERS = [10**scale for scale in range(29)]


def _minor_units(value: Decimal, scale: int) -> int | None:
    """``value`` in integer units of 10^-scale, or None when it has more digits than that.

    Exact integer arithmetic on the value's ratio: twice as fast as multiplying the
    Decimal and converting it, and this runs twice for every posting.
    """
    numerator, denominator = value.as_integer_ratio()
    units, rest = divmod(numerator * _POWERS[scale], denominator)
    return None if rest else units


def _rescale(state: BalanceState, *values: Decimal) -> Decimal:
    """Raise the state's scale to hold every digit of ``values``; return the new factor.

    Every figure of the state is multiplied by the same power of ten, so nothing
    changes but the unit (a 3-decimal currency's first posting, say).
    """
    needed = max(-_exponent(value) for value in values)
    if needed <= state.scale:  # pragma: no cover - only called when a value needs more
        return _FACTORS[state.scale]
    times = 10 ** (needed - state.scale)
    read_postings(state)
    state.scale = needed
    state.base_accounts = {
        account: (at, balance * times) for account, (at, balance) in state.base_accounts.items()
    }
    state.base_parked *= times
    window = state.window  # a figure past 64 bits raises OverflowError: a rule_error
    for row in range(0, len(window), STRIDE):
        if window[row + BEFORE] != NOT_KEPT:
            window[row + BEFORE] *= times
        window[row + AFTER] *= times
        window[row + PARKED] *= times
    state.peak *= times
    rebuild_balance(state)
    return _FACTORS[needed]


def _exponent(value: Decimal) -> int:
    exponent: Any = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0
