"""The changelog with states in memory (``streams/worker/changelog.py``), on a real broker:
what a checkpoint writes, a batch of records per partition, is what the next owner
restores."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from churnwatch.rules.state import CustomerState
from churnwatch.streams.worker.changelog import ChangelogState

from .topics import new_topic

PARTITIONS = 3


async def _write_then_restore(
    servers: str, written: dict[int, dict[str, CustomerState]]
) -> tuple[int, int, dict[int, dict[str, CustomerState]]]:
    """Write every state of ``written`` as one checkpoint would; then a new owner restores
    the partitions. Returns the records sent, the delivery futures, and what it restored."""
    topic = await new_topic(servers, "state", PARTITIONS)
    options = {"bootstrap_servers": servers}
    writer = ChangelogState(topic, options)
    writer.partitions = {p: dict(states) for p, states in written.items()}
    writer.dirty = {p: set(states) for p, states in written.items()}
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        taken = writer.take_dirty()
        futures = await writer.write(producer, taken)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    reader = ChangelogState(topic, options)
    await reader.restore(range(PARTITIONS))
    restored = {p: dict(states) for p, states in reader.partitions.items()}
    return len(taken), len(futures), restored


def test_a_checkpoints_states_come_back_whole_from_batches_of_records(
    broker_url: str,
) -> None:
    """500 customers over three partitions, each state its own: the next owner restores
    each partition's exact states; the records went out in far fewer deliveries than
    records (a batch per partition, and another when one is full)."""
    servers = broker_url.removeprefix("kafka://")
    written = {
        p: {f"cu{p}-{n}": CustomerState(watermark=p * 1000 + n) for n in range(size)}
        for p, size in enumerate((180, 170, 150))
    }
    records, deliveries, restored = asyncio.run(_write_then_restore(servers, written))
    assert records == 500
    assert restored == written
    assert PARTITIONS <= deliveries < records // 10
