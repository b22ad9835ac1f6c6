"""Test helpers shipped with churnwatch, for its own tests and a bank's plugins.

``FixedClock`` is a clock that only moves when told; ``RecordingNotifier`` is a channel
that records what it was asked to send and can be told to fail the next sends, so the
retry and classification paths can be exercised without a network.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping
from typing import Any

from churnwatch.notifiers.exceptions import DeliveryFailed
from churnwatch.notifiers.protocol import Channel, Message, Receipt

__all__ = ["RECORDING_CHANNEL", "FixedClock", "RecordingNotifier"]


class FixedClock:
    """A clock that returns ``now`` until it is set or advanced."""

    __slots__ = ("now",)

    def __init__(self, now: dt.datetime | str) -> None:
        self.now = _aware(now)

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, now: dt.datetime | str) -> None:
        self.now = _aware(now)

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def _aware(value: dt.datetime | str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("FixedClock needs a time with a UTC offset")
    return moment


class RecordingNotifier:
    """Records every message; raises the queued failures first, one per send."""

    __slots__ = ("failures", "sent")

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.failures: deque[DeliveryFailed] = deque()

    def fail_next(self, *failures: DeliveryFailed) -> None:
        self.failures.extend(failures)

    def send(self, message: Message) -> Receipt:
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(message)
        return Receipt(f"rec-{len(self.sent)}")

    def close(self) -> None:
        return None

    @property
    def bodies(self) -> list[str]:
        return [m.body for m in self.sent]


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> None:
    return None


#: a channel object for tests that need a plugin without an entry point
RECORDING_CHANNEL = Channel(
    name="recording",
    summary="records messages in memory (tests)",
    address="none",
    configure=_configure,
    build=lambda config: RecordingNotifier(),
)
