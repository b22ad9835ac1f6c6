"""A condition written into a step's code answers what the compiled condition answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contract_events import customer, event, product, transaction, write_rules

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.expressions import CompiledCondition, compile_condition
from churnwatch.rules.fields import compile_per_type
from churnwatch.rules.inlining import (
    NOT_CONSTANT,
    SharedMatches,
    constant_value,
    inline,
    inline_tree,
)
from churnwatch.rules.loader import field_catalog, load_rules
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import CustomerEvent, TransactionEvent

PREDICATES = {
    "internal": "event.counterparty.same_customer and event.counterparty.same_bank",
    "outflow": 'event.direction == "debit" and not internal',
}
#: conditions that touch every corner of the language's meaning of unknown
CONDITIONS = [
    'outflow and event.kind in ["transfer", "cash"] and event.amount >= 50000.00',
    "event.amount - event.balance_after > 100",
    "event.amount / (event.balance_after - event.balance_after) > 1",  # division by zero
    "event.amount * 2 + customer.aum >= 1000000",  # customer unknown: None arithmetic
    "-event.amount < -10 and event.counterparty.bank != null",
    'event.description in ["rent", "salary"] or event.currency not in ["USD"]',
    'customer.tier == "A" or customer.aum > 100 and not internal',
    'event.type == "transaction" and event.channel != "counter"',
    "event.counterparty.name == null",
]
EVENTS = [
    event(transaction()),
    event(transaction(amount="60000.00", description="rent", direction="credit")),
    event(transaction(amount="0.01", balance_after="0.00", kind="cash", channel="counter")),
    event(transaction(counterparty={"same_bank": True, "same_customer": True})),
    event(transaction(currency="USD", counterparty={"name": "X", "bank": "ICBC"})),
]


def profile(**overrides: Any) -> CustomerProfile:
    decoded = event(customer(**overrides))
    assert isinstance(decoded, CustomerEvent)
    return CustomerProfile.from_event(decoded, "A")


CUSTOMERS: list[CustomerProfile | None] = [None, profile(), profile(aum="50.00")]


def written(condition: CompiledCondition, tag: str = "t") -> CompiledCondition:
    """``condition`` as the step holds it: its inlined expression in a function of its own."""
    namespace: dict[str, object] = {"__builtins__": {}}
    expression = inline(condition, tag, namespace)
    assert expression is not None
    exec(f"def check(event, customer):\n    return {expression}", namespace)
    function: CompiledCondition = namespace["check"]  # type: ignore[assignment]
    return function


@pytest.mark.parametrize("text", CONDITIONS)
def test_an_inlined_condition_gives_what_calling_it_gives(text: str) -> None:
    """Same value (not only the same truth) for every event and customer, unknowns included."""
    for condition in compile_per_type(text, ["transaction"], PREDICATES).values():
        inlined = written(condition)
        for tx in EVENTS:
            for who in CUSTOMERS:
                assert inlined(tx, who) == condition(tx, who), (text, tx, who)


def test_every_shipped_condition_inlines_to_the_same_answers() -> None:
    """The shipped pack's matches, on each of their event types' sample events."""
    samples = {"transaction": EVENTS, "product": [event(product())], "customer": []}
    for rule in load_rules(SHIPPED_RULES).rules:
        for type_name, match in rule.match_by_type.items():
            inlined = written(match)
            for sample in samples.get(type_name, []):
                for who in CUSTOMERS:
                    assert inlined(sample, who) == match(sample, who), rule.id


def test_two_conditions_keep_their_own_constants_in_one_step() -> None:
    """Both read a constant named ``_k0`` when compiled; written side by side, each its own."""
    catalog = field_catalog(["transaction"])
    big = compile_condition("event.amount > 50000", catalog, {})
    small = compile_condition("event.amount > 1", catalog, {})
    namespace: dict[str, object] = {"__builtins__": {}}
    both = f"({inline(big, 'a', namespace)}, {inline(small, 'b', namespace)})"
    exec(f"def check(event, customer):\n    return {both}", namespace)
    check: Any = namespace["check"]
    assert check(event(transaction(amount="60000.00")), None) == (True, True)
    assert check(event(transaction(amount="10.00")), None) == (False, True)


def test_a_match_a_later_rule_repeats_is_asked_once() -> None:
    """Rules asking what an earlier rule's match asked (whole or as a part) read its
    answer from a local; another constant is another question; the answers stay the
    conditions' own."""
    catalog = field_catalog(["transaction"])
    texts = [
        'outflow and event.kind in ["transfer"]',
        'outflow and event.kind in ["transfer"]',
        'event.amount > 100 and (outflow and event.kind in ["transfer"])',
        'outflow and event.kind in ["cash"]',
        "event.amount > 100.0",
        "event.amount > 100",
    ]
    conditions = [compile_condition(text, catalog, PREDICATES) for text in texts]
    namespace: dict[str, object] = {"__builtins__": {}}
    shared = SharedMatches(namespace)
    trees = [
        inline_tree(condition, f"match{i}", namespace) for i, condition in enumerate(conditions)
    ]
    for index, tree in enumerate(trees):
        assert tree is not None
        shared.plan(index, tree)
    written = [shared.write(tree, index) for index, tree in enumerate(trees) if tree is not None]
    assert written[0].startswith("(shared0 := ")
    assert written[1] == "(shared0)"
    assert "shared0" in written[2]
    assert "shared" not in written[3]
    assert "shared" not in written[4]  # 100.0 is not 100: a Decimal's text keeps its exponent
    exec(f"def check(event, customer):\n    return ({', '.join(written)})", namespace)
    check: Any = namespace["check"]
    for tx in EVENTS:
        for who in CUSTOMERS:
            assert check(tx, who) == tuple(c(tx, who) for c in conditions), (tx, who)


