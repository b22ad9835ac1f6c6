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

What happens to a fetched batch — decode into per-task buffers, event-time order,
evaluation, dead letters, timers, alerts stored before offsets move — is
``streams/worker/batch.py``. This module is the consumer around it: the group and its
rebalances, the loop (fetch, hand to the batch work, flow control, checkpoints in slices
every ``commit_interval`` seconds, ``streams/worker/checkpoint.py``), a store outage
(consumption paused, not ready), and stopping: on rebalance and on stop a checkpoint
completes — but never after the loop failed: an unexpected error stops the worker with
the batch in hand neither committed nor written as state, and the next start processes
it again. A crash anywhere replays events since the last commit against the state of
the last checkpoint: the same alerts with the same ids, which the store refuses a second
time. With ``worker.state_store: rocksdb:///dir`` the states also go to a RocksDB
database per partition at each checkpoint, and assignment reads only the changelog's
tail (``streams/worker/state_store.py``). Metrics and probes are counted per batch
(``streams/worker/health.py``).

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
from typing import Any, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import __version__ as aiokafka_version
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import IllegalStateError

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules.engine import Engine
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.collector import freeze_survivors, tune_for_many_states
from churnwatch.streams.config import Config
from churnwatch.streams.kafka import aiokafka_options
from churnwatch.streams.replay.driver import AlertSink, wall_clock
from churnwatch.streams.replay.pack import Pack, load_pack
from churnwatch.streams.worker.batch import Batches
from churnwatch.streams.worker.changelog import ChangelogState
from churnwatch.streams.worker.checkpoint import (
    CHECKPOINT_SHARE,
    CHECKPOINT_SLICE_SECONDS,
    Checkpointer,
)
from churnwatch.streams.worker.health import WorkerObservability
from churnwatch.streams.worker.reload import RuleWatcher
from churnwatch.streams.worker.retry import with_retry
from churnwatch.streams.worker.staff import StaffReader
from churnwatch.streams.worker.state_store import LocalStates
from churnwatch.streams.worker.stats import WorkerStats
from churnwatch.streams.worker.topics import input_topics, prepare_topics

__all__ = ["Worker"]

log = logging.getLogger("churnwatch.worker")

#: seconds after which a partition's last fetch answer no longer tells its lag
STALE_FETCH = 2.0

T = TypeVar("T")


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
            worker.batches.rebuild_timers()
            freeze_survivors()
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
        self.rules_dir = Path(config.rules.dir)
        self.engine = Engine(
            load_pack(self.rules_dir, timezone=config.timezone).ruleset,
            lateness=config.lateness_seconds,
        )
        self.options = aiokafka_options(config)
        local = LocalStates.of(config)
        tune_for_many_states()  # the states live long, events' objects briefly (collector.py)
        self.state = ChangelogState(
            config.changelog_topic,
            self.options,
            local,
            cache_customers=config.worker.state_cache_customers,
            next_due=self.engine.next_due,
        )
        self.observe = observe if observe is not None else WorkerObservability()
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.checkpoints = Checkpointer(self.state, self.observe.metrics)
        self.batches = Batches(
            config,
            self.engine,
            self.state,
            self.checkpoints,
            self.observe,
            self._retry,
            sinks=sinks,
            route=route,
            clock=clock,
        )
        self.stats = self.batches.stats
        self.order = self.batches.order
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
        batches = self.batches
        staff = StaffReader(self.config.topics.staff, batches.directory, self.options)
        observe, metrics_config = self.observe, self.config.metrics
        observe.rules_loaded(self.engine)
        if metrics_config.port:
            port = observe.serve(metrics_config.host, metrics_config.port)
            log.info("metrics and probes on http://%s:%d", metrics_config.host, port)
        try:
            batches.partitions = await prepare_topics(self.config)
            self.store = batches.store = await asyncio.to_thread(AlertStore, self.config.store.url)
            observe.watch_store(self.store)
            self.producer = batches.producer = AIOKafkaProducer(
                acks="all", linger_ms=5, **self.options
            )
            await self.producer.start()
            await staff.start()
            await staff.loaded()  # routing needs the staff before the first event
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
        batches = self.batches
        assert self.producer is not None
        next_checkpoint = time.monotonic() + interval
        while not self.stopping.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=max_records)
            beat()
            turn = time.perf_counter()
            async with self.lock:
                if batch:
                    await batches.receive(batch)
                lags, answering, answered = await self._lags()
                now = time.monotonic()
                work = order.take(max_records, now, lags, answering, answered)
                if work:
                    await batches.process(work)
                await batches.fire_idle_timers(lags)
                self._flow()
                waited = order.take_waited(now)
                if waited:
                    self.observe.metrics.task_waited(waited)
                if not checkpoints.in_progress and time.monotonic() >= next_checkpoint:
                    checkpoints.begin()
                # a checkpoint slice: a share of the turn, at least a few ms (checkpoint.py)
                budget = max(
                    CHECKPOINT_SLICE_SECONDS, (time.perf_counter() - turn) * CHECKPOINT_SHARE
                )
                if checkpoints.in_progress and await checkpoints.step(
                    self.producer, consumer, budget
                ):
                    self.stats.checkpoints = checkpoints.completed
                    next_checkpoint = time.monotonic() + interval
                    freeze_survivors()  # no collection walks the states (streams/collector.py)

    async def _lags(self) -> tuple[dict[Any, int | None], bool, dict[Any, float]]:
        """Records on the broker beyond what was fetched, for each partition with an empty
        buffer, whether the broker answered any fetch lately, and when each empty
        partition's last answer came (on the monotonic clock); the ordering waits for
        those records, not for the others.

        A lag is None when not known: no fetch answered yet for that partition, or the last
        answer is older than ``STALE_FETCH`` (a restarting broker's last word that a
        partition was caught up says nothing about what was produced since).
        """
        consumer = self.consumer
        assert consumer is not None
        lags: dict[Any, int | None] = {}
        answered_at: dict[Any, float] = {}
        wall = time.time()
        to_monotonic = time.monotonic() - wall
        fresh_after = (wall - STALE_FETCH) * 1000
        paused = consumer.paused()
        fetching = answered = False
        for task in self.order.tasks.values():
            for tp, queue in task.queues.items():
                with contextlib.suppress(IllegalStateError, AssertionError):
                    polled = consumer.last_poll_timestamp(tp)
                    fresh = polled is not None and polled >= fresh_after
                    if tp not in paused:
                        fetching = True
                        answered = answered or fresh
                    if queue:
                        continue
                    if polled is not None:
                        answered_at[tp] = polled / 1000 + to_monotonic
                    highwater = consumer.highwater(tp)
                    if highwater is None or not fresh:
                        lags[tp] = None
                        continue
                    lags[tp] = max(highwater - await consumer.position(tp), 0)
        return lags, answered or not fetching, answered_at

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

    async def checkpoint(self) -> None:
        """Complete a checkpoint now, covering everything processed (rebalance, stop)."""
        if self.producer is not None and self.consumer is not None:
            await self.checkpoints.complete(self.producer, self.consumer)
            self.stats.checkpoints = self.checkpoints.completed
