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
1. each fetched batch is decoded into per-task buffers; each task hands out its records
   in event-time order across its topics (``streams/worker/order.py``); bad messages and
   events too late are queued for the dead-letter topic with topic, partition, offset
   and reason;
2. the records handed out are evaluated, their alerts written to the store (idempotent
   by ``alert_id``; an unreachable store is retried, ``streams/worker/retry.py``) and the
   new ones passed to the sinks (the notifier hook), then sent to the alerts topic; only
   then do their offsets count as processed;
3. every ``commit_interval`` seconds (default 5): the offsets are noted and the dirty
   states taken, written to the changelog in slices between batches, every send is
   awaited, and only then the noted offsets are committed (``worker_checkpoint.py`` says
   why that is safe); on rebalance and on stop the same, all at once — but never after
   the loop failed: an unexpected error stops the worker with the batch in hand neither
   committed nor written as state, and the next start processes it again.
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
import functools
import logging
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import __version__ as aiokafka_version
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import IllegalStateError

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules.engine import Engine, Status, event_micros
from churnwatch.rules.isolation import Isolation, rule_error_reason
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
from churnwatch.streams.worker.order import NO_TIME, Item, OrderedInput, Task
from churnwatch.streams.worker.reload import RuleWatcher
from churnwatch.streams.worker.retry import with_retry
from churnwatch.streams.worker.staff import StaffReader
from churnwatch.streams.worker.state_store import LocalStates
from churnwatch.streams.worker.topics import input_topics, prepare_topics

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("churnwatch.worker")

