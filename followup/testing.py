"""Test helpers shipped for users of the follow-up package (like ``structlog.testing``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from churnwatch.schemas.models import Alert

__all__ = ["FixedClock", "RecordingNotify", "Sent"]


@dataclass(frozen=True, slots=True)
class Sent:
    alert_id: str
    audience: str
    staff_id: str
    reason: str


@dataclass
class RecordingNotify:
    """A ``Notify`` that remembers every call instead of sending anything."""

    sent: list[Sent] = field(default_factory=list)

    def __call__(self, alert: Alert, audience: str, staff_id: str, reason: str) -> None:
        self.sent.append(Sent(alert.alert_id, audience, staff_id, reason))


class FixedClock:
    """A clock that only moves when told to."""

    __slots__ = ("now",)

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta
