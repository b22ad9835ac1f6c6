"""``worker.state_store: rocksdb://`` against the real broker: a restart with the data
directory kept reads only the changelog's tail; without it, the whole changelog; the
alerts are the same either way. Workers run as ``churnwatch worker`` subprocesses."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from churnwatch.rules.state import CustomerState
from churnwatch.streams.kafka import aiokafka_options
from churnwatch.streams.produce import produce_lines
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.topics import create_topics
from churnwatch.streams.worker.changelog import ChangelogState
from churnwatch.streams.worker.state_store import LocalStates

from ..conftest import Setup, WorkerProcess, wait_until
from ..eventgen import events
from .test_loop import replay_ids, sink_ids

pytest.importorskip("rocksdict")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

StartWorker = Callable[[Setup, str], WorkerProcess]
RESTORED = re.compile(
    r"restored (\d+) states from local state, (\d+) changelog records replayed "
    r"for partitions \[([\d, ]*)\] \(full restore: \[([\d, ]*)\]\)"
)


def restore_line(worker: WorkerProcess) -> tuple[int, int, str]:
    """(states from local state, changelog records replayed, full-restore partitions)."""
    worker.wait_for_log("restored ")
    found = RESTORED.search(worker.text())
    assert found is not None, worker.text()
    return int(found[1]), int(found[2]), found[4]


def changelog_records(setup: Setup) -> int:
    """Records in the changelog topic now, counted by reading it (Tansu's end offsets
    fall short, see ``streams/worker/log_ends.py``)."""

    async def count() -> int:
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **aiokafka_options(setup.config))
        await consumer.start()
        try:
            topic = setup.config.changelog_topic
            tps = [TopicPartition(topic, p) for p in range(setup.config.topics.partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            read = 0
            while batch := await consumer.getmany(timeout_ms=1000):
                read += sum(len(records) for records in batch.values())
            return read
        finally:
            await consumer.stop()

    return asyncio.run(count())


def run_twice(
    setup: Setup,
    start_worker: StartWorker,
    between: Callable[[], None],
    lines: list[bytes] | None = None,
) -> tuple[WorkerProcess, WorkerProcess, set[str]]:
    """Half the events through one worker (SIGTERM), ``between``, the rest through a second."""
    if lines is None:
        lines = list(events(customers=40, per_customer=40, seed=21))
    half = len(lines) // 2
    create_topics(setup.config)
    produce_lines(setup.config, lines[:half])
    first = start_worker(setup, "first")
    first_half = replay_ids(lines[:half])
    wait_until(lambda: setup.alert_ids() == first_half, what="the first half's alerts")
    assert first.terminate() == 0
    assert restore_line(first) == (0, 0, "0, 1, 2, 3")  # nothing anywhere yet
    between()
    produce_lines(setup.config, lines[half:])
    second = start_worker(setup, "second")
    expected = replay_ids(lines)
    wait_until(lambda: setup.alert_ids() == expected, what="every alert after the restart")
    assert second.terminate() == 0
    delivered = sink_ids(first) + sink_ids(second)
    assert len(delivered) == len(set(delivered)), "an alert went to the sinks twice"
    assert set(delivered) == expected
    return first, second, first_half


def test_restart_with_the_data_dir_reads_only_the_changelog_tail(
    make_setup: Callable[..., Setup], start_worker: StartWorker, tmp_path: Path
) -> None:
    """A worker stopped with SIGTERM and started on the same data directory loads every
    customer's state from RocksDB, replays no changelog record (all were checkpointed
    locally before it stopped), and ends with every alert once."""
    setup = make_setup(state_store=f"rocksdb://{tmp_path / 'state'}")
    _, second, _ = run_twice(setup, start_worker, lambda: None)
    local, replayed, full = restore_line(second)
    assert changelog_records(setup) >= 40  # what a memory:// restart would have read
    assert (local, replayed, full) == (40, 0, "")


def test_a_deleted_data_dir_means_a_full_restore_from_the_changelog(
    make_setup: Callable[..., Setup], start_worker: StartWorker, tmp_path: Path
) -> None:
    """With the data directory deleted between runs, the second worker restores every
    partition from the changelog's start and stores the same alerts, none twice."""
    state = tmp_path / "state"
    setup = make_setup(state_store=f"rocksdb://{state}")
    records: list[int] = []

    def wipe() -> None:
        shutil.rmtree(state)
        records.append(changelog_records(setup))

    _, second, _ = run_twice(setup, start_worker, wipe)
    assert restore_line(second) == (0, records[0], "0, 1, 2, 3")
    assert (state / setup.config.changelog_topic / "0").is_dir()  # rebuilt


