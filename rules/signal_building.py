"""Building the newer blocks (history thresholds, overdue, calendar) and the helpers all use.

A mixin of the loader, the base of :class:`churnwatch.rules.building.BlockBuilding`: it
reports through ``self.problem`` so errors carry file, line, rule id and field like every
other load error.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from churnwatch.rules.blocks import Block
from churnwatch.rules.calendar import CalendarBlock, Occasion
from churnwatch.rules.durations import parse_duration
from churnwatch.rules.exceptions import ExpressionError
from churnwatch.rules.expressions import CompiledCondition, compile_condition
from churnwatch.rules.field_catalog import FieldCatalog
from churnwatch.rules.fields import numeric_fields
from churnwatch.rules.history import (
    MAX_VALUES,
    HistoryAggregate,
    HistoryThresholdBlock,
    parse_aggregate,
)
from churnwatch.rules.model import RuleSpec
from churnwatch.rules.overdue import OverdueBlock
from churnwatch.rules.yamlfile import ProblemReporting, YamlDocument

__all__ = ["DATE_FIELDS", "SignalBuilding"]

#: customer fields a calendar rule may take its yearly date from
DATE_FIELDS = frozenset({"birthday"})


class SignalBuilding(ProblemReporting):
    """Helpers every block builder uses, and the builders of the newer blocks."""

    zone: ZoneInfo

    def condition(
        self,
        doc: YamlDocument,
        keys: list[str | int],
        rule: RuleSpec,
        name: str,
        text: str,
        catalog: FieldCatalog,
        predicates: dict[str, str],
    ) -> CompiledCondition | None:
        try:
            return compile_condition(text, catalog, predicates)
        except ExpressionError as exc:
            self.problem(doc, keys, exc.message, rule.id, name, column_offset=exc.offset)
            return None

    def duration(
        self, doc: YamlDocument, keys: list[str | int], rule: RuleSpec, name: str, value: str | int
    ) -> int | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(doc, keys, str(exc), rule.id, name)
            return None

    def reader(
        self,
        doc: YamlDocument,
        keys: list[str | int],
        rule: RuleSpec,
        name: str,
        field_name: str,
        catalog: FieldCatalog,
    ) -> Callable[[Any], Any] | None:
        if field_name not in catalog.fields["event"]:
            self.problem(
                doc,
                keys,
                f"event field {field_name!r} does not exist on {' / '.join(rule.on)} events",
                rule.id,
                name,
            )
            return None
        if field_name in catalog.partial.get("event", ()):
            return lambda event: getattr(event, field_name, None)
        return operator.attrgetter(field_name)

    def share(
        self, doc: YamlDocument, keys: list[str | int], rule: RuleSpec, name: str, value: Decimal
    ) -> None:
        if not Decimal(0) < value <= Decimal(10):
            self.problem(
                doc, keys, f"a share is a number such as 0.7 (70%); got {value}", rule.id, name
            )

    def history_block(
        self,
        doc: YamlDocument,
        where: list[str | int],
        rule: RuleSpec,
        read: Callable[[Any], Any] | None,
        catalog: FieldCatalog,
    ) -> Block | None:
        """A threshold that also reads the customer's own history (rules/history.py)."""
        spec_t = rule.threshold
        assert spec_t is not None and spec_t.history is not None
        spec = spec_t.history
        keys: list[str | int] = [*where, "history"]
        over = self.duration(doc, [*keys, "over"], rule, "threshold.history.over", spec.over)
        if not spec.values or len(spec.values) > MAX_VALUES:
            self.problem(
                doc,
                [*keys, "values"],
                f"name 1 to {MAX_VALUES} aggregates, e.g. {{largest: max(amount), n: count}}",
                rule.id,
                "threshold.history.values",
            )
        aggregates: list[HistoryAggregate] = []
        readers: list[Callable[[Any], Any]] = []
        slots: dict[str, int] = {}
        numeric = numeric_fields(list(rule.on))
        for name, text in spec.values.items():
            at: list[str | int] = [*keys, "values", name]
            label = f"threshold.history.values.{name}"
            try:
                kind, field_name = parse_aggregate(text)
            except ValueError as exc:
                self.problem(doc, at, str(exc), rule.id, label)
                continue
            if field_name is not None and field_name not in slots:
                if field_name not in numeric:
                    self.problem(
                        doc,
                        at,
                        f"{kind}() needs a number field of {' / '.join(rule.on)} events "
                        f"({', '.join(sorted(numeric))}); got {field_name!r}",
                        rule.id,
                        label,
                    )
                    continue
                reader = self.reader(doc, at, rule, label, field_name, catalog)
                if reader is None:
                    continue
                slots[field_name] = len(readers)
                readers.append(reader)
            slot = None if field_name is None else slots[field_name]
            aggregates.append(HistoryAggregate(name, kind, field_name, slot))
        seen = FieldCatalog({"history": set(spec.values)})
        relative = None
        if spec.at_least is not None:
            at_least = spec.at_least
            label = "threshold.history.at_least"
            relative = self.condition(doc, [*keys, "at_least"], rule, label, at_least, seen, {})
        require = self.condition(
            doc, [*keys, "require"], rule, "threshold.history.require", spec.require, seen, {}
        )
        if (
            over is None
            or read is None
            or require is None
            or (spec.at_least is not None and relative is None)
            or len(aggregates) != len(spec.values)
        ):
            return None
        return HistoryThresholdBlock(
            spec_t.field,
            spec_t.at_least,
            read,
            over,
            tuple(aggregates),
            tuple(readers),
            relative,
            require,
        )

    def overdue_block(
        self, doc: YamlDocument, where: list[str | int], rule: RuleSpec
    ) -> Block | None:
        """A regular event overdue by more than a grace period (rules/overdue.py)."""
        spec = rule.overdue
        assert spec is not None
        found: dict[str, int | None] = {}
        for name in ("history", "median_gap_at_least", "median_gap_at_most", "grace"):
            value = self.duration(doc, [*where, name], rule, f"overdue.{name}", getattr(spec, name))
            if value is not None and value % 86400:
                label = f"overdue.{name}"
                self.problem(doc, [*where, name], "use whole days, e.g. '30d'", rule.id, label)
                value = None
            found[name] = value
        history, low, high, grace = found.values()
        if low is not None and high is not None and not 0 < low <= high:
            self.problem(
                doc,
                [*where, "median_gap_at_most"],
                "the median gap needs 0 < median_gap_at_least <= median_gap_at_most",
                rule.id,
                "overdue.median_gap_at_most",
            )
            return None
        if history is None or low is None or high is None or grace is None:
            return None
        hour, minute = (int(x) for x in spec.check_at.split(":"))
        check_at = dt.time(hour, minute)
        return OverdueBlock(history, spec.at_least, low, high, grace, check_at, self.zone)

    def calendar_block(
        self, doc: YamlDocument, keys: list[str | int], where: list[str | int], rule: RuleSpec
    ) -> Block | None:
        """Reminders before a customer's date or the pack's dates (rules/calendar.py)."""
        spec = rule.calendar
        assert spec is not None
        before = self.duration(doc, [*where, "before"], rule, "calendar.before", spec.before)
        if before is not None and before % 86400:
            self.problem(
                doc, [*where, "before"], "use whole days, e.g. '7d'", rule.id, "calendar.before"
            )
            before = None
        if list(rule.on) != ["customer"]:
            self.problem(
                doc, [*keys, "on"], "calendar works on customer events (on: [customer])",
                rule.id, "on",
            )  # fmt: skip
            return None
        if (spec.date_field is None) == (spec.dates is None):
            self.problem(
                doc, where, "give either date_field (e.g. birthday) or dates, not both",
                rule.id, "calendar",
            )  # fmt: skip
            return None
        if spec.date_field is not None and spec.date_field not in DATE_FIELDS:
            self.problem(
                doc,
                [*where, "date_field"],
                f"customer field {spec.date_field!r} is not a date; use "
                + ", ".join(sorted(DATE_FIELDS)),
                rule.id,
                "calendar.date_field",
            )
            return None
        if before is None:
            return None
        occasions = tuple(Occasion(name, day) for name, day in (spec.dates or {}).items())
        hour, minute = (int(x) for x in spec.at.split(":"))
        at = dt.time(hour, minute)
        return CalendarBlock(spec.date_field, occasions, before, at, self.zone)
