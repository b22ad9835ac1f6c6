"""The worker's pipeline driven by a Faust agent (``worker.runtime: faust``).

Why a subclass of :class:`~churnwatch.streams.worker.loop.Worker`. The per-event work —
decode and re-keying (``receive``), event-time order within a task
(:class:`~churnwatch.streams.worker.order.OrderedInput`), evaluation with rule isolation,
timers, dead letters, storing alerts before anything else (``process``, ``emit``) — is
the default runtime's, called as it is, so the two runtimes cannot drift apart. What
this class replaces is the part Faust owns: where records come from (a ``noack_take``
batch of an agent on the input topics), where state lives (a Faust table with its
changelog and store, values in the project's state codec) and how offsets advance
(committed by churnwatch at its checkpoints; Faust is never told of an ack).

Order of work, the default runtime's promise kept:
1. a batch of events from ``stream.noack_take`` is decoded into the task buffers; each
   task hands out its records in event-time order across its topics;
2. they are evaluated, their alerts stored (idempotent by ``alert_id``), handed to the
   sinks and sent to the alerts topic; their offsets are noted as processed;
3. every ``worker.commit_interval`` seconds, on a rebalance and before a graceful stop
   (a checkpoint): the states of the customers touched since the last one are encoded
   once each and written to the table (changelog + store), the producer is flushed,
   and the offsets processed are committed (:meth:`FaustWorker.checkpoint`). So the
   changelog never runs more than one checkpoint ahead of the offsets, as in the default
   runtime, and a crash replays events against a state that has not seen them, or has
   (the engine knows their ids): the same alerts, which the store refuses a second time.

Faust's per-message path stays the cost (``bench/faust_bench.py``): an event is handed
from the consumer's thread to the loop and through the topic conductor one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import faust
from faust.streams import _current_event

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules.codec import encode_state
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.config import Config
from churnwatch.streams.faust.stand_ins import PartitionMark, Progress, Sender, States
from churnwatch.streams.replay.driver import AlertSink, wall_clock
from churnwatch.streams.replay.pack import Pack
from churnwatch.streams.worker.changelog import ChangelogState
from churnwatch.streams.worker.health import WorkerObservability
from churnwatch.streams.worker.loop import Worker
from churnwatch.streams.worker.reload import RuleWatcher
from churnwatch.streams.worker.staff import StaffReader
from churnwatch.streams.worker.topics import input_topics, prepare_topics

__all__ = ["FaustWorker"]

log = logging.getLogger("churnwatch.worker")

#: how long a ``noack_take`` waits to fill a batch before handing over what it has
TAKE_WITHIN = 0.05
#: how often held-back records, idle timers and checkpoints are looked at without input
TICK = 0.1


class FaustWorker(Worker):
    """churnwatch's agent, table and timers on a ``faust.App``; see :func:`mount`."""

    def __init__(
        self,
        config: Config,
        app: faust.App,
        *,
        sinks: Sequence[AlertSink] = (),
        route: Callable[[Alert, InMemoryDirectory], Alert] | None = None,
        clock: Callable[[], dt.datetime] = wall_clock,
        observe: WorkerObservability | None = None,
        on_reload: Callable[[Pack], None] | None = None,
        serve_metrics: bool = True,
    ) -> None:
        super().__init__(
            config, sinks=sinks, route=route, clock=clock, observe=observe, on_reload=on_reload
        )
        self.app = app
        self.serve_metrics = serve_metrics
        self.state = States()  # type: ignore[assignment]
        self.checkpoints = Progress()  # type: ignore[assignment]
        self.producer = Sender(app)
        # the batch work (streams/worker/batch.py) runs on Faust's state, progress and sender
        batches = self.batches
        batches.state = self.state
        batches.checkpoints = self.checkpoints
        batches.producer = self.producer
        self.inputs = input_topics(config)
        #: the input partitions assigned (after the table's recovery)
        self.owned: set[Any] = set()
        #: the next offset expected of each input partition (its lag is what is beyond)
        self.next_offset: dict[Any, int] = {}
        #: the consumer generation of the last assignment: events fetched before it are
        #: dropped unacked (Faust reads them again from the committed offset)
        self.generation: int | None = None
        self.stream: Any = None
        self.started = asyncio.Event()
        self.staff: StaffReader | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.next_checkpoint = 0.0
        self.closed = False
        self.table = app.Table(
            "churnwatch-state",
            key_type=bytes,
            value_type=bytes,
            partitions=config.topics.partitions,
            changelog_topic=app.topic(
                config.changelog_topic,
                key_serializer="raw",
                value_serializer="raw",
                partitions=config.topics.partitions,
                compacting=True,
                deleting=False,
            ),
            help="churnwatch: per-customer rule state (the state codec's bytes)",
        )
        self.table.on_recover(self._recovered)
        channel = app.topic(
            *self.inputs,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        app.agent(channel, name="churnwatch.pipeline")(self._agent)
        app.timer(TICK, name="churnwatch.tick")(self._tick)
        app.on_partitions_revoked.connect(self._revoked)
        app.on_before_shutdown.connect(self._before_shutdown)

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Topics, store, staff directory, rule watcher and probes; then the agent runs."""
        config, observe = self.config, self.observe
        self.batches.partitions = await prepare_topics(config)
        self.store = self.batches.store = await asyncio.to_thread(AlertStore, config.store.url)
        observe.watch_store(self.store)
        observe.rules_loaded(self.engine)
        if self.serve_metrics and config.metrics.port:
            port = observe.serve(config.metrics.host, config.metrics.port)
            log.info("metrics and probes on http://%s:%d", config.metrics.host, port)
        self.staff = StaffReader(config.topics.staff, self.batches.directory, self.options)
        await self.staff.start()
        await self.staff.loaded()  # routing needs the staff before the first event
        if config.rules.reload_interval > 0:
            watcher = RuleWatcher(
                self.engine,
                self.rules_dir,
                config.rules.reload_interval,
                observe,
                timezone=config.timezone,
                on_reload=self.on_reload,
            )
            self.tasks.append(asyncio.create_task(watcher.run(), name="rule-watcher"))
        self.next_checkpoint = time.monotonic() + config.worker.commit_interval
        log.info(
            "worker started: runtime faust (faust-streaming %s), group %s, rules %s, "
            "timers on the %s clock",
            faust.__version__,
            self.app.conf.id,
            self.engine.ruleset.fingerprint,
            config.worker.timer_clock,
        )
        self.started.set()

    async def stop_parts(self) -> None:
        """What :meth:`start` started, once the app has stopped consuming."""
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.staff is not None:
            await self.staff.stop()
        self.observe.close()
        if self.store is not None:
            self.store.close()
        log.info("worker stopped: %s", self.stats_line())

    def stats_line(self) -> dict[str, int]:
        return {name: getattr(self.stats, name) for name in self.stats.__struct_fields__}

    async def quiesce(self) -> None:
        """Finish the batch in hand, then checkpoint: a graceful stop commits its work."""
        if not self.stopping.is_set():
            log.info("stopping: finishing the batch in hand, then committing")
        self.stopping.set()
        async with self.lock:
            if not self.failed and self.started.is_set():
                await self.checkpoint()

    async def _before_shutdown(
        self, sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any
    ) -> None:
        await self.quiesce()
        if not self.closed:
            self.closed = True
            await self.stop_parts()

    # -- input ---------------------------------------------------------------------

    async def _agent(self, stream: Any) -> None:
        self.stream = stream
        await self.started.wait()
        async for events in stream.noack_take(self.config.worker.max_poll_records, TAKE_WITHIN):
            if self.stopping.is_set():
                continue  # not acked: the next owner, or the next start, takes them
            async with self.lock:
                try:
                    await self._receive(events)
                    await self._step()
                except BaseException:
                    self.failed = True
                    raise

    async def _receive(self, events: list[Any]) -> None:
        batch: dict[Any, list[Any]] = {}
        owned, next_offset, generation = self.owned, self.next_offset, self.generation
        for event in events:
            message = event.message
            tp = message.tp
            if tp not in owned or message.generation_id != generation:
                # fetched before the last rebalance: revoked, or read again from the
                # committed offset now (processing it first would put it out of order)
                continue
            records = batch.get(tp)
            if records is None:
                records = batch[tp] = []
            records.append(message)
            next_offset[tp] = message.offset + 1
        if batch:
            await self.batches.receive(batch)

    async def _tick(self) -> None:
        self.observe.liveness.beat()
        if not self.started.is_set() or self.stopping.is_set() or self.lock.locked():
            return
        async with self.lock:
            await self._step()

    async def _step(self) -> None:
        """Process what the ordering hands out, fire timers, checkpoint when it is time."""
        self.observe.liveness.beat()
        lags = self._received_lags()
        now = time.monotonic()
        work = self.order.take(self.config.worker.max_poll_records, now, lags)
        if work:
            await self.batches.process(work)
        await self.batches.fire_idle_timers(lags)
        waited = self.order.take_waited(now)
        if waited:
            self.observe.metrics.task_waited(waited)
        self.checkpoints.pending.clear()  # Faust's commit flushes the producer
        if time.monotonic() >= self.next_checkpoint:
            await self.checkpoint()

    def _received_lags(self) -> dict[Any, int | None]:
        """Records on the broker beyond those received, for each partition with an empty
        buffer (None: not known yet); the ordering waits for those, not for the others."""
        consumer = self.app.consumer
        committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
        lags: dict[Any, int | None] = {}
        for task in self.order.tasks.values():
            for tp, queue in task.queues.items():
                if queue:
                    continue
                try:
                    highwater = consumer.highwater(tp)
                except Exception:  # not assigned in the consumer's thread yet
                    highwater = None
                if highwater is None:
                    lags[tp] = None
                    continue
                start = self.next_offset.get(tp)
                if start is None:  # nothing received since the assignment
                    start = committed.get(tp) or 0  # no commit: the log's start
                lags[tp] = max(highwater - start, 0)
        return lags

    # -- state and offsets ----------------------------------------------------------

    async def checkpoint(self) -> None:
        """Write the changed states to the table, flush every send, commit the offsets
        processed.

        churnwatch commits the offsets itself and never acks an event to Faust: Faust
        would commit the acked offsets on its own timer and after gaps it fills in
        itself, and on a rebalance a partition's offsets were seen to move past events
        this worker had received and not processed.
        """
        self._write_states()
        await self.app.producer.flush()
        offsets = self.checkpoints.offsets
        if offsets:
            committed = {tp: offset for tp, offset in offsets.items() if tp in self.owned}
            consumer: Any = self.app.consumer  # Faust's own commit works from acks
            if committed and not await consumer._commit(committed):
                log.warning("the offsets were not committed (a rebalance); they come again")
            offsets.clear()
        self.checkpoints.completed += 1
        self.stats.checkpoints = self.checkpoints.completed
        self.next_checkpoint = time.monotonic() + self.config.worker.commit_interval

    def _write_states(self) -> None:
        table = self.table
        store = table.data
        for partition, dirty in self.state.dirty.items():
            if not dirty:
                continue
            states = self.state.partitions.get(partition, {})
            mark = PartitionMark(partition)
            token = _current_event.set(weakref.ref(mark))  # type: ignore[arg-type]
            try:
                for customer_id in dirty:
                    key = customer_id.encode()
                    state = states.get(customer_id)
                    value = encode_state(state) if state is not None else None
                    table.send_changelog(
                        partition, key, value, key_serializer="raw", value_serializer="raw"
                    )
                    if value is None:
                        with contextlib.suppress(KeyError):
                            del store[key]
                    else:
                        store[key] = value
            finally:
                _current_event.reset(token)
            dirty.clear()

    async def _recovered(self) -> None:
        """After Faust restored the table: the owned partitions' states, timers, buffers.

        The states of a partition this worker owned already are the ones in memory (its
        last checkpoint wrote them); a new partition's are read from the changelog by the
        default runtime's reader, which checks each partition's end offset against a
        fetch. Faust's table recovery trusts ListOffsets, which the broker the tests run
        on answers short (``streams/worker/log_ends.py``): a worker taking a partition
        over was seen to restore states without their last checkpoint.
        """
        async with self.lock:
            inputs = set(self.inputs)
            assigned = {tp for tp in self.app.consumer.assignment() if tp.topic in inputs}
            numbers = {tp.partition for tp in assigned}
            kept = {n: states for n, states in self.state.partitions.items() if n in numbers}
            reader = ChangelogState(self.config.changelog_topic, self.options)
            reader.partitions = kept
            await reader.restore(numbers)
            self.state.partitions = reader.partitions
            self.state.dirty = {n: set() for n in numbers}
            self.owned = assigned
            self.generation = self.app.consumer_generation_id
            self.next_offset = {}
            self.checkpoints.offsets.clear()
            self.order.assign(assigned)
            self.batches.rebuild_timers()
        self.observe.assigned(len(assigned))
        log.info("assigned partitions %s", sorted(numbers))

    async def _revoked(self, sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """Before partitions move: checkpoint (the batch in hand finishes first)."""
        revoked: set[Any] = args[0] if args else kwargs.get("revoked", set())
        async with self.lock:
            if not self.failed and self.started.is_set() and not self.stopping.is_set():
                await self.checkpoint()
            # the states stay in memory: a partition assigned again next is current there
            self.owned = set()
            self.order.assign(())
        for tp in revoked:
            if tp.topic in self.inputs:
                self.observe.metrics.partition_revoked(tp.topic, tp.partition)
        self.observe.assigned(0)
