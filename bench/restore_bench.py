"""Restore time on assignment: the whole changelog (memory://) against local RocksDB state
plus the changelog's tail (rocksdb://), on a real (Tansu) broker. Not a test: prints figures.

States are real engine states (the shipped pack replayed over generated transfers),
copied under new customer ids up to ``--customers``. One checkpoint writes them all to
the changelog and the local databases; then another owner updates ``--tail`` percent of
them in the changelog only, as if the partitions had been away. Run:
``.venv/bin/python bench/restore_bench.py --customers 50000``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "streams"))
sys.path.insert(0, str(ROOT / "bench"))

from eventgen import events  # noqa: E402
from worker_bench import make_config, start_broker  # noqa: E402

from churnwatch.rules import SHIPPED_RULES  # noqa: E402
from churnwatch.rules.engine import Engine  # noqa: E402
from churnwatch.rules.loader import load_rules  # noqa: E402
from churnwatch.rules.state import CustomerState  # noqa: E402
from churnwatch.streams.kafka import aiokafka_options, partition_for  # noqa: E402
from churnwatch.streams.replay.driver import ReplayDriver  # noqa: E402
from churnwatch.streams.topics import create_topics  # noqa: E402
from churnwatch.streams.worker.changelog import ChangelogState  # noqa: E402
from churnwatch.streams.worker.state_store import LocalStates  # noqa: E402


def template_states() -> list[CustomerState]:
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)))
    driver.run(list(events(customers=200, per_customer=60, seed=7)))
    return list(driver.states.values())


async def write(
    state: ChangelogState, producer: AIOKafkaProducer, states: dict[str, CustomerState], n: int
) -> None:
    for customer_id, value in states.items():
        partition = partition_for(customer_id.encode(), n)
        state.partitions.setdefault(partition, {})[customer_id] = value
        state.dirty.setdefault(partition, set()).add(customer_id)
    taken = state.take_dirty()
    for start in range(0, len(taken), 5000):
        await asyncio.gather(*await state.write(producer, taken[start : start + 5000]))
    await state.persist()


async def run(customers: int, tail: float, partitions: int, broker: str, tmp: Path) -> None:
    config, _ = make_config(broker, tmp, "restore", partitions)
    create_topics(config)
    topic, options = config.changelog_topic, aiokafka_options(config)
    templates = template_states()
    states = {f"cu{i:07d}": templates[i % len(templates)] for i in range(customers)}
    producer = AIOKafkaProducer(acks="all", linger_ms=5, **options)
    await producer.start()
    try:
        owner = ChangelogState(topic, options, LocalStates(tmp / "state", topic, 64))
        await owner.restore(range(partitions))
        started = time.monotonic()
        await write(owner, producer, states, partitions)
        print(
            f"checkpoint of {customers} states to changelog + RocksDB: "
            f"{time.monotonic() - started:.2f} s"
        )
        owner.close()
        away = ChangelogState(topic, options)
        for p in range(partitions):
            away.partitions[p], away.dirty[p] = {}, set()
        changed = dict(list(states.items())[: int(customers * tail / 100)])
        await write(away, producer, changed, partitions)
    finally:
        await producer.stop()
    for label, local in (
        ("memory:// (whole changelog)", None),
        ("rocksdb:// (local + tail)", LocalStates(tmp / "state", topic, 64)),
    ):
        state = ChangelogState(topic, options, local)
        started = time.monotonic()
        await state.restore(range(partitions))
        seconds = time.monotonic() - started
        report = state.last_restore
        assert report is not None
        held = sum(len(s) for s in state.partitions.values())
        print(
            f"{label}: {held} customers in {seconds:.2f} s; {report.local_states} states "
            f"from RocksDB, {report.replayed} changelog records read"
        )
        state.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--tail", type=float, default=1.0, help="percent updated while away")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    process, broker = start_broker()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(args.customers, args.tail, args.partitions, broker, Path(tmp)))
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
