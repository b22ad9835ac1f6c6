"""The shipped rule pack: it loads, and every YAML test case beside it passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import load_rules
from churnwatch.streams.replay.rule_tests import CaseResult, run_rule_tests

RESULTS = run_rule_tests(SHIPPED_RULES)


def test_pack_loads_with_the_contract_rule_ids() -> None:
    """The pack defines the default rule ids CONTRACT.md promises."""
    ids = {rule.id for rule in load_rules(SHIPPED_RULES).rules}
    assert {"large-transfer-out", "balance-sharp-fall", "payroll-moved-out"} <= ids


def test_every_rule_has_positive_and_negative_cases() -> None:
    """Each shipped rule is exercised by at least one alerting and one quiet case."""
    ruleset = load_rules(SHIPPED_RULES)
    text = "\n".join(p.read_text() for p in Path(SHIPPED_RULES).glob("*.test.yaml"))
    for rule in ruleset.rules:
        assert f"rule: {rule.id}" in text, f"no positive case for {rule.id}"
    assert "expect: []" in text


@pytest.mark.parametrize("case", RESULTS, ids=[f"{r.file}:{r.line}" for r in RESULTS])
def test_pack_case(case: CaseResult) -> None:
    """A YAML case of the shipped pack gives exactly the alerts it expects."""
    assert case.passed, "\n".join(case.failures)
