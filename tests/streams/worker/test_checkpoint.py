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
from churnwatch.streams.worker.changelog import ChangelogState
from churnwatch.streams.worker.checkpoint import Checkpointer

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
