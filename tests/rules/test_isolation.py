"""An event on which a rule raises is undone whole: the state is the one before it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from contract_events import NOW, at, customer, encode, engine_for, product, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnwatch.rules.codec import encode_state
from churnwatch.rules.durations import micros
from churnwatch.rules.engine import Engine, Status
from churnwatch.rules.exceptions import RuleFailure
from churnwatch.rules.isolation import Isolation, rule_error_reason
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.decode import DeadLetter, Limits, decode
from churnwatch.schemas.models import Event

#: an operator raised max_amount far beyond what the balance tracker's precision holds
WIDE = Limits(max_amount=Decimal(10) ** 40)
POISON_AMOUNT = "12345678901234567890123456789.00"  # 28 digits: past the balance's 64 bits
ENGINE = engine_for()  # holds no customer state: one for every example


def decoded(message: dict[str, Any]) -> tuple[Event, bytes]:
    raw = encode(message)
    result = decode(raw, limits=WIDE)
    assert not isinstance(result, DeadLetter), result
    return result, raw


def poison(number: int, customer_id: str, hours: float) -> dict[str, Any]:
    """A transfer out of a new account: the balance rule fires on 28 digits and raises."""
    return transaction(
        event_id=f"poison-{number}",
        account_id=f"AC-NEW-{number}",
        customer_id=customer_id,
        occurred_at=at(hours=hours),
        amount=POISON_AMOUNT,
    )


class TestOneEvent:
    def test_the_rule_and_the_exception_type_are_named(self) -> None:
        """The failure names the rule and the exception type; the reason has no customer data."""
        isolation = Isolation(engine_for())
        event, raw = decoded(poison(1, "C-SECRET", 1))
        outcome = isolation.evaluate("C-SECRET", event, raw, None, NOW, micros(event.occurred_at))
        assert outcome.status is Status.RULE_ERROR
        assert outcome.failure is not None
        assert outcome.failure.rule_id == "balance-sharp-fall"
        assert outcome.failure.error_type == "OverflowError"
        reason = rule_error_reason(outcome.failure)
        assert "balance-sharp-fall" in reason and "OverflowError" in reason
        assert "C-SECRET" not in reason and "12345678901234567890" not in reason
        assert outcome.state is None  # the customer had no state before it

    def test_the_engine_raises_a_rule_failure_from_the_original(self) -> None:
        """Called directly, the engine raises RuleFailure with the rule's exception as cause."""
        event, _ = decoded(poison(1, "C1", 1))
        with pytest.raises(RuleFailure) as caught:
            engine_for().evaluate(event, None, NOW)
        assert caught.value.__cause__ is not None

    def test_the_failed_event_is_not_remembered_as_seen(self) -> None:
        """After a failure the same event id is not a duplicate: nothing of it stayed."""
        isolation = Isolation(engine_for())
        first, first_raw = decoded(transaction(event_id="ok-1", amount="100.00"))
        state = isolation.evaluate("C1", first, first_raw, None, NOW, micros(first.occurred_at))
        before = encode_state(state.state) if state.state is not None else b""
        bad, raw = decoded(poison(1, "C1", 30))
        outcome = isolation.evaluate("C1", bad, raw, state.state, NOW, micros(bad.occurred_at))
        assert outcome.status is Status.RULE_ERROR
        assert outcome.state is not None
        assert encode_state(outcome.state) == before
        assert "poison-1" not in outcome.state.seen


money = st.integers(min_value=1, max_value=50_000_000).map(lambda c: f"{Decimal(c) / 100:.2f}")
step = st.one_of(
    st.tuples(
        st.just("transaction"),
        money,
        st.sampled_from(["transfer", "payroll", "card", "product"]),
        st.sampled_from(["debit", "credit"]),
    ),
    st.tuples(st.just("product"), st.sampled_from(["opened", "matured", "cancelled"])),
    st.tuples(st.just("customer"), money),
    st.tuples(st.just("poison")),
    st.tuples(st.just("advance")),
)


def messages(steps: list[tuple[Any, ...]]) -> list[dict[str, Any] | float]:
    """Steps as messages six hours apart for two customers; ``advance`` is a float (hours)."""
    out: list[dict[str, Any] | float] = []
    for n, item in enumerate(steps):
        who, hours = f"C{n % 2}", 6.0 * n
        kind = item[0]
        if kind == "transaction":
            _, amount, tx_kind, direction = item
            out.append(
                transaction(
                    event_id=f"e{n}",
                    customer_id=who,
                    occurred_at=at(hours=hours),
                    amount=amount,
                    kind=tx_kind,
                    direction=direction,
                    balance_after=amount,
                )
            )
        elif kind == "product":
            out.append(
                product(
                    event_id=f"e{n}",
                    customer_id=who,
                    occurred_at=at(hours=hours),
                    action=item[1],
                    product_kind="fund_plan",
                    maturity_date="2026-04-01",
                )
            )
        elif kind == "customer":
            out.append(
                customer(
                    event_id=f"e{n}", customer_id=who, occurred_at=at(hours=hours), aum=item[1]
                )
            )
        elif kind == "poison":
            out.append(poison(n, who, hours))
        else:
            out.append(hours)
    return out


