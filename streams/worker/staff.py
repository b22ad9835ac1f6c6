"""The staff directory every worker needs whole: a global reader of the staff topic.

Customers are split between workers by partition, but any worker may need to reach any
relationship manager or branch head, so each worker reads every partition of the
compacted staff topic, from the start, outside the consumer group (Faust calls this a
global table). Staff records never go through the rule engine.
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

__all__ = ["StaffReader"]

log = logging.getLogger("churnwatch.worker")


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
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps) if tps else {}
        self.task = asyncio.create_task(self._read(consumer, ends), name="staff-reader")

    async def _read(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        pending = {tp for tp, end in ends.items() if end > 0}
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
