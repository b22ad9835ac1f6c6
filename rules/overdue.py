"""The ``overdue`` block: a regular event (a monthly payroll) did not come when it was due.

A customer whose matching events came at least ``at_least`` times within ``history`` up to
the latest one, with a median gap between them inside ``[median_gap_at_least,
median_gap_at_most]``, expects the next one at the latest + the median gap. When none has
come by then plus ``grace``, the check at ``check_at`` (local time) fires — with no event
arriving, like ``absence``. The events are the customer's, on any of their accounts: a
payroll that moves to another of the customer's accounts at this bank keeps coming.

The timer sits in the customer's state, so a restart neither loses nor repeats it: the
block computes the one check that can fire (the morning after the grace runs out) rather
than waking every day. Each expected event alerts at most once; the next matching event
starts a new expectation.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from churnwatch.rules.blocks import Firing, money
from churnwatch.rules.durations import EPOCH, MICROS_PER_SECOND, format_duration
from churnwatch.rules.durations import micros as to_micros
from churnwatch.rules.state import BlockState, OverdueState
from churnwatch.schemas.models import FactValue

__all__ = ["MAX_KEPT", "OverdueBlock"]

#: matching events kept per customer; the history period holds a handful of payrolls
MAX_KEPT = 60
DAY = 86400 * MICROS_PER_SECOND


class OverdueBlock:
    """Fire when a regular matching event is overdue by more than a grace period."""

    sees_unmatched = False
    timed = True
    #: its ``prune`` drops nothing: the engine does not call it (RuleSet.pruners)
    prunes = False
    #: ``next_due`` is this field of the state (the engine reads it directly)
    due_field = "next_check"

    def __init__(
        self,
        history: int,
        at_least: int,
        gap_at_least: int,
        gap_at_most: int,
        grace: int,
        check_at: dt.time,
        zone: ZoneInfo,
    ) -> None:
        self.horizon = history
        self.span = history * MICROS_PER_SECOND
        self.at_least = at_least
        self.gap_at_least = gap_at_least * MICROS_PER_SECOND
        self.gap_at_most = gap_at_most * MICROS_PER_SECOND
        self.grace = grace * MICROS_PER_SECOND
        self.grace_seconds = grace
        self.check_at = check_at
        self.zone = zone

    def new_state(self) -> OverdueState:
        return OverdueState()

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, OverdueState)
        amount = getattr(event, "amount", None)
        entry = (at, event.event_id, getattr(event, "account_id", None), amount)
        bisect.insort(state.seen, entry, key=lambda item: item[0])
        latest = state.seen[-1][0]
        keep = bisect.bisect_left(state.seen, latest - self.span, key=lambda item: item[0])
        del state.seen[: max(keep, len(state.seen) - MAX_KEPT)]
        state.next_check = self.expectation(state)
        return None

    def median_gap(self, state: OverdueState) -> int | None:
        """The median gap (µs) between the kept events, or None when there are too few."""
        if len(state.seen) < self.at_least:
            return None
        times = [item[0] for item in state.seen]
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        middle = len(gaps) // 2
        return gaps[middle] if len(gaps) % 2 else (gaps[middle - 1] + gaps[middle]) // 2

    def expectation(self, state: OverdueState) -> int | None:
        """The check that fires if nothing comes, or None (too little or irregular history)."""
        latest = state.seen[-1]
        if state.fired_for == latest[1]:
            return None
        gap = self.median_gap(state)
        if gap is None or not self.gap_at_least <= gap <= self.gap_at_most:
            return None
        return self.check_after(latest[0] + gap + self.grace)

    def check_after(self, micros: int) -> int:
        """The first daily check at or after ``micros`` (local ``check_at``)."""
        local = (EPOCH + dt.timedelta(microseconds=micros)).astimezone(self.zone)
        check = to_micros(dt.datetime.combine(local.date(), self.check_at, self.zone))
        if check < micros:
            tomorrow = local.date() + dt.timedelta(days=1)
            check = to_micros(dt.datetime.combine(tomorrow, self.check_at, self.zone))
        return check

    def next_due(self, state: BlockState) -> int | None:
        assert isinstance(state, OverdueState)
        return state.next_check

    def on_clock(self, state: BlockState, until: int, customer: Any) -> list[Firing]:
        assert isinstance(state, OverdueState)
        check = state.next_check
        if check is None or check > until or not state.seen:
            return []
        gap = self.median_gap(state)
        assert gap is not None  # a check is set only for a regular history
        at, event_id, account_id, amount = state.seen[-1]
        expected = self.local_date(at + gap)
        state.fired_for, state.next_check = event_id, None
        facts: dict[str, FactValue] = {
            "last_on": self.local_date(at),
            "expected_on": expected,
            "checked_on": self.local_date(check),
            "count": len(state.seen),
            "median_gap": format_duration(round(Decimal(gap) / DAY) * 86400),
            "grace": format_duration(self.grace_seconds),
            "history": format_duration(self.horizon),
        }
        if isinstance(amount, Decimal):
            facts["last_amount"] = money(amount)
        return [
            Firing(
                (event_id, f"expected:{expected}"),
                facts,
                account_id=account_id,
                occurred_at=check,
            )
        ]

    def local_date(self, micros: int) -> str:
        return (EPOCH + dt.timedelta(microseconds=micros)).astimezone(self.zone).date().isoformat()

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None  # the history is trimmed to its period as events arrive
