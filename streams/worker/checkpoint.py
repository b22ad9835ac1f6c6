"""Checkpoints: changelog records for the customers changed, every send awaited, offsets.

Why in slices. A checkpoint encodes one state per customer changed since the last one
(tens of µs each for a busy customer: ``churnwatch.rules.state`` msgpack with Decimals). Done in one
go, 2,000 customers stalled the loop for 150-230 ms once per interval, and the events that
arrived meanwhile waited: that was most of the produce-to-alert p99 on the bench. So a
checkpoint notes the offsets and takes the dirty set when it starts, then writes a slice of
states per loop turn, with batches processed between the slices, and commits the noted
offsets once every state is written and every send acknowledged.

Why a slice is measured in time, not in states. A state's encoding costs 10-150 µs as the
customer's windows fill, so a fixed 400 states took 50-70 ms per turn by the end of the
bench's latency run, and the events fetched meanwhile waited for it. A slice now stops once
it has taken ``CHECKPOINT_SLICE_SECONDS``, or ``CHECKPOINT_SHARE`` of the time the turn spent
on its batch when that is more: live, a turn costs the events behind it ~10 ms more; in a
backlog, where a turn processes thousands of records, the checkpoint still keeps pace (a
fifth of the loop's time) and the offsets are committed every few seconds, not minutes.

Why this is safe (at-least-once, DESIGN principle 1). Every state changed by the
batches up to the noted offsets is in the taken set, and is written as it is when its
slice comes, which may include later batches too. After a crash, events since the
committed offsets are read again against states at least that new: an event already in a
state is a duplicate to the engine (``seen``), and every alert it gave was stored before
the state could be written (a batch's alerts are stored inside the batch). Rebalance and
stop call :meth:`Checkpointer.complete`, which folds in a checkpoint in progress and
writes everything at once. With a local state store, the states written go to its
databases once acknowledged, before the offsets are committed (``streams/worker/changelog.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError

from churnwatch.metrics import Metrics
from churnwatch.streams.worker.changelog import ChangelogState

__all__ = ["CHECKPOINT_SHARE", "CHECKPOINT_SLICE_SECONDS", "Checkpointer"]

#: Seconds of encoding and sending per loop turn while a checkpoint is in progress, at least
CHECKPOINT_SLICE_SECONDS = 0.008
#: ... or this share of the time the turn spent on its batch, when that is more
CHECKPOINT_SHARE = 0.25
#: states written between two looks at the clock (~0.3-5 ms of work)
CLOCK_EVERY = 32

log = logging.getLogger("churnwatch.worker")


@dataclass(slots=True)
class _Checkpoint:
    """One checkpoint in progress: what to write, the sends to await, the offsets to commit."""

    offsets: dict[TopicPartition, int]
    customers: list[tuple[int, str]]
    pending: list[asyncio.Future[Any]]
    written: int = 0


class Checkpointer:
    """Offsets processed, sends outstanding, and the checkpoint in progress."""

    def __init__(self, state: ChangelogState, metrics: Metrics) -> None:
        self.state = state
        self.metrics = metrics
        #: the next offset to commit per partition: after the last record processed
        self.offsets: dict[TopicPartition, int] = {}
        #: sends (alerts, dead letters, repartitioned events) since the last checkpoint began
        self.pending: list[asyncio.Future[Any]] = []
        self.current: _Checkpoint | None = None
        self.completed = 0

    @property
    def in_progress(self) -> bool:
        return self.current is not None

    def keep_only(self, assigned: set[TopicPartition]) -> None:
        """Forget offsets of partitions this worker no longer owns."""
        self.offsets = {tp: n for tp, n in self.offsets.items() if tp in assigned}

    def begin(self) -> None:
        """Note the offsets and take the dirty customers; :meth:`step` writes them."""
        self.current = self._take()

    def _take(self) -> _Checkpoint:
        pending, self.pending = self.pending, []
        return _Checkpoint(dict(self.offsets), self.state.take_dirty(), pending)

    async def step(
        self,
        producer: AIOKafkaProducer,
        consumer: AIOKafkaConsumer,
        budget: float | None = CHECKPOINT_SLICE_SECONDS,
        *,
        wait: bool = False,
    ) -> bool:
        """Write states of the checkpoint in progress for about ``budget`` seconds (None:
        all of them); commit after the last, once every send it covers is acknowledged.

        Returns True when the checkpoint is complete (or none was in progress). Without
        ``wait``, sends still unacknowledged end the step (False) rather than hold the
        loop: awaiting them stalled every event for a broker round trip of a whole
        checkpoint's changelog records, most of the produce-to-alert p99 at 2,000 events/s.
        A send that failed raises here, as awaiting it would.
        """
        checkpoint = self.current
        if checkpoint is None:
            return True
        customers = checkpoint.customers
        if checkpoint.written < len(customers):
            total = len(customers)
            step = total if budget is None else CLOCK_EVERY
            deadline = time.perf_counter() + (budget or 0.0)
            while checkpoint.written < total:
                end = min(checkpoint.written + step, total)
                sent = await self.state.write(producer, customers[checkpoint.written : end])
                checkpoint.pending.extend(sent)
                checkpoint.written = end
                if end < total and time.perf_counter() >= deadline:
                    return False
        if checkpoint.pending:
            if wait:
                await asyncio.gather(*checkpoint.pending)
            else:
                unacknowledged = []
                for future in checkpoint.pending:
                    if not future.done():
                        unacknowledged.append(future)
                    else:
                        future.result()  # a failed send stops the worker, uncommitted
                checkpoint.pending = unacknowledged
                if unacknowledged:
                    return False
        # local state (rocksdb://) only: the acknowledged states and their changelog offset
        await self.state.persist()
        assignment = consumer.assignment()
        offsets = {tp: n for tp, n in checkpoint.offsets.items() if tp in assignment}
        if offsets:
            try:
                await consumer.commit(offsets)
            except CommitFailedError:
                self._lost(len(offsets))
                return True
        self.current = None
        self.completed += 1
        self._record_lag(consumer, offsets)
        return True

    async def complete(self, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> None:
        """A whole checkpoint now, covering everything processed (rebalance, stop)."""
        latest = self._take()
        earlier, self.current = self.current, None
        if earlier is not None:
            latest.customers[:0] = earlier.customers[earlier.written :]
            latest.pending[:0] = earlier.pending
        self.current = latest
        await self.step(producer, consumer, None, wait=True)

    def _lost(self, partitions: int) -> None:
        """The group refused the commit: it rebalanced without this worker (a stall longer
        than the session timeout), so another may own these partitions now.

        Kafka Streams calls this "lost": nothing is committed and every in-memory state is
        dropped, so the rejoin restores each partition it gets back from the changelog and
        reads again from the committed offsets. Records still in hand belong to no task
        any more and are not evaluated (the worker skips a task without state). What this
        worker stored meanwhile is refused as a repeat when processed again.
        """
        log.warning(
            "the group rebalanced without this worker (stalled past session_timeout_ms?): "
            "%d partitions' offsets not committed; states dropped, restored on rejoin",
            partitions,
        )
        self.metrics.partitions_lost()
        self.current = None
        self.offsets = {}
        self.state.drop(self.state.owned())

    def _record_lag(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Lag from the high watermarks the last fetches brought (no extra request).

        Only for partitions still assigned: a rebalance may have moved some while the
        commit was awaited (aiokafka refuses ``highwater`` for a partition not assigned).
        """
        assignment = consumer.assignment()
        for tp, offset in offsets.items():
            if tp not in assignment:
                continue
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.lag(tp.topic, tp.partition, max(highwater - offset, 0))
