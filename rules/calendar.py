"""The ``calendar`` block: remind someone N days before a customer's date or a pack's date.

The bank's playbook visits customers before their birthday (生日维护) and before the
festivals (春节, 中秋, the 开门红 season). A calendar rule is ``on: [customer]``; its
``match`` names the customers (``customer.tier in ["A", "private"]``), and its dates are
either a date field of the customer record (``birthday``: every year, 29 February falling
on the 28th in other years) or a list of named dates written in the pack. The reminder
fires ``before`` the date at ``at`` local time, from a timer kept in the customer's state,
so it fires with no event arriving; each occurrence reminds once. A later customer record
that no longer matches (a tier that fell) drops the timer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from churnwatch.rules.blocks import Firing
from churnwatch.rules.durations import micros as to_micros
from churnwatch.rules.state import BlockState, CalendarState

__all__ = ["CalendarBlock", "Occasion"]

#: how many years ahead a yearly date is looked for (a birthday always falls in one)
YEARS_AHEAD = 2


@dataclass(frozen=True, slots=True)
class Occasion:
    """A named date of the pack (``mid-autumn`` on 2026-09-25)."""

    name: str
    on: dt.date


def _yearly(day: dt.date, year: int) -> dt.date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return dt.date(year, 2, 28)


class CalendarBlock:
    """Reminders ``before`` a customer's yearly date or the pack's dates, at ``at``."""

    horizon = 0
    sees_unmatched = True
    timed = True
    #: its ``prune`` drops nothing: the engine does not call it (RuleSet.pruners)
    prunes = False
    #: ``next_due`` is this field of the state (the engine reads it directly)
    due_field = "next_due"

    def __init__(
        self,
        date_field: str | None,
        occasions: tuple[Occasion, ...],
        before: int,
        at: dt.time,
        zone: ZoneInfo,
    ) -> None:
        self.date_field = date_field
        self.occasions = tuple(sorted(occasions, key=lambda o: (o.on, o.name)))
        self.before = before
        self.days_before = before // 86400
        self.at = at
        self.zone = zone

    def new_state(self) -> CalendarState:
        return CalendarState()

    def due_of(self, day: dt.date) -> int:
        """When the reminder for ``day`` fires (µs since the epoch)."""
        return to_micros(dt.datetime.combine(day, self.at, self.zone)) - self.before * 1_000_000

    def candidates(self, customer: Any, after: int) -> list[tuple[dt.date, str]]:
        """The coming dates (and their names) whose reminder is at or after ``after``."""
        if self.date_field is None:
            return [(o.on, o.name) for o in self.occasions if self.due_of(o.on) >= after]
        day = getattr(customer, self.date_field, None) if customer is not None else None
        if not isinstance(day, dt.date):
            return []
        year = (dt.datetime.fromtimestamp(after / 1_000_000, self.zone)).year
        found = []
        for offset in range(YEARS_AHEAD + 1):
            occurrence = _yearly(day, year + offset)
            if self.due_of(occurrence) >= after:
                found.append((occurrence, self.date_field))
        return found

    def plan(self, state: CalendarState, customer: Any, after: int) -> None:
        """Set the timer to the next occurrence not yet reminded of."""
        state.next_due = state.on = state.occasion = None
        for day, name in self.candidates(customer, after):
            if state.last is not None and day.isoformat() <= state.last:
                continue
            state.next_due, state.on, state.occasion = self.due_of(day), day.isoformat(), name
            return

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, CalendarState)
        if at < state.record_at:
            return None  # an older record: the newer one decided
        state.record_at = at
        if not matched:
            state.next_due = state.on = state.occasion = None
            return None
        self.plan(state, customer, at)
        return None

    def next_due(self, state: BlockState) -> int | None:
        assert isinstance(state, CalendarState)
        return state.next_due

    def on_clock(self, state: BlockState, until: int, customer: Any) -> list[Firing]:
        assert isinstance(state, CalendarState)
        firings = []
        while state.next_due is not None and state.next_due <= until:
            due, on, occasion = state.next_due, state.on, state.occasion
            assert on is not None and occasion is not None
            state.last = on
            firings.append(
                Firing(
                    (f"calendar:{occasion}:{on}",),
                    {"occasion": occasion, "on": on, "days_before": self.days_before},
                    occurred_at=due,
                )
            )
            self.plan(state, customer, due + 1)
        return firings

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None  # one timer and the last date reminded of
