"""Load a rule directory into a compiled, immutable :class:`RuleSet` — or refuse it whole.

Every problem found is collected (not just the first), each with file, line, column,
rule id and field, so one ``churnwatch rules check`` run shows compliance everything
to fix. A directory with any problem yields no rule set at all: reload is
all-or-nothing by construction.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from churnwatch.rules import DEFAULT_TIMEZONE
from churnwatch.rules.blocks import Block
from churnwatch.rules.building import BlockBuilding
from churnwatch.rules.durations import MICROS_PER_SECOND
from churnwatch.rules.exceptions import ExpressionError, Problem, RuleSetError
from churnwatch.rules.expressions import compile_condition
from churnwatch.rules.fields import compile_per_type, event_fields, field_catalog
from churnwatch.rules.model import (
    BLOCK_NAMES,
    RuleFileSpec,
    RuleSpec,
)
from churnwatch.rules.outcome_building import OutcomeBuilding
from churnwatch.rules.rule_keys import RuleKeyClash, rule_key
from churnwatch.rules.ruleset import CompiledRule, RuleSet
from churnwatch.rules.score_building import ScoreBuilding
from churnwatch.rules.specs import SpecParsing
from churnwatch.rules.tiers import DEFAULT_TIERS, TierScale
from churnwatch.rules.wrong_values import did_you_mean
from churnwatch.rules.yamlfile import (
    MAX_FILE_BYTES,
    YamlDocument,
    YamlSyntaxError,
    load_yaml,
    plain,
)
from churnwatch.schemas.models import EVENT_TYPES

__all__ = [
    "DEFAULT_TIMEZONE",
    "CompiledRule",
    "RuleSet",
    "compile_per_type",
    "event_fields",
    "field_catalog",
    "load_rules",
    "rule_files",
]

RESERVED_FILES = {"routing.yaml", "routing.yml", "settings.yaml", "settings.yml", "words.yaml"}


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


class _Loader(BlockBuilding, OutcomeBuilding, ScoreBuilding, SpecParsing):
    def __init__(self, root: Path, zone: ZoneInfo, tiers: TierScale) -> None:
        self.root = root
        self.zone = zone
        self.tiers = tiers
        self.problems: list[Problem] = []
        self.digest = hashlib.sha256()
        self.positions: dict[int, int] = {}
        #: rule files YAML could not read: a rule they hold is unknown, not missing, so
        #: a reference to it elsewhere is not reported beside their syntax error
        self.unreadable: list[Path] = []

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
            try:
                content = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else b""
            except OSError as exc:
                self.problems.append(
                    Problem(self.name(path), 1, 1, f"cannot read the file: {exc.strerror}")
                )
                continue
            self.digest.update(path.name.encode() + b"\0" + content + b"\0")
            loaded = self.parse(path)
            if loaded is not None:
                parsed.append(loaded)
        self.digest_companions()
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
                try:
                    rule_key(rule.id)  # states name the rule by this key (rules/rule_keys.py)
                except RuleKeyClash as exc:
                    self.problem(doc, [*keys, "id"], str(exc), rule.id, "id")
                    continue
                result = self.compile_rule(doc, keys, rule, predicates)
                if result is not None:
                    compiled.append(result)
        self.check_shadows(parsed)
        score = self.score_config(parsed, compiled)
        tiers = self.routing_tiers()
        if self.problems:
            raise RuleSetError(sorted(self.problems, key=lambda p: (p.file, p.line, p.column)))
        return RuleSet(
            tuple(compiled),
            predicates,
            self.digest.hexdigest()[:12],
            str(self.root),
            tiers=tiers,
            score=score,
        )

    def digest_companions(self) -> None:
        """Fold the routing file and the templates into the fingerprint.

        They are part of the rule set: a changed template is a changed rule set, and the
        fingerprint a worker reports names what it really sends.
        """
        companions = [self.root / name for name in ("routing.yaml", "routing.yml")]
        templates = self.root / "templates"
        if templates.is_dir():
            companions += sorted(templates.rglob("*.j2"))
        for path in companions:
            try:
                if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                    continue
                content = path.read_bytes()
            except OSError:
                continue  # the template check reports it
            name = path.relative_to(self.root).as_posix()
            self.digest.update(name.encode() + b"\0" + content + b"\0")

    def check_shadows(self, parsed: list[tuple[YamlDocument, RuleFileSpec]]) -> None:
        """``shadows`` names a rule in force, and only a rule in shadow mode may say it."""
        modes = {rule.id: rule.mode for _, spec in parsed for rule in spec.rules}
        for doc, spec in parsed:
            for rule in spec.rules:
                if rule.shadows is None:
                    continue
                keys: list[str | int] = ["rules", self.positions[id(rule)], "shadows"]
                if rule.mode != "shadow":
                    message = "only a rule with `mode: shadow` can shadow another"
                elif rule.shadows not in modes and self.unreadable:
                    continue  # it may be in a file YAML could not read (reported there)
                elif modes.get(rule.shadows) != "live":
                    known = [rid for rid, mode in modes.items() if mode == "live"]
                    message = f"no rule in force with id {rule.shadows!r}" + did_you_mean(
                        rule.shadows, known
                    )
                else:
                    continue
                self.problem(doc, keys, message, rule.id, "shadows")

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
            self.unreadable.append(path)
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
            rule = self.convert_rule(doc, index, item)
            if rule is not None:
                self.positions[id(rule)] = index
                good.append(rule)
        return doc, msgspec.structs.replace(spec, rules=good)

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
        #: a score rule fires on the churn score, not on events: its match reads the customer
        on: list[str] = [] if rule.score is not None else list(rule.on)
        catalog = field_catalog(on)
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
        block: Block | None
        if rule.score is not None:
            block = self.score_block(doc, keys, rule)
        else:
            block = self.block(doc, keys, rule, blocks[0] if blocks else None, catalog, predicates)
        if not rule.audience:
            self.problem(
                doc, [*keys, "audience"], "name at least one audience", rule.id, "audience"
            )
        outcome = None
        if rule.outcome is not None:
            outcome = self.outcome(doc, keys, rule, predicates)
        if len(self.problems) > before or match is None or block is None or cooldown is None:
            return None
        return CompiledRule(
            rule,
            self.name(doc.path),
            match,
            block,
            cooldown * MICROS_PER_SECOND,
            frozenset(on),
            type(block.new_state()),
            bool(getattr(block, "timed", False)),
            compile_per_type(rule.match, on, predicates),
            outcome,
        )
