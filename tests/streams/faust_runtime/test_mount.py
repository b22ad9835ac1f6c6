"""``mount`` on a bank's own Faust app: the example in deploy/faust runs churnwatch's
agent beside the bank's own and stores replay's alerts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from churnwatch.streams.kafka import TopicSpec
from churnwatch.streams.produce import produce_lines
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, clean_env, wait_until
from ..eventgen import events
from ..worker.test_loop import replay_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "faust" / "bank_app.py"


@pytest.fixture
def bank_app(
    make_setup: Callable[..., Setup],
) -> Iterator[tuple[Setup, subprocess.Popen[bytes], Path]]:
    setup = make_setup(runtime="faust", max_task_idle=1.0)
    create_topics(setup.config)
    create_topics(setup.config, None, [TopicSpec("bank.card-payments", 4, {})])
    log = setup.tmp / "bank-app.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "worker", "-l", "info", "--without-web"],
            cwd=setup.tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**clean_env(), "CHURNWATCH_CONFIG": str(setup.path)},
        )
        try:
            yield setup, process, log
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_the_bank_app_example_runs_churnwatch_beside_its_own_agent(
    bank_app: tuple[Setup, subprocess.Popen[bytes], Path],
) -> None:
    """The example app, run as Faust apps are (``python bank_app.py worker``), starts
    churnwatch's agent and the bank's, stores exactly replay's alerts for a stream, and
    stops cleanly on SIGTERM."""
    setup, process, log = bank_app
    lines = list(events(customers=40, per_customer=30, seed=3))
    expected = replay_ids(lines)
    assert len(expected) >= 5
    wait_until(
        lambda: "worker started: runtime faust" in log.read_text(errors="replace"),
        timeout=60,
        what="churnwatch's start in the bank's app",
    )
    produce_lines(setup.config, lines)
    producer = KafkaProducer(bootstrap_servers=setup.config.bootstrap_servers)
    for payment_id, amount in (("P1", "120.00"), ("P2", "80000.00")):
        payment = {"payment_id": payment_id, "amount": amount}
        producer.send("bank.card-payments", json.dumps(payment).encode())
    producer.flush()
    producer.close()
    wait_until(lambda: setup.alert_ids() == expected, timeout=60, what="replay's alerts")
    wait_until(
        lambda: "large card payment P2" in log.read_text(errors="replace"),
        timeout=30,
        what="the bank's own agent",
    )
    process.terminate()
    assert process.wait(timeout=30) == 0
    text = log.read_text(errors="replace")
    assert "large card payment P1" not in text
    assert "worker stopped" in text