def test_a_condition_compiled_elsewhere_is_called_not_written() -> None:
    """Only conditions rules/expressions.py compiled have an expression to write in."""
    namespace: dict[str, object] = {}
    assert inline(lambda event, customer: True, "t", namespace) is None
    assert namespace == {}
    assert constant_value(lambda event, customer: True) is NOT_CONSTANT


def test_a_condition_on_the_event_type_alone_is_answered_when_the_rules_load() -> None:
    """``event.type == "product"`` compiled for postings is false for every posting."""
    per_type = compile_per_type('event.type == "product"', ["transaction", "product"], PREDICATES)
    assert constant_value(per_type["transaction"]) is False
    assert constant_value(per_type["product"]) is True


@pytest.mark.parametrize(
    "text", ["event.amount > 5", "customer.tier == null", 'outflow or event.type == "product"']
)
def test_a_condition_that_reads_the_event_or_customer_is_not_constant(text: str) -> None:
    condition = compile_condition(text, field_catalog(["transaction"]), PREDICATES)
    assert constant_value(condition) is NOT_CONSTANT


def test_a_posting_step_calls_no_condition() -> None:
    """Every shipped condition asked of a posting is written into its step's code."""
    step = load_rules(SHIPPED_RULES).steps[TransactionEvent]
    called = [name for name in step.__code__.co_names if name.startswith(("match", "sees"))]
    assert called == []


def test_rules_that_can_never_match_a_type_leave_its_step_empty(tmp_path: Path) -> None:
    """A pack whose only posting rule's match is false for every posting still loads,
    and its posting step does nothing (the rule is not asked)."""
    write_rules(
        tmp_path,
        {
            "never.yaml": """\
                rules:
                  - id: never-on-postings
                    version: 1
                    title: Never on postings
                    description: Asks for a product on postings.
                    owner: compliance
                    severity: high
                    match: event.type == "product"
                    threshold:
                      at_least: 1.00
                    audience: [relationship_manager]
            """
        },
    )
    ruleset = load_rules(tmp_path)
    fired: list[Any] = []
    step = ruleset.steps[TransactionEvent]
    assert step(event(transaction()), None, 0, {}, fired, Engine(ruleset).thaw) is False
    assert fired == []
