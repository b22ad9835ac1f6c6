"""The staff directory reader (``streams/worker/staff.py``) on a real broker: when it
says the directory is loaded, every staff record the topic held at its start is in it."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest
from aiokafka import AIOKafkaProducer

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.streams.worker.staff import StaffReader

from ..eventgen import staff_line
from .topics import new_topic

AT = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


class _Witness(asyncio.Event):
    """The reader's "loaded" signal, noting how many people the directory held when it
    was given (the reader goes on reading after it, so a count taken later could hide
    a signal given too early)."""

    def __init__(self, directory: InMemoryDirectory) -> None:
        super().__init__()
        self.directory = directory
        self.people: int | None = None

    def set(self) -> None:
        if self.people is None:
            self.people = len(self.directory.staff_by_id)
        super().set()


async def _load(servers: str, batches: dict[int, int]) -> tuple[bool, int]:
    """Write ``batches[p]`` staff records to partition ``p`` as ONE record batch each;
    start a reader, wait until it says loaded; return that and the people it held then."""
    topic = await new_topic(servers, "staff", max(batches, default=0) + 1)
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", max_batch_size=8 << 20)
    await producer.start()
    try:
        for partition, size in batches.items():
            batch = producer.create_batch()
            for n in range(size):
                staff_id = f"rm-{partition}-{n}"
                assert batch.append(
                    key=staff_id.encode(), value=staff_line(staff_id, AT), timestamp=None
                )
            batch.close()
            await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()
    directory = InMemoryDirectory()
    reader = StaffReader(topic, directory, {"bootstrap_servers": servers})
    reader.caught_up = witness = _Witness(directory)
    await reader.start()
    try:
        loaded = await reader.loaded(timeout=30)
        return loaded, witness.people or 0
    finally:
        await reader.stop()


def test_loaded_means_every_record_even_within_the_last_record_batch(broker_url: str) -> None:
    """6,000 people in a single record batch: the broker answers ListOffsets with that
    batch's first offset + 1, and one read takes at most 5,000 records, so a reader
    trusting the answer said "loaded" with 5,000 people."""
    servers = broker_url.removeprefix("kafka://")
    assert asyncio.run(_load(servers, {0: 6000})) == (True, 6000)


def test_loaded_waits_for_every_partition(broker_url: str) -> None:
    servers = broker_url.removeprefix("kafka://")
    assert asyncio.run(_load(servers, {0: 40, 1: 2, 2: 7})) == (True, 49)


def test_an_empty_staff_topic_is_loaded_at_once(broker_url: str) -> None:
    servers = broker_url.removeprefix("kafka://")
    loaded, people = asyncio.run(_load(servers, {0: 0, 1: 0}))
    assert (loaded, people) == (True, 0)


def test_a_directory_not_loaded_in_time_is_reported_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reader that has not caught up (never started here) answers False after the
    timeout, and says so in the log with the people read so far."""
    reader = StaffReader("churnwatch.staff", InMemoryDirectory(), {})
    with caplog.at_level(logging.WARNING, logger="churnwatch.worker"):
        assert asyncio.run(reader.loaded(timeout=0.05)) is False
    assert "staff directory not loaded after 0 s (0 people so far)" in caplog.text
