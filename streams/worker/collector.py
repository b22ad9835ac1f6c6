"""CPython's cyclic garbage collector in a worker that holds its customers' states.

Why. A worker keeps every owned customer's state in memory (``memory://``) or a working
set of them (``rocksdb://``): tens of thousands of containers per thousand customers that
live for hours, while each event allocates and drops a few dozen short-lived objects. With
CPython's default thresholds (a young collection every 700 net allocations, a full one
whenever the objects promoted since the last reach a quarter of the old generation) the
heap that grows as customers' windows fill is walked again and again: on the worker bench
(202,000 events, 2,000 customers) 14 full collections took 2.8-2.9 s of a 13-15 s run,
the longest 0.3-0.4 s, with every event fetched meanwhile waiting (load 5-6 on 2 cores).
With young collections every 50,000 allocations, short-lived objects die before a
collection sees them, few are promoted, and the same run had no full collection: 8 young
ones, 0.2-0.4 s in all. The engine's work per event creates no reference cycles that would
wait longer for it; containers still die by reference counting as they always did.

The RocksDB working set asks for the same young threshold for its own reason
(``streams/worker/state_cache.py``, ``tune_gc_for_cache``); this applies it to every worker.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_gc_for_states"]

#: net allocations between two young collections (CPython's default: 700)
YOUNG_THRESHOLD = 50_000


def tune_gc_for_states() -> None:
    """Collect young objects at most every ``YOUNG_THRESHOLD`` allocations (a higher
    threshold already set is kept); the older generations keep their thresholds."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
