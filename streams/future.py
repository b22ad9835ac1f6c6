"""An event dated in the future is a dead letter before it moves any clock.

Why. Event time drives everything after decode: a customer's watermark (older events are
``too_late``), a task's clock and the worker's (timers fire as they pass), replay's one
clock. A single posting dated 2090 — a producer's clock reset, a typo in a backfill, a
time zone written as ``+00:00`` for local time — accepted like any other would move those
clocks decades on: every customer's timers due until then fire at once (on a generated
bank of 300 customers, 83 alerts became 1,196: 758 birthday reminders, 321 activity
drops, each a message to a relationship manager), and that customer's real events after
it are all ``too_late``. Kafka's brokers refuse a record whose timestamp is more than
``log.message.timestamp.after.max.ms`` past their clock (one hour by default); churnwatch
does the same with an event's ``occurred_at``: past ``max_ahead`` of the present, it goes
to the dead-letter topic (code ``in_the_future``) with its original, to be sent again
once its producer's clock is mended. Nothing of it reaches a state or a clock.

The present is the wall clock in the worker. A replay has one only when it is told the
time: ``churnwatch replay`` takes the wall clock at its start (a historical file is all in
the past); backtests and rule tests replay with a fixed clock and check nothing.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["DEFAULT_MAX_AHEAD", "IN_THE_FUTURE", "NO_HORIZON", "in_the_future_reason"]

#: seconds an event may be dated past the present: Kafka's default for record timestamps
DEFAULT_MAX_AHEAD = 3600
#: a horizon no event reaches (µs; decode refuses dates past 2099): no present, no check
NO_HORIZON = 1 << 63
#: the dead letters' code (and metrics' reason label) for an event dated past ``max_ahead``
IN_THE_FUTURE = "in_the_future"


def in_the_future_reason(at: int, present: int, max_ahead: int, clock: str) -> str:
    """Why an event at ``at`` (µs since the epoch) was refused, ``present`` being what
    ``clock`` read, so an operator can tell a producer's clock from a typo and knows what
    to do."""
    ahead_hours = (at - present) / 3_600_000_000
    allowed = max_ahead / 1_000_000
    allowed_text = f"{allowed / 3600:g} h" if allowed >= 3600 else f"{allowed:g} s"
    return (
        f"dated {_iso(at)}, {ahead_hours:,.1f} h after {clock} ({_iso(present)}), "
        f"beyond the allowed {allowed_text} (max_ahead): it would fire every timer due until "
        "then; mend the producer's clock or the date and send it again"
    )


def _iso(micros: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