def run(
    engine: Engine, items: list[dict[str, Any] | float], isolated: bool
) -> tuple[dict[str, bytes], list[str]]:
    """Each customer's final state (bytes) and the alert ids, with or without isolation."""
    isolation = Isolation(engine, steps=3)  # small journals: snapshots and steps both used
    states: dict[str, CustomerState] = {}
    alerts: list[str] = []
    for item in items:
        if isinstance(item, float):
            until = micros(NOW.replace(year=2026, month=3, day=2)) + int(item * 3600e6)
            for customer_id in sorted(states):
                if isolated:
                    outcome = isolation.advance(customer_id, states[customer_id], until, NOW)
                else:
                    outcome = engine.advance(customer_id, states[customer_id], until, NOW)
                alerts.extend(alert.alert_id for alert in outcome.alerts)
            continue
        if str(item["event_id"]).startswith("poison") and not isolated:
            continue  # the reference run never saw the poison
        event, raw = decoded(item)
        who = item["customer_id"]
        at_micros = micros(event.occurred_at)
        if isolated:
            outcome = isolation.evaluate(who, event, raw, states.get(who), NOW, at_micros)
        else:
            outcome = engine.evaluate(event, states.get(who), NOW, at_micros)
        if outcome.status is Status.RULE_ERROR:
            assert str(item["event_id"]).startswith("poison")
        if outcome.state is None:
            states.pop(who, None)
        else:
            states[who] = outcome.state
        alerts.extend(alert.alert_id for alert in outcome.alerts)
    return {who: encode_state(state) for who, state in states.items()}, alerts


class TestProperties:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(step, min_size=1, max_size=30))
    def test_poison_changes_nothing(self, steps: list[tuple[Any, ...]]) -> None:
        """With poison events anywhere, states and alerts equal a run that never saw them."""
        items = messages(steps)
        assert run(ENGINE, items, isolated=True) == run(ENGINE, items, isolated=False)

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(step, min_size=1, max_size=30), st.integers(min_value=1, max_value=4))
    def test_a_small_budget_only_costs_snapshots(
        self, steps: list[tuple[Any, ...]], budget: int
    ) -> None:
        """Dropping every journal when the budget is spent never changes the outcome."""
        items = messages(steps)
        isolation = Isolation(ENGINE, budget=budget)
        states: dict[str, CustomerState] = {}
        for item in items:
            if isinstance(item, float):
                continue
            event, raw = decoded(item)
            who = str(item["customer_id"])
            outcome = isolation.evaluate(
                who, event, raw, states.get(who), NOW, micros(event.occurred_at)
            )
            if outcome.state is not None:
                states[who] = outcome.state
            assert isolation.held <= budget
        reference, _ = run(ENGINE, [i for i in items if isinstance(i, dict)], isolated=False)
        assert {who: encode_state(state) for who, state in states.items()} == reference


def test_past_the_budget_the_journals_started_longest_ago_go_first() -> None:
    """A journal costs one unit and each step another; past the budget the oldest
    journals are dropped until a quarter of it is free, and a journal started again
    counts as new: the customers active lately keep theirs (no fresh snapshot)."""
    isolation = Isolation(engine_for(), budget=8)
    states: dict[str, CustomerState | None] = {}

    def step(who: str, number: int) -> None:
        event, raw = decoded(
            transaction(event_id=f"{who}-{number}", customer_id=who, occurred_at=at(hours=number))
        )
        outcome = isolation.evaluate(
            who, event, raw, states.get(who), NOW, micros(event.occurred_at)
        )
        states[who] = outcome.state

    for number in range(3):
        step("A", number)
    for number in range(3):
        step("B", number)
    assert list(isolation.journals) == ["A", "B"] and isolation.held == 8
    step("C", 0)  # C's journal would pass the budget: A's, the oldest, goes
    assert list(isolation.journals) == ["B", "C"] and isolation.held == 6
    isolation.journals["B"].state = None  # B's state replaced: its journal starts again
    step("B", 3)
    assert list(isolation.journals) == ["C", "B"] and isolation.held == 4
