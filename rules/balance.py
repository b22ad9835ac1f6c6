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
from typing import Any

from churnwatch.rules.blocks import ZERO, Firing, iso_time, money
from churnwatch.rules.durations import MICROS_PER_SECOND, format_duration
from churnwatch.rules.state import BalanceState, BlockState, Observation
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
        signed = event.amount if event.direction == "debit" else -event.amount
        parked = signed if self.parks_money(event, customer) else ZERO
        observation = Observation(
            at,
            event.account_id,
            event.balance_after + signed,
            event.balance_after,
            parked,
            event.event_id,
        )
        observations = state.observations
        if not observations or at >= observations[-1].at:
            observations.append(observation)
            total, state.parked = _post(observation, state.accounts, state.total, state.parked)
            state.total = total
            peak, before = state.peak, observation.total_before
            if before >= peak:
                peak = state.peak = before
                state.peak_at = at
            if total >= peak:
                state.peak, state.peak_at = total, at
        else:  # late: place it by event time and recompute the running totals
            bisect.insort(observations, observation, key=lambda item: item.at)
            _rebuild(state)
            state.peak, state.peak_at = self._peak(observations)
        if not matched:
            return None
        if state.peak_at < observations[-1].at - self.span:  # the peak left the window
            state.peak, state.peak_at = self._peak(observations)
        peak, peak_at = state.peak, state.peak_at
        current = state.total
        drop = peak - current
        if peak <= 0 or drop < self.drop_at_least or current > peak * self.share:
            return None
        return Firing(
            (event.event_id,),
            {
                "peak_balance": money(peak),
                "balance": money(current),
                "drop": money(drop),
                "share_of_peak": str((current / peak).quantize(Decimal("0.0001"))),
                "peak_at": iso_time(peak_at),
                "window": format_duration(self.horizon),
            },
        )

    def _peak(self, observations: list[Observation]) -> tuple[Decimal, int]:
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
        folded = bisect.bisect_left(observations, cutoff - self.span, key=_at)
        if not folded:
            return
        base_accounts = state.base_accounts
        parked = state.base_parked
        for obs in observations[:folded]:
            base_accounts[obs.account_id] = (obs.at, obs.balance_after)
            if obs.parked_delta:
                parked = max(ZERO, parked + obs.parked_delta)
        state.base_parked = parked
        del observations[:folded]


def _at(obs: Observation) -> int:
    return obs.at


def _post(
    obs: Observation, accounts: dict[str, Decimal], total: Decimal, parked: Decimal
) -> tuple[Decimal, Decimal]:
    """Apply one posting to the running balances; return the new total and parked money.

    Money parked in the bank's own products never goes below zero: redeeming a product
    bought before the data began brings money we had not counted, which is new to the
    balance, not a transfer out of ``parked``.
    """
    previous = accounts.get(obs.account_id)
    if previous is None:  # first sight of the account: it held its balance before this posting
        previous = obs.balance_before
        total += previous
    obs.total_before = total
    delta = obs.parked_delta
    if parked + delta < 0:
        delta = -parked
    total += obs.balance_after - previous + delta
    obs.total_after = total
    accounts[obs.account_id] = obs.balance_after
    return total, parked + delta


def _rebuild(state: BalanceState) -> None:
    accounts = {account: balance for account, (_, balance) in state.base_accounts.items()}
    parked = state.base_parked
    total = sum(accounts.values(), ZERO) + parked
    for obs in state.observations:
        total, parked = _post(obs, accounts, total, parked)
    state.accounts = accounts
    state.total = total
    state.parked = parked
