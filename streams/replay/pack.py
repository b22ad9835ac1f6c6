"""A rule pack loaded whole: the rules and the templates that speak for them, or nothing.

A template is part of the rule set: a rule whose message cannot be rendered is as
broken as a rule whose condition cannot be compiled, and finding out at send time means
a manager is silently not told. So ``churnwatch rules check``, the worker's start and
every hot reload load both, and a refused template refuses the whole load, listed with
the rule problems in the same run.

Each rule's messages are rendered for every audience it reaches and every language,
with the facts the rule really produces: those of the alerts its own test cases raise,
under strict undefined, so ``facts.amout`` is refused at load. A rule no test case
makes fire is rendered with sample facts in which every name exists (and is said so
in the docs); texts for SMS audiences must fit the routing file's ``max_segments``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnwatch.notifiers.exceptions import NotifierError, TemplateError
from churnwatch.notifiers.inhibit import check_against_rules
from churnwatch.notifiers.routing_file import Routing
from churnwatch.notifiers.setup import load_templates, routing_for
from churnwatch.notifiers.templates import TemplateBook
from churnwatch.rules.compiled import CompiledRule
from churnwatch.rules.exceptions import Problem, RuleSetError
from churnwatch.rules.loader import DEFAULT_TIMEZONE, RuleSet, load_rules
from churnwatch.schemas.models import Alert
from churnwatch.streams.replay.rule_tests import sample_alerts

__all__ = ["Pack", "load_pack"]

_LOCATED = re.compile(
    r"^(?P<file>.+?\.(?:j2|yaml|yml))(?::(?P<line>\d+))?(?::(?P<column>\d+))?: (?P<message>.*)$",
    re.S,
)
#: distinct fact sets rendered per rule message; more add time, not coverage
_SAMPLES_PER_TEMPLATE = 3


@dataclass(frozen=True)
class Pack:
    """A checked rule set and the templates checked with it."""

    ruleset: RuleSet
    templates: TemplateBook
    #: rules no test case makes fire: their texts were checked with sample facts only
    untested: tuple[str, ...] = ()


def load_pack(directory: Path | str, *, timezone: str = DEFAULT_TIMEZONE) -> Pack:
    """Load rules and templates of ``directory``; raise RuleSetError listing every problem."""
    root = Path(directory)
    problems: list[Problem] = []
    ruleset: RuleSet | None = None
    try:
        ruleset = load_rules(root, timezone=timezone)
    except RuleSetError as exc:
        problems.extend(exc.problems)
    templates: TemplateBook | None = None
    routing: Routing | None = None
    try:
        routing = routing_for(root)
        templates = load_templates(root, routing)
    except TemplateError as exc:
        problems.extend(_problem(root, text) for text in exc.problems)
    except NotifierError as exc:
        problems.append(_problem(root, str(exc)))
    if ruleset is not None and routing is not None and (root / "routing.yaml").is_file():
        problems.extend(_problem(root, text) for text in _inhibit_problems(ruleset, routing))
    untested: list[str] = []
    if ruleset is not None and templates is not None:
        samples = _facts_by_message(sample_alerts(root, ruleset))
        fired = {rule_id for rule_id, _ in samples}
        untested = [rule.id for rule in ruleset.rules if rule.id not in fired]
        for rule in ruleset.rules:
            for folder, audiences in _messages(rule):
                found = templates.check_rule(
                    folder, audiences, samples.get((rule.id, folder), []), rule.id
                )
                problems.extend(_problem(root, text, rule.id) for text in found)
    if problems or ruleset is None or templates is None:
        raise RuleSetError(_unique(problems))
    return Pack(ruleset, templates, tuple(untested))


def _messages(rule: CompiledRule) -> list[tuple[str, tuple[str, ...]]]:
    """The template folders a rule's alerts use, each with the audiences it reaches."""
    spec = rule.spec
    base = spec.template or spec.id
    if spec.schedule is not None:
        return [(step.template or base, tuple(step.audience)) for step in spec.schedule.steps]
    return [(base, tuple(spec.audience))]


def _inhibit_problems(ruleset: RuleSet, routing: Routing) -> list[str]:
    """The routing file's inhibit rules against the pack's rules (names, reach)."""
    in_force = [r for r in ruleset.rules if r.spec.enabled and r.spec.mode == "live"]
    live = {rule.id: rule.spec.severity for rule in in_force}
    texting = {
        rule.id: rule.spec.severity
        for rule in in_force
        if any("customer" in audiences for _, audiences in _messages(rule))
    }
    return check_against_rules(routing.inhibit, live, texting, routing.source)


def _facts_by_message(alerts: Sequence[Alert]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """A few distinct fact sets per (rule, template folder), from real alerts."""
    found: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for alert in alerts:
        key = (alert.rule_id, alert.template or alert.rule_id)
        seen = found.setdefault(key, [])
        if len(seen) < _SAMPLES_PER_TEMPLATE and all(set(s) != set(alert.facts) for s in seen):
            seen.append(dict(alert.facts))
    return found


def _problem(root: Path, text: str, rule_id: str | None = None) -> Problem:
    """A template or routing message as a Problem: file relative like the rule files'."""
    match = _LOCATED.match(text)
    if match is None:
        return Problem(str(root), 1, 1, text, rule_id)
    path = Path(match["file"])
    try:
        name = str(path.relative_to(root.parent))
    except ValueError:
        name = str(path)
    line, column = int(match["line"] or 1), int(match["column"] or 1)
    return Problem(name, line, column, match["message"], rule_id)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[str, int, str], Problem] = {}
    for problem in problems:
        seen.setdefault((problem.file, problem.line, problem.message), problem)
    return sorted(seen.values(), key=lambda p: (p.file, p.line, p.column))
