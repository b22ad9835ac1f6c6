"""Turning a rule's building-block spec into a block, with every problem located.

A mixin of the loader: it reports through ``self.problem`` so errors carry file, line,
rule id and field like every other load error.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from churnwatch.rules.balance import BalanceFallBlock
from churnwatch.rules.blocks import (
    Block,
    FollowUpBlock,
    MatchBlock,
    ThresholdBlock,
    WindowBlock,
)
from churnwatch.rules.field_catalog import FieldCatalog
from churnwatch.rules.fields import CUSTOMER_FIELDS, compile_per_type
from churnwatch.rules.model import RuleSpec
from churnwatch.rules.signal_building import SignalBuilding
from churnwatch.rules.tiers import TierScale
from churnwatch.rules.timed_blocks import AbsenceBlock, ChangeBlock, ScheduleBlock, Step
from churnwatch.rules.yamlfile import YamlDocument
from churnwatch.schemas.models import EVENT_TYPES

__all__ = ["BlockBuilding"]


class BlockBuilding(SignalBuilding):
    """Block construction for the loader (see churnwatch.rules.loader._Loader)."""

    zone: ZoneInfo
    tiers: TierScale

    def block(
        self,
        doc: YamlDocument,
        keys: list[str | int],
        rule: RuleSpec,
        kind: str | None,
        catalog: FieldCatalog,
        predicates: dict[str, str],
    ) -> Block | None:
        where: list[str | int] = [*keys, kind] if kind else keys
        if kind is None:
            return MatchBlock()
        if kind == "threshold":
            spec_t = rule.threshold
            assert spec_t is not None
            read = self.reader(
                doc, [*where, "field"], rule, "threshold.field", spec_t.field, catalog
            )
            if spec_t.history is not None:
                return self.history_block(doc, where, rule, read, catalog)
            return ThresholdBlock(spec_t.field, spec_t.at_least, read) if read else None
        if kind == "window":
            spec_w = rule.window
            assert spec_w is not None
            over = self.duration(doc, [*where, "over"], rule, "window.over", spec_w.over)
            read = self.reader(doc, [*where, "field"], rule, "window.field", spec_w.field, catalog)
            if over is None or read is None:
                return None
            return WindowBlock(over, spec_w.aggregate, spec_w.field, spec_w.at_least, read)
        if kind in ("schedule", "absence", "change", "overdue", "calendar"):
            return self.timed_block(doc, keys, where, rule, kind, catalog, predicates)
        if kind == "balance_fall":
            spec_b = rule.balance_fall
            assert spec_b is not None
            if list(rule.on) != ["transaction"]:
                self.problem(
                    doc,
                    [*keys, "on"],
                    "balance_fall works on transaction events only",
                    rule.id,
                    "on",
                )
                return None
            over = self.duration(doc, [*where, "over"], rule, "balance_fall.over", spec_b.over)
            self.share(
                doc,
                [*where, "at_most_share_of_peak"],
                rule,
                "balance_fall.at_most_share_of_peak",
                spec_b.at_most_share_of_peak,
            )
            parks = self.condition(
                doc,
                [*where, "parked_when"],
                rule,
                "balance_fall.parked_when",
                spec_b.parked_when,
                catalog,
                predicates,
            )
            if over is None or parks is None:
                return None
            return BalanceFallBlock(over, spec_b.at_most_share_of_peak, spec_b.drop_at_least, parks)
        spec_f = rule.follow_up
        assert spec_f is not None
        within = self.duration(doc, [*where, "within"], rule, "follow_up.within", spec_f.within)
        trigger = self.condition(
            doc, [*where, "trigger"], rule, "follow_up.trigger", spec_f.trigger, catalog, predicates
        )
        read = self.reader(doc, [*where, "field"], rule, "follow_up.field", spec_f.field, catalog)
        read_trigger = self.reader(
            doc,
            [*where, "trigger_field"],
            rule,
            "follow_up.trigger_field",
            spec_f.trigger_field,
            catalog,
        )
        self.share(
            doc, [*where, "at_least_share"], rule, "follow_up.at_least_share", spec_f.at_least_share
        )
        if within is None or trigger is None or read is None or read_trigger is None:
            return None
        per_type = compile_per_type(spec_f.trigger, list(rule.on), predicates)
        return FollowUpBlock(
            {EVENT_TYPES[name]: condition for name, condition in per_type.items()},
            within,
            spec_f.at_least_share,
            spec_f.aggregate,
            spec_f.field,
            read,
            read_trigger,
        )

    def timed_block(
        self,
        doc: YamlDocument,
        keys: list[str | int],
        where: list[str | int],
        rule: RuleSpec,
        kind: str,
        catalog: FieldCatalog,
        predicates: dict[str, str],
    ) -> Block | None:
        if kind == "schedule":
            spec_s = rule.schedule
            assert spec_s is not None
            if spec_s.date_field not in catalog.fields["event"]:
                self.problem(
                    doc,
                    [*where, "date_field"],
                    f"event field {spec_s.date_field!r} "
                    f"does not exist on {' / '.join(rule.on)} events",
                    rule.id,
                    "schedule.date_field",
                )
            if spec_s.key not in catalog.fields["event"]:
                self.problem(
                    doc,
                    [*where, "key"],
                    f"event field {spec_s.key!r} does not exist on {' / '.join(rule.on)} events",
                    rule.id,
                    "schedule.key",
                )
            cancel = self.condition(
                doc,
                [*where, "cancel_when"],
                rule,
                "schedule.cancel_when",
                spec_s.cancel_when,
                catalog,
                predicates,
            )
            if not spec_s.steps:
                self.problem(
                    doc, where, "a schedule needs at least one step", rule.id, "schedule.steps"
                )
            steps = []
            names: set[str] = set()
            for index, step in enumerate(spec_s.steps):
                step_keys: list[str | int] = [*where, "steps", index]
                before = self.duration(
                    doc,
                    [*step_keys, "before"],
                    rule,
                    f"schedule.steps[{index}].before",
                    step.before,
                )
                if step.name in names:
                    self.problem(
                        doc,
                        [*step_keys, "name"],
                        f"step name {step.name!r} is used twice",
                        rule.id,
                        f"schedule.steps[{index}].name",
                    )
                names.add(step.name)
                if before is not None:
                    hour, minute = (int(x) for x in step.at.split(":"))
                    steps.append(
                        Step(
                            step.name,
                            before,
                            dt.time(hour, minute),
                            tuple(step.audience),
                            step.template,
                        )
                    )
            if cancel is None or len(steps) != len(spec_s.steps):
                return None
            return ScheduleBlock(spec_s.date_field, steps, spec_s.key, cancel, self.zone)
        if kind == "absence":
            spec_a = rule.absence
            assert spec_a is not None
            recent = self.duration(doc, [*where, "recent"], rule, "absence.recent", spec_a.recent)
            baseline = self.duration(
                doc, [*where, "baseline"], rule, "absence.baseline", spec_a.baseline
            )
            if not Decimal(0) <= spec_a.at_most_share < Decimal(1):
                self.problem(
                    doc,
                    [*where, "at_most_share"],
                    f"at_most_share is a share below 1, e.g. 0.3 (30%); got {spec_a.at_most_share}",
                    rule.id,
                    "absence.at_most_share",
                )
            for name, value in (("recent", recent), ("baseline", baseline)):
                if value is not None and value % 86400:
                    self.problem(
                        doc,
                        [*where, name],
                        "use whole days, e.g. '30d'",
                        rule.id,
                        f"absence.{name}",
                    )
            if recent is None or baseline is None:
                return None
            hour, minute = (int(x) for x in spec_a.check_at.split(":"))
            return AbsenceBlock(
                recent,
                baseline,
                spec_a.usual_at_least,
                spec_a.at_most_share,
                dt.time(hour, minute),
                self.zone,
            )
        if kind == "overdue":
            return self.overdue_block(doc, where, rule)
        if kind == "calendar":
            return self.calendar_block(doc, keys, where, rule)
        spec_c = rule.change
        assert spec_c is not None
        if list(rule.on) != ["customer"]:
            self.problem(
                doc,
                [*keys, "on"],
                "change works on customer events only (on: [customer])",
                rule.id,
                "on",
            )
            return None
        if spec_c.field not in CUSTOMER_FIELDS:
            self.problem(
                doc,
                [*where, "field"],
                f"customer field {spec_c.field!r} does not "
                f"exist; use one of {', '.join(sorted(CUSTOMER_FIELDS))}",
                rule.id,
                "change.field",
            )
            return None
        return ChangeBlock(spec_c.field, spec_c.direction, spec_c.by_at_least, self.tiers)
