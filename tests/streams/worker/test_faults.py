"""The fault matrix: the worker on the real path (a broker, a PostgreSQL store,
``churnwatch worker`` subprocesses) through a store outage, an unexpected store error (on
a batch where a timer fired), a SIGTERM then a SIGKILL, and a worker killed in a group
while a third joins, each with the stream all on the topics before the worker starts (a
backlog) and with it arriving while the worker runs (live). Every case ends with exactly
replay's alert ids on the same generated stream, none handed to the sinks twice, and no
help from outside. The broker restarted is ``test_broker_restart.py`` (a broker of its
own, on storage that survives).

Kept lean: one broker per module, one generated bank and its replay per session
(``matrix.py``), each case's own topics, group and database; every fault strikes at a
gate (a chosen alert of replay's), not after a guessed delay.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from ..conftest import Setup, WorkerProcess, free_port, wait_until
from .matrix import MODES, Bank, Feed, Gate, Store, all_delivered_once, replay_profiles
from .test_loop import profiles
from .test_ops import status_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

StartWorker = Callable[[Setup, str], WorkerProcess]
MakeFeed = Callable[[str, Setup, Bank], Feed]
OUTAGE = 20.0  # seconds the store refuses every connection
SHUTDOWN = 10.0  # the workers' shutdown_timeout
ALL = "assigned partitions [0, 1, 2, 3]"


def finish(setup: Setup, feed: Feed, bank: Bank, *workers: WorkerProcess) -> None:
    """Wait for every event to be committed, stop the running workers, and check the
    store and the sinks against replay."""
    feed.join()
    wait_until(lambda: setup.committed() == bank.inputs, timeout=60, what="every event")
    for worker in workers:
        if worker.process.poll() is None:
            assert worker.terminate() == 0
    assert setup.alert_ids() == bank.expected
    assert all_delivered_once(*workers) == bank.expected


@pytest.mark.parametrize("mode", MODES)
def test_store_outage_is_retried_with_nothing_committed_and_nothing_lost(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    store: Store,
    bank: Bank,
    make_feed: MakeFeed,
    mode: str,
) -> None:
    """The store's connections killed and refused for 20 s while the worker stores a batch
    half-way through the stream: it stays up, reports not-ready, commits nothing until its
    writes succeed, then resumes by itself and ends with exactly replay's alerts."""
    port = free_port()
    setup = make_setup(store_url=store.url, metrics_port=port, max_task_idle=0.5)
    feed = make_feed(mode, setup, bank)
    gate = Gate(store, bank.alert_at(0.5))
    feed.before_start()
    worker = start_worker(setup, "outage")
    worker.wait_for_log(ALL, timeout=60)
    feed.arrive()
    gate.held()
    with store.refusing():
        worker.wait_for_log("cannot store", timeout=30)  # its profiles, alerts or outcomes
        gate.open()  # killed with every other connection: nothing of it stays
        held = setup.committed()
        assert held < bank.inputs
        deadline = time.monotonic() + OUTAGE
        while time.monotonic() < deadline:
            with pytest.raises(subprocess.TimeoutExpired):  # it must not exit
                worker.process.wait(timeout=1)
            assert status_of(port, "/readyz") == 503
            assert setup.committed() == held, "committed during the outage"
    wait_until(lambda: status_of(port, "/readyz") == 200, what="ready again")
    finish(setup, feed, bank, worker)
    assert "succeeded after" in worker.text()


@pytest.mark.parametrize("mode", MODES)
def test_an_unexpected_store_error_stops_the_worker_without_committing(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    store: Store,
    bank: Bank,
    make_feed: MakeFeed,
    mode: str,
) -> None:
    """A store error no retry can cure, on a batch half-way through the stream, stops the
    worker with that batch neither committed nor written as state; once the store takes
    it, the next start processes the batch again and nothing is skipped. The alert refused
    is one a timer fired in that batch: the timer fires again after the restart."""
    setup = make_setup(store_url=store.url, max_task_idle=0.5)
    feed = make_feed(mode, setup, bank)
    refused = bank.timer_alert_at(0.5).alert_id
    feed.before_start()
    with store.failing_on(refused):
        first = start_worker(setup, "first")
        first.wait_for_log(ALL, timeout=60)
        feed.arrive()
        assert first.process.wait(timeout=60) == 1
        first.handle.close()
        assert "not committing" in first.text()
        assert setup.committed() < bank.inputs
        assert refused not in setup.alert_ids()
    second = start_worker(setup, "second")
    finish(setup, feed, bank, first, second)


@pytest.mark.parametrize("mode", MODES)
def test_a_worker_stopped_mid_stream_restarts_without_loss_or_repeat(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    store: Store,
    bank: Bank,
    make_feed: MakeFeed,
    mode: str,
) -> None:
    """SIGTERM while the worker stores a batch a third of the way through the stream,
    then SIGKILL on the worker started after it, two thirds through: SIGTERM stops the
    worker within its shutdown_timeout with exit 0, that batch stored and committed; the
    worker killed restarts from the last checkpoint; the third finishes the stream, every
    alert stored and handed to the sinks once, and the customer profiles and products
    are replay's (the events read again after the kill change nothing)."""
    setup = make_setup(
        store_url=store.url, max_poll_records=200, max_task_idle=0.5, shutdown_timeout=SHUTDOWN
    )
    feed = make_feed(mode, setup, bank)
    term, kill = Gate(store, bank.alert_at(1 / 3)), Gate(store, bank.alert_at(2 / 3))
    feed.before_start()
    first = start_worker(setup, "first")
    first.wait_for_log(ALL, timeout=60)
    feed.arrive()
    assert term.held() == "first"
    started = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    first.wait_for_log("stopping: finishing the batch in hand")
    term.open()
    assert first.process.wait(timeout=SHUTDOWN) == 0
    assert time.monotonic() - started < SHUTDOWN
    first.handle.close()
    assert term.alert.alert_id in setup.alert_ids()
    assert 0 < setup.committed() < bank.inputs
    second = start_worker(setup, "second")
    assert kill.held() == "second"
    second.kill()
    kill.open()
    assert kill.alert.alert_id not in setup.alert_ids()
    third = start_worker(setup, "third")
    finish(setup, feed, bank, first, second, third)
    assert profiles(store.url) == replay_profiles(bank, store.url)


@pytest.mark.parametrize("mode", MODES)
def test_two_workers_one_killed_a_third_joining(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    store: Store,
    bank: Bank,
    make_feed: MakeFeed,
    mode: str,
) -> None:
    """Two workers share the stream; the one storing a batch half-way through is
    SIGKILLed and a third joins: the group ends with exactly replay's alerts, none handed
    to the sinks twice. (In a backlog the first worker may be held before the second has
    partitions: its rebalance then waits on the held batch, and the kill ends it.)"""
    setup = make_setup(store_url=store.url, max_poll_records=200, max_task_idle=0.5)
    feed = make_feed(mode, setup, bank)
    gate = Gate(store, bank.alert_at(0.6))
    feed.before_start()
    workers = {"one": start_worker(setup, "one")}
    if mode == "live":
        workers["one"].wait_for_log(ALL, timeout=60)
    workers["two"] = start_worker(setup, "two")
    if mode == "live":
        workers["two"].wait_for_log("assigned partitions [", timeout=60)
        workers["one"].wait_for_log("assigned partitions [", timeout=60, count=2)
    feed.arrive()
    workers[gate.held()].kill()
    gate.open()
    three = start_worker(setup, "three")
    three.wait_for_log("assigned partitions [", timeout=60)
    finish(setup, feed, bank, *workers.values(), three)
