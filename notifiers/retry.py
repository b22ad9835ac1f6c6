"""Retry stage: the one place that decides whether and when a failed send is tried again.

Exponential backoff with "equal jitter": the n-th retry waits between half and all of
``first * factor**(n-1)`` (capped at ``max_delay``), so a burst of failures (a provider
outage) does not come back as a synchronised burst. A peer's ``Retry-After`` is a floor.
Permanent failures are never retried; transient ones stop after ``max_attempts`` and the
row stays ``failed`` and visible (``churnwatch deliveries list --status failed``).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from churnwatch.notifiers.exceptions import DeliveryFailed

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    first: dt.timedelta = dt.timedelta(seconds=30)
    factor: float = 2.0
    max_delay: dt.timedelta = dt.timedelta(hours=1)
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempts: int, retry_after: float | None = None) -> dt.timedelta:
        """How long to wait after the ``attempts``-th failed try (1-based)."""
        ceiling = min(
            self.max_delay.total_seconds(),
            self.first.total_seconds() * self.factor ** max(0, attempts - 1),
        )
        wait = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return dt.timedelta(seconds=wait)

    def next_try(
        self, attempts: int, failure: DeliveryFailed, now: dt.datetime
    ) -> dt.datetime | None:
        """When to try again, or ``None`` to give up (permanent, or out of attempts)."""
        if not failure.retryable or attempts >= self.max_attempts:
            return None
        return now + self.delay(attempts, failure.retry_after)
