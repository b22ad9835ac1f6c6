"""The fault matrix: the worker on the real path (a broker, a store, ``churnwatch worker``
subprocesses) through a store outage, an unexpected store error, a SIGTERM or a SIGKILL
in a backlog, a SIGKILL while the stream arrives, a worker killed in a group while a third
joins and a timer fired in a batch the store fails on, each case ending with exactly
replay's alert ids on the same generated stream, none handed to the sinks twice, and no
help from outside. The broker
restarted is ``test_broker_restart.py`` (a broker of its own, on storage that survives).

Kept lean: one broker per module, small generated banks, one replay per stream."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from churnwatch.schemas.store import AlertStore, migrate, open_engine
from churnwatch.streams.produce import produce_lines
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, WorkerProcess, free_port, wait_until
from .test_loop import replay_ids, sink_ids
from .test_ops import status_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

StartWorker = Callable[[Setup, str], WorkerProcess]
OUTAGE = 20.0  # seconds the store refuses every connection


@functools.cache
def bank(customers: int = 200, weeks: int = 6) -> tuple[list[bytes], frozenset[str], int]:
    """A generated bank, replay's alert ids for it, and how many lines go to input topics."""
    lines = list(generate(DatasetSpec(customers=customers, weeks=weeks, seed=29)))
    inputs = sum(1 for line in lines if b'"type":"staff"' not in line)
    return lines, frozenset(replay_ids(lines)), inputs


def all_delivered_once(*workers: WorkerProcess) -> set[str]:
    delivered = [alert_id for worker in workers for alert_id in sink_ids(worker)]
    assert len(delivered) == len(set(delivered)), "an alert went to the sinks twice"
    return set(delivered)


@pytest.fixture
def database(postgres_url: str) -> Iterator[tuple[str, sa.Engine, str]]:
    """A PostgreSQL database of its own (an outage must not touch other tests' databases)."""
    server = sa.make_url(postgres_url).set(query={})
    name = f"cw_fault_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = open_engine(url)  # `churnwatch db upgrade`, as before any worker starts
    try:
        migrate(engine)
    finally:
        engine.dispose()
    try:
        yield url, admin, name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def refusing(admin: sa.Engine, name: str) -> Iterator[None]:
    """The database refuses new connections and its open ones are killed, until the end."""
    with admin.connect() as connection:
        connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def test_store_outage_is_retried_with_nothing_committed_and_nothing_lost(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    database: tuple[str, sa.Engine, str],
) -> None:
    """The store's connections killed and refused for 20 s while two thirds of a bank
    arrive: the worker stays up, reports not-ready, commits nothing until its writes
    succeed, then resumes by itself and ends with exactly replay's alerts."""
    url, admin, name = database
    port = free_port()
    setup = make_setup(store_url=url, metrics_port=port, max_task_idle=0.5)
    lines, expected, inputs = bank()
    third = len(lines) // 3
    head = sum(1 for line in lines[:third] if b'"type":"staff"' not in line)
    create_topics(setup.config)
    produce_lines(setup.config, lines[:third])
    worker = start_worker(setup, "outage")
    wait_until(lambda: setup.committed() == head, what="the first third")
    with refusing(admin, name):
        produce_lines(setup.config, lines[third:])
        # a batch writes its customer profiles, then its alerts: either is refused first
        worker.wait_for_log("cannot store", timeout=10)
        time.sleep(1)
        before = setup.committed()
        assert status_of(port, "/readyz") == 503
        time.sleep(OUTAGE - 3)
        assert setup.committed() == before < inputs, "committed during the outage"
        assert status_of(port, "/readyz") == 503
        assert worker.process.poll() is None
    wait_until(lambda: setup.committed() == inputs, timeout=60, what="every event after")
    wait_until(lambda: status_of(port, "/readyz") == 200, what="ready again")
    assert worker.terminate() == 0
    assert setup.alert_ids() == expected
    assert all_delivered_once(worker) == expected
    assert "succeeded after" in worker.text()


