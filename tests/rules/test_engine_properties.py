"""Properties of the engine that must hold for any input, checked with hypothesis."""

from __future__ import annotations

import functools
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from contract_events import NOW, at, engine_for, event, transaction, write_rules
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from churnwatch.rules.engine import Engine
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.models import Alert

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PACK = engine_for().ruleset

cents = st.integers(min_value=1, max_value=20_000_000).map(lambda c: Decimal(c) / 100)


def run(engine: Engine, messages: list[dict[str, Any]]) -> list[Alert]:
    """Replay ``messages`` in order with one state per customer, as the drivers do."""
    states: dict[str, CustomerState] = {}
    alerts: list[Alert] = []
    for message in messages:
        decoded = event(message)
        outcome = engine.evaluate(decoded, states.get(message["customer_id"]), NOW)
        if outcome.state is not None:
            states[message["customer_id"]] = outcome.state
        alerts.extend(outcome.alerts)
    return alerts


@st.composite
def customer_story(draw: st.DrawFn, customer_id: str) -> list[dict[str, Any]]:
    """A few weeks of one customer: payroll, outflows big and small, card spending."""
    messages = []
    hours = 0.0
    balance = draw(st.integers(min_value=0, max_value=400_000))
    for n in range(draw(st.integers(min_value=1, max_value=8))):
        hours += draw(st.sampled_from([0.5, 3, 20, 50]))
        kind, direction = draw(
            st.sampled_from(
                [("payroll", "credit"), ("transfer", "debit"), ("card", "debit"), ("cash", "debit")]
            )
        )
        amount = draw(st.sampled_from(["900.00", "15000.00", "50000.00", "49999.99", "120000.00"]))
        balance += int(Decimal(amount)) * (1 if direction == "credit" else -1)
        messages.append(
            transaction(
                event_id=f"{customer_id}-{n}",
                customer_id=customer_id,
                account_id=f"{customer_id}-A{draw(st.integers(0, 1))}",
                occurred_at=at(hours=hours),
                kind=kind,
                direction=direction,
                amount=amount,
                balance_after=str(balance),
            )
        )
    return messages


@st.composite
def stories_and_interleaving(
    draw: st.DrawFn,
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    stories = [draw(customer_story(f"C{i}")) for i in range(draw(st.integers(2, 4)))]
    slots = draw(st.permutations([i for i, story in enumerate(stories) for _ in story]))
    cursors = [0] * len(stories)
    interleaved = []
    for i in slots:
        interleaved.append(stories[i][cursors[i]])
        cursors[i] += 1
    return stories, interleaved


def by_id(alerts: list[Alert]) -> dict[str, Alert]:
    return {a.alert_id: a for a in alerts}


class TestOrderOfCustomers:
    @FAST
    @given(stories_and_interleaving())
    def test_interleaving_customers_does_not_change_the_alerts(
        self, case: tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> None:
        """Any interleaving that keeps each customer's own order gives the same alerts."""
        stories, interleaved = case
        one_by_one = [m for story in stories for m in story]
        assert by_id(run(Engine(PACK), interleaved)) == by_id(run(Engine(PACK), one_by_one))


WINDOW_RULES = {
    "rules.yaml": """
        rules:
          - id: every-outflow
            version: 1
            title: Sum of outflows
            description: d
            owner: o
            severity: low
            match: event.direction == "debit"
            window: {over: 30d, at_least: 0.01}
            audience: [relationship_manager]
    """
}


@functools.cache
def window_engine() -> Engine:
    return engine_for(write_rules(Path(tempfile.mkdtemp()) / "rules", WINDOW_RULES))


class TestExactMoney:
    @FAST
    @given(
        st.lists(
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
            min_size=1,
            max_size=30,
        )
    )
    def test_sums_in_facts_are_exact(self, amounts: list[Decimal]) -> None:
        """The window sum in an alert's facts equals the exact sum of the decimal-string amounts."""
        messages = [
            transaction(event_id=f"e{n}", occurred_at=at(minutes=n), amount=str(amount))
            for n, amount in enumerate(amounts)
        ]
        alerts = run(window_engine(), messages)
        assert len(alerts) == len(amounts)
        assert Decimal(str(alerts[-1].facts["sum_amount"])) == sum(amounts, Decimal(0))
        assert alerts[-1].facts["events"] == len(amounts)


THRESHOLD_RULE = """
    rules:
      - id: at-least
        version: 1
        title: Threshold
        description: d
        owner: o
        severity: high
        match: event.direction == "debit"
        threshold: {{at_least: {at_least}}}
        audience: [relationship_manager]
"""


@functools.cache
def threshold_engine(at_least: str) -> Engine:
    directory = Path(tempfile.mkdtemp()) / "rules"
    return engine_for(write_rules(directory, {"r.yaml": THRESHOLD_RULE.format(at_least=at_least)}))


class TestThresholdAtTheCent:
    @FAST
    @given(
        st.sampled_from(["50000.00", "0.10", "1234567.89", "999.99"]),
        st.integers(min_value=-300, max_value=300),
    )
    def test_alerts_iff_amount_reaches_the_threshold(self, at_least: str, cents_off: int) -> None:
        """A threshold alerts exactly when the amount is at least the threshold, to the cent."""
        amount = Decimal(at_least) + Decimal(cents_off) / 100
        assume(amount > 0)
        message = transaction(amount=str(amount), event_id="e")
        fired = bool(run(threshold_engine(at_least), [message]))
        assert fired == (amount >= Decimal(at_least))

    @FAST
    @given(cents)
    def test_a_json_number_amount_is_judged_like_its_string(self, amount: Decimal) -> None:
        """An amount sent as a JSON number alerts exactly as the same decimal string does."""
        as_text = run(threshold_engine("50000.00"), [transaction(amount=str(amount))])
        as_number = run(threshold_engine("50000.00"), [transaction(amount=amount)])
        assert [a.alert_id for a in as_text] == [a.alert_id for a in as_number]
