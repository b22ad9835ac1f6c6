"""A worker's running totals: events, dead letters, alerts, timers, checkpoints.

The batch work counts them; a run of either worker (the worker's own loop, or the Faust
runtime's) returns them, and the bench and the stop log line read them. A run's result
has a home of its own, not in the code that happens to count it.
"""

from __future__ import annotations

import msgspec

__all__ = ["WorkerStats"]


class WorkerStats(msgspec.Struct):
    """Running totals, for the bench, tests and the stop log line."""

    events: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    repartitioned: int = 0
    alerts: int = 0
    new_alerts: int = 0
    #: alerts' outcomes derived from the customers' later events
    outcomes: int = 0
    batches: int = 0
    timers_fired: int = 0
    checkpoints: int = 0
