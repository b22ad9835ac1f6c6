"""Turning a rule's ``outcome:`` into an :class:`~churnwatch.rules.outcomes.OutcomeRule`.

A mixin of the loader, like the block builders: every problem is reported through
``self.problem`` with file, line, rule id and field (``outcome.at_stake`` …), and a pack
with any of them is refused whole.
"""

from __future__ import annotations

from decimal import Decimal

from churnwatch.rules.durations import format_duration
from churnwatch.rules.exceptions import Problem
from churnwatch.rules.expressions import CompiledCondition
from churnwatch.rules.fields import compile_per_type, field_catalog
from churnwatch.rules.model import OutcomeSpec, RuleSpec
from churnwatch.rules.outcomes import MAX_WITHIN, OutcomeRule
from churnwatch.rules.signal_building import SignalBuilding
from churnwatch.rules.yamlfile import YamlDocument
from churnwatch.schemas.models import EVENT_TYPES

__all__ = ["OutcomeBuilding", "money_facts"]

#: an outcome's conditions read any of the customer's later events
ALL_TYPES = list(EVENT_TYPES)


def money_facts(rule: RuleSpec) -> list[str]:
    """The facts holding money that the rule's alerts carry: what ``at_stake`` may name."""
    if rule.threshold is not None:
        return [rule.threshold.field]
    if rule.follow_up is not None:
        spec = rule.follow_up
        return ["trigger_amount", f"{spec.aggregate}_{spec.field}"]
    if rule.balance_fall is not None:
        return ["peak_balance", "balance", "drop"]
    if rule.window is not None:
        return [f"{rule.window.aggregate}_{rule.window.field}"]
    if rule.schedule is not None:
        return ["amount"]
    if rule.overdue is not None:
        return ["last_amount"]
    if any(getattr(rule, name) is not None for name in ("absence", "change", "calendar")):
        return []
    return ["amount"]


class OutcomeBuilding(SignalBuilding):
    """Outcome definitions for the loader (see churnwatch.rules.loader._Loader)."""

    problems: list[Problem]

    def outcome(
        self,
        doc: YamlDocument,
        keys: list[str | int],
        rule: RuleSpec,
        predicates: dict[str, str],
    ) -> OutcomeRule | None:
        spec = rule.outcome
        assert spec is not None
        where: list[str | int] = [*keys, "outcome"]
        before = len(self.problems)
        within = self.duration(doc, [*where, "within"], rule, "outcome.within", spec.within)
        if within is not None and not 0 < within <= MAX_WITHIN:
            self.problem(
                doc,
                [*where, "within"],
                f"an outcome is watched for more than 0 and at most {format_duration(MAX_WITHIN)}",
                rule.id,
                "outcome.within",
            )
        catalog = field_catalog(ALL_TYPES)
        for name in ("kept", "lost"):
            text = getattr(spec, name)
            self.condition(doc, [*where, name], rule, f"outcome.{name}", text, catalog, predicates)
        self._facts(doc, where, rule, spec)
        self._thresholds(doc, where, rule, spec)
        if len(self.problems) > before or within is None:
            return None
        return OutcomeRule(
            rule.id,
            within,
            _per_class(spec.kept, predicates),
            _per_class(spec.lost, predicates),
            zone=self.zone,
            after=spec.after,
            at_stake=spec.at_stake,
            retained_at_least=spec.retained_at_least,
            left_at_least=spec.left_at_least,
            key=spec.key,
            balance_back_to=spec.balance_back_to,
            otherwise=spec.otherwise,
        )

    def _facts(
        self, doc: YamlDocument, where: list[str | int], rule: RuleSpec, spec: OutcomeSpec
    ) -> None:
        """``after``, ``at_stake``, ``key`` and ``balance_back_to`` name what the alert has."""
        if spec.after is not None:
            dated = rule.schedule.date_field if rule.schedule is not None else None
            if spec.after != dated:
                self.problem(
                    doc,
                    [*where, "after"],
                    "`after` names the date the rule's alerts carry: the schedule's "
                    f"`date_field`{f' ({dated})' if dated else ''}; this rule has "
                    + ("a different one" if dated else "no schedule"),
                    rule.id,
                    "outcome.after",
                )
        if spec.at_stake is not None:
            known = money_facts(rule)
            if spec.at_stake not in known:
                offer = ", ".join(known) if known else "none: count events instead"
                self.problem(
                    doc,
                    [*where, "at_stake"],
                    f"`at_stake` names a money fact of this rule's alerts ({offer}); "
                    f"got {spec.at_stake!r}",
                    rule.id,
                    "outcome.at_stake",
                )
        if spec.key is not None and rule.schedule is None and "product" not in rule.on:
            self.problem(
                doc,
                [*where, "key"],
                "`key: product_id` needs alerts about a product (a rule on product events)",
                rule.id,
                "outcome.key",
            )
        if spec.balance_back_to is not None:
            if rule.balance_fall is None:
                self.problem(
                    doc,
                    [*where, "balance_back_to"],
                    "`balance_back_to` reads the balance a `balance_fall` rule keeps; "
                    "this rule has no balance_fall",
                    rule.id,
                    "outcome.balance_back_to",
                )
            else:
                self.share(
                    doc,
                    [*where, "balance_back_to"],
                    rule,
                    "outcome.balance_back_to",
                    spec.balance_back_to,
                )

    def _thresholds(
        self, doc: YamlDocument, where: list[str | int], rule: RuleSpec, spec: OutcomeSpec
    ) -> None:
        """Shares of the money at stake with ``at_stake``; whole numbers of events without."""
        for name in ("retained_at_least", "left_at_least"):
            value: Decimal = getattr(spec, name)
            if spec.at_stake is not None:
                self.share(doc, [*where, name], rule, f"outcome.{name}", value)
            elif value != value.to_integral_value() or value < 1:
                self.problem(
                    doc,
                    [*where, name],
                    f"without `at_stake`, `{name}` counts events: a whole number from 1; "
                    f"got {value}",
                    rule.id,
                    f"outcome.{name}",
                )


def _per_class(text: str, predicates: dict[str, str]) -> dict[type, CompiledCondition]:
    """The condition compiled once per event class; "false" compiles to nothing to check."""
    if text.strip() == "false":
        return {}
    compiled = compile_per_type(text, ALL_TYPES, predicates)
    return {EVENT_TYPES[name]: condition for name, condition in compiled.items()}
