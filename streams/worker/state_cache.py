"""A partition's working set of decoded states over its RocksDB database.

Why. With ``rocksdb://`` the worker used to decode every state of a partition into a dict
at assignment: ten million customers are ~100 GB of Python objects and ~500 s of decoding.
Kafka Streams' caching store over RocksDB is the model here: the states live in the
database, the worker keeps the ``worker.state_cache_customers`` it used last decoded in
memory, and a customer not among them costs one read (a batch's together:
:meth:`CachedStates.prefetch`) and one decode
(:meth:`CachedStates.get`): a lazy one, whose blocks stay bytes until a rule reads them
(rules/codec.py, "Reading lazily"), since the event that brought the customer back in
most often reads two of their blocks.

What may never be evicted. A state changed since the last checkpoint (dirty), or taken by
the checkpoint in progress and not yet in the database (taken), is newer than what the
database holds: dropping it would bring the old one back on the next read. Such a state
pushed out of the working set by newer ones is *held*, encoded (the checkpoint encodes it
anyway; encoded it takes a tenth of the memory), until :meth:`CachedStates.saved` is told
the checkpoint wrote it to the database. So the held states are bounded by the customers
changed per checkpoint interval, not by the capacity.

The changelog protocol is untouched: checkpoints send the taken states to the changelog,
await the acknowledgements, write them to the database, then commit the offsets
(``streams/worker/checkpoint.py``); only then are they unpinned.

What the database holds. For each customer in memory the working set also remembers what
the database holds for them (:attr:`CachedStates.stored`): no state (the read found
none), or a state and the due time stored with it (read with it, or written by the last
checkpoint). The checkpoint hands that to :meth:`PartitionDB.write`, which then moves the
customer's timer key and the count without reading anything back (the store's "Blind
writes").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.state import CustomerProfile, CustomerState
from churnwatch.streams.worker.state_store import ABSENT, PartitionDB, Stored

__all__ = ["CachedStates", "StatesDirectory"]


class CachedStates:
    """The decoded states a partition used last, over its database; dirty ones pinned.

    The methods the worker calls are those of the dict that ``memory://`` keeps
    (``get``, item assignment, ``pop``), so the batch code is the same for both.
    """

    __slots__ = (
        "absent",
        "capacity",
        "db",
        "dirty",
        "fetched",
        "held",
        "hits",
        "misses",
        "recent",
        "stored",
        "taken",
    )

    def __init__(self, db: PartitionDB, capacity: int) -> None:
        self.db = db
        self.capacity = max(capacity, 1)
        #: decoded states, least recently used first
        self.recent: OrderedDict[str, CustomerState] = OrderedDict()
        #: dirty or taken states pushed out of ``recent``, encoded, until they are saved
        self.held: dict[str, bytes] = {}
        #: changed since the last checkpoint took them (the worker adds to this set)
        self.dirty: set[str] = set()
        #: taken by the checkpoint in progress, not yet in the database
        self.taken: set[str] = set()
        #: what the database holds for customers in memory, where known
        self.stored: dict[str, Stored] = {}
        #: what :meth:`prefetch` read for a batch's customers not in memory, until ``get``
        self.fetched: dict[str, tuple[int | None, bytes] | None] = {}
        #: the customer the last read found no state for: theirs is new when it is set next
        self.absent: str | None = None
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        """States in memory (decoded or held), not the database's count."""
        return len(self.recent) + len(self.held)

    def get(self, customer_id: str, default: None = None) -> CustomerState | None:
        """The customer's state: from memory, or read and decoded (then kept); None if none."""
        recent = self.recent
        state = recent.get(customer_id)
        if state is not None:
            recent.move_to_end(customer_id)
            self.hits += 1
            return state
        self.misses += 1
        value = self.held.pop(customer_id, None)
        if value is None:
            fetched = self.fetched
            found = (
                fetched.pop(customer_id) if customer_id in fetched else self.db.read(customer_id)
            )
            if found is None:
                self.absent = customer_id
                return None
            due, value = found
            self.stored[customer_id] = (True, due)
        state = decode_state(value, lazy=True)  # blocks decoded as rules read them
        self[customer_id] = state
        return state

    def prefetch(self, customer_ids: Iterable[str]) -> None:
        """Read the stored states of a batch's customers not in memory, in one multi-get.

        The worker calls it with the customers of a task's batch before it evaluates
        them; :meth:`get` then takes each from here, once. What one batch read and did not
        use is dropped by the next: a value read here is the database's as of this call,
        and only a state set since (:meth:`__setitem__`, which drops it) can make it stale.
        """
        recent, held = self.recent, self.held
        wanted = [c for c in dict.fromkeys(customer_ids) if c not in recent and c not in held]
        self.fetched = dict(zip(wanted, self.db.read_many(wanted), strict=True)) if wanted else {}

    def __setitem__(self, customer_id: str, state: CustomerState) -> None:
        recent = self.recent
        recent[customer_id] = state
        recent.move_to_end(customer_id)
        self.held.pop(customer_id, None)
        if self.fetched:
            self.fetched.pop(customer_id, None)
        if customer_id == self.absent:
            self.stored[customer_id] = ABSENT
            self.absent = None
        if len(recent) > self.capacity:
            self._evict()

    def pop(self, customer_id: str, default: None = None) -> CustomerState | None:
        """Forget the in-memory state (the worker does so only for one the database lacks)."""
        held = self.held.pop(customer_id, None)
        state = self.recent.pop(customer_id, None)
        self.fetched.pop(customer_id, None)
        self.stored.pop(customer_id, None)
        return state if state is not None or held is None else decode_state(held)

    def resize(self, capacity: int) -> None:
        """Keep at most ``capacity`` decoded states (a rebalance changed the share)."""
        self.capacity = max(capacity, 1)
        self._evict()

    def _evict(self) -> None:
        recent, dirty, taken, held = self.recent, self.dirty, self.taken, self.held
        while len(recent) > self.capacity:
            customer_id, state = recent.popitem(last=False)
            if customer_id in dirty or customer_id in taken:
                held[customer_id] = encode_state(state)
            else:
                self.stored.pop(customer_id, None)

    def encoded(self, customer_id: str) -> bytes | None:
        """The customer's current state encoded, for the checkpoint; None if it has none."""
        state = self.recent.get(customer_id)
        if state is not None:
            return encode_state(state)
        return self.held.get(customer_id)

    def take(self) -> list[str]:
        """The dirty customers, now taken by a checkpoint (pinned until :meth:`saved`)."""
        taken = list(self.dirty)
        self.taken.update(taken)
        self.dirty.clear()
        return taken

    def known(self, customers: Iterable[str]) -> dict[str, Stored]:
        """What the database holds for those of ``customers`` it is known for."""
        stored = self.stored
        return {c: stored[c] for c in customers if c in stored}

    def saved(self, after: Mapping[str, Stored] | None = None) -> None:
        """The checkpoint wrote every taken state to the database: unpin them.

        ``after`` is what the database holds now for the customers written
        (:meth:`PartitionDB.write`'s ``after``). Held states that are not dirty again are
        dropped (the database has them now).
        """
        self.taken.clear()
        recent, held, stored = self.recent, self.held, self.stored
        for customer_id, now in (after or {}).items():
            if customer_id in recent or customer_id in held:
                stored[customer_id] = now
        dirty = self.dirty
        for customer_id in [c for c in held if c not in dirty]:
            del held[customer_id]
            stored.pop(customer_id, None)

    def customers(self) -> Iterator[str]:
        """Every customer with a state: the database's, then those only in memory so far.

        Reads every key of the database: for tests and tools, never the event path.
        """
        stored: set[str] = set()
        cut = len(b"s:")
        for key in self.db._state_keys():
            customer_id = key[cut:].decode()
            stored.add(customer_id)
            yield customer_id
        for customer_id in list(self.recent) + list(self.held):
            if customer_id not in stored:
                yield customer_id

    def __iter__(self) -> Iterator[str]:
        return self.customers()

    def items(self) -> Iterator[tuple[str, CustomerState]]:
        """Every customer's state, decoding what is not in memory (tests and tools only)."""
        for customer_id in self.customers():
            state = self.get(customer_id)
            if state is not None:
                yield customer_id, state


class StatesDirectory(InMemoryDirectory):
    """Staff as the in-memory directory keeps them; a customer from their own state.

    Why. The in-memory directory is filled with every owned customer's profile at an
    assignment, which with a RocksDB store would decode every state again and hold ten
    million profiles. A customer's profile is part of their state, and the customers the
    routing asks about are those an alert was just made for, whose state is in memory.
    """

    def __init__(self, lookup: Callable[[str], CustomerProfile | None]) -> None:
        super().__init__()
        self.lookup = lookup

    def customer(self, customer_id: str) -> CustomerProfile | None:
        return self.lookup(customer_id)

    def put_customer(self, profile: CustomerProfile) -> None:
        """Nothing to keep: the profile is in the customer's state."""
