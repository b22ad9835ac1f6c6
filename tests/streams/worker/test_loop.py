"""The worker against a real broker: equal to replay, scalable, poison-proof,
hot-reloading. Workers run as ``churnwatch worker`` subprocesses. A worker killed
mid-stream is the fault matrix's (``test_faults.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hostile_packs import PACKS, add_hostile, remove
from kafka import KafkaProducer
from sqlalchemy import select
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.models import AlertScore
from churnwatch.schemas.store import AlertStore
from churnwatch.schemas.tables import customer_products, customer_profiles
from churnwatch.streams.produce import produce_lines
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, WorkerProcess, wait_until
from ..eventgen import START, customer_line, events, transfer_line

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

StartWorker = Callable[[Setup, str], WorkerProcess]
#: the rules a stream of transfers alone fires (``eventgen.events``)
TRANSFER_RULES = {
    "large-transfer-out",
    "churn-score-high",
    "balance-sharp-fall",
    "payroll-moved-out",
}


def replay_ids(lines: list[bytes], rules_dir: Path = SHIPPED_RULES) -> set[str]:
    driver = ReplayDriver(Engine(load_rules(rules_dir)))
    driver.run(lines)
    return {alert.alert_id for alert in driver.stored}


def profiles(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every customer profile and product row of the store at ``url``, in key order."""
    with AlertStore(url) as store, store.engine.connect() as conn:
        people = conn.execute(select(customer_profiles).order_by("customer_id")).all()
        held = conn.execute(select(customer_products).order_by("customer_id", "product_id"))
        return [tuple(r) for r in people], [tuple(r) for r in held.all()]


def replay_profiles(lines: list[bytes], tmp: Path) -> tuple[list[tuple[object, ...]], ...]:
    """The profiles replay writes for ``lines`` into a fresh SQLite store."""
    url = f"sqlite:///{tmp / 'replay-profiles.db'}"
    with AlertStore(url) as store:
        ReplayDriver(Engine(load_rules(SHIPPED_RULES)), store).run(lines)
    return profiles(url)


def replay_outcomes(lines: list[bytes]) -> set[tuple[str, str, str | None]]:
    """(alert, outcome, share) of every outcome replay derives from ``lines``."""
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)))
    driver.run(lines)
    return {(o.alert_id, o.outcome, str(o.share)) for o in driver.derived}


def replay_scores(lines: list[bytes]) -> dict[str, AlertScore | None]:
    """Every alert's churn score (and contributions) as replay computes it."""
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)))
    driver.run(lines)
    return {alert.alert_id: alert.score for alert in driver.stored}


def stored_scores(setup: Setup) -> dict[str, AlertScore | None]:
    with AlertStore(setup.db) as store:
        return {alert.alert_id: alert.score for alert in store.alerts()}


def stored_outcomes(setup: Setup) -> set[tuple[str, str, str | None]]:
    with AlertStore(setup.db) as store:
        return {(o.alert_id, o.outcome, str(o.share)) for o in store.outcomes()}


def sink_ids(worker: WorkerProcess) -> list[str]:
    text = worker.alerts_out.read_text() if worker.alerts_out.exists() else ""
    return [json.loads(line)["alert_id"] for line in text.splitlines() if line]


def dead_letters_of_a_run(
    setup: Setup,
    start_worker: Callable[[Setup, str], WorkerProcess],
    lines: list[bytes],
    expected: set[str],
    letters: int,
) -> list[dict[str, object]]:
    """Produce ``lines``, run a worker until it has stored the ``expected`` alert ids, and
    return the ``letters`` dead letters it sent; the worker stops cleanly, the alerts kept."""
    data = setup.tmp / "events.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(app, ["produce", str(data), "--config", str(setup.path)])
    assert result.exit_code == 0, result.output
    worker = start_worker(setup, "dead-letters")
    wait_until(lambda: setup.alert_ids() == expected, what="the clean run's alerts")
    topic = setup.config.topics.dead_letter
    found = [json.loads(value) for value in read_topic(setup.config.broker.url, topic, letters)]
    assert worker.terminate() == 0
    assert setup.alert_ids() == expected
    assert len(found) == letters
    return found


