"""Clocks the stages read. Policy and dispatch never call ``datetime.now`` themselves.

``wall_clock`` is production. :class:`EventClock` follows event time, for replays and
backtests: "now" is the latest ``occurred_at`` seen, so quiet hours and caps behave the
same whenever a replay runs. Tests use :class:`churnwatch.notifiers.testing.FixedClock`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

__all__ = ["Clock", "EventClock", "wall_clock"]

Clock = Callable[[], dt.datetime]


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EventClock:
    """Event time: moves forward only, to the latest time it was told about."""

    __slots__ = ("now",)

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, to: dt.datetime) -> None:
        if to > self.now:
            self.now = to
