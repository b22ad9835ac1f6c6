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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from rules.state import CustomerState, decode_state, encode_state

__all__ = ["ChangelogState"]

log = logging.getLogger("churnwatch.worker")


class ChangelogState:
    """States by partition and customer; dirty tracking; changelog flush and restore."""

    def __init__(self, topic: str, consumer_options: dict[str, Any]) -> None:
        self.topic = topic
        self.consumer_options = consumer_options
        self.partitions: dict[int, dict[str, CustomerState]] = {}
        self.dirty: dict[int, set[str]] = {}

    def owned(self) -> set[int]:
        return set(self.partitions)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns (their state lives on in the changelog)."""
        for partition in partitions:
            self.partitions.pop(partition, None)
            self.dirty.pop(partition, None)

    async def restore(self, partitions: Iterable[int]) -> int:
        """Read each partition's changelog from the start; return the records read."""
        wanted = sorted(set(partitions) - set(self.partitions))
        if not wanted:
            return 0
        for partition in wanted:
            self.partitions[partition] = {}
            self.dirty[partition] = set()
        tps = [TopicPartition(self.topic, p) for p in wanted]
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, **self.consumer_options
        )
        await consumer.start()
        read = 0
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if ends[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=200, max_records=10_000)
                for tp, records in batch.items():
                    states = self.partitions[tp.partition]
                    for record in records:
                        read += 1
                        if record.value is None:
                            states.pop(record.key.decode(), None)
                        else:
                            states[record.key.decode()] = decode_state(record.value)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        log.info("restored %d state records for partitions %s", read, wanted)
        return read

    def take_dirty(self) -> list[tuple[int, str]]:
        """The customers changed since the last take, as (partition, customer); reset to none.

        Customers changed after this call land in fresh sets, for the next checkpoint.
        """
        taken: list[tuple[int, str]] = []
        for partition, customers in self.dirty.items():
            if customers:
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
        for partition, customer_id in customers:
            states = self.partitions.get(partition)
            state = states.get(customer_id) if states is not None else None
            if state is None:
                continue
            futures.append(
                await send(
                    topic, encode_state(state), key=customer_id.encode(), partition=partition
                )
            )
        return futures

    async def flush(self, producer: AIOKafkaProducer) -> list[asyncio.Future[Any]]:
        """Send one changelog record per dirty customer; return the delivery futures."""
        return await self.write(producer, self.take_dirty())
