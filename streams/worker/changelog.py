"""Per-customer engine state, held in memory and backed by a compacted changelog topic.

This is the changelog-backed table of Kafka Streams and Faust, cut to what the worker
needs. State lives in one dict per owned partition (the partition a customer's events
arrive on), so evaluating an event is a dict lookup, not a store round trip. A customer
touched in a batch is marked dirty; at each checkpoint the worker takes the dirty set
(:meth:`ChangelogState.take_dirty`) and writes one changelog record per customer in it (not
one per event), keyed by ``customer_id`` and sent to the same partition number, in slices
between batches (:meth:`ChangelogState.write`), then commits the offsets it noted when it
took the set. Encoding a state is the costly part (tens of µs for a busy customer), so a
customer is encoded once per checkpoint however many of its events the interval held.
On assignment, a partition's states are restored by reading its changelog partition
from the start; compaction keeps that proportional to the number of customers, not to history.

With ``worker.state_store: rocksdb:///path`` (:mod:`churnwatch.streams.worker.state_store`),
each checkpoint, once its sends are acknowledged, also writes the states it sent into the
partition's local database with the changelog offset they reach
(:meth:`ChangelogState.persist`), and assignment reads only the changelog records after
that offset. The states then stay in the database: the worker keeps a bounded working set
of them decoded (``streams/worker/state_cache.py``) and reads the rest one by one as their
customers' events come, and their timers are read from the database's due keys
(``streams/worker/stored_timers.py``), so an assignment decodes only the changelog's tail.
The changelog stays the source of truth; the database is a cache of it that survives
restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.state import CustomerState
from churnwatch.streams.worker.log_ends import log_ends
from churnwatch.streams.worker.sends import KeyedBatches
from churnwatch.streams.worker.state_cache import CachedStates
from churnwatch.streams.worker.state_store import ABSENT, LocalStates, PartitionDB, Stored
from churnwatch.streams.worker.stored_timers import StoredTimers

__all__ = ["ChangelogState", "PartitionStates", "RestoreReport"]

#: one partition's states: all in a dict (``memory://``), or a working set over RocksDB
PartitionStates: TypeAlias = dict[str, CustomerState] | CachedStates
#: the engine's ``next_due``: a state's earliest timer, stored beside it in RocksDB
NextDue = Callable[[CustomerState], int | None]
#: a changelog record sent and not yet in the local database: (partition, customer,
#: encoded state, delivery, (due time changed since saved, due time))
Unsaved = tuple[int, str, bytes, "asyncio.Future[Any]", tuple[bool, int | None]]
#: the working set per partition when ``worker.state_cache_customers`` is not given
DEFAULT_CACHE = 50_000

log = logging.getLogger("churnwatch.worker")


@dataclass(slots=True)
class RestoreReport:
    """What one restore read: states from local databases, records from the changelog."""

    partitions: list[int]
    local_states: int = 0
    replayed: int = 0
    #: partitions restored from the changelog's start (no usable local database)
    full: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"restored {self.local_states} states from local state, {self.replayed} "
            f"changelog records replayed for partitions {self.partitions} "
            f"(full restore: {self.full}) in {self.seconds:.2f} s"
        )


@dataclass(slots=True)
class _Saving:
    """One partition's part of a :meth:`ChangelogState.persist`."""

    changes: list[tuple[str, bytes | None]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    dues: list[tuple[str, int | None]] = field(default_factory=list)


class ChangelogState:
    """States by partition and customer; dirty tracking; changelog flush and restore."""

    def __init__(
        self,
        topic: str,
        consumer_options: dict[str, Any],
        local: LocalStates | None = None,
        *,
        cache_customers: int = DEFAULT_CACHE,
        next_due: NextDue | None = None,
    ) -> None:
        self.topic = topic
        self.consumer_options = consumer_options
        self.partitions: dict[int, PartitionStates] = {}
        self.dirty: dict[int, set[str]] = {}
        #: per-partition RocksDB databases, or None for ``memory://``
        self.local = local
        #: decoded states the worker keeps with local state, shared evenly by its partitions
        self.cache_customers = cache_customers
        #: the engine's timer of a state, stored beside it; None: no timers stored (tools)
        self.next_due = next_due
        #: per-partition timer indexes over the databases' due keys (local state only)
        self.timers: dict[int, StoredTimers] = {}
        #: changelog records sent since the last :meth:`persist`; only kept with local state
        self.unsaved: list[Unsaved] = []
        self.last_restore: RestoreReport | None = None

    def owned(self) -> set[int]:
        return set(self.partitions)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns (their state lives on in the changelog)."""
        partitions = list(partitions)
        for partition in partitions:
            self.partitions.pop(partition, None)
            self.dirty.pop(partition, None)
            self.timers.pop(partition, None)
        if self.local is not None:
            self.local.close(partitions)
            self._share_cache()

    def _share_cache(self) -> None:
        """Give each owned partition an even part of ``cache_customers``."""
        cached = [s for s in self.partitions.values() if isinstance(s, CachedStates)]
        for states in cached:
            states.resize(self.cache_customers // len(cached))

    async def restore(self, partitions: Iterable[int]) -> int:
        """Restore each new partition's states; return the changelog records read.

        In memory only: the changelog partition from its start. With local state
        (:mod:`churnwatch.streams.worker.state_store`): the partition's database, then the
        changelog from the offset the database reaches; from the start, rewriting the database, when
        there is none or the changelog does not have that offset (:meth:`_plan`).
        """
        wanted = sorted(set(partitions) - set(self.partitions))
        if not wanted:
            return 0
        started = time.monotonic()
        report = RestoreReport(partitions=wanted)
        stored: dict[int, int | None] = {}
        for partition in wanted:
            self.partitions[partition] = {}
            self.dirty[partition] = set()
            if self.local is not None:
                stored[partition] = self.local.open(partition).offset()
        tps = [TopicPartition(self.topic, p) for p in wanted]
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, **self.consumer_options
        )
        await consumer.start()
        replayed: dict[int, dict[str, bytes | None]] = {p: {} for p in wanted}
        try:
            consumer.assign(tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await log_ends(consumer, tps, begins)
            remaining: set[TopicPartition] = set()
            for tp in tps:
                partition = tp.partition
                start = self._plan(partition, stored.get(partition), begins[tp], ends[tp])
                if start is None:
                    report.full.append(partition)
                    start = begins[tp]
                else:
                    report.local_states += await asyncio.to_thread(self._db(partition).count)
                consumer.seek(tp, start)
                if start < ends[tp]:
                    remaining.add(tp)
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=200, max_records=10_000)
                for tp, records in batch.items():
                    changes = replayed[tp.partition]
                    # memory:// decodes as it reads (lazily: a block stays bytes until a
                    # rule reads it, rules/codec.py); with local state only the tail's
                    # states are decoded, for their timers, as they are saved
                    states = self.partitions[tp.partition] if self.local is None else None
                    for record in records:
                        report.replayed += 1
                        customer_id = record.key.decode()
                        changes[customer_id] = record.value
                        if states is None:
                            continue
                        if record.value is None:
                            states.pop(customer_id, None)
                        else:
                            states[customer_id] = decode_state(record.value, lazy=True)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            reached = {tp.partition: await consumer.position(tp) for tp in tps}
        finally:
            await consumer.stop()
        if self.local is not None:
            await asyncio.to_thread(self._save_restored, report.full, replayed, reached)
            for partition in wanted:
                db = self._db(partition)
                cached = CachedStates(db, self.cache_customers)
                cached.dirty = self.dirty[partition]
                self.partitions[partition] = cached
                self.timers[partition] = StoredTimers(db)
            self._share_cache()
        report.seconds = time.monotonic() - started
        self.last_restore = report
        log.info("%s", report)
        return report.replayed

    def _db(self, partition: int) -> PartitionDB:
        assert self.local is not None
        return self.local.open(partition)

    def _plan(
        self,
        partition: int,
        offset: int | None,
        begin: int,
        end: int,
    ) -> int | None:
        """The changelog offset to read from after the local state; None: full restore."""
        if offset is None:
            return None  # a new (or never checkpointed) database
        if offset > end or offset < begin:
            # beyond the end: the changelog was reset; before the start: records the
            # database never saw were deleted. Either way it cannot be trusted.
            log.warning(
                "local state of partition %d reaches changelog offset %d, the changelog "
                "holds %d..%d: restoring it in full from the changelog",
                partition,
                offset,
                begin,
                end,
            )
            return None
        return offset

    def _save_restored(
        self,
        full: list[int],
        replayed: dict[int, dict[str, bytes | None]],
        reached: dict[int, int],
    ) -> None:
        """Write what the changelog brought into the databases (rebuilt when restored in
        full), with each state's timer: these are the only states a restore decodes."""
        next_due = self.next_due
        for partition, changes in replayed.items():
            db = self._db(partition)
            known = None
            if partition in full:
                db.reset()
                known = dict.fromkeys(changes, ABSENT)  # an empty database: nothing to read
            dues: list[tuple[str, int | None]] = []
            if next_due is not None:
                for customer_id, value in changes.items():
                    due = next_due(decode_state(value, lazy=True)) if value is not None else None
                    dues.append((customer_id, due))
            db.write(changes.items(), reached[partition], dues, known=known)

    def take_dirty(self) -> list[tuple[int, str]]:
        """The customers changed since the last take, as (partition, customer); reset to none.

        Customers changed after this call land in fresh sets, for the next checkpoint.
        """
        taken: list[tuple[int, str]] = []
        for partition, customers in self.dirty.items():
            if customers:
                states = self.partitions.get(partition)
                if isinstance(states, CachedStates):  # pinned until persisted
                    taken.extend((partition, customer_id) for customer_id in states.take())
                else:
                    taken.extend((partition, customer_id) for customer_id in customers)
                    self.dirty[partition] = set()
        return taken

    async def write(
        self, producer: AIOKafkaProducer, customers: Sequence[tuple[int, str]]
    ) -> list[asyncio.Future[Any]]:
        """Send the current state of each (partition, customer); return the delivery futures.

        A partition revoked since the customers were taken is skipped: the revoke's own
        checkpoint wrote it.
        """
        futures: list[asyncio.Future[Any]] = []
        send = producer.send
        topic = self.topic
        local = self.local is not None
        # in memory, a batch per partition (sends.py); RocksDB saves each record's offset
        batches = None if local else KeyedBatches(producer, topic)
        for partition, customer_id in customers:
            states = self.partitions.get(partition)
            if states is None:
                continue
            if isinstance(states, CachedStates):
                value = states.encoded(customer_id)
                if value is None:
                    continue
            else:
                state = states.get(customer_id)
                if state is None:
                    continue
                value = encode_state(state)
            if batches is not None:
                await batches.add(customer_id.encode(), value, partition)
                continue
            future = await send(topic, value, key=customer_id.encode(), partition=partition)
            futures.append(future)
            if local:
                timers = self.timers.get(partition)
                due = timers.due_of(customer_id) if timers is not None else (False, None)
                self.unsaved.append((partition, customer_id, value, future, due))
        if batches is not None:
            futures.extend(await batches.flush())
        return futures

    async def persist(self) -> int:
        """Write the states sent since the last call to the local databases; return how many.

        Called once every send of a checkpoint is acknowledged, so each database gets the
        states and the offset after the highest changelog record holding them: a restart
        that loads it and reads the changelog from there misses nothing. Partitions no
        longer owned are skipped (their next owner reads the changelog).
        """
        if self.local is None:
            return 0
        unsaved, self.unsaved = self.unsaved, []
        by_partition: dict[int, _Saving] = {}
        for partition, customer_id, value, future, (changed, due) in unsaved:
            saving = by_partition.setdefault(partition, _Saving())
            saving.changes.append((customer_id, value))
            saving.offsets.append(future.result().offset)
            if changed:
                saving.dues.append((customer_id, due))
        local = self.local
        # what the working sets know the databases hold, so the writes need not read it
        known: dict[int, dict[str, Stored]] = {}
        for partition, saving in by_partition.items():
            states = self.partitions.get(partition)
            if isinstance(states, CachedStates):
                known[partition] = states.known(c for c, _ in saving.changes)
        after: dict[int, dict[str, Stored]] = {p: {} for p in by_partition}

        def save() -> int:
            written = 0
            for partition, saving in by_partition.items():
                db = local.get(partition)
                if db is not None:
                    written += db.write(
                        saving.changes,
                        max(saving.offsets) + 1,
                        saving.dues,
                        known=known.get(partition),
                        after=after[partition],
                    )
            return written

        written = await asyncio.to_thread(save) if by_partition else 0
        # only now, with the database holding them, may the states leave memory
        for partition, states in self.partitions.items():
            if isinstance(states, CachedStates):
                states.saved(after.get(partition))
        for partition, saving in by_partition.items():
            timers = self.timers.get(partition)
            if timers is not None:
                timers.saved(saving.dues)
        return written

    def close(self) -> None:
        """Close the local databases (stop); their files stay for the next start."""
        if self.local is not None:
            self.local.close_all()

    async def flush(self, producer: AIOKafkaProducer) -> list[asyncio.Future[Any]]:
        """Send one changelog record per dirty customer; return the delivery futures."""
        return await self.write(producer, self.take_dirty())
