"""Outbox and dispatcher: retries, permanent failures, repeats, and a killed dispatcher."""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import Rig, alert

from churnwatch.notifiers.channels.file import FileConfig, FileNotifier
from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.dispatcher import Dispatcher
from churnwatch.notifiers.exceptions import DeliveryFailed, Reason
from churnwatch.notifiers.outbox import Outbox
from churnwatch.notifiers.retry import RetryPolicy
from churnwatch.notifiers.testing import FixedClock

RATE_LIMITED = DeliveryFailed.transient(Reason.RATE_LIMITED, "HTTP 429")


def customer_sms(**kwargs: object) -> object:
    return alert(rule_id="payroll-moved-out", audience=("customer",), facts={}, **kwargs)  # type: ignore[arg-type]


class TestRetry:
    def test_transient_failure_is_retried_with_backoff(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """A 429 leaves the row pending for later; the next try after the backoff succeeds."""
        rig.recorders["twilio_sms"].fail_next(RATE_LIMITED)
        rig.deliver([customer_sms()], directory)  # type: ignore[list-item]
        [row] = rig.outbox.list()
        assert (row.status, row.attempts, row.last_error) == (
            "pending",
            1,
            "rate_limited: HTTP 429",
        )
        wait = (row.due_at - rig.clock()).total_seconds()
        assert 5 <= wait <= 10  # first retry: between half and all of 10 s
        rig.clock.advance(seconds=10)
        rig.dispatcher.run_until_idle()
        [row] = rig.outbox.list()
        assert (row.status, row.attempts, row.provider_message_id) == ("sent", 2, "rec-1")

    def test_gives_up_after_max_attempts(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """After the last allowed attempt a transient failure is recorded as failed."""
        rig.recorders["twilio_sms"].fail_next(RATE_LIMITED, RATE_LIMITED, RATE_LIMITED)
        rig.deliver([customer_sms()], directory)  # type: ignore[list-item]
        for _ in range(3):
            rig.clock.advance(minutes=5)
            rig.dispatcher.run_until_idle()
        [row] = rig.outbox.list()
        assert row.status == "failed" and row.attempts == 3
        assert "gave up after 3 attempts" in (row.last_error or "")

    def test_permanent_failure_is_not_retried(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """An invalid number fails at once and is never tried again."""
        rig.recorders["twilio_sms"].fail_next(
            DeliveryFailed.permanent(Reason.INVALID_RECIPIENT, "Twilio error 21211")
        )
        rig.deliver([customer_sms()], directory)  # type: ignore[list-item]
        rig.clock.advance(hours=2)
        rig.dispatcher.run_until_idle()
        [row] = rig.outbox.list()
        assert (row.status, row.attempts) == ("failed", 1)
        assert row.last_error == "invalid_recipient: Twilio error 21211"

    def test_operator_retry_makes_a_failed_row_due(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """``deliveries retry`` puts a failed row back; the next dispatch sends it."""
        rig.recorders["twilio_sms"].fail_next(
            DeliveryFailed.permanent(Reason.MISCONFIGURED, "HTTP 404")
        )
        rig.deliver([customer_sms()], directory)  # type: ignore[list-item]
        [row] = rig.outbox.list()
        assert rig.outbox.retry(row.id, rig.clock())
        rig.dispatcher.run_until_idle()
        assert rig.outbox.list()[0].status == "sent"

    def test_backoff_grows_and_is_capped(self) -> None:
        """Delays double per attempt within [half, full] and never exceed max_delay."""
        policy = RetryPolicy(
            first=dt.timedelta(seconds=30), max_delay=dt.timedelta(minutes=5), rng=random.Random(1)
        )
        for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (9, 300)]:
            delay = policy.delay(attempt).total_seconds()
            assert ceiling / 2 <= delay <= ceiling
        assert policy.delay(1, retry_after=90).total_seconds() == 90


class TestOnce:
    def test_repeated_alert_never_sends_twice(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """The same alert handed to the pipeline twice gives one delivery and one SMS."""
        same = rig.pipeline.router(customer_sms(alert_id="A-same"), directory)  # type: ignore[arg-type]
        rig.store.add_alerts([same])
        rig.pipeline([same], directory)
        rig.pipeline([same], directory)
        rig.deliver([same], directory)  # stored already: the store hands nothing on
        rig.dispatcher.run_until_idle()
        assert len(rig.sms()) == 1
        assert len(rig.outbox.list()) == 1


class TestChannelsItHas:
    def test_a_channel_it_lacks_stays_pending_for_a_dispatcher_that_has_it(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """A dispatcher without the SMS channel leaves the customer SMS pending (not failed);
        a dispatcher with it sends the SMS later, once."""
        others = {name: n for name, n in rig.notifiers.items() if name != "twilio_sms"}
        without_sms = Dispatcher(rig.outbox, others, templates=rig.templates, clock=rig.clock)
        routed = rig.pipeline.router(customer_sms(), directory)  # type: ignore[arg-type]
        rig.store.add_alerts([routed])
        rig.pipeline.submit(routed, directory)  # written to the outbox, not yet dispatched
        report = without_sms.run_until_idle()
        assert (report.sent, report.failed) == (0, 0)
        assert [(row.channel, row.status, row.attempts) for row in rig.outbox.list()] == [
            ("twilio_sms", "pending", 0)
        ]
        rig.dispatcher.run_until_idle()
        assert len(rig.sms()) == 1
        assert [row.status for row in rig.outbox.list()] == ["sent"]


KILLED_DISPATCHER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from sqlalchemy import create_engine
    from churnwatch.notifiers.outbox import Outbox
    engine = create_engine(sys.argv[1])
    now = dt.datetime.fromisoformat(sys.argv[2])
    rows = Outbox(engine).claim(now, limit=10, lease=dt.timedelta(minutes=5))
    assert len(rows) == 1, rows
    os.kill(os.getpid(), signal.SIGKILL)  # dies between claim and send
    """
)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def test_killed_dispatcher_is_resumed_exactly_once(
    any_url: str, tmp_path: Path, directory: InMemoryDirectory
) -> None:
    """A dispatcher killed between claim and send leaves a leased row; after the lease a new
    dispatcher sends it once, and a third pass sends nothing more."""
    rig = Rig(any_url)
    rig.pipeline.dispatcher = None  # write only: the killed process is the first dispatcher
    rig.deliver([customer_sms(alert_id="A-crash")], directory)  # type: ignore[list-item]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_DISPATCHER, any_url, rig.clock().isoformat()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [row] = rig.outbox.list()
    assert (row.status, row.attempts) == ("sending", 1)

    sent_file = tmp_path / "sent.jsonl"
    clock = FixedClock(rig.clock())
    second = Dispatcher(
        Outbox(rig.store.engine),
        {"twilio_sms": FileNotifier(FileConfig(path=str(sent_file)))},
        clock=clock,
    )
    clock.advance(minutes=4)
    assert second.run_until_idle().sent == 0  # the dead dispatcher's lease still holds
    clock.advance(minutes=2)
    assert second.run_until_idle().sent == 1
    clock.advance(hours=1)
    assert second.run_until_idle().sent == 0
    assert len(sent_file.read_text().splitlines()) == 1
    [row] = rig.outbox.list()
    assert (row.status, row.attempts) == ("sent", 2)
    rig.close()


def test_stale_claim_cannot_overwrite_a_newer_one(
    sqlite_url: str, directory: InMemoryDirectory
) -> None:
    """A dispatcher whose lease was taken over cannot record its outcome over the new claim."""
    rig = Rig(sqlite_url)
    rig.pipeline.dispatcher = None
    rig.deliver([customer_sms()], directory)  # type: ignore[list-item]
    lease = dt.timedelta(minutes=5)
    [stale] = rig.outbox.claim(rig.clock(), limit=5, lease=lease)
    [fresh] = rig.outbox.claim(rig.clock() + lease, limit=5, lease=lease)
    assert rig.outbox.mark_sent([stale], rig.clock(), "late") == 0
    assert rig.outbox.mark_sent([fresh], rig.clock(), "ok") == 1
    assert rig.outbox.list()[0].provider_message_id == "ok"
    rig.close()


def test_postgres_claims_skip_locked_rows(postgres_url: str, directory: InMemoryDirectory) -> None:
    """Two dispatchers claiming at once on PostgreSQL get disjoint rows."""
    import threading

    rig = Rig(postgres_url)
    rig.pipeline.dispatcher = None
    rig.deliver([customer_sms(customer_id="C1", alert_id=f"A-pg-{i}") for i in range(1)], directory)  # type: ignore[misc]
    for i in range(2, 12):
        from helpers import customer

        directory.put_customer(customer(f"C{i}"))
        rig.deliver([customer_sms(customer_id=f"C{i}")], directory)  # type: ignore[list-item]
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        barrier.wait()
        rows = Outbox(rig.store.engine).claim(rig.clock(), limit=6, lease=dt.timedelta(minutes=5))
        results.append([r.id for r in rows])

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = results[0] + results[1]
    assert len(claimed) == len(set(claimed)) == 11
    rig.close()


def test_outcomes_and_reasons_reach_the_metrics(
    sqlite_url: str, directory: InMemoryDirectory
) -> None:
    """A retried then sent SMS counts one retry with its reason, one sent, two attempts."""
    from churnwatch.metrics import Metrics

    metrics = Metrics()
    rig = Rig(sqlite_url)
    rig.dispatcher.metrics = metrics
    rig.recorders["twilio_sms"].fail_next(RATE_LIMITED)
    rig.deliver([customer_sms()], directory)  # type: ignore[list-item]
    rig.clock.advance(minutes=1)
    rig.dispatcher.run_until_idle()
    value = metrics.registry.get_sample_value
    assert (
        value(
            "churnwatch_delivery_failures_total",
            {"channel": "twilio_sms", "reason": "rate_limited"},
        )
        == 1
    )
    assert value("churnwatch_deliveries_total", {"channel": "twilio_sms", "outcome": "retry"}) == 1
    assert value("churnwatch_deliveries_total", {"channel": "twilio_sms", "outcome": "sent"}) == 1
    assert value("churnwatch_delivery_attempts_total", {"channel": "twilio_sms"}) == 2
    rig.close()
