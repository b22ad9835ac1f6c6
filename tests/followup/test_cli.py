"""The follow-up commands, through the real ``churnwatch`` typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.tokens import SECRET_ENV, LinkSigner
from churnwatch.schemas.store import AlertStore

from .conftest import MONDAY_10, add, customer, make_alert, staff_event


def test_report_escalate_link_outcome_and_staff_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff load, a back-office outcome, an escalation pass, a link and a CSV report."""
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    staff = tmp_path / "staff.jsonl"
    staff.write_text(
        json.dumps(
            {"type": "staff", "event_id": "st-1", "occurred_at": "2026-11-23T09:00:00+08:00",
             "staff_id": "S-BH1", "name": "黄芳", "phone": "+8613800000011",
             "role": "branch_head", "branch_id": "BR01", "active": True}
        ) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(app, ["followup", "staff-load", str(staff), "--db", url]).exit_code == 0
    with AlertStore(url) as alert_store:
        store = FollowUpStore(alert_store.engine)
        assert store.staff("S-BH1") is not None
        alert = make_alert(1, at=MONDAY_10)
        add(store, alert)
        store.open(alert, customer(), [("S-RM1", "relationship_manager")], MONDAY_10,
                   next_escalation_at=MONDAY_10)  # fmt: skip
    ran = runner.invoke(app, ["escalations", "run", "--once", "--channel", "console", "--db", url])
    assert ran.exit_code == 0, ran.output
    listed = runner.invoke(app, ["deliveries", "list", "--db", url])
    assert "S-BH1" in listed.stdout  # the escalation is a delivery in the outbox
    recorded = runner.invoke(
        app, ["followup", "outcome", alert.alert_id, "left", "--by", "S-EX1", "--db", url]
    )
    assert recorded.exit_code == 0, recorded.output
    monkeypatch.setenv(SECRET_ENV, "cli-secret-0123456789")
    linked = runner.invoke(app, ["followup", "link", alert.alert_id, "S-RM1"])
    token = linked.stdout.strip().rsplit("/", 1)[1]
    assert LinkSigner(b"cli-secret-0123456789").verify(token, MONDAY_10).staff_id == "S-RM1"
    reported = runner.invoke(app, ["report", "--since", "100000d", "--format", "csv", "--db", url])
    assert reported.exit_code == 0
    assert "rule,large-transfer-out,1," in reported.stdout


def test_outcome_takes_the_reference_staff_see_and_report_needs_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`followup outcome` accepts the six-character ref; `report` without a store fails."""
    from churnwatch.followup.tokens import short_ref

    url = f"sqlite:///{tmp_path / 'cw.db'}"
    with AlertStore(url) as alert_store:
        store = FollowUpStore(alert_store.engine)
        alert = make_alert(2, at=MONDAY_10)
        add(store, alert)
        store.open(alert, customer(), [("S-RM1", "relationship_manager")], MONDAY_10)
    runner = CliRunner()
    ref = short_ref(alert.alert_id)
    recorded = runner.invoke(
        app, ["followup", "outcome", ref, "retained", "--by", "S-RM1", "--db", url]
    )
    assert recorded.exit_code == 0, recorded.output
    with AlertStore(url) as alert_store:
        followup = FollowUpStore(alert_store.engine).get(alert.alert_id)
        assert followup is not None and followup.outcome == "retained"
    unknown = runner.invoke(
        app, ["followup", "outcome", "ffffff", "left", "--by", "S-RM1", "--db", url]
    )
    assert unknown.exit_code == 2 and "no alert with the reference ffffff" in unknown.output
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    reported = runner.invoke(app, ["report", "--since", "30d"])
    assert reported.exit_code == 2 and "no alert store at" in reported.output
    assert not (elsewhere / "churnwatch.db").exists()


def test_report_html_takes_a_language(tmp_path: Path) -> None:
    """`report --format html --lang` renders the page in that language, rules by their title
    in it and branches by name; without --lang it follows routing's staff_language (zh-CN)."""
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    with AlertStore(url) as alert_store:
        store = FollowUpStore(alert_store.engine)
        store.put_staff(
            staff_event("S-BH1", "黄芳", "+8613800000011", "branch_head", "BR01"), MONDAY_10
        )
        alert = make_alert(1, at=MONDAY_10)
        add(store, alert)
        store.open(alert, customer(), [("S-RM1", "relationship_manager")], MONDAY_10)
    runner = CliRunner()
    base = ["report", "--since", "100000d", "--format", "html", "--db", url]
    chinese = runner.invoke(app, base)
    assert chinese.exit_code == 0, chinese.output
    assert '<html lang="zh-CN"' in chinese.stdout and "大额资金流出" in chinese.stdout
    english = runner.invoke(app, [*base, "--lang", "en"])
    assert '<html lang="en"' in english.stdout and "Large outflow from the bank" in english.stdout
    refused = runner.invoke(app, [*base, "--lang", "fr"])
    assert refused.exit_code == 2 and "--lang 'fr'" in refused.output
