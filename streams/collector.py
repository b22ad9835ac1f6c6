"""Fewer young-generation collections while a driver holds many customers' states.

Why. CPython collects its young generation every 700 net container allocations, and a
full collection whenever the objects promoted since the last reach a quarter of the old
generation. A driver keeps thousands of customers' states alive for hours (every state
in replay and in a ``memory://`` worker, a working set of them with ``rocksdb://``)
while each event allocates and drops a few dozen short-lived objects, so the default
thresholds walk the long-lived heap again and again:

- replay of a generated bank (64,975 events, 1,000 customers), one process alternating
  thresholds over 8 replays: median 51,880 events per CPU second with the default,
  59,949 with young collections every 50,000 allocations;
- the worker bench (202,000 events, 2,000 customers): 14 full collections took 2.8-2.9 s
  of a 13-15 s run, the longest 0.3-0.4 s with every fetched event waiting; with the
  raised threshold there was no full collection, 8 young ones, 0.2-0.4 s in all;
- the RocksDB working set: a cold customer's decode leaves a few dozen containers that
  live as long as the state stays in memory, and collections over a young generation
  swollen by them cost 60-100 µs per decoded state on top of a ~55 µs decode; raised,
  a few µs.

The engine's work per event creates no reference cycles that would wait longer for a
collection (its states are trees); containers still die by reference counting as they
always did. The older generations keep their thresholds.

Why a worker freezes its states. A full collection still walks every object it tracks,
and a worker's states are most of them: 100,000 customers' states in memory are ~1.7
million objects, and one full collection over them took 1.2-1.6 s (load 2-3 on 2 cores),
the loop and every event fetched meanwhile waiting. It comes back whenever the objects
promoted since the last one reach a quarter of the old generation, and grows with the
customers. So after each assignment's restore and each completed checkpoint the worker
collects what died since the last time, then moves every object alive to CPython's
permanent generation (:func:`freeze_survivors`, ``gc.freeze``), which no collection
walks: each collection then sees only what survived since the last checkpoint (on the
worker bench 20-50 ms, every checkpoint; the 100,000 customers' full collection after a
freeze: under 1 ms); the first one after a restore walks the restored states once (for
those 100,000, beside ~6 s of decoding). Frozen objects are still freed by reference
counting (a state replaced, a partition revoked); only a reference cycle frozen while
alive and dropped later is never collected (the compiled rule set a reload replaces may
hold some, once per reload). On the worker bench, nothing frozen was garbage at the end
of a run (an unfreeze and a full collection found 0 unreachable objects, against 1,598
garbage objects awaiting a full collection without freezing), and CPU per event and the
produce-to-alert p99 did not move beyond the machine's noise.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "YOUNG_THRESHOLD",
    "fewer_young_collections",
    "freeze_survivors",
    "tune_for_many_states",
]

#: net container allocations between two young collections (CPython's default is 700)
YOUNG_THRESHOLD = 50_000


def tune_for_many_states() -> None:
    """Young collections at most every ``YOUNG_THRESHOLD`` allocations, for the rest of
    the process (the worker); a higher threshold already set is kept."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)


@contextmanager
def fewer_young_collections() -> Iterator[None]:
    """The same for one replay, then the thresholds as they were (a library call)."""
    before = gc.get_threshold()
    tune_for_many_states()
    try:
        yield
    finally:
        gc.set_threshold(*before)


def freeze_survivors() -> None:
    """Collect what died since the last call, then move every object alive out of the
    collectors' sight (``gc.freeze``): a worker's call after a restore and after each
    checkpoint, so no collection walks its customers' states again."""
    gc.collect()
    gc.freeze()
