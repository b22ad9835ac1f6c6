"""A customer's state knows which input records it holds: records read again after a
restore from states newer than the committed offsets are repeats, never "too late"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.state import CustomerState
from churnwatch.streams.config import load_config
from churnwatch.streams.produce import produce_lines
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.topics import create_topics
from churnwatch.streams.worker.positions import Positions
from churnwatch.streams.worker.topics import prepare_topics

from ..conftest import Setup, WorkerProcess, wait_until
from .test_loop import read_topic, replay_ids, sink_ids

StartWorker = Callable[[Setup, str], WorkerProcess]

TRANSACTIONS_3 = TopicPartition("bank.transactions", 3)


class TestPositions:
    def test_a_state_holds_the_records_up_to_the_last_one_applied(self) -> None:
        positions, state = Positions(), CustomerState()
        positions.applied(state, TRANSACTIONS_3, 41)
        assert positions.holds(state, TRANSACTIONS_3, 41)
        assert positions.holds(state, TRANSACTIONS_3, 0)
        assert not positions.holds(state, TRANSACTIONS_3, 42)

    def test_positions_are_per_topic_and_partition(self) -> None:
        positions, state = Positions(), CustomerState()
        positions.applied(state, TRANSACTIONS_3, 41)
        assert not positions.holds(state, TopicPartition("bank.transactions", 2), 0)
        assert not positions.holds(state, TopicPartition("bank.customers", 3), 0)

    def test_no_state_holds_nothing(self) -> None:
        assert not Positions().holds(None, TRANSACTIONS_3, 0)

    def test_positions_survive_the_changelog(self) -> None:
        positions, state = Positions(), CustomerState()
        positions.applied(state, TRANSACTIONS_3, 41)
        assert positions.holds(decode_state(encode_state(state)), TRANSACTIONS_3, 41)

    def test_a_state_without_positions_costs_no_byte_for_them(self) -> None:
        """Replay keeps none: its states are as small as before."""
        state = CustomerState()
        placed = CustomerState()
        Positions().applied(placed, TRANSACTIONS_3, 41)
        assert len(encode_state(placed)) > len(encode_state(state))
        assert decode_state(encode_state(state)).offsets == {}


def _copy_changelog(source: str, target: str, broker: str, partitions: int) -> int:
    """Every record of one changelog topic into another, partition for partition."""
    reader = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    writer = KafkaProducer(bootstrap_servers=broker)
    try:
        parts = [KafkaTopicPartition(source, p) for p in range(partitions)]
        reader.assign(parts)
        reader.seek_to_beginning(*parts)
        ends = reader.end_offsets(parts)
        copied = 0
        while any(reader.position(tp) < ends[tp] for tp in parts):
            for tp, records in reader.poll(timeout_ms=500).items():
                for record in records:
                    writer.send(target, record.value, key=record.key, partition=tp.partition)
                    copied += 1
        writer.flush(timeout=30)
        return copied
    finally:
        reader.close()
        writer.close()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_events_read_again_against_newer_states_are_repeats_not_late(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """A worker that restores states newer than its start offsets — here, in the extreme,
    the states of a finished run, read again from offset 0 by a group with that changelog
    and no committed offsets — finds every event a repeat: a customer's first records are
    weeks older than their newest events, beyond the lateness and out of the engine's
    memory of event ids, yet none is dead-lettered, and no alert is stored or handed to
    the sinks again."""
    setup = make_setup(commit_interval=0.2)
    lines = list(generate(DatasetSpec(customers=100, weeks=3)))
    inputs = sum(1 for line in lines if b'"type":"staff"' not in line)
    expected = replay_ids(lines)
    create_topics(setup.config)
    produce_lines(setup.config, lines)
    first = start_worker(setup, "first")
    wait_until(lambda: setup.committed() == inputs, what="every event")
    assert first.terminate() == 0
    assert setup.alert_ids() == expected

    group = setup.config.worker.group_id
    again_path = setup.tmp / "again.yaml"
    again_path.write_text(
        setup.path.read_text().replace(f"group_id: {group}", f"group_id: {group}-again")
    )
    again = Setup(again_path, load_config(again_path, environ={}), setup.tmp)
    asyncio.run(prepare_topics(again.config))
    copied = _copy_changelog(
        setup.config.changelog_topic,
        again.config.changelog_topic,
        setup.config.bootstrap_servers,
        setup.config.topics.partitions,
    )
    assert copied > 0
    second = start_worker(again, "again")
    try:
        wait_until(lambda: again.committed() == inputs, what="every event read again")
    finally:
        again.close()
    assert second.terminate() == 0
    letters = read_topic(setup.config.broker.url, setup.config.topics.dead_letter, 1, timeout=2)
    assert [json.loads(value)["reason"] for value in letters] == []
    assert setup.alert_ids() == expected
    assert sink_ids(second) == []
