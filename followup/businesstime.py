"""Counting delays in business hours: "4 hours" from Friday 16:00 is Monday 12:00.

A branch head should not be woken at night because an alert arrived at 23:00 and
nobody acknowledged it by 03:00; the delay starts when the bank opens. Days are local
days in the bank's timezone, so daylight saving (where there is one) is handled by
converting each day's opening and closing times separately.

Chinese banks also work some weekend days to make up for a holiday week (调休): those
dates are ``workdays``, business days although their weekday is not. The morning list
(followup/morning/) goes out on the same business days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from churnwatch.rules import DEFAULT_TIMEZONE

__all__ = ["BusinessHours"]

_MAX_DAYS = 400  # a year of holidays is the most that can stand between two working hours


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours on working days (Monday = 0), minus listed holidays."""

    timezone: str = DEFAULT_TIMEZONE
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(18, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    #: days worked although their weekday is not (调休: a Saturday before a holiday week)
    workdays: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("business hours must end after they start")
        ZoneInfo(self.timezone)  # fail at load, not at the first escalation

    def is_business_day(self, day: dt.date) -> bool:
        """A listed workday, or a working weekday that is not a holiday."""
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def previous_business_day(self, day: dt.date) -> dt.date:
        """The last business day before ``day``."""
        for back in range(1, _MAX_DAYS):
            earlier = day - dt.timedelta(days=back)
            if self.is_business_day(earlier):
                return earlier
        raise ValueError("no business day within a year: check the calendar")

    def _window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        if not self.is_business_day(day):
            return None
        zone = ZoneInfo(self.timezone)
        return (
            dt.datetime.combine(day, self.start, zone).astimezone(dt.UTC),
            dt.datetime.combine(day, self.end, zone).astimezone(dt.UTC),
        )

    def add(self, start: dt.datetime, delay: dt.timedelta) -> dt.datetime:
        """The moment ``delay`` of business time has passed since ``start``."""
        remaining = delay
        day = start.astimezone(ZoneInfo(self.timezone)).date()
        for _ in range(_MAX_DAYS):
            window = self._window(day)
            if window is not None:
                opens, closes = window
                begin = max(opens, start)
                if begin < closes:
                    if begin + remaining <= closes:
                        return begin + remaining
                    remaining -= closes - begin
            day += dt.timedelta(days=1)
        raise ValueError("no business hours within a year: check the escalation calendar")
