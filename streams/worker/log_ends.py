"""Where a partition's log really ends, for a reader that must read all of it.

A restore that stops short of a changelog partition's end loses the states of its last
checkpoint. The end is the broker's answer checked against a fetch: Kafka client work that
needs none of the changelog's state, so it stands on its own.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["log_ends"]


async def log_ends(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], begins: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Each partition's end offset: ListOffsets, checked against a fetch's high watermark.

    Why both. The broker the tests run on (Tansu) answers ListOffsets with the last record
    batch's base offset + 1, short of the real end; trusting it would stop a restore early
    and make a local database look ahead of its changelog. One fetch of the last listed
    record per partition brings the true high watermark (a few bytes on Kafka, where both
    agree).
    """
    listed: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    ends = dict(listed)
    waiting = {tp for tp in tps if listed[tp] > begins[tp]}
    for tp in waiting:
        consumer.seek(tp, listed[tp] - 1)
    deadline = time.monotonic() + 10
    while waiting and time.monotonic() < deadline:
        await consumer.getmany(*waiting, timeout_ms=200, max_records=1)
        for tp in list(waiting):
            highwater = consumer.highwater(tp)
            if highwater is not None:
                ends[tp] = max(ends[tp], highwater)
                waiting.discard(tp)
    return ends
