"""The ``churnwatch`` command: rules check, rules test and replay, as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from contract_events import encode, pack_copy, transaction
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.cli.replay import run_replay
from churnwatch.rules import SHIPPED_RULES
from churnwatch.schemas.store import AlertStore

runner = CliRunner()
PROBLEM_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): "
    r"rule '(?P<rule>[^']+)': field '(?P<field>[^']+)': .+$"
)


class TestRulesCheck:
    def test_the_shipped_pack_is_ok(self, pack_dir: Path) -> None:
        """``rules check`` on the shipped pack exits 0 and says OK."""
        result = runner.invoke(app, ["rules", "check", str(pack_dir)])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("OK: ")

    def test_a_broken_pack_fails_with_located_problems(self, tmp_path: Path) -> None:
        """A broken pack exits non-zero, one ``file:line:col: rule: field:`` line per problem."""
        directory = pack_copy(tmp_path)
        transfers = directory / "transfers.yaml"
        transfers.write_text(
            transfers.read_text()
            .replace("severity: high", "severity: urgent")
            .replace("    threshold:", "    treshold:")
        )
        payroll = directory / "payroll.yaml"
        payroll.write_text(payroll.read_text().replace("within: 72h", "within: 72 hours"))
        result = runner.invoke(app, ["rules", "check", str(directory)])
        assert result.exit_code != 0
        lines = [line for line in result.stderr.splitlines() if PROBLEM_LINE.match(line)]
        found = {
            (m["file"], m["rule"], m["field"])
            for m in (PROBLEM_LINE.match(line) for line in lines)
            if m is not None
        }
        assert found == {
            ("pack/transfers.yaml", "large-transfer-out", "severity"),
            ("pack/transfers.yaml", "large-transfer-out", "treshold"),
            ("pack/payroll.yaml", "payroll-moved-out", "follow_up.within"),
        }
        assert "3 problem(s); the rule set was not accepted" in result.stderr


class TestRulesTest:
    def test_the_shipped_pack_passes(self, pack_dir: Path) -> None:
        """``rules test`` on the shipped pack exits 0 with no failing case."""
        result = runner.invoke(app, ["rules", "test", str(pack_dir)])
        assert result.exit_code == 0, result.output
        assert " 0 failed" in result.stdout

    def test_a_failing_case_exits_non_zero(self, tmp_path: Path) -> None:
        """A case whose expectation no longer holds makes ``rules test`` exit non-zero."""
        directory = pack_copy(tmp_path)
        transfers = directory / "transfers.yaml"
        transfers.write_text(
            transfers.read_text().replace("at_least: 50000.00", "at_least: 50000.01")
        )
        result = runner.invoke(app, ["rules", "test", str(directory)])
        assert result.exit_code == 1
        assert "FAIL  pack/transfers.test.yaml:" in result.stdout
        assert "exactly 50,000.00 to another bank alerts" in result.stdout

    def test_broken_rules_exit_non_zero(self, tmp_path: Path) -> None:
        """``rules test`` on rules that do not load exits non-zero with the problems."""
        directory = pack_copy(tmp_path)
        transfers = directory / "transfers.yaml"
        transfers.write_text(transfers.read_text().replace("severity: high", "severity: urgent"))
        result = runner.invoke(app, ["rules", "test", str(directory)])
        assert result.exit_code == 1
        assert "pack/transfers.yaml:" in result.stderr


class TestReplayCommand:
    def test_max_amount_sets_the_largest_amount_accepted(
        self, tmp_path: Path, sqlite_url: str
    ) -> None:
        """``--max-amount`` lowers the limit: a larger amount is an ``amount_too_large`` letter."""
        events = tmp_path / "events.jsonl"
        events.write_bytes(encode(transaction(event_id="e1", amount="80000.00")) + b"\n")
        letters = tmp_path / "dead.jsonl"
        args = ["replay", str(events), "--db", sqlite_url, "--dead-letters-out", str(letters)]
        result = runner.invoke(app, [*args, "--max-amount", "50000"])
        assert result.exit_code == 0, result.output
        (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
        assert letter["code"] == "amount_too_large"
        assert runner.invoke(app, args).exit_code == 0
        assert letters.read_text() == ""

    def test_an_event_dated_past_max_ahead_of_now_is_a_dead_letter(
        self, tmp_path: Path, sqlite_url: str
    ) -> None:
        """A replay's present is the wall clock at its start: an event dated 2090 is an
        ``in_the_future`` letter; ``--max-ahead`` says how far ahead is still taken."""
        events = tmp_path / "events.jsonl"
        late = transaction(
            event_id="e2090", amount="80000.00", occurred_at="2090-01-01T09:00:00+08:00"
        )
        events.write_bytes(encode(late) + b"\n")
        letters = tmp_path / "dead.jsonl"
        args = ["replay", str(events), "--db", sqlite_url, "--dead-letters-out", str(letters)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
        assert letter["code"] == "in_the_future"
        assert "after the wall clock at the replay's start" in letter["reason"]
        assert runner.invoke(app, [*args, "--max-ahead", "36500d"]).exit_code == 0
        assert letters.read_text() == ""
        refused = runner.invoke(app, [*args, "--max-ahead", "a year"])
        assert refused.exit_code == 2
        assert "'a year' is not a duration" in refused.stderr

    def test_the_demo_keeps_its_own_calendar(self, tmp_path: Path, sqlite_url: str) -> None:
        """``max_ahead=None`` (the demo's: a synthetic bank's dates are its own) takes
        an event of any date."""
        events = tmp_path / "events.jsonl"
        late = transaction(event_id="e2090", occurred_at="2090-01-01T09:00:00+08:00")
        events.write_bytes(encode(late) + b"\n")
        args = (str(events), SHIPPED_RULES, sqlite_url, None, None, [], False)
        summary = run_replay(*args, max_ahead=None)
        assert summary.dead_letters == {}
        assert run_replay(*args).dead_letters == {"in_the_future": 1}

    def test_replay_stores_alerts_and_writes_contract_lines(
        self, tmp_path: Path, sqlite_url: str
    ) -> None:
        """``replay --alerts-out`` stores the alerts and writes one contract JSON line each."""
        events = tmp_path / "events.jsonl"
        events.write_bytes(encode(transaction(event_id="e1", amount="80000.00")) + b"\n{broken\n")
        out = tmp_path / "out" / "alerts.jsonl"
        letters = tmp_path / "dead.jsonl"
        result = runner.invoke(
            app,
            [
                "replay",
                str(events),
                "--db",
                sqlite_url,
                "--alerts-out",
                str(out),
                "--dead-letters-out",
                str(letters),
            ],
        )
        assert result.exit_code == 0, result.output
        (alert,) = [json.loads(line) for line in out.read_text().splitlines()]
        assert alert["rule_id"] == "large-transfer-out"
        assert alert["trigger_event_ids"] == ["e1"]
        assert alert["facts"]["amount"] == "80000.00"
        assert {
            "alert_id",
            "rule_version",
            "severity",
            "customer_id",
            "account_id",
            "occurred_at",
            "detected_at",
            "recipients",
        } <= set(alert)
        (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
        assert letter["source"] == {"file": str(events), "line": 2}
        with AlertStore(sqlite_url) as store:
            assert store.alert_ids() == {alert["alert_id"]}

    def test_replay_with_broken_rules_exits_2(self, tmp_path: Path, sqlite_url: str) -> None:
        """A replay refuses to start on a rule set that does not load."""
        directory = pack_copy(tmp_path)
        transfers = directory / "transfers.yaml"
        transfers.write_text(transfers.read_text().replace("severity: high", "severity: urgent"))
        events = tmp_path / "events.jsonl"
        events.write_bytes(b"")
        result = runner.invoke(
            app, ["replay", str(events), "--rules", str(directory), "--db", sqlite_url]
        )
        assert result.exit_code == 2
        assert "field 'severity'" in result.stderr