T = TypeVar("T")


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
            if not self.worker.failed:  # a failed batch is never committed
                await self.worker.checkpoint()
            self.worker.order.assign(())
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
            worker.order.assign(assigned)
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
        #: the engine's evaluate and advance, undone whole when a rule raises
        self.isolation = Isolation(self.engine)
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
        #: the worker's event-time clock (µs): the latest occurred_at processed in any task;
        #: each task's timers fire on its own clock (``streams/worker/order.py``)
        self.clock_at = 0
        self.wall_timers = config.worker.timer_clock == "wall"
        self.timers: dict[int, TimerIndex] = {}
        worker = config.worker
        self.order = OrderedInput(
            max_task_idle=worker.max_task_idle,
            lagging_wait=worker.lagging_wait,
            limit=worker.max_poll_records,
        )
        #: the store is unreachable: consumption paused, not ready, retrying
        self.outage = False
        #: the loop failed: nothing more may be committed or written as state
        self.failed = False
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
                "worker started: runtime aiokafka (aiokafka %s), group %s, rules %s, "
                "timers on the %s clock",
                aiokafka_version,
                self.config.worker.group_id,
                self.engine.ruleset.fingerprint,
                self.config.worker.timer_clock,
            )
            await self._loop()
        except BaseException:
            self.failed = True
            raise
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
                    if not self.failed:
                        async with self.lock:
                            await self.checkpoint()
                    else:
                        log.error("not committing: the batch in hand failed")
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
        order = self.order
        assert self.producer is not None
        next_checkpoint = time.monotonic() + interval
        while not self.stopping.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=max_records)
            beat()
            async with self.lock:
                if batch:
                    await self.receive(batch)
                lags = await self._lags()
                now = time.monotonic()
                work = order.take(max_records, now, lags)
                if work:
                    await self.process(work)
                await self.fire_idle_timers(lags)
                self._flow()
                waited = order.take_waited(now)
                if waited:
                    self.observe.metrics.task_waited(waited)
                if not checkpoints.in_progress and time.monotonic() >= next_checkpoint:
                    checkpoints.begin()
                if checkpoints.in_progress and await checkpoints.step(self.producer, consumer):
                    self.stats.checkpoints = checkpoints.completed
                    next_checkpoint = time.monotonic() + interval

    async def _lags(self) -> dict[Any, int | None]:
        """Records on the broker beyond what was fetched, for each partition with an empty
        buffer (None: not known yet); the ordering waits for those, not for the others."""
        consumer = self.consumer
        assert consumer is not None
        lags: dict[Any, int | None] = {}
        for task in self.order.tasks.values():
            for tp, queue in task.queues.items():
                if queue:
                    continue
                highwater = consumer.highwater(tp)
                if highwater is None:
                    lags[tp] = None
                    continue
                with contextlib.suppress(IllegalStateError):
                    lags[tp] = max(highwater - await consumer.position(tp), 0)
        return lags

    def _flow(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        if self.outage:
            return
        pause, resume = self.order.flow(consumer.paused())
        if pause:
            consumer.pause(*pause)
        if resume:
            consumer.resume(*resume)

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
        for tp, records in batch.items():
            partition = tp.partition
            stats.events += len(records)
            items: list[Item] = []
            for record in records:
                raw = record.value
                event = decode(raw, limits=limits) if raw is not None else None
                if event is None or isinstance(event, DeadLetter | StaffEvent):
                    items.append(Item(tp, NO_TIME, record, event))
                    continue
                customer_id = event.customer_id
                owner = cache.get(customer_id)
                if owner is None:
                    owner = partition_for(customer_id.encode(), partitions)
                    cache[customer_id] = owner
                if owner != partition:
                    stats.repartitioned += 1
                    self.checkpoints.pending.append(
                        await producer.send(repartition, raw, key=customer_id.encode())
                    )
                    # the owner's task evaluates it; here it only moves the offset on
                    items.append(Item(tp, NO_TIME, record, None))
                    continue
                items.append(Item(tp, event_micros(event.occurred_at), record, event))
            add(tp, items)

    async def process(self, work: list[tuple[Task, list[Item]]]) -> None:
        """Evaluate what the ordering handed out, store its alerts; offsets follow."""
        counts = BatchCounts()
        types = counts.types
        alerts: list[Alert] = []
        fired: list[Alert] = []
        offsets = self.checkpoints.offsets
        moved: dict[Any, int] = {}
        for task, items in work:
            evaluated: list[Item] = []
            for item in items:
                moved[item.tp] = item.record.offset + 1
                event = item.event
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
        if alerts or fired:
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
        dirty = self.state.dirty[partition]
        timers = self.timers_of(partition)
        matches = counts.matches
        now = self.clock()
        for item in work:
            event = item.event
            customer_id = event.customer_id
            at = item.at
            if at > task.clock:
                task.clock = at
                if at > self.clock_at:
                    self.clock_at = at
                due = timers.next_due()
                if due is not None and due <= at:
                    self.fire_timers(partition, at, now, fired)
            outcome = evaluate(
                customer_id, event, item.record.value, states.get(customer_id), now, at
            )
            status = outcome.status
            if status is Status.EVALUATED:
                if outcome.next_due is not None:
                    timers.set(customer_id, outcome.next_due)
                state = outcome.state
                if state is not None:
                    states[customer_id] = state
                    dirty.add(customer_id)
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

    def timers_of(self, partition: int) -> TimerIndex:
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
        if fired:
            await self.emit([], fired)

    def rebuild_timers(self) -> None:
        """After a (re)assignment: timers and directory entries of the owned customers.

        Timers are state, so they come back from the restored states, not from memory.
        """
        self.timers = {}
        for partition, states in self.state.partitions.items():
            owned: list[tuple[str, Any]] = []
            for customer_id, state in states.items():
                self.partition_cache[customer_id] = partition
                if state.customer is not None:
                    self.directory.put_customer(state.customer)
                owned.append((customer_id, state))
            self.timers_of(partition).rebuild(owned, self.engine.next_due)

    async def emit(self, alerts: list[Alert], fired: list[Alert]) -> None:
        """Store first (idempotent, retried through an outage), then notify the sinks of
        new ones, then the topic.

        ``alerts`` came from events just read, ``fired`` from timers: only the former
        give event-to-alert latency samples.
        """
        producer, store = self.producer, self.store
        assert producer is not None and store is not None
        batch = alerts + fired
        if self.route is not None:
            batch = [self.route(alert, self.directory) for alert in batch]
        fresh = await self._retry(lambda: store.add_alerts(batch), "store alerts")
        self.stats.alerts += len(batch)
        self.stats.new_alerts += len(fresh)
        live = {alert.alert_id for alert in alerts}
        self.observe.alerts(fresh, len(batch), live)
        for sink in self.sinks:
            await self._retry(
                functools.partial(sink, fresh, self.directory),
                "hand alerts to the notifiers",
                thread=False,
            )
        topic = self.config.topics.alerts
        for alert in batch:  # at-least-once: readers dedupe by alert_id
            if alert.shadow:  # a rule on trial stays in the store, off the alerts topic
                continue
            self.checkpoints.pending.append(
                await producer.send(
                    topic, msgspec.json.encode(alert), key=alert.customer_id.encode()
                )
            )

    async def _retry(self, call: Callable[[], T], what: str, *, thread: bool = True) -> T:
        return await with_retry(
            call,
            what=what,
            stopping=self.stopping,
            on_outage=self._outage,
            beat=self.observe.liveness.beat,
            thread=thread,
        )

    def _outage(self, down: bool) -> None:
        """Through a store outage: not ready, and no fetching (the buffers hold)."""
        self.outage = down
        self.observe.store_outage(down)
        consumer = self.consumer
        if consumer is None:
            return
        if down:
            consumer.pause(*consumer.assignment())
        else:
            consumer.resume(*consumer.assignment())
            self._flow()

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


def _put_state(states: dict[str, Any], customer_id: str, state: Any) -> None:
    """Put back a customer's state as it was before a step that failed."""
    if state is None:
        states.pop(customer_id, None)
    else:
        states[customer_id] = state
