"""A compiled rule set: immutable, validated, and laid out for the hot path.

The loader builds it; the engine reads it; a reload swaps a whole new one in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from churnwatch.rules.compiled import CompiledRule
from churnwatch.rules.outcomes import OutcomeRule
from churnwatch.rules.plans import RuleStep, compile_step
from churnwatch.rules.score import ScoreConfig
from churnwatch.rules.scoring import ScoreBlock
from churnwatch.rules.tiers import DEFAULT_TIERS, TierScale
from churnwatch.schemas.models import EVENT_TYPES

__all__ = ["CompiledRule", "RuleSet"]


@dataclass(frozen=True)
class RuleSet:
    """An immutable, validated set of rules; swapped whole on reload."""

    rules: tuple[CompiledRule, ...]
    predicates: dict[str, str]
    fingerprint: str
    source: str
    by_type: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    #: the same, keyed by event class: one dict lookup on the hot path
    by_class: dict[type, tuple[CompiledRule, ...]] = field(default_factory=dict)
    #: seconds of history the longest block needs
    horizon: int = 0
    #: the longest cooldown in microseconds
    longest_cooldown: int = 0
    #: enabled rules whose blocks keep timers
    timed_rules: tuple[CompiledRule, ...] = ()
    #: customer tiers, from the ``tiers`` section of routing.yaml beside the rules
    tiers: TierScale = DEFAULT_TIERS
    #: per event class, its rules as one generated function (rules/plans.py)
    steps: dict[type, RuleStep] = field(default_factory=dict)
    #: the pack's churn score (rules/score.py), if it defines one
    score: ScoreConfig | None = None
    #: enabled rules with a ``score`` block: fired by the score crossing their threshold
    score_rules: tuple[CompiledRule, ...] = ()
    #: the ``prune`` of each rule's block, by rule id, for blocks whose prune drops
    #: anything (a block says it never does with ``prunes = False``: no call per prune)
    pruners: dict[str, Callable[[Any, int], None]] = field(default_factory=dict)
    #: every rule's id: a block state of any other rule is a reload's leftover
    rule_ids: frozenset[str] = frozenset()
    #: every rule by its id
    by_id: dict[str, CompiledRule] = field(default_factory=dict)
    #: the outcome definition of each enabled rule that has one, by rule id: the rules
    #: whose alerts open watches (a watch's rule is looked up here for every event of
    #: its customer)
    outcomes: dict[str, OutcomeRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_type: dict[str, tuple[CompiledRule, ...]] = {}
        for type_name in EVENT_TYPES:
            by_type[type_name] = tuple(
                r for r in self.rules if r.spec.enabled and type_name in r.types
            )
        object.__setattr__(self, "by_type", by_type)
        by_class = {cls: by_type[name] for name, cls in EVENT_TYPES.items()}
        object.__setattr__(self, "by_class", by_class)
        object.__setattr__(self, "by_id", {r.id: r for r in self.rules})
        outcomes = {r.id: r.outcome for r in self.rules if r.outcome is not None and r.spec.enabled}
        object.__setattr__(self, "outcomes", outcomes)
        pruners = {r.id: r.block.prune for r in self.rules if getattr(r.block, "prunes", True)}
        object.__setattr__(self, "pruners", pruners)
        object.__setattr__(self, "rule_ids", frozenset(r.id for r in self.rules))
        steps = {cls: compile_step(by_type[name], name, cls) for name, cls in EVENT_TYPES.items()}
        object.__setattr__(self, "steps", steps)
        object.__setattr__(
            self, "timed_rules", tuple(r for r in self.rules if r.timed and r.spec.enabled)
        )
        object.__setattr__(
            self,
            "score_rules",
            tuple(r for r in self.rules if isinstance(r.block, ScoreBlock) and r.spec.enabled),
        )
        object.__setattr__(self, "horizon", max((r.block.horizon for r in self.rules), default=0))
        object.__setattr__(
            self, "longest_cooldown", max((r.cooldown for r in self.rules), default=0)
        )

    def get(self, rule_id: str) -> CompiledRule | None:
        return self.by_id.get(rule_id)
