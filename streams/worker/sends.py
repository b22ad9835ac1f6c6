"""Records for one topic, keyed, handed to the producer a batch per partition at a time.

Used for the alerts topic (``streams/worker/batch.py``) and, with states in memory, for
the changelog records a checkpoint writes (``streams/worker/changelog.py``; with RocksDB
each changelog record's own offset is saved beside its state, so those stay single sends).

Why. ``AIOKafkaProducer.send`` costs ~18 µs of CPU per record here (the metadata wait, the
partitioner, a future and a place in the accumulator for each), more than the alert it
carries takes to encode; a batch turn of the worker bench sends ~250 alerts, so those
sends took 7-30 ms of a 100-200 ms turn. Filled into the producer's own record batches
(``create_batch``) and submitted with ``send_batch``, the same records cost ~5.5 µs each,
one future per batch. The partition of each record is the default partitioner's
(murmur2 of the key over the topic's partitions, ``streams/kafka.py``), as ``send`` chose
it, so a customer's alerts keep their partition and their order in it.

Delivery is unchanged: each batch's future goes where the record futures went (the
checkpoint awaits it before committing the offsets it covers), and a failed batch fails
the checkpoint as a failed record did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from churnwatch.streams.kafka import partition_for

__all__ = ["KeyedBatches", "send_keyed"]


class KeyedBatches:
    """Keyed records for ``topic`` appended in order to one open batch per partition."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: int = 0) -> None:
        """``partitions``: the topic's, for records added without one (0: none will be)."""
        self.producer = producer
        self.topic = topic
        self.partitions = partitions
        self.open: dict[int, Any] = {}
        self.futures: list[asyncio.Future[Any]] = []

    @classmethod
    async def to(cls, producer: AIOKafkaProducer, topic: str) -> KeyedBatches:
        """Batches for ``topic``, its partitions read from the producer's metadata."""
        return cls(producer, topic, len(await producer.partitions_for(topic)))

    async def add(self, key: bytes, value: bytes, partition: int | None = None) -> None:
        """Append a record to ``partition`` (None: the key's); a batch that is full is
        submitted and a new one started."""
        if partition is None:
            partition = partition_for(key, self.partitions)
        batch = self.open.get(partition)
        if batch is None:
            batch = self.open[partition] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            await self._submit(partition, batch)
            batch = self.open[partition] = self.producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)  # a first record always fits

    async def flush(self) -> list[asyncio.Future[Any]]:
        """Submit the open batches; return the futures of every batch submitted."""
        for partition, batch in self.open.items():
            await self._submit(partition, batch)
        self.open = {}
        futures, self.futures = self.futures, []
        return futures

    async def _submit(self, partition: int, batch: Any) -> None:
        batch.close()
        self.futures.append(await self.producer.send_batch(batch, self.topic, partition=partition))


async def send_keyed(
    producer: Any, topic: str, records: Iterable[tuple[bytes, bytes]]
) -> list[asyncio.Future[Any]]:
    """Send keyed ``(key, value)`` records to ``topic``; return the delivery futures.

    An ``AIOKafkaProducer``'s records go a batch per partition (:class:`KeyedBatches`);
    a producer without record batches (the Faust runtime's sends through its app's
    topics, ``streams/faust/runtime.py``) sends them one by one.
    """
    if not isinstance(producer, AIOKafkaProducer):
        return [await producer.send(topic, value, key=key) for key, value in records]
    batches = await KeyedBatches.to(producer, topic)
    for key, value in records:
        await batches.add(key, value)
    return await batches.flush()
