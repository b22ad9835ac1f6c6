"""Keyed records sent a batch per partition (``streams/worker/sends.py``), on a real
broker: where ``send`` would have put them, in their order, acknowledged through the
futures the checkpoint awaits."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from churnwatch.streams.kafka import partition_for
from churnwatch.streams.worker.sends import KeyedBatches

from .topics import new_topic

PARTITIONS = 4


async def _send_and_read(
    servers: str, records: list[tuple[bytes, bytes]]
) -> tuple[int, dict[int, list[tuple[bytes, bytes]]]]:
    """Send ``records`` through KeyedBatches; the batches submitted and what each
    partition holds afterwards, in offset order."""
    topic = await new_topic(servers, "alerts", PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        batches = await KeyedBatches.to(producer, topic)
        for key, value in records:
            await batches.add(key, value)
        futures = await batches.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, auto_offset_reset="earliest")
    await consumer.start()
    held: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        deadline = asyncio.get_running_loop().time() + 20
        while sum(map(len, held.values())) < len(records):
            assert asyncio.get_running_loop().time() < deadline, "records missing"
            fetched = await consumer.getmany(timeout_ms=200)
            for tp, got in fetched.items():
                held[tp.partition].extend((r.key, r.value) for r in got)
    finally:
        await consumer.stop()
    return len(futures), held


def test_each_record_goes_to_its_keys_partition_in_order_in_as_few_batches_as_fit(
    broker_url: str,
) -> None:
    """300 records of ~1 KB for 40 customers: each lands in the partition the default
    partitioner gives its key (where ``send`` put it), a customer's in the order sent,
    in more than one batch per partition (a full one is submitted and another started)
    but far fewer batches than records."""
    servers = broker_url.removeprefix("kafka://")
    records = [(f"cu{n % 40:03d}".encode(), b"%04d" % n + b"x" * 1000) for n in range(300)]
    submitted, held = asyncio.run(_send_and_read(servers, records))
    expected: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    for key, value in records:
        expected[partition_for(key, PARTITIONS)].append((key, value))
    assert held == expected
    assert PARTITIONS < submitted < 60
