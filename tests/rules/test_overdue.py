"""The overdue block: located load errors, a timer kept in the state, one alert per expectation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from contract_events import NOW, event, only_problem, transaction, write_rules

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.durations import micros
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState, OverdueState

SHANGHAI = dt.timezone(dt.timedelta(hours=8))

RULE = """
rules:
  - id: pay-stopped
    version: 1
    title: Payroll stopped
    description: d
    owner: compliance
    severity: medium
    match: event.direction == "credit" and event.kind == "payroll"
    overdue:
      history: 100d
      at_least: 3
      median_gap_at_least: 25d
      median_gap_at_most: 35d
      grace: 7d
      check_at: "09:00"
    audience: [relationship_manager]
"""


def rules_dir(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in RULE
    return write_rules(tmp_path / "rules", {"r.yaml": RULE.replace(old, new) if old else RULE})


class TestLocatedProblems:
    def test_gap_bounds_the_wrong_way_round(self, tmp_path: Path) -> None:
        """A lower bound above the upper one is refused at the upper bound's line."""
        problem = only_problem(rules_dir(tmp_path, "at_least: 25d", "at_least: 40d"))
        assert (problem.file, problem.line, problem.rule_id) == ("rules/r.yaml", 13, "pay-stopped")
        assert problem.field == "overdue.median_gap_at_most"

    def test_periods_are_whole_days(self, tmp_path: Path) -> None:
        """A grace of 36h is refused with an example of whole days."""
        problem = only_problem(rules_dir(tmp_path, "grace: 7d", "grace: 36h"))
        assert (problem.line, problem.field) == (14, "overdue.grace")
        assert "whole days" in problem.message

    def test_one_event_is_no_history(self, tmp_path: Path) -> None:
        """``at_least: 1`` is refused at its line: a gap needs two events."""
        problem = only_problem(rules_dir(tmp_path, "at_least: 3", "at_least: 1"))
        assert (problem.line, problem.field) == (11, "overdue.at_least")

    def test_a_misspelt_key_suggests_the_right_one(self, tmp_path: Path) -> None:
        """``grace_period`` suggests ``grace``."""
        problem = only_problem(rules_dir(tmp_path, "grace: 7d", "grace: 7d\n      grce: 1d"))
        assert "unknown key 'grce'" in problem.message and "'grace'" in problem.message


def payroll(n: int, when: dt.datetime, account: str = "AC1") -> dict[str, object]:
    return transaction(
        event_id=f"pay-{n}",
        occurred_at=when.isoformat(),
        account_id=account,
        direction="credit",
        kind="payroll",
        channel="batch",
        amount="18000.00",
    )


def three_payrolls(engine: Engine) -> CustomerState:
    state = CustomerState()
    for n, day in enumerate((dt.date(2026, 1, 1), dt.date(2026, 1, 31), dt.date(2026, 3, 2))):
        when = dt.datetime.combine(day, dt.time(8), SHANGHAI)
        outcome = engine.evaluate(event(payroll(n, when)), state, NOW)
        assert outcome.state is not None
        state = outcome.state
    return state


class TestTimer:
    def test_the_check_is_the_morning_after_the_grace_and_survives_a_restart(
        self, tmp_path: Path
    ) -> None:
        """The timer is in the state: encoded and decoded, it still fires once, at 09:00."""
        engine = Engine(load_rules(rules_dir(tmp_path)))
        state = decode_state(encode_state(three_payrolls(engine)))
        due = dt.datetime(2026, 4, 8, 9, 0, tzinfo=SHANGHAI)
        assert engine.next_due(state) == micros(due)
        early = engine.advance("C1", state, micros(due) - 1, NOW)
        assert early.alerts == []
        fired = engine.advance("C1", state, micros(due), NOW)
        assert [a.trigger_event_ids for a in fired.alerts] == [["pay-2", "expected:2026-04-01"]]
        assert fired.alerts[0].occurred_at == due
        assert fired.alerts[0].account_id == "AC1"
        assert engine.advance("C1", state, micros(due) + 10**12, NOW).alerts == []
        assert engine.next_due(state) is None

    def test_history_is_bounded_to_its_period(self, tmp_path: Path) -> None:
        """Years of monthly payroll keep only the credits of the last 100 days."""
        engine = Engine(load_rules(rules_dir(tmp_path)))
        state = CustomerState()
        start = dt.datetime(2024, 1, 5, 8, tzinfo=SHANGHAI)
        for n in range(36):
            outcome = engine.evaluate(
                event(payroll(n, start + dt.timedelta(days=30 * n))), state, NOW
            )
            assert outcome.state is not None
            state = outcome.state
        block = state.blocks["pay-stopped"]
        assert isinstance(block, OverdueState)
        assert [entry[1] for entry in block.seen] == ["pay-32", "pay-33", "pay-34", "pay-35"]
