"""History aggregates: located load errors, the decision against a plain reading, bounded state."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from contract_events import NOW, T0, event, only_problem, transaction, write_rules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.engine import Engine
from churnwatch.rules.history import MAX_ENTRIES, parse_aggregate
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState, HistoryState

PREDICATES = """
predicates:
  outflow: event.direction == "debit" and not event.counterparty.same_bank
"""

RULE = """
rules:
  - id: big-for-them
    version: 1
    title: Big for this customer
    description: d
    owner: compliance
    severity: high
    match: outflow
    threshold:
      field: amount
      at_least: 1000.00
      history:
        over: 30d
        values:
          largest: max(amount)
          usual: avg(amount)
          moved: sum(amount)
          outflows: count
        at_least: history.largest * 2
        require: history.outflows >= 3
    audience: [relationship_manager]
"""


def rules_dir(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in RULE
    text = RULE.replace(old, new) if old else RULE
    return write_rules(tmp_path / "rules", {"p.yaml": PREDICATES, "r.yaml": text})


class TestAggregateForms:
    @pytest.mark.parametrize(
        ("text", "parsed"),
        [
            ("max(amount)", ("max", "amount")),
            ("sum( amount )", ("sum", "amount")),
            ("avg(balance_after)", ("avg", "balance_after")),
            ("count", ("count", None)),
            ("count()", ("count", None)),
        ],
    )
    def test_forms_allowed(self, text: str, parsed: tuple[str, str | None]) -> None:
        """The four aggregates parse to their kind and field."""
        assert parse_aggregate(text) == parsed

    @pytest.mark.parametrize("text", ["mean(amount)", "max", "max(amount", "amount", "max(a)+1"])
    def test_other_forms_refused(self, text: str) -> None:
        """Anything else is refused, naming the forms that are allowed."""
        with pytest.raises(ValueError, match=r"max\(field\), sum\(field\), avg\(field\) or count"):
            parse_aggregate(text)


class TestLocatedProblems:
    def test_valid_rule_loads(self, tmp_path: Path) -> None:
        """The rule above loads, its block looking back over its history period."""
        rule = load_rules(rules_dir(tmp_path)).rules[0]
        assert rule.block.horizon == 30 * 86400

    def test_unknown_aggregate_is_located_at_its_value(self, tmp_path: Path) -> None:
        """A misspelt aggregate points at its line and names the rule and value."""
        problem = only_problem(rules_dir(tmp_path, "max(amount)", "mean(amount)"))
        assert (problem.file, problem.line, problem.column) == ("rules/r.yaml", 15, 20)
        assert problem.field == "threshold.history.values.largest"
        assert problem.rule_id == "big-for-them"

    def test_misspelt_field_in_an_aggregate(self, tmp_path: Path) -> None:
        """A field that does not exist is refused with the number fields it could be."""
        problem = only_problem(rules_dir(tmp_path, "avg(amount)", "avg(amout)"))
        assert problem.line == 16
        assert "'amout'" in problem.message and "amount" in problem.message

    def test_a_text_field_cannot_be_summed(self, tmp_path: Path) -> None:
        """max(kind) is refused: aggregates work on numbers."""
        problem = only_problem(rules_dir(tmp_path, "sum(amount)", "sum(kind)"))
        assert problem.line == 17
        assert "needs a number field" in problem.message

    def test_misspelt_history_name_in_at_least_points_inside_the_expression(
        self, tmp_path: Path
    ) -> None:
        """``history.largst`` suggests the name meant, at its column."""
        problem = only_problem(rules_dir(tmp_path, "history.largest * 2", "history.largst * 2"))
        assert (problem.line, problem.column) == (19, 19)
        assert problem.field == "threshold.history.at_least"
        assert problem.message == "unknown field 'history.largst' (did you mean 'history.largest'?)"

    def test_require_reads_only_history(self, tmp_path: Path) -> None:
        """A customer field in ``require`` is refused: it reads history values and numbers."""
        problem = only_problem(rules_dir(tmp_path, "history.outflows >= 3", "customer.aum >= 3"))
        assert problem.field == "threshold.history.require"
        assert "conditions here read 'history.…'" in problem.message

    def test_unknown_key_in_history_suggests_the_right_one(self, tmp_path: Path) -> None:
        """A typo under ``history`` names the key it meant."""
        problem = only_problem(rules_dir(tmp_path, "        over: 30d", "        ovr: 30d"))
        assert "unknown key 'ovr'" in problem.message
        assert "did you mean 'over'" in problem.message

    def test_bad_period(self, tmp_path: Path) -> None:
        """A history period without a unit is refused at its line."""
        problem = only_problem(rules_dir(tmp_path, "over: 30d", "over: 30"))
        assert (problem.line, problem.field) == (13, "threshold.history.over")


def engine(tmp_path: Path) -> Engine:
    return Engine(load_rules(rules_dir(tmp_path)))


def outflow(n: int, amount: Decimal, days: float) -> dict[str, object]:
    when = (T0 + dt.timedelta(days=days)).isoformat()
    return transaction(event_id=f"tx-{n}", occurred_at=when, amount=str(amount))


def reference(history: list[tuple[float, Decimal]], days: float, amount: Decimal) -> bool:
    """The rule read plainly: past outflows within 30 days, at least three, 2x the largest."""
    past = [a for d, a in history if days - 30 <= d <= days]
    return amount >= 1000 and len(past) >= 3 and amount >= max(past, default=Decimal(0)) * 2


class TestDecision:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        st.lists(
            st.tuples(
                st.integers(min_value=1, max_value=200),
                st.decimals(min_value=100, max_value=9000, places=2),
            ),
            min_size=1,
            max_size=25,
        )
    )
    def test_fires_exactly_when_a_plain_reading_says_so(
        self, tmp_path: Path, steps: list[tuple[int, Decimal]]
    ) -> None:
        """In order, each outflow alerts iff it is 2x the largest of >= 3 in the 30 days before."""
        rules = engine(tmp_path)
        state = CustomerState()
        history: list[tuple[float, Decimal]] = []
        days = 0.0
        for n, (hours, amount) in enumerate(steps):
            days += hours / 4
            outcome = rules.evaluate(event(outflow(n, amount, days)), state, NOW)
            assert outcome.state is not None
            state = outcome.state
            assert bool(outcome.alerts) == reference(history, days, amount), (n, history)
            history.append((days, amount))

    def test_facts_carry_every_aggregate(self, tmp_path: Path) -> None:
        """The alert states the largest, the average, the sum and the count it judged by."""
        rules = engine(tmp_path)
        state = CustomerState()
        amounts = [Decimal("1000.00"), Decimal("2000.00"), Decimal("1500.50")]
        for n, amount in enumerate(amounts):
            state = rules.evaluate(event(outflow(n, amount, n)), state, NOW).state or state
        alerts = rules.evaluate(event(outflow(9, Decimal("4000.00"), 5)), state, NOW).alerts
        assert alerts[0].facts == {
            "amount": "4000.00",
            "threshold": "1000.00",
            "history_over": "30d",
            "history_events": 3,
            "history_at_least": "4000.00",
            "history_largest": "2000.00",
            "history_usual": "1500.17",
            "history_moved": "4500.50",
            "history_outflows": 3,
            "kind": "transfer",
            "counterparty_bank": "Other Bank",
            "own_account": False,
        }


class TestBoundedState:
    def test_entries_are_capped(self, tmp_path: Path) -> None:
        """However many outflows a customer makes in the period, at most MAX_ENTRIES are kept."""
        rules = engine(tmp_path)
        state = CustomerState()
        for n in range(MAX_ENTRIES + 50):
            state = rules.evaluate(event(outflow(n, Decimal(100), n / 1000)), state, NOW).state
            assert state is not None
        block = state.blocks["big-for-them"]
        assert isinstance(block, HistoryState)
        assert len(block.entries) == MAX_ENTRIES

    def test_old_entries_leave_and_state_round_trips(self, tmp_path: Path) -> None:
        """Pruning drops what is older than the period; the state survives encoding."""
        rules = engine(tmp_path)
        state = CustomerState()
        for n in range(5):
            state = rules.evaluate(event(outflow(n, Decimal(100), n * 20)), state, NOW).state
            assert state is not None
        rules.prune(state)
        block = state.blocks["big-for-them"]
        assert isinstance(block, HistoryState)
        assert len(block.entries) == 2  # days 60 and 80; 40 is more than 30 days + 2 before 80
        assert decode_state(encode_state(state)) == state
