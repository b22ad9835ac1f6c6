"""``churnwatch rules test``: YAML cases beside the rules, run through the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract_events import write_rules

from churnwatch.rules.exceptions import RuleSetError
from churnwatch.streams.replay.rule_tests import format_results, run_rule_tests

RULE = """
rules:
  - id: big-out
    version: 1
    title: Big outflow
    description: d
    owner: o
    severity: high
    match: event.direction == "debit"
    threshold: {at_least: 50000.00}
    audience: [relationship_manager]
"""

HEADER = """
rules: [big-out]
defaults:
  transaction: {customer_id: C1, account_id: AC1, direction: debit, kind: transfer,
                channel: mobile, balance_after: 100000.00}
tests:
"""


def directory_with(tmp_path: Path, cases: str) -> Path:
    return write_rules(tmp_path / "rules", {"big.yaml": RULE, "big.test.yaml": HEADER + cases})


class TestCases:
    def test_a_matching_expectation_passes(self, tmp_path: Path) -> None:
        """A case whose expected alert is raised, with its facts, passes."""
        (result,) = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: big
    events: [{occurred_at: "2026-03-02T10:00:00+08:00", amount: 50000.00}]
    expect: [{rule: big-out, customer: C1, trigger: [t1-e1], facts: {amount: "50000.00"}}]
""",
            )
        )
        assert result.passed, result.failures
        assert (result.file, result.name) == ("rules/big.test.yaml", "big")

    def test_a_missing_alert_fails_and_says_which(self, tmp_path: Path) -> None:
        """An expected alert that is not raised is a failure naming it."""
        (result,) = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: just under
    events: [{occurred_at: "2026-03-02T10:00:00+08:00", amount: 49999.99}]
    expect: [{rule: big-out}]
""",
            )
        )
        assert not result.passed
        assert result.failures == ["expected alert not raised: big-out"]

    def test_an_unexpected_alert_fails(self, tmp_path: Path) -> None:
        """An alert no case expected is a failure showing its trigger and facts."""
        (result,) = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: quiet expected
    events: [{event_id: x1, occurred_at: "2026-03-02T10:00:00+08:00", amount: 60000.00}]
    expect: []
""",
            )
        )
        (failure,) = result.failures
        assert failure.startswith("unexpected alert: big-out for C1 (trigger x1;")

    def test_wrong_facts_fail(self, tmp_path: Path) -> None:
        """An alert with other facts than expected does not satisfy the expectation."""
        (result,) = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: facts differ
    events: [{occurred_at: "2026-03-02T10:00:00+08:00", amount: 60000.00}]
    expect: [{rule: big-out, facts: {amount: "60000.01"}}]
""",
            )
        )
        assert len(result.failures) == 2

    def test_an_invalid_event_is_reported(self, tmp_path: Path) -> None:
        """An event the decoder refuses is a failure with the decoder's reason."""
        (result,) = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: bad event
    events: [{occurred_at: "2026-03-02T10:00:00", amount: 60000.00}]
    expect: []
""",
            )
        )
        (failure,) = result.failures
        assert failure.startswith("event 1 is not a valid transaction:")
        assert "occurred_at" in failure

    def test_an_unknown_rule_id_fails_the_case(self, tmp_path: Path) -> None:
        """A case scoped to a rule that does not exist fails, naming the id."""
        (result,) = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: typo
    rules: [big-outt]
    events: []
""",
            )
        )
        assert result.failures == ["unknown rule id(s): big-outt"]

    def test_repeat_unrolls_events(self, tmp_path: Path) -> None:
        """``repeat``/``every`` yields one event per step, each with its own id."""
        (result,) = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: three big ones
    events:
      - repeat: 3
        every: 1d
        event: {event_id: r, occurred_at: "2026-03-02T10:00:00+08:00", amount: 60000.00}
    expect:
      - {rule: big-out, trigger: [r-1]}
      - {rule: big-out, trigger: [r-2]}
      - {rule: big-out, trigger: [r-3]}
""",
            )
        )
        assert result.passed, result.failures

    def test_cases_carry_their_line(self, tmp_path: Path) -> None:
        """Each result points at the line where its case starts."""
        results = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: first
    events: []
  - name: second
    events: []
""",
            )
        )
        lines = [r.line for r in results]
        assert lines[1] - lines[0] == 2


class TestFiles:
    def test_a_malformed_test_file_is_one_failure(self, tmp_path: Path) -> None:
        """A test file that is not valid is reported as a failing ``(file)`` result."""
        directory = write_rules(tmp_path / "rules", {"big.yaml": RULE, "x.test.yaml": "tests: 5\n"})
        (result,) = run_rule_tests(directory)
        assert result.name == "(file)"
        assert "not a valid test file" in result.failures[0]

    def test_broken_rules_raise(self, tmp_path: Path) -> None:
        """Tests never run against a rule set that does not load."""
        directory = write_rules(
            tmp_path / "rules",
            {"big.yaml": RULE.replace("high", "urgent"), "t.test.yaml": "tests: []\n"},
        )
        with pytest.raises(RuleSetError):
            run_rule_tests(directory)

    def test_format_results_counts_and_lists_failures(self, tmp_path: Path) -> None:
        """The report has a PASS/FAIL line per case, the failures, and the totals."""
        results = run_rule_tests(
            directory_with(
                tmp_path,
                """
  - name: ok
    events: []
  - name: bad
    events: []
    expect: [{rule: big-out}]
""",
            )
        )
        text = format_results(results)
        assert "PASS  rules/big.test.yaml:" in text
        assert "FAIL  rules/big.test.yaml:" in text
        assert "        expected alert not raised: big-out" in text
        assert text.endswith("1 passed, 1 failed")
