"""The generated step of each event type is the rule loop it replaces, only unrolled."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import pytest
from contract_events import NOW, engine_for

from churnwatch.rules.blocks import FollowUpBlock
from churnwatch.rules.engine import EVALUATED, Engine
from churnwatch.rules.plans import Fired, Thaw
from churnwatch.rules.ruleset import CompiledRule, RuleSet
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.decode import DeadLetter, decode
from churnwatch.schemas.models import EVENT_TYPES, Event, StaffEvent
from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset


def loop_step(
    rules: tuple[CompiledRule, ...],
    type_name: str,
    event_class: type,
    event: Any,
    customer: Any,
    at: int,
    blocks: dict[str, Any],
    fired: Fired,
    thaw: Thaw,
) -> bool:
    """The rule loop written plainly: each rule in order, every question asked at run time."""
    touched = False
    for rule in rules:
        block: Any = rule.block
        if rule.match_by_type.get(type_name, rule.match)(event, customer):
            matched = True
        else:
            trigger = block.trigger[event_class] if isinstance(block, FollowUpBlock) else None
            if not block.sees_unmatched or (trigger and not trigger(event, customer)):
                continue
            matched = False
        state = None
        if rule.state_type is not type(None):
            state = blocks.get(rule.id)
            if type(state) is not rule.state_type:
                state = blocks[rule.id] = thaw(rule, state)
        due = block.next_due(state) if rule.timed else None
        firing = block.on_event(event, customer, at, matched, state)
        if rule.timed and block.next_due(state) != due:
            touched = True
        if firing is not None:
            fired.append((rule, firing))
    return touched


def with_loop_steps(ruleset: RuleSet) -> Engine:
    """An engine on the same rules whose steps are the plain loop above."""
    steps = {
        cls: functools.partial(loop_step, ruleset.by_type[name], name, cls)
        for name, cls in EVENT_TYPES.items()
    }
    copy = dataclasses.replace(ruleset)  # tiers, score and all, steps made anew
    object.__setattr__(copy, "steps", steps)  # frozen: the test swaps in the reference
    return Engine(copy)


@pytest.fixture(scope="module")
def bank_events(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """A generated bank's events: every type, every shipped rule's situations."""
    path: Path = tmp_path_factory.mktemp("bank") / "events.jsonl"
    write_dataset(DatasetSpec(customers=100, weeks=5), path)
    decoded = [decode(line) for line in path.read_bytes().splitlines()]
    return [e for e in decoded if not isinstance(e, DeadLetter | StaffEvent)]


def test_the_generated_steps_give_what_the_plain_loop_gives(bank_events: list[Event]) -> None:
    """Same alerts, same matched rules, same timers moved, event after event."""
    generated = engine_for()
    plain = with_loop_steps(generated.ruleset)
    states: dict[str, dict[str, CustomerState]] = {"generated": {}, "plain": {}}
    alerts = 0
    for event in bank_events:
        outcomes = []
        for name, engine in (("generated", generated), ("plain", plain)):
            outcome = engine.evaluate(event, states[name].get(event.customer_id), NOW)
            assert outcome.status is EVALUATED or outcome.status.value == "duplicate"
            if outcome.state is not None:
                states[name][event.customer_id] = outcome.state
            outcomes.append(outcome)
        mine, theirs = outcomes
        assert [a.alert_id for a in mine.alerts] == [a.alert_id for a in theirs.alerts]
        assert [a.facts for a in mine.alerts] == [a.facts for a in theirs.alerts]
        assert (mine.matched, mine.next_due) == (theirs.matched, theirs.next_due)
        alerts += len(mine.alerts)
    assert alerts > 20  # the bank makes the shipped rules fire


def test_a_rule_id_is_data_in_the_step_never_code() -> None:
    """Ids and callables are the step's globals: no text of a rule file is compiled."""
    ruleset = engine_for().ruleset
    for cls, step in ruleset.steps.items():
        constants = step.__code__.co_consts  # type: ignore[attr-defined]
        for rule in ruleset.by_class[cls]:
            assert rule.id not in constants
            assert rule.id in step.__globals__.values()  # type: ignore[attr-defined]


def test_an_event_type_without_rules_fires_nothing() -> None:
    """Staff records reach no rule: their step is empty and moves no timer."""
    step = engine_for().ruleset.steps[StaffEvent]
    fired: Fired = []
    assert step(None, None, 0, {}, fired, engine_for().thaw) is False
    assert fired == []
