"""Building blocks that act on time and lifecycle, not on one transaction.

``schedule`` and ``absence`` keep timers in the customer's state (never in memory
alone), so a restart neither loses nor repeats a step: the driver asks for
:meth:`next_due` after every event and calls :meth:`on_clock` when its clock passes
it. The replay driver's clock is event time; the worker's is event time or the wall
clock, whichever is later. ``change`` compares a customer field with its last value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from churnwatch.rules.blocks import Firing, money
from churnwatch.rules.durations import EPOCH, MICROS_PER_SECOND, format_duration
from churnwatch.rules.durations import micros as to_micros
from churnwatch.rules.state import (
    ActivityState,
    BlockState,
    ChangeState,
    PendingStep,
    ScheduleState,
)
from churnwatch.rules.tiers import TierScale

__all__ = ["AbsenceBlock", "ChangeBlock", "ScheduleBlock", "Step"]

DAY = 86400 * MICROS_PER_SECOND
QUARTER_HOUR = 900 * MICROS_PER_SECOND


def local_iso(micros: int, zone: ZoneInfo) -> str:
    return (EPOCH + dt.timedelta(microseconds=micros)).astimezone(zone).isoformat()


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    before: int
    at: dt.time
    audience: tuple[str, ...]
    template: str | None


class ScheduleBlock:
    """Steps at offsets before a date field, e.g. the 7-3-1 maturity practice."""

    horizon = 0
    sees_unmatched = True
    timed = True
    #: its ``prune`` drops nothing: the engine does not call it (RuleSet.pruners)
    prunes = False

    def __init__(
        self,
        date_field: str,
        steps: list[Step],
        key_field: str,
        cancel_when: Callable[[Any, Any], Any],
        zone: ZoneInfo,
    ) -> None:
        self.date_field = date_field
        self.steps = steps
        self.key_field = key_field
        self.cancel_when = cancel_when
        self.zone = zone

    def new_state(self) -> ScheduleState:
        return ScheduleState()

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, ScheduleState)
        key = getattr(event, self.key_field, None)
        if key is None:
            return None
        if self.cancel_when(event, customer):
            state.pending = [p for p in state.pending if p.key != str(key)]
            return None
        date = getattr(event, self.date_field, None)
        if not matched or not isinstance(date, dt.date):
            return None
        state.pending = [p for p in state.pending if p.key != str(key)]
        facts = self.facts(event, date)
        for step in self.steps:
            due = to_micros(dt.datetime.combine(date, step.at, self.zone)) - step.before * 1_000_000
            if due < at:
                continue  # already past when we heard of it: skipped, never sent late
            step_facts = {
                **facts,
                "step": step.name,
                "due_at": local_iso(due, self.zone),
                "days_before": step.before // 86400,
            }
            state.pending.append(
                PendingStep(
                    due,
                    step.name,
                    str(key),
                    event.event_id,
                    at,
                    getattr(event, "account_id", None),
                    step_facts,
                )
            )
        state.pending.sort(key=lambda p: (p.due, p.step))
        return None

    def facts(self, event: Any, date: dt.date) -> dict[str, str | int | bool | None]:
        result: dict[str, str | int | bool | None] = {self.date_field: date.isoformat()}
        for name in ("product_id", "product_kind"):
            value = getattr(event, name, None)
            if value is not None:
                result[name] = str(value)
        amount = getattr(event, "amount", None)
        if isinstance(amount, Decimal):
            result["amount"] = money(amount)
        return result

    def next_due(self, state: BlockState) -> int | None:
        assert isinstance(state, ScheduleState)
        return state.pending[0].due if state.pending else None

    def on_clock(self, state: BlockState, until: int, customer: Any) -> list[Firing]:
        assert isinstance(state, ScheduleState)
        firings = []
        by_name = {step.name: step for step in self.steps}
        while state.pending and state.pending[0].due <= until:
            pending = state.pending.pop(0)
            step = by_name.get(pending.step)
            if step is None:  # the step was removed from the rule since it was scheduled
                continue
            firings.append(
                Firing(
                    (pending.trigger_event_id, f"step:{pending.step}"),
                    dict(pending.facts),
                    audience=step.audience,
                    template=step.template,
                    account_id=pending.account_id,
                    occurred_at=pending.trigger_at,
                )
            )
        return firings

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None  # pending steps leave as they fire or are cancelled


class AbsenceBlock:
    """A customer who used to be active has gone quiet; checked daily, with or without events."""

    sees_unmatched = False
    timed = True
    #: its ``prune`` drops nothing: the engine does not call it (RuleSet.pruners)
    prunes = False
    #: ``next_due`` is this field of the state (the engine reads it directly)
    due_field = "next_check"

    def __init__(
        self,
        recent: int,
        baseline: int,
        usual_at_least: int,
        at_most_share: Decimal,
        check_at: dt.time,
        zone: ZoneInfo,
    ) -> None:
        self.recent_days = max(recent // 86400, 1)
        self.baseline_days = max(baseline // 86400, 1)
        self.horizon = recent + baseline
        self.usual_at_least = usual_at_least
        self.share = at_most_share
        self.check_at = check_at
        self.zone = zone
        self._days: dict[int, int] = {}
        self._check_on: dict[int, int] = {}

    def new_state(self) -> ActivityState:
        return ActivityState()

    def day_of(self, micros: int) -> int:
        """Local calendar day (ordinal) of an instant; cached per quarter hour."""
        bucket = micros // QUARTER_HOUR
        day = self._days.get(bucket)
        if day is None:
            local = (EPOCH + dt.timedelta(microseconds=bucket * QUARTER_HOUR)).astimezone(self.zone)
            day = local.date().toordinal()
            if len(self._days) > 100_000:
                self._days.clear()
            self._days[bucket] = day
        return day

    def check_after(self, micros: int) -> int:
        """The first daily check time strictly after ``micros``."""
        local = (EPOCH + dt.timedelta(microseconds=micros)).astimezone(self.zone)
        candidate = dt.datetime.combine(local.date(), self.check_at, self.zone)
        if to_micros(candidate) <= micros:
            candidate = dt.datetime.combine(
                local.date() + dt.timedelta(days=1), self.check_at, self.zone
            )
        return to_micros(candidate)

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, ActivityState)
        day = self._days.get(at // QUARTER_HOUR)  # day_of's cache, read inline: every posting
        if day is None:
            day = self.day_of(at)
        if state.next_check is None:
            state.counts.clear()
            state.through, state.recent, state.baseline = day - 1, 0, 0
            state.next_check = self.check_after(at)
        counts = state.counts  # state.add(day), inlined for the common case: every posting
        index = day - state.first
        if 0 <= index < len(counts):
            counts[index] += 1
        else:
            state.add(day)
        through = state.through
        if day <= through:  # late, for a day the counts already cover
            if day > through - self.recent_days:
                state.recent += 1
            elif day > through - self.recent_days - self.baseline_days:
                state.baseline += 1
        return None

    def next_due(self, state: BlockState) -> int | None:
        assert isinstance(state, ActivityState)
        return state.next_check

    def on_clock(self, state: BlockState, until: int, customer: Any) -> list[Firing]:
        assert isinstance(state, ActivityState)
        firings = []
        while state.next_check is not None and state.next_check <= until:
            check = state.next_check
            today = self.day_of(check)
            self.roll_to(state, today)
            firing = self.check(state, check)
            if firing is not None:
                firings.append(firing)
            if not state.counts:
                state.next_check = None  # nothing left to count: the customer left our view
            else:
                state.next_check = self.check_on(today + self.days_until_possible(state, today))
        return firings

    def days_until_possible(self, state: ActivityState, today: int) -> int:
        """Days until the condition could first hold if no new event arrived (1..recent).

        New events cannot bring that day closer within the simulated span: an event
        after ``today`` stays in "recent" for the whole span, where it only raises the
        recent count. So checking on the day found, not every day, misses nothing.
        """
        recent_days, baseline_days = self.recent_days, self.baseline_days
        recent, baseline = state.recent, state.baseline
        # check's test in exact integers: usual = baseline * recent_days / baseline_days,
        # share = p / q; usual >= usual_at_least and recent <= usual * share
        p, q = self.share.as_integer_ratio()
        enough = self.usual_at_least * baseline_days
        # day by day ahead: the day's count arriving, the one leaving "recent" for
        # "baseline", the one leaving "baseline"; read as three runs of the counts, not
        # three calls a day (a check looks up to ``recent`` days ahead)
        start = today + 1
        arriving = state.days(start, recent_days)
        leaving_recent = state.days(start - recent_days, recent_days)
        leaving_baseline = state.days(start - recent_days - baseline_days, recent_days)
        for ahead, (new, leaving, gone) in enumerate(
            zip(arriving, leaving_recent, leaving_baseline, strict=True), start=1
        ):
            recent += new - leaving
            baseline += leaving - gone
            usual_times = baseline * recent_days  # usual * baseline_days
            if usual_times >= enough and recent * baseline_days * q <= usual_times * p:
                return ahead
        return recent_days

    def check_on(self, day: int) -> int:
        """The check time on local day ``day`` (an ordinal)."""
        cached = self._check_on.get(day)
        if cached is None:
            moment = dt.datetime.combine(dt.date.fromordinal(day), self.check_at, self.zone)
            cached = self._check_on[day] = to_micros(moment)
        return cached

    def roll_to(self, state: ActivityState, today: int) -> None:
        """Move the running counts forward a day at a time to cover ``today``."""
        count = state.count
        recent_days, baseline_days = self.recent_days, self.baseline_days
        while state.through < today:
            state.through += 1
            day = state.through
            state.recent += count(day)
            leaving_recent = count(day - recent_days)
            state.recent -= leaving_recent
            state.baseline += leaving_recent
            state.baseline -= state.take(day - recent_days - baseline_days)

    def check(self, state: ActivityState, check: int) -> Firing | None:
        usual = Decimal(state.baseline * self.recent_days) / Decimal(self.baseline_days)
        recent = state.recent
        if usual < self.usual_at_least or Decimal(recent) > usual * self.share:
            return None
        date = dt.date.fromordinal(state.through).isoformat()
        return Firing(
            (f"activity-check:{date}",),
            {
                "recent_count": recent,
                "usual_count": str(usual.quantize(Decimal("0.1"))),
                "share": str((Decimal(recent) / usual).quantize(Decimal("0.0001"))),
                "recent": format_duration(self.recent_days * 86400),
                "baseline": format_duration(self.baseline_days * 86400),
                "checked_on": date,
            },
            occurred_at=check,
        )

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None  # days leave as the daily checks roll past them


class ChangeBlock:
    """A customer field moved from one value to another (e.g. tier B -> C)."""

    horizon = 0
    sees_unmatched = False
    timed = False
    #: its ``prune`` drops nothing: the engine does not call it (RuleSet.pruners)
    prunes = False

    def __init__(
        self, field_name: str, direction: str, by_at_least: Decimal, tiers: TierScale
    ) -> None:
        self.field_name = field_name
        self.direction = direction
        self.by_at_least = by_at_least
        self.tiers = tiers

    def new_state(self) -> ChangeState:
        return ChangeState()

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, ChangeState)
        if customer is None or at < state.at:
            return None
        value = getattr(customer, self.field_name, None)
        new = None if value is None else str(value)
        old = state.value
        state.value, state.at = new, at
        if old is None or new is None or old == new:
            return None
        delta = self.delta(old, new)
        if delta is None:
            return None
        if self.direction == "down":
            moved = -delta
        elif self.direction == "up":
            moved = delta
        else:
            moved = abs(delta)
        if moved < self.by_at_least:
            return None
        return Firing(
            (event.event_id,),
            {
                f"{self.field_name}_before": old,
                f"{self.field_name}_after": new,
                "aum": money(customer.aum),
            },
        )

    def delta(self, old: str, new: str) -> Decimal | None:
        if self.field_name == "tier":
            before, after = self.tiers.rank(old), self.tiers.rank(new)
            if before < 0 or after < 0:
                return None
            return Decimal(after - before)
        try:
            return Decimal(new) - Decimal(old)
        except ArithmeticError:
            return None

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None