def test_restore_replays_what_another_owner_wrote_and_distrusts_a_reset_changelog(
    make_setup: Callable[..., Setup], tmp_path: Path
) -> None:
    """After another worker wrote to the changelog, a restore loads the local states and
    replays only those newer records; a database claiming an offset past the changelog's
    end is rebuilt from the whole changelog."""
    setup = make_setup(partitions=2, state_store=f"rocksdb://{tmp_path / 'state'}")
    create_topics(setup.config)
    topic, options = setup.config.changelog_topic, aiokafka_options(setup.config)

    def local() -> LocalStates:
        return LocalStates(tmp_path / "state", topic, block_cache_mb=8)

    async def write(state: ChangelogState, producer: AIOKafkaProducer, **states: int) -> None:
        for customer_id, watermark in states.items():
            state.partitions[0][customer_id] = CustomerState(watermark=watermark)
            state.dirty[0].add(customer_id)
        await asyncio.gather(*await state.flush(producer))
        await state.persist()

    async def scenario() -> None:
        producer = AIOKafkaProducer(**options)
        await producer.start()
        try:
            owner = ChangelogState(topic, options, local())
            await owner.restore([0, 1])
            await write(owner, producer, cu1=1, cu2=2, cu3=3)
            await write(owner, producer, cu1=10)
            owner.close()
            away = ChangelogState(topic, options)  # another worker, memory only
            assert await away.restore([0]) == 4
            await write(away, producer, cu2=20, cu4=40)

            back = ChangelogState(topic, options, local())
            assert await back.restore([0, 1]) == 2
            report = back.last_restore
            assert report is not None
            assert (report.local_states, report.replayed, report.full) == (3, 2, [])
            watermarks = {c: s.watermark for c, s in back.partitions[0].items()}
            assert watermarks == {"cu1": 10, "cu2": 20, "cu3": 3, "cu4": 40}
            db = back.local.open(0) if back.local is not None else None
            assert db is not None and db.offset() == 6  # the tail is saved too

            db.write([("ghost", b"stale")], 999)  # as if the changelog had been reset
            back.drop([0])
            assert await back.restore([0]) == 6
            assert back.last_restore is not None and back.last_restore.full == [0]
            assert set(back.partitions[0]) == {"cu1", "cu2", "cu3", "cu4"}
            stored, offset = back.local.open(0).load() if back.local is not None else ({}, 0)
            assert set(stored) == {"cu1", "cu2", "cu3", "cu4"} and offset == 6
            back.close()
        finally:
            await producer.stop()

    asyncio.run(scenario())


def test_a_working_set_far_smaller_than_the_customers_gives_replays_alerts(
    make_setup: Callable[..., Setup], start_worker: StartWorker, tmp_path: Path
) -> None:
    """With room for 3 decoded states in the worker (one per partition) among a generated
    bank's 100 customers, most events and timers need a read from RocksDB; a worker
    stopped halfway and started again on the same data directory (its timers read from
    the stored due keys, no state decoded) still stores exactly replay's alerts, each
    handed to the sinks once."""
    setup = make_setup(state_store=f"rocksdb://{tmp_path / 'state'}", state_cache_customers=3)
    lines = list(generate(DatasetSpec(customers=100, weeks=3)))
    _, second, _ = run_twice(setup, start_worker, lambda: None, lines)
    local, replayed, full = restore_line(second)
    assert (local, replayed, full) == (100, 0, "")
