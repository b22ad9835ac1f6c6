"""The streaming worker: the replay pipeline on Kafka, in a consumer group.

Why not Faust agents. The design card names faust-streaming, and its model is kept
whole here: per-key state in memory backed by a compacted changelog topic and restored
on assignment, input co-partitioned with that state (repartitioned by ``customer_id``
when it arrives keyed otherwise), a global table for staff, at-least-once processing
with idempotent sinks. But the bar is 20,000 events/s per worker, and on these machines
a *no-op* Faust agent reads 12,600 messages/s even tuned (``stream.take(5000)``,
``broker_max_poll_records=5000``, ``stream_wait_empty=False``, rare commits; measured
2026-11 on the shared 2-core box) because Faust hands every message across a thread
and through several queues; a Faust table write per event caps it at 3,800/s. Faust
tables also cannot be written outside the per-message stream context, so batching state
writes is impossible with them. So the worker drives aiokafka directly: ``getmany`` of
up to ``max_poll_records`` records, decode each once, evaluate in event-time order,
one state write per customer per checkpoint. ``bench/worker_bench.py`` measures it.

Order of work (crash safety, at-least-once — never Kafka transactions, see DESIGN):
1. each fetched batch is decoded and evaluated; bad messages and events too late are
   queued for the dead-letter topic with topic, partition, offset and reason;
2. the batch's alerts are written to the store (idempotent by ``alert_id``) and the new
   ones are passed to the sinks (the notifier hook), then sent to the alerts topic;
3. every ``commit_interval`` seconds (default 5): the offsets are noted and the dirty
   states taken, written to the changelog in slices between batches, every send is
   awaited, and only then the noted offsets are committed (``worker_checkpoint.py`` says
   why that is safe); on rebalance and on stop the same, all at once.
A crash anywhere replays events since the last commit against the state of the last
checkpoint: the same alerts with the same ids, which the store refuses a second time.
With ``worker.state_store: rocksdb:///dir`` the states also go to a RocksDB database per
partition at each checkpoint, and assignment reads only the changelog's tail
(``streams/worker/state_store.py``). Rule timers fire on ``worker.timer_clock``
(``worker_timers.py``); metrics and probes are counted per batch (``worker_health.py``).

Measured (``.venv/bin/python bench/worker_bench.py``, 202,000 events, 2,000 customers,
8-rule pack, 4 partitions, the shared 2-core box with other sessions running; wall
figures move ±30% with their load, the per-CPU-second figure much less):
before this work 19,100-22,800 events/s, produce-to-alert p99 287-546 ms at 2,000/s;
with checkpoints in slices and a 5 s commit interval (2026-11-23, two runs) 36,270 and
32,953 events/s (42,906 and 39,686 per CPU-second), p50 37-39 ms, p99 257-386 ms.
A py-spy profile of the throughput run (``py-spy record -f raw``): of the worker's CPU,
the engine ~35% (``Engine.evaluate`` and the blocks), aiokafka record unpacking ~11%,
``decode`` ~6%, and ``encode_state`` 12% — almost all of it ``balance-sharp-fall``'s
observation list (4.4 KB of Decimals per busy customer, 25 of its 39 µs per encode).
Fetching overlapped with processing (yielding after ``getmany``) gained nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules.engine import Engine, Status, event_micros
from churnwatch.schemas.decode import DeadLetter, Source, decode
from churnwatch.schemas.models import Alert, CustomerEvent, StaffEvent
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.config import Config
from churnwatch.streams.kafka import aiokafka_options, partition_for
from churnwatch.streams.replay.driver import AlertSink, wall_clock
from churnwatch.streams.replay.pack import Pack, load_pack
from churnwatch.streams.timers import TimerIndex, wall_micros
from churnwatch.streams.worker.changelog import ChangelogState
from churnwatch.streams.worker.checkpoint import Checkpointer
from churnwatch.streams.worker.health import BatchCounts, WorkerObservability
from churnwatch.streams.worker.reload import RuleWatcher
from churnwatch.streams.worker.staff import StaffReader
from churnwatch.streams.worker.state_store import LocalStates
from churnwatch.streams.worker.topics import input_topics, prepare_topics

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("churnwatch.worker")


class WorkerStats(msgspec.Struct):
    """Running totals, for the bench, tests and the stop log line."""

    events: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    repartitioned: int = 0
    alerts: int = 0
    new_alerts: int = 0
    batches: int = 0
    timers_fired: int = 0
    checkpoints: int = 0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Checkpoint before partitions leave; restore state before new ones are processed."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.worker.lock:
            await self.worker.checkpoint()
        for tp in revoked:
            self.worker.observe.metrics.partition_revoked(tp.topic, tp.partition)
        self.worker.observe.assigned(0)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        worker = self.worker
        partitions = {tp.partition for tp in assigned}
        async with worker.lock:
            state = worker.state
            state.drop(state.owned() - partitions)
            await state.restore(partitions)
            worker.checkpoints.keep_only(set(assigned))
            worker.rebuild_timers()
        worker.observe.assigned(len(assigned))
        log.info("assigned partitions %s", sorted(partitions))


class Worker:
    """One churnwatch worker process: consume, evaluate, store, checkpoint."""

    def __init__(
        self,
        config: Config,
        *,
        sinks: Sequence[AlertSink] = (),
        route: Callable[[Alert, InMemoryDirectory], Alert] | None = None,
        clock: Callable[[], dt.datetime] = wall_clock,
        observe: WorkerObservability | None = None,
        on_reload: Callable[[Pack], None] | None = None,
    ) -> None:
        self.config = config
        self.on_reload = on_reload
        self.sinks = list(sinks)
        self.route = route
        self.clock = clock
        self.rules_dir = Path(config.rules.dir)
        self.engine = Engine(
            load_pack(self.rules_dir, timezone=config.timezone).ruleset,
            lateness=config.lateness_seconds,
        )
        self.directory = InMemoryDirectory()
        self.options = aiokafka_options(config)
        self.state = ChangelogState(config.changelog_topic, self.options, LocalStates.of(config))
        self.observe = observe if observe is not None else WorkerObservability()
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.stats = WorkerStats()
        self.checkpoints = Checkpointer(self.state, self.observe.metrics)
        self.partitions = 0
        self.partition_cache: dict[str, int] = {}
        #: event-time clock (µs): the latest occurred_at seen; timers fire as it passes them
        self.clock_at = 0
        self.wall_timers = config.worker.timer_clock == "wall"
        self.timers = TimerIndex()
        self.store: AlertStore | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    # -- lifecycle -----------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to finish its batch, checkpoint and leave the group."""
        if not self.stopping.is_set():
            log.info("stopping: finishing the batch in hand, then committing")
        self.stopping.set()

    async def run(self, *, install_signals: bool = True) -> WorkerStats:
        """Run until :meth:`stop` (or SIGTERM / SIGINT); return the totals."""
        loop = asyncio.get_running_loop()
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.stop)
        tasks: list[asyncio.Task[None]] = []
        staff = StaffReader(self.config.topics.staff, self.directory, self.options)
        observe, metrics_config = self.observe, self.config.metrics
        observe.rules_loaded(self.engine)
        if metrics_config.port:
            port = observe.serve(metrics_config.host, metrics_config.port)
            log.info("metrics and probes on http://%s:%d", metrics_config.host, port)
        try:
            self.partitions = await prepare_topics(self.config)
            self.store = await asyncio.to_thread(AlertStore, self.config.store.url)
            observe.watch_store(self.store)
            self.producer = AIOKafkaProducer(acks="all", linger_ms=5, **self.options)
            await self.producer.start()
            await staff.start()
            if self.config.rules.reload_interval > 0:
                watcher = RuleWatcher(
                    self.engine,
                    self.rules_dir,
                    self.config.rules.reload_interval,
                    observe,
                    timezone=self.config.timezone,
                    on_reload=self.on_reload,
                )
                tasks.append(asyncio.create_task(watcher.run(), name="rule-watcher"))
            self.consumer = self._consumer()
            await self.consumer.start()
            self.consumer.subscribe(input_topics(self.config), listener=_Rebalance(self))
            log.info(
                "worker started: group %s, rules %s, timers on the %s clock",
                self.config.worker.group_id,
                self.engine.ruleset.fingerprint,
                self.config.worker.timer_clock,
            )
            await self._loop()
        finally:
            await self._shutdown(tasks, staff)
        return self.stats

    def _consumer(self) -> AIOKafkaConsumer:
        worker = self.config.worker
        return AIOKafkaConsumer(
            group_id=worker.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=worker.max_poll_records,
            fetch_max_wait_ms=worker.fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=worker.session_timeout_ms,
            heartbeat_interval_ms=worker.heartbeat_interval_ms,
            partition_assignment_strategy=(RangePartitionAssignor,),
            **self.options,
        )

    async def _shutdown(self, tasks: list[asyncio.Task[None]], staff: StaffReader) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            async with asyncio.timeout(self.config.worker.shutdown_timeout):
                if self.consumer is not None:
                    async with self.lock:
                        await self.checkpoint()
                    await self.consumer.stop()  # leaves the group: partitions move at once
                await staff.stop()
                if self.producer is not None:
                    await self.producer.stop()
        finally:
            self.state.close()
            self.observe.close()
            if self.store is not None:
                self.store.close()
        log.info("worker stopped: %s", msgspec.to_builtins(self.stats))

    # -- the hot path ----------------------------------------------------------------

    async def _loop(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        interval = self.config.worker.commit_interval
        max_records = self.config.worker.max_poll_records
        beat = self.observe.liveness.beat
        checkpoints = self.checkpoints
        assert self.producer is not None
        next_checkpoint = time.monotonic() + interval
        while not self.stopping.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=max_records)
            beat()
            async with self.lock:
                if batch:
                    await self.process(batch)
                if self.wall_timers:
                    await self.fire_wall_timers()
                if not checkpoints.in_progress and time.monotonic() >= next_checkpoint:
                    checkpoints.begin()
                if checkpoints.in_progress and await checkpoints.step(self.producer, consumer):
                    self.stats.checkpoints = checkpoints.completed
                    next_checkpoint = time.monotonic() + interval

    async def process(self, batch: dict[Any, list[Any]]) -> None:
        """Decode, evaluate, store and send one fetched batch (state is checkpointed later)."""
        producer = self.producer
        assert producer is not None
        stats = self.stats
        stats.batches += 1
        partitions = self.partitions
        cache = self.partition_cache
        limits = self.config.limits
        repartition = self.config.repartition_topic
        offsets = self.checkpoints.offsets
        pending = self.checkpoints.pending
        counts = BatchCounts()
        types = counts.types
        work: list[tuple[Any, int, Any]] = []
        for tp, records in batch.items():
            partition = tp.partition
            stats.events += len(records)
            offsets[tp] = records[-1].offset + 1
            for record in records:
                raw = record.value
                if raw is None:
                    continue
                event = decode(raw, limits=limits)
                if isinstance(event, DeadLetter):
                    await self.dead_letter(raw, event.reason, event.code, tp, record.offset)
                    continue
                kind = event.__class__
                types[kind] = types.get(kind, 0) + 1
                if isinstance(event, StaffEvent):
                    self.directory.put_staff(event)
                    continue
                customer_id = event.customer_id
                owner = cache.get(customer_id)
                if owner is None:
                    owner = partition_for(customer_id.encode(), partitions)
                    cache[customer_id] = owner
                if owner != partition:
                    stats.repartitioned += 1
                    pending.append(await producer.send(repartition, raw, key=customer_id.encode()))
                    continue
                work.append((event, partition, record))
        # event-time order within the batch, as the replay driver sees a time-ordered file
        work.sort(key=_occurred_at)
        await self._evaluate(work, counts)
        counts.publish(self.observe.metrics, self.engine.ruleset)

    async def _evaluate(self, work: list[tuple[Any, int, Any]], counts: BatchCounts) -> None:
        evaluate = self.engine.evaluate
        states_of = self.state.partitions
        dirty_of = self.state.dirty
        timers = self.timers
        matches = counts.matches
        now = self.clock()
        alerts: list[Alert] = []
        fired: list[Alert] = []
        for event, partition, record in work:
            states = states_of.get(partition)
            if states is None:  # a partition revoked while this batch was in hand
                continue
            customer_id = event.customer_id
            at = event_micros(event.occurred_at)
            if at > self.clock_at:
                self.clock_at = at
                due = timers.next_due()
                if due is not None and due <= at:
                    self.fire_timers(at, now, fired)
            outcome = evaluate(event, states.get(customer_id), now, at)
            status = outcome.status
            if status is Status.EVALUATED:
                if outcome.next_due is not None:
                    timers.set(customer_id, outcome.next_due)
                state = outcome.state
                if state is not None:
                    states[customer_id] = state
                    dirty_of[partition].add(customer_id)
                    if isinstance(event, CustomerEvent) and state.customer is not None:
                        self.directory.put_customer(state.customer)
                for rule_id in outcome.matched:
                    matches[rule_id] = matches.get(rule_id, 0) + 1
                if outcome.alerts:
                    alerts.extend(outcome.alerts)
            elif status is Status.DUPLICATE:
                counts.duplicates += 1
            elif status is Status.TOO_LATE:
                late = outcome.late_by or dt.timedelta(0)
                reason = (
                    f"arrived {late.total_seconds() / 3600:.1f} h after newer events of "
                    f"customer {customer_id}, beyond the allowed lateness of "
                    f"{self.engine.lateness // 3_600_000_000} h; replay it in order or "
                    "raise the lateness"
                )
                await self.dead_letter(record.value, reason, "too_late", record, record.offset)
        self.stats.duplicates += counts.duplicates
        if alerts or fired:
            await self.emit(alerts, fired)

    def fire_timers(self, until: int, now: dt.datetime, alerts: list[Alert]) -> None:
        """Fire every owned customer's timer due at or before ``until`` (µs), earliest first.

        ``until`` is the event-time watermark (as replay does), or in ``wall`` mode
        possibly the wall clock (:meth:`fire_wall_timers`).
        """
        timers = self.timers
        for due, customer_id in timers.pop_due(until):
            partition = self.partition_cache.get(customer_id)
            states = self.state.partitions.get(partition) if partition is not None else None
            state = states.get(customer_id) if states is not None else None
            if state is None or partition is None:
                continue  # the customer's partition moved to another worker
            outcome = self.engine.advance(customer_id, state, due, now)
            self.state.dirty[partition].add(customer_id)
            self.stats.timers_fired += 1
            alerts.extend(outcome.alerts)
            if outcome.next_due is not None:
                timers.set(customer_id, outcome.next_due)

    async def fire_wall_timers(self) -> None:
        """``wall`` clock: fire what ``max(wall clock, watermark)`` has passed, then emit."""
        due = self.timers.next_due()
        if due is None:
            return
        until = max(wall_micros(self.clock), self.clock_at)
        if due <= until:
            fired: list[Alert] = []
            self.fire_timers(until, self.clock(), fired)
            if fired:
                await self.emit([], fired)

    def rebuild_timers(self) -> None:
        """After a (re)assignment: timers and directory entries of the owned customers.

        Timers are state, so they come back from the restored states, not from memory.
        """
        owned: list[tuple[str, Any]] = []
        for partition, states in self.state.partitions.items():
            for customer_id, state in states.items():
                self.partition_cache[customer_id] = partition
                if state.customer is not None:
                    self.directory.put_customer(state.customer)
                owned.append((customer_id, state))
        self.timers.rebuild(owned, self.engine.next_due)

    async def emit(self, alerts: list[Alert], fired: list[Alert]) -> None:
        """Store first (idempotent), then notify the sinks of new ones, then the topic.

        ``alerts`` came from events just read, ``fired`` from timers: only the former
        give event-to-alert latency samples.
        """
        producer, store = self.producer, self.store
        assert producer is not None and store is not None
        batch = alerts + fired
        if self.route is not None:
            batch = [self.route(alert, self.directory) for alert in batch]
        fresh = await asyncio.to_thread(store.add_alerts, batch)
        self.stats.alerts += len(batch)
        self.stats.new_alerts += len(fresh)
        live = {alert.alert_id for alert in alerts}
        self.observe.alerts(fresh, len(batch), live)
        for sink in self.sinks:
            sink(fresh, self.directory)
        topic = self.config.topics.alerts
        for alert in batch:  # at-least-once: readers dedupe by alert_id
            self.checkpoints.pending.append(
                await producer.send(
                    topic, msgspec.json.encode(alert), key=alert.customer_id.encode()
                )
            )

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

    async def checkpoint(self) -> None:
        """Complete a checkpoint now, covering everything processed (rebalance, stop)."""
        if self.producer is not None and self.consumer is not None:
            await self.checkpoints.complete(self.producer, self.consumer)
            self.stats.checkpoints = self.checkpoints.completed


def _occurred_at(item: tuple[Any, int, Any]) -> dt.datetime:
    occurred: dt.datetime = item[0].occurred_at
    return occurred