def read_topic(broker: str, topic: str, expected: int, timeout: float = 15) -> list[bytes]:
    """Every message of ``topic`` (all partitions, no consumer group)."""

    async def read() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.removeprefix("kafka://"), enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            values: list[bytes] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(values) < expected and loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                values.extend(r.value for records in batch.values() for r in records)
            return values
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_end_to_end_equals_replay(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """A generated bank's file produced with ``churnwatch produce`` and run by one worker
    stores exactly the alerts replay gives for the same file, with the same ids (timers,
    products and directory updates included, and every rule a transfers-only stream
    fires), and the same customer profiles, outcomes and scores."""
    setup = make_setup()
    lines = list(generate(DatasetSpec(customers=100, weeks=3)))
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)))
    driver.run(lines)
    expected = {alert.alert_id for alert in driver.stored}
    assert len(expected) > 20
    assert {alert.rule_id for alert in driver.stored} >= TRANSFER_RULES
    data = setup.tmp / "events.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(app, ["produce", str(data), "--config", str(setup.path)])
    assert result.exit_code == 0, result.output
    worker = start_worker(setup, "e2e")
    wait_until(lambda: setup.alert_ids() == expected, timeout=90, what="the replay's alerts")
    customers = replay_profiles(lines, setup.tmp)
    wait_until(
        lambda: profiles(setup.db) == customers, timeout=60, what="the replay's customer profiles"
    )
    # the alerts' outcomes, derived from the customers' later events: the same as replay's
    outcomes = replay_outcomes(lines)
    assert outcomes, "the generated events decide some outcomes"
    wait_until(lambda: stored_outcomes(setup) == outcomes, timeout=60, what="the replay's outcomes")
    # every alert's churn score, to the hundredth and contribution by contribution
    scores = replay_scores(lines)
    assert any(score and score.contributions for score in scores.values())
    assert stored_scores(setup) == scores
    assert worker.terminate() == 0
    assert setup.alert_ids() == expected
    assert sorted(sink_ids(worker)) == sorted(expected)
    on_topic = read_topic(setup.config.broker.url, setup.config.topics.alerts, len(expected))
    assert {json.loads(v)["alert_id"] for v in on_topic} == expected


