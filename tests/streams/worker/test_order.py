"""Event-time order within a task, on a real broker: a generated bank's backlog produced
before the worker starts (what it faces after any outage or a backfill) gives exactly
replay's alerts, with no event dead-lettered as too late."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from churnwatch.streams.produce import produce_lines
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, WorkerProcess, wait_until
from .matrix import Bank
from .test_loop import read_topic, sink_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

StartWorker = Callable[[Setup, str], WorkerProcess]


def test_backlog_produced_before_start_gives_replays_alerts(
    make_setup: Callable[..., Setup], start_worker: StartWorker, bank: Bank
) -> None:
    """The fault matrix's bank (four weeks, every rule the generator exercises) on the
    three topics before the worker starts, timers on event time, read in many small
    batches: the worker stores exactly replay's alert ids and sends nothing to the dead
    letters (every event was in order on its own topic)."""
    setup = make_setup(max_poll_records=200, commit_interval=1.0)
    rules = {alert.rule_id for alert in bank.alerts}
    assert len(rules) >= 10
    create_topics(setup.config)
    produce_lines(setup.config, bank.lines)
    worker = start_worker(setup, "backlog")
    wait_until(lambda: setup.committed() == bank.inputs, timeout=120, what="every event")
    assert worker.terminate() == 0
    assert setup.alert_ids() == bank.expected, (sorted(rules), worker.text()[-2000:])
    assert sorted(sink_ids(worker)) == sorted(bank.expected)
    letters = read_topic(setup.config.broker.url, setup.config.topics.dead_letter, 1, timeout=2)
    assert [json.loads(v)["reason"] for v in letters] == []