def test_an_unexpected_store_error_stops_the_worker_without_committing(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    database: tuple[str, sa.Engine, str],
) -> None:
    """A store error no retry can cure (the alerts table gone) stops the worker with the
    batch in hand neither committed nor written as state; once the table is back, the
    next start processes that batch again and nothing is skipped."""
    url, _, _ = database
    setup = make_setup(store_url=url, commit_interval=0.2, max_task_idle=0.5)
    lines, expected, inputs = bank()
    third = len(lines) // 3
    head = sum(1 for line in lines[:third] if b'"type":"staff"' not in line)
    create_topics(setup.config)
    produce_lines(setup.config, lines[:third])
    first = start_worker(setup, "first")
    wait_until(lambda: setup.committed() == head, what="the first third")
    store = sa.create_engine(url)
    with store.begin() as connection:
        connection.execute(sa.text("ALTER TABLE alerts RENAME TO alerts_away"))
    produce_lines(setup.config, lines[third:])
    assert first.process.wait(timeout=30) == 1
    first.handle.close()
    assert "not committing" in first.text()
    assert head <= setup.committed() < inputs
    with store.begin() as connection:
        connection.execute(sa.text("ALTER TABLE alerts_away RENAME TO alerts"))
    store.dispose()
    second = start_worker(setup, "second")
    wait_until(lambda: setup.committed() == inputs, timeout=60, what="every event")
    assert second.terminate() == 0
    assert setup.alert_ids() == expected
    assert all_delivered_once(first, second) == expected


@pytest.mark.parametrize("signal", ["SIGTERM", "SIGKILL"])
def test_a_worker_stopped_in_a_backlog_restarts_without_loss_or_repeat(
    make_setup: Callable[..., Setup], start_worker: StartWorker, signal: str
) -> None:
    """SIGTERM or SIGKILL while a whole bank waits on the topics: SIGTERM stops the worker
    within its shutdown_timeout with exit 0; either way a restart finishes the backlog,
    every alert stored and handed to the sinks once."""
    setup = make_setup(max_poll_records=100, commit_interval=0.2, shutdown_timeout=10)
    lines, expected, inputs = bank(customers=600)  # long enough to stop it halfway
    create_topics(setup.config)
    produce_lines(setup.config, lines)
    first = start_worker(setup, "first")
    wait_until(lambda: setup.committed() > 0, what="a first checkpoint")
    if signal == "SIGKILL":
        first.kill()
    else:
        started = time.monotonic()
        assert first.terminate() == 0
        assert time.monotonic() - started < 10
    assert 0 < setup.committed() < inputs
    second = start_worker(setup, "second")
    wait_until(lambda: setup.committed() == inputs, timeout=60, what="every event")
    assert second.terminate() == 0
    assert setup.alert_ids() == expected
    assert all_delivered_once(first, second) == expected


