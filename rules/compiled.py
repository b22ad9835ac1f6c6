"""A rule ready for the hot path: what the loader makes of one rule of a pack.

Its own module so that the rule set (rules/ruleset.py) and the steps generated from its
rules (rules/plans.py) can both name it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from churnwatch.rules.blocks import Block
from churnwatch.rules.expressions import CompiledCondition
from churnwatch.rules.model import RuleSpec
from churnwatch.rules.outcomes import OutcomeRule

__all__ = ["CompiledRule"]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready for the hot path: conditions compiled, durations in microseconds."""

    spec: RuleSpec
    file: str
    match: CompiledCondition
    block: Block
    cooldown: int
    types: frozenset[str]
    state_type: type
    timed: bool = False
    #: ``match`` compiled for each event type the rule is on
    match_by_type: dict[str, CompiledCondition] = field(default_factory=dict)
    #: how the rule's alerts' outcomes are derived (``outcome:``), if it says
    outcome: OutcomeRule | None = None

    @property
    def id(self) -> str:
        return self.spec.id
