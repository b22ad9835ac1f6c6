"""The operator commands and the demo's console output."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import Rig, TwilioPeer, alert, twilio_env
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.exceptions import DeliveryFailed, Reason

runner = CliRunner()


def test_notifiers_list_shows_installed_and_configured() -> None:
    """Every built-in channel is listed; console is configured, twilio_sms is not."""
    result = runner.invoke(app, ["notifiers", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("console", "dingtalk_work", "email", "file", "twilio_sms", "webhook", "wecom_app"):
        assert name in result.output
    assert re.search(r"console\s+│\s+yes", result.output)
    assert re.search(r"twilio_sms\s+│\s+no", result.output)


def test_deliveries_list_and_retry(sqlite_url: str, directory: InMemoryDirectory) -> None:
    """A failed delivery is listed with its reason and made pending again by retry."""
    rig = Rig(sqlite_url)
    rig.recorders["twilio_sms"].fail_next(
        DeliveryFailed.permanent(Reason.OPTED_OUT, "Twilio error 21610")
    )
    rig.deliver([alert(rule_id="payroll-moved-out", audience=("customer",), facts={})], directory)
    rig.close()
    listed = runner.invoke(
        app,
        ["deliveries", "list", "--status", "failed", "--db", sqlite_url],
        env={"COLUMNS": "250"},
    )
    assert listed.exit_code == 0 and "21610" in listed.output and "****1234" in listed.output
    assert "+8613800001234" not in listed.output
    again = runner.invoke(app, ["deliveries", "retry", "1", "--db", sqlite_url])
    assert again.exit_code == 0 and "pending again" in again.output
    twice = runner.invoke(app, ["deliveries", "retry", "1", "--db", sqlite_url])
    assert twice.exit_code == 1


def test_demo_prints_every_audience_in_both_languages(tmp_path: Path) -> None:
    """The demo prints every audience's texts; customers in their language, staff in theirs."""
    result = runner.invoke(
        app, ["demo", "--dir", str(tmp_path), "--customers", "600", "--weeks", "4"]
    )
    assert result.exit_code == 0, result.output
    headers = re.findall(r"── to (\w+) \S+ .*?· (zh-CN|en) ·", result.output)
    audiences = {a for a, _ in headers}
    assert audiences == {"customer", "relationship_manager", "branch_head", "executive"}
    assert {lang for _, lang in headers} == {"zh-CN", "en"}
    assert ("customer", "en") in headers and ("relationship_manager", "zh-CN") in headers
    assert not re.search(r"\+86\d{11}", result.output)  # phone numbers are masked


def test_deliveries_hold_after_a_restore(sqlite_url: str, directory: InMemoryDirectory) -> None:
    """``deliveries hold`` marks failed what was due before the given time (it may have
    gone out before the store was restored) and leaves later ones pending."""
    rig = Rig(sqlite_url)
    rig.deliver([alert()], directory)  # the manager's message waits for group_wait (2m)
    rig.close()
    early = runner.invoke(
        app, ["deliveries", "hold", "--db", sqlite_url, "--due-before", "2026-03-02T10:01:00+08:00"]
    )
    assert early.exit_code == 0 and "held 0 deliveries" in early.output
    late = runner.invoke(
        app, ["deliveries", "hold", "--db", sqlite_url, "--due-before", "2026-03-02T10:05:00+08:00"]
    )
    assert late.exit_code == 0 and "held 1 deliveries" in late.output
    listed = runner.invoke(
        app,
        ["deliveries", "list", "--status", "failed", "--db", sqlite_url],
        env={"COLUMNS": "300"},
    )
    assert "held after a restore" in listed.output
    naive = runner.invoke(
        app, ["deliveries", "hold", "--db", sqlite_url, "--due-before", "2026-03-02T10:05:00"]
    )
    assert naive.exit_code == 2


def test_dispatch_sends_what_it_can_and_leaves_the_rest_pending(
    sqlite_url: str, directory: InMemoryDirectory, twilio_peer: TwilioPeer
) -> None:
    """With only Twilio configured, the customer SMS goes out; the manager's delivery, on a
    channel this dispatcher lacks, stays pending (with a warning) instead of failing."""
    rig = Rig(sqlite_url)
    both = alert(rule_id="payroll-moved-out", audience=("customer", "relationship_manager"))
    routed = rig.pipeline.router(both, directory)
    rig.store.add_alerts([routed])
    rig.pipeline.submit(routed, directory)
    staff_channel = next(r.channel for r in routed.recipients if r.audience != "customer")
    rig.close()
    result = runner.invoke(
        app, ["deliveries", "dispatch", "--db", sqlite_url], env=twilio_env(twilio_peer)
    )
    assert result.exit_code == 0, result.output
    assert f"channel {staff_channel} is not configured" in result.output
    assert len(twilio_peer.requests) == 1
    after = Rig(sqlite_url)
    rows = after.outbox.list()
    after.close()
    assert sorted((r.channel, r.status, r.attempts) for r in rows) == sorted(
        [("twilio_sms", "sent", 1), (staff_channel, "pending", 0)]
    )


def test_dispatch_without_any_configured_channel_is_refused(sqlite_url: str) -> None:
    """A dispatcher that could send nothing is a configuration mistake, said at once."""
    result = runner.invoke(app, ["deliveries", "dispatch", "--db", sqlite_url], env={})
    assert result.exit_code == 2
    assert "no channel of the routing is configured" in result.output
