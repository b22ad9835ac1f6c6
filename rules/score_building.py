"""Turning the pack's ``score:`` and the rules' ``score`` blocks into their compiled forms.

A mixin of the loader, like the block builders: every problem is reported through
``self.problem`` with the file and line (and the rule id for a rule's block), and a pack
with any of them is refused whole.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from churnwatch.rules.compiled import CompiledRule
from churnwatch.rules.durations import MICROS_PER_SECOND, format_duration, parse_duration
from churnwatch.rules.exceptions import Problem
from churnwatch.rules.model import RuleFileSpec, RuleSpec
from churnwatch.rules.score import UNITS, ScoreConfig, to_units
from churnwatch.rules.scoring import ScoreBlock
from churnwatch.rules.wrong_values import did_you_mean
from churnwatch.rules.yamlfile import ProblemReporting, YamlDocument

__all__ = ["MAX_BANDS", "MAX_HALF_LIFE", "MAX_POINTS", "ScoreBuilding"]

#: a weight, a threshold or a band is at most this many points
MAX_POINTS = Decimal(100_000)
#: the longest half-life: a year (a signal older than a few of them is worth nothing)
MAX_HALF_LIFE = 366 * 86400
MAX_BANDS = 10


class ScoreBuilding(ProblemReporting):
    """The churn score for the loader (see churnwatch.rules.loader._Loader)."""

    problems: list[Problem]
    positions: dict[int, int]
    unreadable: list[Path]

    if TYPE_CHECKING:

        def name(self, path: Path) -> str: ...

    def points_problem(self, value: Decimal, zero_allowed: bool = False) -> str | None:
        """Why ``value`` cannot be a number of points (None when it can)."""
        if not value.is_finite():
            return f"points are a finite number such as 30 or 12.5; got {value}"
        if value > MAX_POINTS or value < 0 or (value == 0 and not zero_allowed):
            low = "from 0" if zero_allowed else "above 0"
            return f"points are {low} to {MAX_POINTS}; got {value}"
        if value != value.quantize(Decimal("0.01")):
            return f"points have at most two decimals (such as 12.5 or 0.25); got {value}"
        return None

    def score_block(
        self, doc: YamlDocument, keys: list[str | int], rule: RuleSpec
    ) -> ScoreBlock | None:
        """A rule's ``score: {at_least: …}``; its ``match`` reads the customer only."""
        spec = rule.score
        assert spec is not None
        raw = doc.data["rules"][keys[1]] if isinstance(keys[1], int) else {}
        if isinstance(raw, dict) and "on" in raw:
            self.problem(
                doc,
                [*keys, "on"],
                "a score rule fires when the customer's churn score crosses its threshold, "
                "not on events: leave `on` out (its `match` may read customer fields)",
                rule.id,
                "on",
            )
        message = self.points_problem(spec.at_least)
        if message is not None:
            self.problem(doc, [*keys, "score", "at_least"], message, rule.id, "score.at_least")
            return None
        return ScoreBlock(to_units(spec.at_least))

    def score_config(
        self, parsed: list[tuple[YamlDocument, RuleFileSpec]], compiled: list[CompiledRule]
    ) -> ScoreConfig | None:
        """The pack's one ``score:``; every score rule needs it."""
        found: list[tuple[YamlDocument, RuleFileSpec]] = [
            (doc, spec) for doc, spec in parsed if spec.score is not None
        ]
        for doc, _ in found[1:]:
            self.problem(
                doc,
                ["score"],
                f"the churn score is defined once per pack (also in {self.name(found[0][0].path)})",
                field_name="score",
            )
        if not found:
            for rule in compiled:
                if isinstance(rule.block, ScoreBlock):
                    self._no_score(rule, parsed)
            return None
        doc, file_spec = found[0]
        spec = file_spec.score
        assert spec is not None
        before = len(self.problems)
        half_life = self._half_life(doc, spec.half_life)
        rules = {rule.id: rule for _, s in parsed for rule in s.rules}
        written = _written_ids(parsed)  # a rule refused for another reason is still named
        weights: dict[str, int] = {}
        for rule_id, weight in spec.weights.items():
            where: list[str | int] = ["score", "weights"]
            target = rules.get(rule_id)
            message = self.points_problem(weight, zero_allowed=True)
            if target is None and rule_id not in written and self.unreadable:
                continue  # it may be in a file YAML could not read (reported there)
            if target is None and rule_id not in written:
                message = f"no rule with id {rule_id!r}" + did_you_mean(rule_id, written)
            elif target is None:
                continue  # its own problem is reported at the rule
            elif target.score is not None:
                message = "a score rule cannot weigh in its own score"
            elif target.mode == "shadow":
                message = "a shadow rule is told to nobody: it cannot move the churn score"
            if message is not None:
                self.problem(doc, where, message, rule_id, f"score.weights.{rule_id}", key=rule_id)
            elif weight:
                weights[rule_id] = to_units(weight)
        bands = self._bands(doc, spec.bands)
        if len(self.problems) > before or half_life is None:
            return None
        return ScoreConfig(
            half_life * MICROS_PER_SECOND,
            weights,
            bands,
            format_duration(half_life),
            self.name(doc.path),
        )

    def _half_life(self, doc: YamlDocument, value: str | int) -> int | None:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(doc, ["score", "half_life"], str(exc), field_name="score.half_life")
            return None
        if not 0 < seconds <= MAX_HALF_LIFE:
            self.problem(
                doc,
                ["score", "half_life"],
                f"a half-life is more than 0 and at most {format_duration(MAX_HALF_LIFE)}",
                field_name="score.half_life",
            )
            return None
        return seconds

    def _bands(self, doc: YamlDocument, bands: list[Decimal]) -> tuple[int, ...]:
        """Lower bounds of the bands above the first: increasing points above 0."""
        where: list[str | int] = ["score", "bands"]
        if len(bands) > MAX_BANDS:
            self.problem(doc, where, f"at most {MAX_BANDS} bands", field_name="score.bands")
            return ()
        units: list[int] = []
        for index, value in enumerate(bands):
            message = self.points_problem(value)
            if message is None and units and to_units(value) <= units[-1]:
                message = f"bands go up: {value} is not above {Decimal(units[-1]) / UNITS}"
            if message is not None:
                self.problem(doc, [*where, index], message, field_name="score.bands")
                return ()
            units.append(to_units(value))
        return tuple(units)

    def _no_score(
        self, rule: CompiledRule, parsed: list[tuple[YamlDocument, RuleFileSpec]]
    ) -> None:
        for doc, spec in parsed:
            for written in spec.rules:
                if written.id == rule.id:
                    keys: list[str | int] = ["rules", self.positions[id(written)], "score"]
                    self.problem(
                        doc,
                        keys,
                        "this pack defines no churn score: add a `score:` with `half_life` "
                        "and `weights` to one rule file (e.g. score.yaml)",
                        rule.id,
                        "score",
                    )


def _written_ids(parsed: list[tuple[YamlDocument, RuleFileSpec]]) -> set[str]:
    """Every rule id written in the pack's rule files, valid rules or not."""
    ids: set[str] = set()
    for doc, _ in parsed:
        items = doc.data.get("rules") if isinstance(doc.data, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "id" in item:
                ids.add(str(item["id"]))
    return ids
