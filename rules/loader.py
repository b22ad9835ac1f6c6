"""Load a rule directory into a compiled, immutable :class:`RuleSet` — or refuse it whole.

Every problem found is collected (not just the first), each with file, line, column,
rule id and field, so one ``churnwatch rules check`` run shows compliance everything
to fix. A directory with any problem yields no rule set at all: reload is
all-or-nothing by construction.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from rules.blocks import (
    BalanceFallBlock,
    Block,
    FollowUpBlock,
    MatchBlock,
    ThresholdBlock,
    WindowBlock,
)
from rules.durations import MICROS_PER_SECOND, parse_duration
from rules.exceptions import ExpressionError, Problem, RuleSetError
from rules.expressions import CompiledCondition, FieldCatalog, compile_condition
from rules.model import (
    BLOCK_NAMES,
    AbsenceSpec,
    BalanceFallSpec,
    ChangeSpec,
    FollowUpSpec,
    RuleFileSpec,
    RuleSpec,
    ScheduleSpec,
    ThresholdSpec,
    WindowSpec,
)
from rules.tiers import DEFAULT_TIERS, TierScale
from rules.timed_blocks import AbsenceBlock, ChangeBlock, ScheduleBlock, Step
from rules.yamlfile import YamlDocument, YamlSyntaxError, load_yaml, plain
from schemas.models import EVENT_TYPES, Counterparty

__all__ = ["CompiledRule", "RuleSet", "field_catalog", "load_rules", "rule_files"]

DEFAULT_TIMEZONE = "Asia/Shanghai"
RESERVED_FILES = {"routing.yaml", "routing.yml", "settings.yaml", "settings.yml"}
CUSTOMER_FIELDS = {
    "aum",
    "tier",
    "branch_id",
    "manager_id",
    "language",
    "sms_opt_in",
    "birthday",
    "known",
}
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")
_RULE_KEYS = frozenset(RuleSpec.__struct_fields__)
_BLOCK_KEYS: dict[str, frozenset[str]] = {
    name: frozenset(getattr(spec, "__struct_fields__", ()))
    for name, spec in (
        ("threshold", ThresholdSpec),
        ("window", WindowSpec),
        ("balance_fall", BalanceFallSpec),
        ("follow_up", FollowUpSpec),
        ("schedule", ScheduleSpec),
        ("absence", AbsenceSpec),
        ("change", ChangeSpec),
    )
}


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


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

    @property
    def id(self) -> str:
        return self.spec.id


RulePlan = tuple[CompiledRule, CompiledCondition, Block, bool, str, type, bool]


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
    #: per event class, each rule's hot-path parts unpacked once (see Engine.evaluate)
    plans: dict[type, tuple[RulePlan, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_type: dict[str, tuple[CompiledRule, ...]] = {}
        for type_name in EVENT_TYPES:
            by_type[type_name] = tuple(
                r for r in self.rules if r.spec.enabled and type_name in r.types
            )
        object.__setattr__(self, "by_type", by_type)
        by_class = {cls: by_type[name] for name, cls in EVENT_TYPES.items()}
        object.__setattr__(self, "by_class", by_class)
        object.__setattr__(self, "_by_id", {r.id: r for r in self.rules})
        plans = {
            cls: tuple(
                (
                    r,
                    r.match_by_type.get(name, r.match),
                    r.block,
                    r.block.sees_unmatched,
                    r.id,
                    r.state_type,
                    r.timed,
                )
                for r in by_type[name]
            )
            for name, cls in EVENT_TYPES.items()
        }
        object.__setattr__(self, "plans", plans)
        object.__setattr__(
            self, "timed_rules", tuple(r for r in self.rules if r.timed and r.spec.enabled)
        )
        object.__setattr__(self, "horizon", max((r.block.horizon for r in self.rules), default=0))
        object.__setattr__(
            self, "longest_cooldown", max((r.cooldown for r in self.rules), default=0)
        )

    def get(self, rule_id: str) -> CompiledRule | None:
        by_id: dict[str, CompiledRule] = getattr(self, "_by_id")  # noqa: B009
        return by_id.get(rule_id)


def event_fields(type_name: str) -> set[str]:
    """Dotted field names of one event type, as conditions write them."""
    names = set(EVENT_TYPES[type_name].__struct_fields__) | {"type"}
    if type_name == "transaction":
        names.discard("counterparty")
        names |= {f"counterparty.{n}" for n in Counterparty.__struct_fields__}
    return names


def field_catalog(types: list[str]) -> FieldCatalog:
    """The event and customer fields a rule on ``types`` may read.

    A rule on several event types may read any of their fields; a field the event at
    hand does not have reads as unknown (None), so ``event.action == "matured"`` is
    simply false for a transaction.
    """
    per_type = [event_fields(t) for t in types]
    union = set().union(*per_type) if per_type else set()
    common = set.intersection(*per_type) if per_type else set()
    return FieldCatalog(
        {"event": union, "customer": CUSTOMER_FIELDS}, partial={"event": union - common}
    )


def compile_per_type(
    text: str, types: list[str], predicates: dict[str, str]
) -> dict[str, CompiledCondition]:
    """One compiled condition per event type, with the fields a type lacks folded to None.

    A rule on transactions and products then pays nothing on the hot path for reading
    a field only one of them has.
    """
    union = field_catalog(types).fields["event"]
    compiled = {}
    for type_name in types:
        catalog = FieldCatalog(
            {"event": set(union), "customer": CUSTOMER_FIELDS},
            event_type=type_name,
            absent=union - event_fields(type_name),
        )
        compiled[type_name] = compile_condition(text, catalog, predicates)
    return compiled


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory: ``*.yaml`` but not tests or reserved files."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml")
        and not p.name.endswith((".test.yaml", ".test.yml"))
        and p.name not in RESERVED_FILES
    )


def load_rules(
    directory: Path | str,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    tiers: TierScale = DEFAULT_TIERS,
) -> RuleSet:
    """Load and compile every rule file in ``directory``; raise RuleSetError on any problem.

    ``timezone`` places schedule steps and daily checks in the bank's local time.
    """
    root = Path(directory)
    if not root.is_dir():
        raise RuleSetError([Problem(str(root), 1, 1, "rule directory does not exist")])
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleSetError([Problem(str(root), 1, 1, f"unknown timezone {timezone!r}")]) from exc
    loader = _Loader(root, zone, tiers)
    return loader.load()


class _Loader:
    def __init__(self, root: Path, zone: ZoneInfo, tiers: TierScale) -> None:
        self.root = root
        self.zone = zone
        self.tiers = tiers
        self.problems: list[Problem] = []
        self.digest = hashlib.sha256()
        self.positions: dict[int, int] = {}

    def problem(
        self,
        doc: YamlDocument,
        keys: list[str | int],
        message: str,
        rule_id: str | None = None,
        field_name: str | None = None,
        key: str | None = None,
        column_offset: int = 0,
    ) -> None:
        where = doc.locate_key(keys, key) if key else doc.locate(keys)
        self.problems.append(
            Problem(
                self.name(doc.path),
                where.line,
                where.column + column_offset,
                message,
                rule_id,
                field_name,
            )
        )

    def name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def load(self) -> RuleSet:
        files = rule_files(self.root)
        if not files:
            self.problems.append(Problem(str(self.root), 1, 1, "no rule files (*.yaml) found"))
        parsed: list[tuple[YamlDocument, RuleFileSpec]] = []
        for path in files:
            self.digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
            loaded = self.parse(path)
            if loaded is not None:
                parsed.append(loaded)
        predicates = self.collect_predicates(parsed)
        compiled: list[CompiledRule] = []
        seen: dict[str, str] = {}
        for doc, spec in parsed:
            for rule in spec.rules:
                keys: list[str | int] = ["rules", self.positions[id(rule)]]
                if rule.id in seen:
                    self.problem(
                        doc,
                        [*keys, "id"],
                        f"duplicate rule id (first in {seen[rule.id]})",
                        rule.id,
                        "id",
                    )
                    continue
                seen[rule.id] = self.name(doc.path)
                result = self.compile_rule(doc, keys, rule, predicates)
                if result is not None:
                    compiled.append(result)
        tiers = self.routing_tiers()
        if self.problems:
            raise RuleSetError(sorted(self.problems, key=lambda p: (p.file, p.line, p.column)))
        return RuleSet(
            tuple(compiled),
            predicates,
            self.digest.hexdigest()[:12],
            str(self.root),
            tiers=tiers,
        )

    def routing_tiers(self) -> TierScale:
        """The tier scale routing.yaml declares, so routing and rules agree on tiers."""
        for name in ("routing.yaml", "routing.yml"):
            path = self.root / name
            if not path.exists():
                continue
            try:
                doc = load_yaml(path)
            except YamlSyntaxError as exc:
                self.problems.append(Problem(self.name(path), exc.line, exc.column, exc.message))
                return self.tiers
            section = doc.data.get("tiers") if isinstance(doc.data, dict) else None
            if section is None:
                return self.tiers
            try:
                names = [str(n) for n in section["names"]]
                bounds = [Decimal(str(b)) for b in section["bounds"]]
                return TierScale(tuple(names), tuple(bounds))
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                self.problem(
                    doc,
                    ["tiers"],
                    f"tiers need 'names' and increasing 'bounds', one fewer than names ({exc})",
                    field_name="tiers",
                )
        return self.tiers

    def parse(self, path: Path) -> tuple[YamlDocument, RuleFileSpec] | None:
        try:
            doc = load_yaml(path)
        except YamlSyntaxError as exc:
            self.problems.append(Problem(self.name(path), exc.line, exc.column, exc.message))
            return None
        if doc.data is None:
            return None
        data = plain(doc.data)
        if not isinstance(data, dict):
            self.problems.append(
                Problem(
                    self.name(path),
                    1,
                    1,
                    "a rule file is a mapping with 'predicates' and/or 'rules'",
                )
            )
            return None
        rules_data = data.get("rules")
        try:
            spec = msgspec.convert({**data, "rules": []}, RuleFileSpec, strict=True)
        except msgspec.ValidationError as exc:
            self.schema_problem(doc, str(exc))
            return None
        if rules_data is None:
            return doc, spec
        if not isinstance(rules_data, list):
            self.problem(doc, ["rules"], "'rules' must be a list of rules")
            return None
        good: list[RuleSpec] = []
        for index, item in enumerate(rules_data):
            item = self.drop_unknown_keys(doc, index, item)
            try:
                rule = msgspec.convert(item, RuleSpec, strict=True)
                self.positions[id(rule)] = index
                good.append(rule)
            except msgspec.ValidationError as exc:
                self.schema_problem(
                    doc,
                    str(exc).replace(" - at `$", f" - at `$.rules[{index}]"),
                    default_keys=["rules", index],
                )
        return doc, msgspec.structs.replace(spec, rules=good)

    def drop_unknown_keys(self, doc: YamlDocument, index: int, item: Any) -> Any:
        """Report every unknown key of a rule at once (msgspec stops at the first problem).

        The rule without those keys is still checked, so a typo in one key does not hide
        a broken condition or a bad value elsewhere in the same rule.
        """
        if not isinstance(item, dict):
            return item
        unknown = [key for key in item if key not in _RULE_KEYS]
        rule_id = str(item["id"]) if "id" in item else None
        for key in unknown:
            self.problem(
                doc,
                ["rules", index],
                f"unknown key {key!r}{_did_you_mean(key, _RULE_KEYS)}",
                rule_id,
                key,
                key=key,
            )
        return {k: v for k, v in item.items() if k not in unknown}

    def schema_problem(
        self, doc: YamlDocument, message: str, default_keys: list[str | int] | None = None
    ) -> None:
        text, _, at = message.partition(" - at `")
        keys: list[str | int] = [] if at else list(default_keys or [])
        for name, index in _PATH_PART.findall(at.rstrip("`")):
            keys.append(name if name else int(index))
        rule_id = None
        if len(keys) >= 2 and keys[0] == "rules":
            try:
                rule_id = str(doc.data["rules"][keys[1]].get("id"))
            except (KeyError, IndexError, TypeError, AttributeError):
                rule_id = None
        unknown = _UNKNOWN_FIELD.search(text)
        if unknown:
            allowed = _BLOCK_KEYS.get(str(keys[-1])) if keys else None
            hint = _did_you_mean(unknown.group(1), allowed) if allowed else ""
            self.problem(
                doc,
                keys,
                f"unknown key {unknown.group(1)!r}{hint}",
                rule_id,
                unknown.group(1),
                key=unknown.group(1),
            )
            return
        missing = _MISSING_FIELD.search(text)
        if missing:
            self.problem(
                doc, keys, f"missing required key {missing.group(1)!r}", rule_id, missing.group(1)
            )
            return
        field_name = ".".join(str(k) for k in keys[2:]) or None
        self.problem(doc, keys, text, rule_id, field_name)

    def collect_predicates(self, parsed: list[tuple[YamlDocument, RuleFileSpec]]) -> dict[str, str]:
        predicates: dict[str, str] = {}
        origin: dict[str, YamlDocument] = {}
        for doc, spec in parsed:
            for name, text in spec.predicates.items():
                if name in predicates:
                    self.problem(
                        doc,
                        ["predicates", name],
                        f"predicate {name!r} is defined twice "
                        f"(also in {self.name(origin[name].path)})",
                        field_name=name,
                    )
                    continue
                if not name.isidentifier() or name in ("event", "customer"):
                    self.problem(
                        doc,
                        ["predicates"],
                        f"{name!r} cannot name a predicate",
                        key=name,
                        field_name=name,
                    )
                    continue
                predicates[name] = str(text)
                origin[name] = doc
        # every predicate must compile on its own against transaction fields at least
        for name, text in predicates.items():
            try:
                compile_condition(text, field_catalog(list(EVENT_TYPES)[:1]), predicates)
            except ExpressionError as exc:
                doc = origin[name]
                self.problem(
                    doc,
                    ["predicates", name],
                    exc.message,
                    field_name=name,
                    column_offset=exc.offset,
                )
        return predicates

    def compile_rule(
        self, doc: YamlDocument, keys: list[str | int], rule: RuleSpec, predicates: dict[str, str]
    ) -> CompiledRule | None:
        before = len(self.problems)
        catalog = field_catalog(list(rule.on))
        match = self.condition(
            doc, [*keys, "match"], rule, "match", rule.match, catalog, predicates
        )
        cooldown = self.duration(doc, [*keys, "cooldown"], rule, "cooldown", rule.cooldown)
        blocks = [name for name in BLOCK_NAMES if getattr(rule, name) is not None]
        if len(blocks) > 1:
            self.problem(
                doc,
                keys,
                f"a rule has at most one of {', '.join(BLOCK_NAMES)}; "
                f"this one has {' and '.join(blocks)}",
                rule.id,
                blocks[1],
                key=blocks[1],
            )
            return None
        block = self.block(doc, keys, rule, blocks[0] if blocks else None, catalog, predicates)
        if not rule.audience:
            self.problem(
                doc, [*keys, "audience"], "name at least one audience", rule.id, "audience"
            )
        if len(self.problems) > before or match is None or block is None or cooldown is None:
            return None
        return CompiledRule(
            rule,
            self.name(doc.path),
            match,
            block,
            cooldown * MICROS_PER_SECOND,
            frozenset(rule.on),
            type(block.new_state()),
            bool(getattr(block, "timed", False)),
            compile_per_type(rule.match, list(rule.on), predicates),
        )

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
            return ThresholdBlock(spec_t.field, spec_t.at_least, read) if read else None
        if kind == "window":
            spec_w = rule.window
            assert spec_w is not None
            over = self.duration(doc, [*where, "over"], rule, "window.over", spec_w.over)
            read = self.reader(doc, [*where, "field"], rule, "window.field", spec_w.field, catalog)
            if over is None or read is None:
                return None
            return WindowBlock(over, spec_w.aggregate, spec_w.field, spec_w.at_least, read)
        if kind in ("schedule", "absence", "change"):
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
