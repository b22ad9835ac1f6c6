"""``churnwatch rules backtest``: exit codes, the text report and the HTML file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.rules import SHIPPED_RULES

CUSTOMER = {
    "type": "customer",
    "event_id": "cu-1",
    "occurred_at": "2026-03-01T08:00:00+08:00",
    "customer_id": "C1",
    "name": "A",
    "phone": "+8613800000001",
    "language": "zh-CN",
    "aum": "600000.00",
    "branch_id": "B1",
    "manager_id": "RM1",
    "sms_opt_in": True,
}


def _transfer(event_id: str, day: int, amount: str) -> dict[str, object]:
    return {
        "type": "transaction",
        "event_id": event_id,
        "occurred_at": f"2026-03-0{day}T10:00:00+08:00",
        "account_id": "AC1",
        "customer_id": "C1",
        "direction": "debit",
        "amount": amount,
        "balance_after": "900000.00",
        "kind": "transfer",
        "channel": "mobile",
        "counterparty": {"bank": "Other Bank", "same_bank": False},
    }


#: one customer; transfers out of 40,000 (under the shipped threshold) and 60,000 (over)
EVENTS = b"".join(
    json.dumps(r).encode() + b"\n"
    for r in (CUSTOMER, _transfer("t-1", 2, "40000.00"), _transfer("t-2", 3, "60000.00"))
)

runner = CliRunner()


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(EVENTS)
    return path


def _pack(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(SHIPPED_RULES, target)
    rule_file = target / "transfers.yaml"
    rule_file.write_text(rule_file.read_text(encoding="utf-8").replace(old, new, 1), "utf-8")
    return target


def test_backtest_of_the_shipped_pack_exits_0_with_no_change(events: Path) -> None:
    """The shipped pack against the default baseline (itself) exits 0 and says no change."""
    result = runner.invoke(app, ["rules", "backtest", str(events), "--rules", str(SHIPPED_RULES)])
    assert result.exit_code == 0, result.output
    assert "Result: NO CHANGE in alerts." in result.output


def test_backtest_writes_the_text_and_the_html_report(events: Path, tmp_path: Path) -> None:
    """A lowered threshold is reported as added alerts in the text and in the HTML file."""
    new = _pack(tmp_path, "at_least: 50000.00", "at_least: 30000.00")
    report = tmp_path / "report.html"
    result = runner.invoke(
        app,
        ["rules", "backtest", str(events), "--rules", str(new), "--html", str(report)],
    )
    assert result.exit_code == 0, result.output
    assert "1 alert(s) added and 0 removed, in 1 rule(s): large-transfer-out." in result.output
    html = report.read_text(encoding="utf-8")
    assert "<svg" in html and 'id="rule-large-transfer-out"' in html


def test_invalid_new_rules_exit_2_with_the_problems(events: Path, tmp_path: Path) -> None:
    """A bad rule file stops the backtest with exit 2 and a problem naming file, rule, field."""
    bad = _pack(tmp_path, "severity: high", "severity: extreme")
    result = runner.invoke(app, ["rules", "backtest", str(events), "--rules", str(bad)])
    assert result.exit_code == 2
    assert "transfers.yaml:" in result.output
    assert "large-transfer-out" in result.output and "severity" in result.output


def test_invalid_baseline_exits_2(events: Path, tmp_path: Path) -> None:
    """A bad baseline is refused the same way as bad new rules."""
    bad = _pack(tmp_path, "severity: high", "severity: extreme")
    result = runner.invoke(
        app,
        ["rules", "backtest", str(events), "--rules", str(SHIPPED_RULES), "--baseline", str(bad)],
    )
    assert result.exit_code == 2
    assert "transfers.yaml:" in result.output


def test_missing_events_file_exits_2(tmp_path: Path) -> None:
    """An events file that does not exist is an error (exit 2), not an empty backtest."""
    result = runner.invoke(
        app, ["rules", "backtest", str(tmp_path / "nope.jsonl"), "--rules", str(SHIPPED_RULES)]
    )
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output


def test_events_can_come_from_stdin() -> None:
    """``-`` reads the events from standard input."""
    result = runner.invoke(
        app, ["rules", "backtest", "-", "--rules", str(SHIPPED_RULES)], input=EVENTS
    )
    assert result.exit_code == 0, result.output
    assert "Events: -: 3 lines, 3 events" in result.output
