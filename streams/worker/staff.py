"""The staff directory every worker needs whole: a global reader of the staff topic.

Customers are split between workers by partition, but any worker may need to reach any
relationship manager or branch head, so each worker reads every partition of the
compacted staff topic, from the start, outside the consumer group (Faust calls this a
global table). Staff records never go through the rule engine.

Why a worker waits for it. Routing reads the directory when an alert is made: an alert
routed before its relationship manager's record was read goes to the fallback (the
branch head, or no one) instead. A worker restarting after an outage has a backlog of
events ready at once, so it waits until the directory holds the whole topic, as it stood
at the start, before it takes any event (:meth:`StaffReader.loaded`, bounded by
:data:`LOAD_TIMEOUT`). "Whole" is the partitions' true ends (``log_ends``): the broker's
ListOffsets answer alone can be short of the last record batch's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.schemas.decode import decode
from churnwatch.schemas.models import StaffEvent
from churnwatch.streams.worker.log_ends import log_ends

__all__ = ["LOAD_TIMEOUT", "StaffReader"]

log = logging.getLogger("churnwatch.worker")

#: seconds a worker waits for the staff directory before it takes events anyway (a bank's
#: staff topic, thousands of records, loads in well under a second)
LOAD_TIMEOUT = 60.0


class StaffReader:
    """Keeps ``directory`` up to date with the staff topic until stopped."""

    def __init__(
        self, topic: str, directory: InMemoryDirectory, consumer_options: dict[str, Any]
    ) -> None:
        self.topic = topic
        self.directory = directory
        self.consumer_options = consumer_options
        self.task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.consumer_options,
        )
        await consumer.start()
        partitions = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        begins: dict[TopicPartition, int] = await consumer.beginning_offsets(tps) if tps else {}
        ends = await log_ends(consumer, tps, begins) if tps else {}
        await consumer.seek_to_beginning(*tps)  # log_ends read the last records
        self.task = asyncio.create_task(self._read(consumer, begins, ends), name="staff-reader")

    async def loaded(self, timeout: float = LOAD_TIMEOUT) -> bool:
        """Wait until the directory holds the topic as it stood at :meth:`start`.

        Returns False, with a warning, when that takes longer than ``timeout``: the
        worker then goes on with the staff read so far (the rest keeps arriving).
        """
        try:
            await asyncio.wait_for(self.caught_up.wait(), timeout)
        except TimeoutError:
            log.warning(
                "staff directory not loaded after %.0f s (%d people so far); going on: "
                "alerts for customers of staff not yet read are routed as if they had none",
                timeout,
                len(self.directory.staff_by_id),
            )
            return False
        return True

    async def _read(
        self,
        consumer: AIOKafkaConsumer,
        begins: dict[TopicPartition, int],
        ends: dict[TopicPartition, int],
    ) -> None:
        pending = {tp for tp, end in ends.items() if end > begins[tp]}
        if not pending:
            self.caught_up.set()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batch.values():
                    for record in records:
                        event = decode(record.value or b"")
                        if isinstance(event, StaffEvent):
                            self.directory.put_staff(event)
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
                if not pending and not self.caught_up.is_set():
                    log.info("staff directory loaded: %d people", len(self.directory.staff_by_id))
                    self.caught_up.set()
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