def test_two_workers_split_partitions_and_hand_over(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """Two workers in one group split the partitions; stopping one mid-stream moves its
    partitions to the other, and together they store exactly one worker's alerts."""
    setup = make_setup()
    lines = list(events(customers=80, per_customer=40, seed=5))
    expected = replay_ids(lines)
    create_topics(setup.config)
    one = start_worker(setup, "one")
    one.wait_for_log("assigned partitions [0, 1, 2, 3]")
    two = start_worker(setup, "two")
    one.wait_for_log("assigned partitions [", count=2)
    two.wait_for_log("assigned partitions [")
    assert "assigned partitions [0, 1]" in one.text() + two.text()
    assert "assigned partitions [2, 3]" in one.text() + two.text()
    third = len(lines) // 3
    produce_lines(setup.config, lines[:third])
    wait_until(lambda: len(setup.alert_ids()) >= 3, what="alerts from both workers")
    assert two.terminate() == 0
    produce_lines(setup.config, lines[third:])
    one.wait_for_log("assigned partitions [0, 1, 2, 3]", count=2)
    wait_until(lambda: setup.alert_ids() == expected, what="every alert after the hand-over")
    assert one.terminate() == 0
    delivered = sink_ids(one) + sink_ids(two)
    assert len(delivered) == len(set(delivered)), "an alert went to the sinks twice"
    assert set(delivered) == expected


POISON = [
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'{"type": "transaction", "event_id": "x1"}',
    b'{"type": "wire", "event_id": "x2", "occurred_at": "2026-03-02T09:00:00+08:00"}',
    b"",
]


def test_poison_messages_go_to_the_dead_letter_topic(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """Malformed messages interleaved with good ones land in the dead-letter topic with
    topic, partition, offset and a reason; every good message is still processed."""
    setup = make_setup()
    good = list(events(customers=20, per_customer=30, seed=3))
    expected = replay_ids(good)
    create_topics(setup.config)
    producer = KafkaProducer(bootstrap_servers=setup.config.bootstrap_servers)
    topic = setup.config.topics.transactions
    for n, line in enumerate(good):
        kind = json.loads(line)["type"]
        key = json.loads(line).get("customer_id", "staff").encode()
        target = {"transaction": topic, "customer": setup.config.topics.customers}.get(kind)
        if target is not None:
            producer.send(target, line, key=key)
        if n % 97 == 0:
            producer.send(topic, POISON[(n // 97) % len(POISON)], key=b"cu00001")
    producer.flush()
    producer.close()
    bad = (len(good) - 1) // 97 + 1
    worker = start_worker(setup, "poison")
    wait_until(lambda: setup.alert_ids() == expected, what="the good messages' alerts")
    letters = [
        json.loads(v)
        for v in read_topic(setup.config.broker.url, setup.config.topics.dead_letter, bad)
    ]
    assert worker.terminate() == 0
    assert len(letters) == bad
    for letter in letters:
        assert letter["reason"]
        assert letter["source"]["topic"] == topic
        assert letter["source"]["offset"] >= 0 and "partition" in letter["source"]
        assert "original" in letter or "original_base64" in letter


def _phase(prefix: str, at: dt.datetime, amounts: list[int]) -> list[bytes]:
    customer = f"{prefix}-cust"
    lines = [customer_line(customer, at - dt.timedelta(days=1))]
    balance = Decimal(400_000)
    for n, amount in enumerate(amounts):
        balance -= amount
        lines.append(
            transfer_line(
                f"{prefix}-{n}", customer, at + dt.timedelta(minutes=n), Decimal(amount), balance
            )
        )
    return lines


def _large_transfers(setup: Setup, customer: str) -> list[str]:
    with AlertStore(setup.db) as store:
        return [
            a.trigger_event_ids[0]
            for a in store.alerts(rule_id="large-transfer-out")
            if a.customer_id == customer
        ]


def test_hot_reload_applies_valid_rules_and_refuses_broken_ones(
    make_setup: Callable[..., Setup], start_worker: StartWorker, tmp_path: Path
) -> None:
    """Raising a threshold while the worker runs changes which alerts fire from then on;
    a broken rule file afterwards changes nothing."""
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES, rules)
    setup = make_setup(rules_dir=rules)
    create_topics(setup.config)
    worker = start_worker(setup, "reload")
    worker.wait_for_log("assigned partitions")
    produce_lines(setup.config, _phase("a", START, [60_000]))
    wait_until(lambda: _large_transfers(setup, "a-cust") == ["a-0"], what="phase A alert")

    transfers = rules / "transfers.yaml"
    transfers.write_text(transfers.read_text().replace("at_least: 50000.00", "at_least: 70000.00"))
    worker.wait_for_log("rules reloaded")
    produce_lines(setup.config, _phase("b", START + dt.timedelta(hours=1), [60_000, 80_000]))
    wait_until(lambda: _large_transfers(setup, "b-cust") == ["b-1"], what="phase B alert")

    (rules / "broken.yaml").write_text("rules:\n  - id: broken\n    match: event.amount >>> 3\n")
    worker.wait_for_log("rule change refused")
    produce_lines(setup.config, _phase("c", START + dt.timedelta(hours=2), [60_000, 80_000]))
    wait_until(lambda: _large_transfers(setup, "c-cust") == ["c-1"], what="phase C alert")
    assert worker.terminate() == 0
    assert "broken.yaml" in worker.text()


def test_hostile_packs_offered_to_a_running_worker_are_refused_and_it_keeps_working(
    make_setup: Callable[..., Setup], start_worker: StartWorker, tmp_path: Path
) -> None:
    """Each hostile pack of the hardening issue, written into the live rule directory, is
    refused and counted; the worker keeps the rules in force and still loads a valid change."""
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES, rules)
    setup = make_setup(rules_dir=rules)
    create_topics(setup.config)
    worker = start_worker(setup, "hostile")
    worker.wait_for_log("assigned partitions")
    for count, name in enumerate(PACKS, start=1):
        written = add_hostile(rules, name)
        worker.wait_for_log("rule change refused", timeout=30, count=count)
        remove(written)
    assert "Traceback" not in worker.text()
    transfers = rules / "transfers.yaml"
    transfers.write_text(transfers.read_text().replace("at_least: 50000.00", "at_least: 70000.00"))
    worker.wait_for_log("rules reloaded")
    produce_lines(setup.config, _phase("h", START, [60_000, 80_000]))
    wait_until(lambda: _large_transfers(setup, "h-cust") == ["h-1"], what="alert after reload")
    assert worker.terminate() == 0
