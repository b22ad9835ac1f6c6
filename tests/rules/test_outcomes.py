"""Outcome definitions (``outcome:`` in the pack): located load errors, watches, bounds.

The derivation's edges on hand-computed events are pinned in the pack's own test file
(rules/pack/outcomes.test.yaml); these pin what a YAML test cannot: where a wrong
definition is reported, the stored state, and how many watches a customer may hold.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from contract_events import NOW, at, event, only_problem, transaction, write_rules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.outcomes import MAX_WATCHES
from churnwatch.rules.state import CustomerState

PREDICATES = """
predicates:
  outflow: event.direction == "debit" and not event.counterparty.same_bank
"""

RULE = """
rules:
  - id: big-out
    version: 1
    title: Big outflow
    description: d
    owner: compliance
    severity: high
    match: outflow
    threshold:
      field: amount
      at_least: 1000.00
    audience: [relationship_manager]
    outcome:
      within: 30d
      at_stake: amount
      kept: event.type == "transaction" and event.direction == "credit"
      retained_at_least: 0.5
      otherwise: left
"""


def rules_dir(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in RULE
    text = RULE.replace(old, new) if old else RULE
    return write_rules(tmp_path / "rules", {"p.yaml": PREDICATES, "r.yaml": text})


class TestLocatedProblems:
    def test_valid_definition_loads(self, tmp_path: Path) -> None:
        """The rule above loads with its outcome definition."""
        ruleset = load_rules(rules_dir(tmp_path))
        assert frozenset(ruleset.outcomes) == frozenset({"big-out"})

    def test_a_misspelt_field_in_kept_points_into_the_condition(self, tmp_path: Path) -> None:
        """An unknown event field in ``kept`` names the file, line, column and field."""
        problem = only_problem(rules_dir(tmp_path, "event.direction ==", "event.directon =="))
        assert (problem.file, problem.line) == ("rules/r.yaml", 16)
        assert problem.field == "outcome.kept" and problem.rule_id == "big-out"
        assert "did you mean 'event.direction'" in problem.message

    def test_at_stake_must_name_a_money_fact_of_the_rule(self, tmp_path: Path) -> None:
        """A threshold rule's alerts carry the field it reads; another name is refused."""
        problem = only_problem(rules_dir(tmp_path, "at_stake: amount", "at_stake: balance"))
        assert (problem.line, problem.field) == (15, "outcome.at_stake")
        assert "(amount)" in problem.message

    def test_after_needs_a_schedule_date(self, tmp_path: Path) -> None:
        """``after:`` names the date a schedule's alerts carry; this rule has none."""
        problem = only_problem(rules_dir(tmp_path, "within: 30d", "within: 30d\n      after: x"))
        assert problem.field == "outcome.after" and "no schedule" in problem.message

    def test_balance_back_to_needs_a_balance_rule(self, tmp_path: Path) -> None:
        """The recovered balance is read from a balance_fall rule's state; a threshold has none."""
        problem = only_problem(
            rules_dir(tmp_path, "otherwise: left", "otherwise: left\n      balance_back_to: 0.5")
        )
        assert problem.field == "outcome.balance_back_to"

    def test_a_watch_longer_than_half_a_year_is_refused(self, tmp_path: Path) -> None:
        """State stays bounded: a definition cannot watch a customer for a year."""
        problem = only_problem(rules_dir(tmp_path, "within: 30d", "within: 365d"))
        assert (problem.line, problem.field) == (14, "outcome.within")

    def test_counting_events_takes_whole_numbers(self, tmp_path: Path) -> None:
        """Without ``at_stake`` the thresholds count events: 0.5 of an event is refused."""
        text = rules_dir(tmp_path, "      at_stake: amount\n", "")
        problem = only_problem(text)
        assert problem.field == "outcome.retained_at_least"
        assert "whole number" in problem.message

    def test_an_unknown_outcome_value_is_refused(self, tmp_path: Path) -> None:
        """``otherwise`` is retained, left or unknown; a typo is caught at load."""
        problem = only_problem(rules_dir(tmp_path, "otherwise: left", "otherwise: gone"))
        assert (problem.line, problem.field) == (18, "outcome.otherwise")
        assert "gone" in problem.message


class TestWatches:
    def test_an_alert_opens_a_watch_and_its_end_is_a_timer(self, tmp_path: Path) -> None:
        """The customer's next timer is the watch's end, 30 days after the alert."""
        engine = Engine(load_rules(rules_dir(tmp_path)))
        outcome = engine.evaluate(event(transaction(amount="2000.00")), None, NOW)
        assert outcome.state is not None and len(outcome.alerts) == 1
        (watch,) = outcome.state.watches
        assert watch.alert_id == outcome.alerts[0].alert_id
        assert watch.at_stake == Decimal("2000.00")
        assert outcome.next_due == watch.end == watch.start + 30 * 86400 * 1_000_000
        expired = engine.advance("C1", outcome.state, watch.end, NOW)
        assert expired.outcomes is not None
        assert [(o.outcome, str(o.share)) for o in expired.outcomes] == [("left", "0.0000")]
        assert expired.state is not None and expired.state.watches == []

    def test_a_customer_holds_a_bounded_number_of_watches(self, tmp_path: Path) -> None:
        """Past MAX_WATCHES the oldest closes as unknown: the state cannot grow without end."""
        engine = Engine(load_rules(rules_dir(tmp_path)))
        state: CustomerState | None = None
        closed = []
        for n in range(MAX_WATCHES + 3):
            step = engine.evaluate(
                event(transaction(event_id=f"o{n}", amount="2000.00", occurred_at=_at(n))),
                state,
                NOW,
            )
            state = step.state
            closed += step.outcomes or []
        assert state is not None and len(state.watches) == MAX_WATCHES
        assert [o.outcome for o in closed] == ["unknown"] * 3

    @settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(credits=st.lists(st.integers(min_value=1, max_value=3000), max_size=6))
    def test_retained_exactly_when_half_came_back(self, tmp_path: Path, credits: list[int]) -> None:
        """Whatever credits follow, the outcome is retained iff they reach half the amount
        at stake, and the watch survives the stored form unchanged until it closes."""
        engine = Engine(load_rules(rules_dir(tmp_path)))
        step = engine.evaluate(event(transaction(amount="4000.00")), None, NOW)
        state = step.state
        derived = []
        for n, amount in enumerate(credits, start=1):
            assert state is not None
            state = decode_state(encode_state(state))
            credit = transaction(
                event_id=f"in-{n}", direction="credit", amount=f"{amount}.00", occurred_at=_at(n)
            )
            step = engine.evaluate(event(credit), state, NOW)
            state = step.state
            derived += step.outcomes or []
        assert state is not None
        if not state.watches:
            assert len(derived) == 1
        else:
            derived += engine.advance("C1", state, state.watches[0].end, NOW).outcomes or []
        (result,) = derived
        running = 0
        for amount in credits:
            running += amount
            if running >= 2000:
                break
        assert (result.outcome == "retained") == (running >= 2000)
        if running < 2000:
            assert result.outcome == ("partly_retained" if running else "left")


def _at(n: int) -> str:
    return at(minutes=n)


@pytest.mark.parametrize("share", ["0.5", "2"])
def test_shares_above_zero_are_accepted(tmp_path: Path, share: str) -> None:
    """A share of the money at stake may be above one (twice the amount back)."""
    ruleset = load_rules(
        rules_dir(tmp_path, "retained_at_least: 0.5", f"retained_at_least: {share}")
    )
    assert "big-out" in ruleset.outcomes
