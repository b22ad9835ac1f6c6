"""The calendar block: located load errors, and a reminder timer that survives a restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from contract_events import NOW, customer, event, only_problem, write_rules

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.durations import micros
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState

SHANGHAI = dt.timezone(dt.timedelta(hours=8))

RULE = """
rules:
  - id: birthday
    version: 1
    title: Birthday
    description: d
    owner: compliance
    severity: low
    on: [customer]
    match: customer.tier in ["A", "private"]
    calendar:
      date_field: birthday
      before: 3d
      at: "09:00"
    audience: [relationship_manager]
"""


def rules_dir(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in RULE
    return write_rules(tmp_path / "rules", {"r.yaml": RULE.replace(old, new) if old else RULE})


class TestLocatedProblems:
    def test_a_field_that_is_not_a_date(self, tmp_path: Path) -> None:
        """``date_field: aum`` is refused at its line, naming the date fields."""
        problem = only_problem(rules_dir(tmp_path, "date_field: birthday", "date_field: aum"))
        assert (problem.file, problem.line, problem.field) == (
            "rules/r.yaml",
            11,
            "calendar.date_field",
        )
        assert "birthday" in problem.message

    def test_both_a_field_and_dates(self, tmp_path: Path) -> None:
        """A calendar with a date field and a list of dates is refused: say which."""
        text = "date_field: birthday\n      dates: {mid-autumn: 2026-09-25}"
        problem = only_problem(rules_dir(tmp_path, "date_field: birthday", text))
        assert (problem.line, problem.field) == (11, "calendar")

    def test_a_date_that_is_not_one(self, tmp_path: Path) -> None:
        """A festival on 30 February is refused at its line, not a crash."""
        text = "dates: {spring: 2026-02-30}"
        problem = only_problem(rules_dir(tmp_path, "date_field: birthday", text))
        assert (problem.file, problem.line) == ("rules/r.yaml", 11)
        assert "'2026-02-30' is not a date" in problem.message

    def test_only_on_customer_events(self, tmp_path: Path) -> None:
        """A calendar rule on transactions is refused at ``on``."""
        problem = only_problem(rules_dir(tmp_path, "on: [customer]", "on: [transaction]"))
        assert (problem.line, problem.field) == (8, "on")

    def test_whole_days_ahead(self, tmp_path: Path) -> None:
        """``before: 36h`` is refused: reminders are whole days ahead."""
        problem = only_problem(rules_dir(tmp_path, "before: 3d", "before: 36h"))
        assert (problem.line, problem.field) == (12, "calendar.before")


def test_the_timer_survives_a_restart_and_reminds_once(tmp_path: Path) -> None:
    """Decoded from its bytes, the state still reminds at 09:00 three days ahead, once."""
    engine = Engine(load_rules(rules_dir(tmp_path)))
    record = customer(
        aum="800000.00", birthday="1975-12-01", occurred_at="2026-11-02T10:00:00+08:00"
    )
    outcome = engine.evaluate(event(record), CustomerState(), NOW)
    assert outcome.state is not None
    state = decode_state(encode_state(outcome.state))
    due = micros(dt.datetime(2026, 11, 28, 9, tzinfo=SHANGHAI))
    assert engine.next_due(state) == due
    fired = engine.advance("C1", state, due, NOW)
    assert [a.trigger_event_ids for a in fired.alerts] == [["calendar:birthday:2026-12-01"]]
    assert engine.advance("C1", state, due + 10**9, NOW).alerts == []
    assert engine.next_due(state) == micros(dt.datetime(2027, 11, 28, 9, tzinfo=SHANGHAI))
