"""Each event type's rules as one generated function: the engine's inner loop, unrolled.

Why. An event of a type meets the same rules in the same order every time, and most
of them only ask their ``match`` and move on. A loop over a tuple of rule parts pays,
for each rule, the unpacking of its parts, tests whose answer is known when the rules
are loaded (does the block see unmatched events? does it keep a state? timers?) and
attribute reads of bound methods; on a posting that was a third of the engine's own
time. The function generated here has those answers written in: straight-line code per
rule that evaluates the rule's ``match`` and calls its block's ``on_event``, nothing
else. Its text is built only from this module's templates, numbered names (rule ids and
every callable are globals of the function, never spliced into the source) and the
conditions' expressions as rules/expressions.py compiled them from its whitelist, each
re-read as one expression (rules/inlining.py), so a rule file cannot put code into it.
A condition with one answer for every event of the type is not asked at all, and a
``match`` a later rule repeats is asked once (rules/inlining.py's SharedMatches).

The function appends ``(rule, firing)`` for each block that fired, in rule order, and
returns whether a timed block's next due time moved. Cooldowns, alerts and the score
stay in the engine: no block reads them, so doing them after every block has seen the
event gives the same alerts as doing them in between.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from churnwatch.rules.blocks import Firing, FollowUpBlock, TimedBlock
from churnwatch.rules.compiled import CompiledRule
from churnwatch.rules.exceptions import RuleFailure
from churnwatch.rules.expressions import CompiledCondition
from churnwatch.rules.inlining import NOT_CONSTANT, SharedMatches, constant_value, inline_tree

__all__ = ["Fired", "RuleStep", "Thaw", "compile_step"]

#: what one event's step found: each rule whose block fired, with its firing
Fired = list[tuple[CompiledRule, Firing]]
#: ``thaw(rule, found) -> block state``: the engine's way to a block state the step did
#: not find ready (none yet, one read lazily, one of another kind): ``Engine.thaw``
Thaw = Callable[[CompiledRule, Any], Any]
#: ``step(event, customer, at, blocks, fired, thaw) -> timers_touched``
RuleStep = Callable[[Any, Any, int, dict[str, Any], Fired, Thaw], bool]

NONE_TYPE = type(None)


def compile_step(rules: tuple[CompiledRule, ...], type_name: str, event_class: type) -> RuleStep:
    """The step of ``rules`` (enabled, in evaluation order) for events of ``event_class``."""
    name = event_class.__name__
    lines = [
        "def step(event, customer, at, blocks, fired, thaw):",
        "    touched = False",
        "    stage = None",
        "    try:",
    ]
    namespace: dict[str, object] = {
        "RuleFailure": RuleFailure,
        "Exception": Exception,
        "type": type,
        "__builtins__": {},
    }
    shared = SharedMatches(namespace)
    matches: list[str | bool | ast.expr] = []
    for index, rule in enumerate(rules):
        condition = rule.match_by_type.get(type_name, rule.match)
        match = _condition(condition, f"match{index}", namespace)
        if isinstance(match, ast.expr):
            shared.plan(index, match)
        matches.append(match)
    for index, rule in enumerate(rules):
        lines += _rule_lines(index, rule, matches[index], event_class, namespace, shared)
    if lines[-1] == "    try:":  # no rule, or none that can see an event of this type
        lines.append("        pass")
    lines += [
        "    except Exception as exc:  # the event fails, not the stream (rules/isolation.py)",
        "        raise RuleFailure(stage, exc) from exc",
        "    return touched",
    ]
    source = "\n".join(lines)
    exec(compile(source, f"<rules for {name}>", "exec"), namespace)  # built from templates
    step: RuleStep = namespace["step"]  # type: ignore[assignment]
    step.__qualname__ = f"step_{name}"
    return step


def _rule_lines(
    index: int,
    rule: CompiledRule,
    planned: str | bool | ast.expr,
    event_class: type,
    namespace: dict[str, object],
    shared: SharedMatches,
) -> list[str]:
    """One rule's straight-line code; its parts become globals ``<part><index>``.

    ``planned`` is the rule's ``match`` from :func:`_condition`; whatever text it gets,
    the code evaluates it first thing, on every path (SharedMatches relies on that).
    """
    i = index
    block = rule.block
    namespace[f"rule{i}"] = rule
    namespace[f"id{i}"] = rule.id
    namespace[f"on_event{i}"] = block.on_event
    match = shared.write(planned, i) if isinstance(planned, ast.expr) else planned
    unmatched = _sees_unmatched(rule, event_class)
    sees: str | bool | ast.expr = (
        unmatched if isinstance(unmatched, bool) else _condition(unmatched, f"sees{i}", namespace)
    )
    if isinstance(sees, ast.expr):
        sees = shared.write(sees)
    if match is False and sees is False:
        return []  # the rule never sees an event of this type
    lines = [f"        stage = id{i}"]
    body = "        "
    if match is True:
        lines.append("        matched = True")
    elif match is False:
        if sees is True:
            lines.append("        matched = False")
        else:
            lines += [f"        if {sees}:", "            matched = False"]
            body = "            "
    elif sees is False:
        lines.append(f"        if {match}:")
        lines.append("            matched = True")
        body = "            "
    elif sees is True:
        lines.append(f"        matched = True if {match} else False")
    else:
        lines += [
            f"        if {match}:",
            "            matched = True",
            f"        elif {sees}:",
            "            matched = False",
            "        else:",
            "            matched = None",
            "        if matched is not None:",
        ]
        body = "            "
    if rule.state_type is NONE_TYPE:
        lines.append(f"{body}state = None")
    else:
        namespace[f"state_type{i}"] = rule.state_type
        lines += [
            f"{body}state = blocks.get(id{i})",
            f"{body}if type(state) is not state_type{i}:",
            f"{body}    state = blocks[id{i}] = thaw(rule{i}, state)",
        ]
    next_due = _next_due_of(rule)
    call = f"firing = on_event{i}(event, customer, at, matched, state)"
    if next_due is None:
        lines.append(f"{body}{call}")
    else:
        namespace[f"next_due{i}"] = next_due
        lines += [
            f"{body}due = next_due{i}(state)",
            f"{body}{call}",
            f"{body}if next_due{i}(state) != due:",
            f"{body}    touched = True",
        ]
    lines += [
        f"{body}if firing is not None:",
        f"{body}    fired.append((rule{i}, firing))",
    ]
    return lines


def _condition(
    condition: CompiledCondition, name: str, namespace: dict[str, object]
) -> str | bool | ast.expr:
    """``condition`` in the step's code: its answer when that is one for every event,
    else its expression to write in (rules/inlining.py), else a call of it as ``name``."""
    value = constant_value(condition)
    if value is not NOT_CONSTANT:
        return bool(value)
    written = inline_tree(condition, name, namespace)
    if written is not None:
        return written
    namespace[name] = condition
    return f"{name}(event, customer)"


def _sees_unmatched(rule: CompiledRule, event_class: type) -> bool | CompiledCondition:
    """Whether the block sees an event its rule's ``match`` refused: never, always, or
    when this condition holds. A follow-up acts on an unmatched event only when it is a
    trigger, so the step asks the trigger condition before fetching or making the
    block's state (most postings are neither: one condition instead of a call)."""
    block = rule.block
    if not block.sees_unmatched:
        return False
    if isinstance(block, FollowUpBlock):
        trigger: CompiledCondition = block.trigger[event_class]
        return trigger
    return True


def _next_due_of(rule: CompiledRule) -> Callable[[object], int | None] | None:
    """A timed block's next due time as a function of its state (None: no timers)."""
    if not rule.timed:
        return None
    block: TimedBlock = rule.block  # type: ignore[assignment]  # timed: the loader checked
    due_field: str | None = getattr(block, "due_field", None)
    if due_field is not None:  # one field of the state: read in C, not by a method call
        return operator.attrgetter(due_field)
    return block.next_due  # type: ignore[return-value]
