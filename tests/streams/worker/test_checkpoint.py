"""Checkpoints against a real group: a commit the group refuses is a loss of partitions,
handled the way Kafka Streams handles "lost" tasks, not a crash."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaConsumer

from churnwatch.metrics import Metrics
from churnwatch.rules.state import CustomerState
from churnwatch.streams.worker.changelog import ChangelogState
from churnwatch.streams.worker.checkpoint import CLOCK_EVERY, Checkpointer

SESSION_MS = 3000


async def _stalled_past_the_session(servers: str) -> tuple[Checkpointer, Metrics, int]:
    topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    await producer.send_and_wait(topic, b"x", partition=0)
    options = dict(
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=500,
    )
    stalled = AIOKafkaConsumer(topic, **options)
    await stalled.start()
    try:
        await stalled.getmany(timeout_ms=5000)
        metrics = Metrics()
        state = ChangelogState(f"{topic}-changelog", {"bootstrap_servers": servers})
        state.partitions = {tp.partition: {} for tp in stalled.assignment()}
        state.dirty = {p: set() for p in state.partitions}
        checkpoints = Checkpointer(state, metrics)
        checkpoints.offsets = {TopicPartition(topic, 0): 1}
        joined = threading.Event()
        other = threading.Thread(target=_join, args=(servers, topic, group, joined))
        other.start()  # another member joins, outside this stalled event loop
        time.sleep(SESSION_MS / 1000 * 2.5)  # the loop stalls: no heartbeat goes out
        assert joined.wait(20), "the other member never got the partitions"
        checkpoints.begin()
        await checkpoints.step(producer, stalled)
        other.join()
        return checkpoints, metrics, len(state.owned())
    finally:
        await stalled.stop()
        await producer.stop()


def _join(servers: str, topic: str, group: str, joined: threading.Event) -> None:
    """A second member: polls until the group has expelled the stalled one and handed it
    the partitions."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=500,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not consumer.assignment():
            consumer.poll(timeout_ms=200)
        if consumer.assignment():
            joined.set()
    finally:
        consumer.close()


def test_a_refused_commit_drops_the_states_instead_of_stopping_the_worker(
    broker_url: str,
) -> None:
    """The worker stalled past its session; the group gave its partitions away. The commit
    is refused: the checkpoint ends without raising, nothing is left to commit, every
    state is dropped (restored from the changelog on rejoin), and the loss is counted."""
    servers = broker_url.removeprefix("kafka://")
    checkpoints, metrics, owned = asyncio.run(_stalled_past_the_session(servers))
    assert not checkpoints.in_progress
    assert checkpoints.offsets == {}
    assert owned == 0
    assert metrics.registry.get_sample_value("churnwatch_partitions_lost_total") == 1


async def _checkpoint_in_slices(servers: str) -> tuple[list[int], list[int]]:
    """A checkpoint of 200 changed customers, stepped with no time to spare per turn:
    how many states each turn wrote, and the group's committed offset after each turn."""
    topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    await producer.send_and_wait(topic, b"x", partition=0)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    tp = TopicPartition(topic, 0)
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        state = ChangelogState(f"{topic}-changelog", {"bootstrap_servers": servers})
        state.partitions = {0: {f"cu{n}": CustomerState(watermark=n) for n in range(200)}}
        state.dirty = {0: set(state.partitions[0])}
        checkpoints = Checkpointer(state, Metrics())
        checkpoints.offsets = {tp: 1}
        checkpoints.begin()
        written: list[int] = []
        committed: list[int] = []
        done = False
        while not done:
            current = checkpoints.current
            assert current is not None
            before = current.written
            done = await checkpoints.step(producer, consumer, 0.0)
            written.append(current.written - before)
            committed.append(await consumer.committed(tp) or 0)
        return written, committed
    finally:
        await consumer.stop()
        await producer.stop()


def test_a_checkpoint_slice_ends_when_its_time_is_spent_and_commits_after_the_last_state(
    broker_url: str,
) -> None:
    """With no time to spare, each turn writes one run of states (``CLOCK_EVERY``) and
    the events wait no longer for it; the offsets noted at the start are committed only
    once every state is written and acknowledged, never in between."""
    servers = broker_url.removeprefix("kafka://")
    written, committed = asyncio.run(_checkpoint_in_slices(servers))
    full_slices = 200 // CLOCK_EVERY
    assert written[:full_slices] == [CLOCK_EVERY] * full_slices
    assert sum(written) == 200
    assert all(offset == 0 for offset in committed[:-1])
    assert committed[-1] == 1