def test_a_worker_killed_while_the_stream_arrives_restarts_without_loss_or_repeat(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """SIGKILL while a bank arrives on the topics (the other arrival mode of the case
    above): the restarted worker reads the rest as it arrives and the group ends with
    exactly replay's alerts, each handed to the sinks once."""
    setup = make_setup(max_poll_records=100, commit_interval=0.2, max_task_idle=0.5)
    lines, expected, inputs = bank()
    half = len(lines) // 2
    create_topics(setup.config)
    first = start_worker(setup, "first")
    first.wait_for_log("assigned partitions [0, 1, 2, 3]")
    produce_lines(setup.config, lines[:half])
    wait_until(lambda: setup.committed() > 0, what="a first checkpoint")
    first.kill()
    second = start_worker(setup, "second")
    produce_lines(setup.config, lines[half:])
    wait_until(lambda: setup.committed() == inputs, timeout=60, what="every event")
    assert second.terminate() == 0
    assert setup.alert_ids() == expected
    assert all_delivered_once(first, second) == expected


def test_two_workers_one_killed_a_third_joining_on_a_backlog(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """A backlog shared by two workers; one is SIGKILLed mid-stream and a third joins:
    the group ends with exactly replay's alerts, none handed to the sinks twice."""
    setup = make_setup(max_poll_records=200, commit_interval=0.5)
    lines, expected, inputs = bank()
    create_topics(setup.config)
    one = start_worker(setup, "one")
    one.wait_for_log("assigned partitions [0, 1, 2, 3]")
    two = start_worker(setup, "two")
    two.wait_for_log("assigned partitions [")
    one.wait_for_log("assigned partitions [", count=2)
    produce_lines(setup.config, lines)
    wait_until(lambda: setup.committed() > inputs // 5, what="some progress")
    two.kill()
    three = start_worker(setup, "three")
    three.wait_for_log("assigned partitions [")
    wait_until(lambda: setup.committed() == inputs, timeout=90, what="every event")
    assert one.terminate() == 0
    assert three.terminate() == 0
    assert setup.alert_ids() == expected
    assert all_delivered_once(one, two, three) == expected


def _maturing_customer() -> tuple[list[bytes], list[bytes]]:
    """A deposit scheduled to mature on 11 March (its 7-day reminder due 4 March 09:30),
    and a card payment on 5 March that moves the task's event-time clock past it."""
    scheduled = {
        "type": "product",
        "event_id": "sched-t1",
        "occurred_at": "2026-03-01T10:00:00+08:00",
        "customer_id": "CT1",
        "account_id": "AC-T1",
        "product_id": "TD-T1",
        "product_kind": "time_deposit",
        "action": "maturity_scheduled",
        "maturity_date": "2026-03-11",
        "amount": "200000.00",
    }

    def payment(event_id: str, at: str) -> bytes:
        return json.dumps(
            {
                "type": "transaction",
                "event_id": event_id,
                "occurred_at": at,
                "customer_id": "CT1",
                "account_id": "AC-T1",
                "amount": "10.00",
                "direction": "debit",
                "kind": "card",
                "channel": "pos",
                "balance_after": "900000.00",
            }
        ).encode()

    before = [json.dumps(scheduled).encode(), payment("pay-t1", "2026-03-02T12:00:00+08:00")]
    return before, [payment("pay-t2", "2026-03-05T12:00:00+08:00")]


def test_a_timer_fired_in_a_failed_batch_fires_again(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    database: tuple[str, sa.Engine, str],
) -> None:
    """A maturity reminder whose timer fires in the batch the store fails on: the worker
    stops without committing, and the restarted worker fires the timer again and stores
    the reminder — replay's one alert, no other."""
    url, _, _ = database
    setup = make_setup(store_url=url, commit_interval=0.2, max_task_idle=0.5)
    before, after = _maturing_customer()
    expected = replay_ids(before + after)
    assert len(expected) == 1
    create_topics(setup.config)
    produce_lines(setup.config, before)
    first = start_worker(setup, "first")
    wait_until(lambda: setup.committed() == len(before), what="the scheduling")
    assert setup.alert_ids() == set()
    store = sa.create_engine(url)
    with store.begin() as connection:
        connection.execute(sa.text("ALTER TABLE alerts RENAME TO alerts_away"))
    produce_lines(setup.config, after)
    assert first.process.wait(timeout=30) == 1
    first.handle.close()
    assert "not committing" in first.text()
    assert setup.committed() == len(before)
    with store.begin() as connection:
        connection.execute(sa.text("ALTER TABLE alerts_away RENAME TO alerts"))
    store.dispose()
    second = start_worker(setup, "second")
    wait_until(lambda: setup.committed() == len(before + after), what="the payment")
    assert second.terminate() == 0
    with AlertStore(url) as stored:
        assert [(a.alert_id, a.rule_id) for a in stored.alerts()] == [
            (*expected, "maturity-reminder")
        ]
    assert all_delivered_once(first, second) == expected
