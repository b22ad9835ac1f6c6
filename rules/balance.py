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
from sys import intern
from typing import Any

from churnwatch.rules.balance_row import fold_unread, read_postings
from churnwatch.rules.blocks import Firing, iso_time, money
from churnwatch.rules.durations import MICROS_PER_SECOND, format_duration
from churnwatch.rules.state import (
    BalanceState,
    BlockState,
    Observation,
    rebuild_balance,
)
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
        observations = state.observations
        # one string per account, not one per posting: each observation keeps it, and a
        # busy customer's window holds dozens (65 bytes each, and a cache miss apart)
        account_id = intern(event.account_id)
        if observations:
            in_order = at >= observations[-1].at
        else:  # none since the balance was read back: after the postings it read, if any
            in_order = not state.unread or at >= state.unread_last
        if in_order:
            # in order: post_balance inlined, the running balances updated in place
            accounts = state.accounts
            total = state.total
            previous = accounts.get(account_id)
            if previous is None:  # first sight: the account held its balance before this
                before = previous = after + signed
                if before.bit_length() > _BITS:
                    raise OverflowError(_PAST_64_BITS)
                total += previous
            else:  # an account already known never needs its balance before
                before = None
            delta = parked  # the observation keeps it as posted; the totals clamp it
            if delta:
                held = state.parked
                if held + delta < 0:
                    delta = -held
                elif (held + delta).bit_length() > _BITS:
                    raise OverflowError(_PAST_64_BITS)
            total_before = total
            total += after - previous + delta
            if total.bit_length() > _BITS or after.bit_length() > _BITS:  # one C call each
                raise OverflowError(_PAST_64_BITS)  # before the state changes
            if delta:
                state.parked += delta
            observations.append(
                Observation(at, account_id, before, after, parked, total_before, total)
            )
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
            observation = Observation(at, account_id, after + signed, after, parked)
            bisect.insort(observations, observation, key=_at)
            rebuild_balance(state)
            _check_64_bits(state)
            state.peak, state.peak_at = self._peak(observations)
        if not matched:
            return None
        if state.peak_at < observations[-1].at - self.span:  # the peak left the window
            read_postings(state)
            state.peak, state.peak_at = self._peak(observations)
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

    def _peak(self, observations: list[Observation]) -> tuple[int, int]:
        """Highest balance within ``over`` before the latest posting, and when it stood."""
        start = observations[-1].at - self.span
        peak = observations[-1].total_after
        peak_at = observations[-1].at
        for obs in reversed(observations):
            if obs.at < start:
                break
            if obs.total_before > peak:
                peak, peak_at = obs.total_before, obs.at
            if obs.total_after > peak:
                peak, peak_at = obs.total_after, obs.at
        return peak, peak_at

    def prune(self, state: BlockState, cutoff: int) -> None:
        assert isinstance(state, BalanceState)
        observations = state.observations
        start = cutoff - self.span
        if state.unread:  # read back and not made into observations: folded as they are
            fold_unread(state, start)
            if state.unread:
                return  # the rest, and every observation after them, are in the window
        if not observations or observations[0].at >= start:
            return
        # a walk from the oldest, not a bisect: the postings folded are a handful, and
        # bisect would call its key function on as many more
        base_accounts = state.base_accounts
        parked = state.base_parked
        folded = 0
        for obs in observations:
            if obs.at >= start:
                break
            base_accounts[obs.account_id] = (obs.at, obs.balance_after)
            if obs.parked_delta:
                parked = max(0, parked + obs.parked_delta)
            folded += 1
        state.base_parked = parked
        del observations[:folded]


def _at(obs: Observation) -> int:
    return obs.at


#: the stored form's integers (msgpack, rules/codec.py) and the isolation journal's
#: snapshots hold 64 bits: a figure must be less than 2^63 either way from zero
_BITS = 63
_PAST_64_BITS = "a balance figure past 64 bits in minor units"


def _check_64_bits(state: BalanceState) -> None:
    """Raise OverflowError when any figure of ``state`` is past 64 bits.

    Why refuse. Python's integers have no limit, but the stored state and the snapshots
    the isolation journal takes are msgpack, which holds 64 bits: a balance past them
    (only a ``max_amount`` raised far, or a currency of four decimals at the limit, lets
    one through decode) made the next snapshot of that customer raise and stopped the
    replay (the worker evaluates through the same journal). Raised while the event is
    evaluated, it makes that event a ``rule_error`` dead letter and leaves the customer's
    state as it was (rules/isolation.py). The in-order path checks its own figures inline.
    """
    figures = [state.total, state.parked, state.peak, state.base_parked]
    figures += state.accounts.values()
    figures += (balance for _, balance in state.base_accounts.values())
    for obs in state.observations:
        figures += (obs.balance_after, obs.total_before, obs.total_after)
        if obs.balance_before is not None:
            figures.append(obs.balance_before)
    if max(abs(min(figures)), max(figures)).bit_length() > _BITS:
        raise OverflowError(_PAST_64_BITS)


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
    for obs in state.observations:
        if obs.balance_before is not None:
            obs.balance_before *= times
        obs.balance_after *= times
        obs.parked_delta *= times
    state.peak *= times
    rebuild_balance(state)
    _check_64_bits(state)
    return _FACTORS[needed]


def _exponent(value: Decimal) -> int:
    exponent: Any = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0
