"""A partition's timer index when its states live in RocksDB: the database's due keys,
with what changed in memory since the last checkpoint laid over them.

Why. :class:`~churnwatch.streams.timers.TimerIndex` is rebuilt from every state at an
assignment; with ten million customers in a local database that is every state decoded
(~500 s) and ~1 GiB of index. Instead each checkpoint writes a customer's next due time
beside its state, in the same batch (``t:`` keys, ordered by time, in
``streams/worker/state_store.py``), and this index reads them in order, a few at a time:
a restart reads the earliest key and nothing else.

What the database does not know yet is in :attr:`StoredTimers.changed`: the due time
the engine set for a customer since their state was last saved, or None for a timer that
has fired (the database's key for that customer is stale then). A customer in ``changed``
is skipped when the database's keys are read; the memory's word wins until
:meth:`StoredTimers.saved` is told the database caught up. The order of firing is the
same as :class:`TimerIndex`'s: earliest first, and a timer set while firing that is due
at or before the limit fires in turn.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from churnwatch.streams.worker.state_store import PartitionDB

__all__ = ["StoredTimers"]

#: the database's earliest due entry is not known (read it again)
_UNKNOWN = (-1, "")


class StoredTimers:
    """Each customer's earliest timer: the database's due keys, overlaid by recent changes."""

    __slots__ = ("after", "changed", "db", "head", "heap")

    def __init__(self, db: PartitionDB) -> None:
        self.db = db
        #: due times set or fired since the customer's state was last saved (None: fired)
        self.changed: dict[str, int | None] = {}
        #: (due, customer) of ``changed`` entries; superseded ones are skipped
        self.heap: list[tuple[int, str]] = []
        #: the database's earliest entry not overridden by ``changed``; None: there is none
        self.head: tuple[int, str] | None = _UNKNOWN
        #: the database's keys up to this one are fired or overridden: read on after it
        self.after: tuple[int, str] | None = None

    def next_due(self) -> int | None:
        """The earliest due time (possibly one already superseded in memory), or None."""
        stored = self._stored_head()
        heap = self.heap
        if heap and (stored is None or heap[0][0] <= stored[0]):
            return heap[0][0]
        return stored[0] if stored is not None else None

    def set(self, customer_id: str, due: int) -> None:
        """Note the customer's earliest timer (kept in memory until it is saved)."""
        if self.changed.get(customer_id, -1) != due:
            self.changed[customer_id] = due
            heapq.heappush(self.heap, (due, customer_id))
            head = self.head
            if head is not None and head[1] == customer_id:
                self.head = _UNKNOWN

    def due_of(self, customer_id: str) -> tuple[bool, int | None]:
        """(changed since saved, due time in memory): what a checkpoint writes beside the state."""
        if customer_id in self.changed:
            return True, self.changed[customer_id]
        return False, None

    def pop_due(self, until: int) -> Iterator[tuple[int, str]]:
        """Yield and forget each (due, customer) at or before ``until``, earliest first."""
        heap, changed = self.heap, self.changed
        while True:
            while heap and changed.get(heap[0][1], -1) != heap[0][0]:
                heapq.heappop(heap)  # superseded by a later set, or fired
            stored = self._stored_head()
            if heap and heap[0][0] <= until and (stored is None or heap[0] <= stored):
                due, customer_id = heapq.heappop(heap)
            elif stored is not None and stored[0] <= until:
                due, customer_id = stored
                self.head = _UNKNOWN
                self.after = stored
            else:
                return
            changed[customer_id] = None  # fired: the stored key is stale until saved
            yield due, customer_id

    def _stored_head(self) -> tuple[int, str] | None:
        head = self.head
        if head is _UNKNOWN:
            head = None
            changed = self.changed
            for due, customer_id in self.db.dues(self.after):
                if customer_id not in changed:
                    head = (due, customer_id)
                    break
            self.head = head
        return head

    def saved(self, written: Iterable[tuple[str, int | None]]) -> None:
        """The database now holds these customers' due times: forget the memory's copy of
        those that did not change again since."""
        changed = self.changed
        for customer_id, due in written:
            if customer_id in changed and changed[customer_id] == due:
                del changed[customer_id]
        self.head = _UNKNOWN
        self.after = None  # the database changed: the stale keys before it may be gone
        if len(self.heap) > 2 * len(changed) + 64:  # drop superseded entries now and then
            self.heap = [(d, c) for d, c in self.heap if changed.get(c, -1) == d]
            heapq.heapify(self.heap)

    def __len__(self) -> int:
        """Timers changed in memory since the last save (the database holds the rest)."""
        return len(self.changed)
