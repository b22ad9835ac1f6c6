"""A fetched batch's way through the worker, once it is fetched and until it is stored.

Order of work (crash safety, at-least-once — never Kafka transactions, see DESIGN):
1. :meth:`Batches.receive` decodes each fetched record once into its task's buffer
   (``streams/worker/order.py``); an event keyed to another partition is forwarded to
   the repartition topic, where its owner's task reads it;
2. :meth:`Batches.process` takes what the ordering hands out — each task's records in
   event-time order across its topics — and evaluates it: a bad message, an event too
   late or one a rule raised on is a dead letter with topic, partition, offset and
   reason; a task's timers fire as its event-time clock passes them;
3. the customer profiles the batch's events changed are written in one transaction
   (``schemas/profiles.py``: order-safe and idempotent, so a batch read again after a
   crash changes nothing), before its alerts are routed;
4. :meth:`Batches.emit` stores the alerts (idempotent by ``alert_id``; an unreachable
   store is retried, ``streams/worker/retry.py``), passes the new ones to the sinks (the
   notifier hook), then sends them to the alerts topic; only then do the records' offsets
   count as processed, for the next checkpoint (``streams/worker/checkpoint.py``).
If anything raises on the way, the offsets of the batch in hand are not noted: the
worker stops without committing them (``streams/worker/loop.py``) and the next start
evaluates them again against the last checkpoint's states (the store refuses repeats).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from aiokafka import AIOKafkaProducer

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules.engine import Engine, Status, event_micros
from churnwatch.rules.isolation import Isolation, rule_error_reason
from churnwatch.schemas.decode import NO_SOURCE, DeadLetter, Source, decode
from churnwatch.schemas.models import (
    Alert,
    CustomerEvent,
    DerivedOutcome,
    ProductEvent,
    StaffEvent,
    TransactionEvent,
)
from churnwatch.schemas.profiles import ProfileBook
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.config import Config
from churnwatch.streams.future import IN_THE_FUTURE, in_the_future_reason
from churnwatch.streams.kafka import partition_for
from churnwatch.streams.replay.driver import AlertSink
from churnwatch.streams.timers import TimerIndex, wall_micros
from churnwatch.streams.worker.changelog import ChangelogState, PartitionStates
from churnwatch.streams.worker.checkpoint import Checkpointer
from churnwatch.streams.worker.health import BatchCounts, WorkerObservability
from churnwatch.streams.worker.order import NO_TIME, Item, OrderedInput, Task
from churnwatch.streams.worker.positions import Positions
from churnwatch.streams.worker.sends import send_keyed
from churnwatch.streams.worker.state_cache import CachedStates, StatesDirectory
from churnwatch.streams.worker.stats import WorkerStats
from churnwatch.streams.worker.stored_timers import StoredTimers

__all__ = ["Batches", "Retry"]


#: ``retry(call, what, thread=...)``: ``call`` until it succeeds through a store outage
Retry = Callable[..., Awaitable[Any]]
#: what decoding gives that is not evaluated in a customer's task
_UNKEYED = (DeadLetter, StaffEvent)
#: the events evaluated against a customer's state (decode gives these classes exactly)
_KEYED = frozenset({TransactionEvent, ProductEvent, CustomerEvent})
#: customers whose partition is remembered; past it the memo starts again (10 million
#: customers would otherwise make it ~1 GiB)
PARTITION_MEMO = 1_000_000


class Batches:
    """Decode, order, evaluate, fire timers, store and send: one worker's batch work."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        state: ChangelogState,
        checkpoints: Checkpointer,
        observe: WorkerObservability,
        retry: Retry,
        *,
        sinks: Sequence[AlertSink],
        route: Callable[[Alert, InMemoryDirectory], Alert] | None,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.config = config
        self.engine = engine
        #: the engine's evaluate and advance, undone whole when a rule raises
        self.isolation = Isolation(engine)
        self.positions = Positions()
        self.state = state
        self.checkpoints = checkpoints
        self.observe = observe
        self.retry = retry
        self.sinks = list(sinks)
        self.route = route
        self.clock = clock
        #: states in a RocksDB working set (not the Faust runtime's table, which passes
        #: a state of its own with the dict per partition)
        self.working_set = isinstance(state, ChangelogState) and state.local is not None
        #: with a working set, customers are looked up in their states, never all held
        self.directory: InMemoryDirectory = (
            StatesDirectory(self._profile) if self.working_set else InMemoryDirectory()
        )
        self.stats = WorkerStats()
        self.partitions = 0
        self.partition_cache: dict[str, int] = {}
        #: the worker's event-time clock (µs): the latest occurred_at processed in any task;
        #: each task's timers fire on its own clock (``streams/worker/order.py``)
        self.clock_at = 0
        self.wall_timers = config.worker.timer_clock == "wall"
        self.max_ahead = config.max_ahead_seconds * 1_000_000
        self.timers: dict[int, TimerIndex | StoredTimers] = {}
        worker = config.worker
        self.order = OrderedInput(
            max_task_idle=worker.max_task_idle,
            lagging_wait=worker.lagging_wait,
            limit=worker.max_poll_records,
            lateness=engine.lateness,
        )
        self.producer: AIOKafkaProducer | None = None
        self.store: AlertStore | None = None
        #: the customer profiles this batch's events changed (written in :meth:`process`)
        self.profiles = ProfileBook(lambda aum: self.engine.tiers.tier_of(aum))
        #: derived outcomes not yet stored: stored with the next alerts, or by process()
        self.outcomes: list[DerivedOutcome] = []

    async def receive(self, batch: dict[Any, list[Any]]) -> None:
        """Decode a fetched batch into the task buffers; forward events keyed otherwise."""
        producer = self.producer
        assert producer is not None
        stats = self.stats
        stats.batches += 1
        partitions = self.partitions
        cache = self.partition_cache
        limits = self.config.limits
        repartition = self.config.repartition_topic
        add = self.order.add
        unkeyed = _UNKEYED
        micros = event_micros
        present = wall_micros(self.clock)
        horizon = present + self.max_ahead  # later events are dead letters (streams/future.py)
        for tp, records in batch.items():
            partition = tp.partition
            stats.events += len(records)
            items: list[Item] = []
            for record in records:
                raw = record.value
                event = decode(raw, limits=limits) if raw is not None else None
                if event is None or isinstance(event, unkeyed):
                    items.append(Item(tp, NO_TIME, record, event))
                    continue
                customer_id = event.customer_id
                owner = cache.get(customer_id)
                if owner is None:
                    owner = partition_for(customer_id.encode(), partitions)
                    if len(cache) >= PARTITION_MEMO:
                        cache.clear()
                    cache[customer_id] = owner
                if owner != partition:
                    stats.repartitioned += 1
                    self.checkpoints.pending.append(
                        await producer.send(repartition, raw, key=customer_id.encode())
                    )
                    # the owner's task evaluates it; here it only moves the offset on
                    items.append(Item(tp, NO_TIME, record, None))
                    continue
                at = micros(event.occurred_at)
                if at > horizon:
                    reason = in_the_future_reason(at, present, self.max_ahead, "the worker's clock")
                    event = DeadLetter(reason, IN_THE_FUTURE, NO_SOURCE)
                    at = NO_TIME
                items.append(Item(tp, at, record, event))
            add(tp, items)

    async def process(self, work: list[tuple[Task, list[Item]]]) -> None:
        """Evaluate what the ordering handed out, store its alerts; offsets follow."""
        counts = BatchCounts()
        types = counts.types
        alerts: list[Alert] = []
        fired: list[Alert] = []
        offsets = self.checkpoints.offsets
        moved: dict[Any, int] = {}
        keyed = _KEYED
        for task, items in work:
            if task.number not in self.state.partitions:
                continue  # its state is gone (revoked or lost): the owner reads these again
            evaluated: list[Item] = []
            for item in items:
                moved[item.tp] = item.record.offset + 1
                event = item.event
                kind = event.__class__
                if kind in keyed:  # most records: counted and evaluated
                    types[kind] = types.get(kind, 0) + 1
                    evaluated.append(item)
                    continue
                if event is None:
                    continue
                if isinstance(event, DeadLetter):
                    await self.dead_letter(
                        item.record.value, event.reason, event.code, item.tp, item.record.offset
                    )
                    continue
                kind = event.__class__
                types[kind] = types.get(kind, 0) + 1
                if isinstance(event, StaffEvent):
                    self.directory.put_staff(event)
                    continue
                evaluated.append(item)
            if evaluated:
                await self._evaluate(task, evaluated, counts, alerts, fired)
        if self.profiles:
            await self.write_profiles()
        if alerts or fired or self.outcomes:
            await self.emit(alerts, fired)
        # only now, with the alerts stored, may a checkpoint cover these records
        offsets.update(moved)
        counts.publish(self.observe.metrics, self.engine.ruleset)

    async def _evaluate(
        self,
        task: Task,
        work: list[Item],
        counts: BatchCounts,
        alerts: list[Alert],
        fired: list[Alert],
    ) -> None:
        evaluate = self.isolation.evaluate
        partition = task.number
        states = self.state.partitions.get(partition)
        if states is None:  # a partition revoked while this batch was in hand
            return
        if isinstance(states, CachedStates):  # the batch's customers not in memory, one read
            states.prefetch(item.event.customer_id for item in work)
        dirty = self.state.dirty[partition]
        timers = self.timers_of(partition)
        matches = counts.matches
        profiles = self.profiles
        positions = self.positions
        position_key = positions.key
        keys: dict[Any, int] = {}  # the input partitions' keys in the states' offsets
        put_customer = self.directory.put_customer
        now = self.clock()
        for item in work:
            event = item.event
            customer_id = event.customer_id
            at = item.at
            record = item.record
            if at > task.clock:
                task.clock = at
                if at > self.clock_at:
                    self.clock_at = at
                due = timers.next_due()
                if due is not None and due <= at:
                    self.fire_timers(partition, at, now, fired)
            outcome = evaluate(customer_id, event, record.value, states.get(customer_id), now, at)
            status = outcome.status
            if status is Status.EVALUATED:
                if outcome.next_due is not None:
                    timers.set(customer_id, outcome.next_due)
                state = outcome.state
                kind = event.__class__
                if state is not None:
                    tp = item.tp
                    key = keys.get(tp)
                    if key is None:
                        key = keys[tp] = position_key(tp)
                    state.offsets[key] = record.offset + 1  # Positions.applied, inlined
                    states[customer_id] = state
                    dirty.add(customer_id)
                    if kind is CustomerEvent and state.customer is not None:
                        put_customer(state.customer)
                if kind is not TransactionEvent:
                    profiles.note(event)
                elif event.kind == "payroll" and event.direction == "credit":
                    profiles.note_payroll(event)
                for rule_id in outcome.matched:
                    matches[rule_id] = matches.get(rule_id, 0) + 1
                if outcome.alerts:
                    alerts.extend(outcome.alerts)
                if outcome.outcomes:
                    self.outcomes.extend(outcome.outcomes)
            elif status is Status.DUPLICATE or (
                # read again after a restore from states newer than the offsets
                status is Status.TOO_LATE
                and positions.holds(outcome.state, item.tp, item.record.offset)
            ):
                counts.duplicates += 1
            elif status is Status.TOO_LATE:
                late = outcome.late_by or dt.timedelta(0)
                reason = (
                    f"arrived {late.total_seconds() / 3600:.1f} h after newer events of "
                    f"customer {customer_id}, beyond the allowed lateness of "
                    f"{self.engine.lateness // 3_600_000_000} h; replay it in order or "
                    "raise the lateness"
                )
                await self.dead_letter(
                    item.record.value, reason, "too_late", item.tp, item.record.offset
                )
            elif status is Status.RULE_ERROR:  # the state before the event, the stream goes on
                _put_state(states, customer_id, outcome.state)
                dirty.add(customer_id)
                assert outcome.failure is not None
                reason = rule_error_reason(outcome.failure)
                await self.dead_letter(
                    item.record.value, reason, "rule_error", item.tp, item.record.offset
                )
        self.stats.duplicates += counts.duplicates

    async def write_profiles(self) -> None:
        """The profiles noted, in one transaction (retried through a store outage)."""
        store = self.store
        assert store is not None
        await self.retry(lambda: self.profiles.write(store.engine), "store customer profiles")

    def timers_of(self, partition: int) -> TimerIndex | StoredTimers:
        timers = self.timers.get(partition)
        if timers is None:
            timers = self.timers[partition] = TimerIndex()
        return timers

    def fire_timers(
        self, partition: int, until: int, now: dt.datetime, alerts: list[Alert]
    ) -> None:
        """Fire the task's customers' timers due at or before ``until`` (µs), earliest first.

        ``until`` is the task's event-time clock (as replay's clock, but per task: another
        task running ahead must not fire a timer before this customer's own earlier
        events), the worker's clock for an idle task, or in ``wall`` mode possibly the
        wall clock (:meth:`fire_idle_timers`).
        """
        states = self.state.partitions.get(partition)
        if states is None:
            return  # the partition moved to another worker
        timers = self.timers_of(partition)
        dirty = self.state.dirty[partition]
        for due, customer_id in timers.pop_due(until):
            state = states.get(customer_id)
            if state is None:
                continue
            outcome = self.isolation.advance(customer_id, state, due, now)
            dirty.add(customer_id)
            if outcome.status is Status.RULE_ERROR:
                _put_state(states, customer_id, outcome.state)
                continue
            self.stats.timers_fired += 1
            alerts.extend(outcome.alerts)
            if outcome.outcomes:
                self.outcomes.extend(outcome.outcomes)
            if outcome.next_due is not None:
                timers.set(customer_id, outcome.next_due)

    async def fire_idle_timers(self, lags: dict[Any, int | None]) -> None:
        """Timers no event of their task will fire: an idle task's (nothing buffered,
        caught up) follow the worker's event-time clock, as replay's single clock does;
        with ``wall`` timers every task's follow ``max(wall clock, its clock)``."""
        wall = wall_micros(self.clock) if self.wall_timers else 0
        fired: list[Alert] = []
        now: dt.datetime | None = None
        for task in self.order.tasks.values():
            timers = self.timers.get(task.number)
            due = timers.next_due() if timers is not None else None
            if due is None:
                continue
            until = max(wall, task.clock)
            if due > until and self.order.idle(task, lags):
                until = max(until, self.clock_at)
            if due <= until:
                now = now or self.clock()
                self.fire_timers(task.number, until, now, fired)
        if fired or self.outcomes:
            await self.emit([], fired)

    def rebuild_timers(self) -> None:
        """After a (re)assignment: timers and directory entries of the owned customers.

        Timers are state, so they come back from the restored states, not from memory.
        """
        self.timers = {}
        for partition, states in self.state.partitions.items():
            stored = self.state.timers.get(partition) if self.working_set else None
            if stored is not None:  # RocksDB: due keys read as they come due, no state
                self.timers[partition] = stored
                continue
            owned: list[tuple[str, Any]] = []
            for customer_id, state in states.items():
                self.partition_cache[customer_id] = partition
                if state.customer is not None:
                    self.directory.put_customer(state.customer)
                owned.append((customer_id, state))
            index = self.timers[partition] = TimerIndex()
            index.rebuild(owned, self.engine.next_due)

    def _profile(self, customer_id: str) -> Any:
        """The customer's profile from their state (a RocksDB store's directory)."""
        partition = self.partition_cache.get(customer_id)
        if partition is None:
            partition = partition_for(customer_id.encode(), self.partitions)
        states = self.state.partitions.get(partition)
        state = states.get(customer_id) if states is not None else None
        return state.customer if state is not None else None

    async def emit(self, alerts: list[Alert], fired: list[Alert]) -> None:
        """Store first (idempotent, retried through an outage), then notify the sinks of
        new ones, then the topic.

        ``alerts`` came from events just read, ``fired`` from timers: only the former
        give event-to-alert latency samples.
        """
        producer, store = self.producer, self.store
        assert producer is not None and store is not None
        batch = alerts + fired
        if not batch:
            await self.store_outcomes(store)
            return
        if self.route is not None:
            batch = [self.route(alert, self.directory) for alert in batch]
        fresh = await self.retry(lambda: store.add_alerts(batch), "store alerts")
        self.stats.alerts += len(batch)
        self.stats.new_alerts += len(fresh)
        live = {alert.alert_id for alert in alerts}
        self.observe.alerts(fresh, len(batch), live)
        for sink in self.sinks:
            await self.retry(
                functools.partial(sink, fresh, self.directory),
                "hand alerts to the notifiers",
                thread=False,
            )
        await self.store_outcomes(store)
        # at-least-once: readers dedupe by alert_id; a batch per partition (sends.py); a
        # rule on trial stays in the store, off the alerts topic
        records = [
            (alert.customer_id.encode(), msgspec.json.encode(alert))
            for alert in batch
            if not alert.shadow
        ]
        sent = await send_keyed(producer, self.config.topics.alerts, records)
        self.checkpoints.pending.extend(sent)

    async def store_outcomes(self, store: AlertStore) -> None:
        """Store the derived outcomes in hand, after the alerts they follow (idempotent).

        Stored before the offsets move on: a crash derives them again from the last
        checkpoint's states, and the store keeps an alert's first.
        """
        if not self.outcomes:
            return
        decided = self.outcomes
        await self.retry(lambda: store.add_outcomes(decided), "store outcomes")
        self.outcomes = []
        self.stats.outcomes += len(decided)

    async def dead_letter(
        self, raw: bytes, reason: str, code: str, where: Any, offset: int
    ) -> None:
        producer = self.producer
        assert producer is not None
        letter = DeadLetter.of(
            raw, reason, code, Source(topic=where.topic, partition=where.partition, offset=offset)
        )
        self.stats.dead_letters += 1
        self.observe.metrics.dead_letter(code)
        self.checkpoints.pending.append(
            await producer.send(self.config.topics.dead_letter, letter.to_json())
        )


def _put_state(states: PartitionStates, customer_id: str, state: Any) -> None:
    """Put back a customer's state as it was before a step that failed."""
    if state is None:
        states.pop(customer_id, None)
    else:
        states[customer_id] = state
