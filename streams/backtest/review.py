"""Review a rule change before it goes live: what changed, field by field, in two packs.

This is the checker's half of maker-checker through version control: the maker edits a
copy of the rule directory, the checker reads ``churnwatch rules diff OLD NEW`` (and,
with events, the backtest beside it) on the change request. Fields are compared as
written (after the loader's validation), so a threshold written ``50000`` and
``50000.00`` is the same value, and a reordered file shows no change.

Beside the rules themselves, the files a reader sees (``templates/``) and the routing
file are compared by content: a changed SMS text is a change the checker must see.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from churnwatch.rules.loader import RuleSet
from churnwatch.rules.model import RuleSpec
from churnwatch.rules.score import ScoreConfig, points

__all__ = [
    "FieldChange",
    "FileChange",
    "PackReview",
    "RuleReview",
    "flatten_spec",
    "review_packs",
]

Status = Literal["added", "removed", "changed"]
#: files compared by content besides the rules (the texts readers see, the routing)
REVIEWED_FILES = ("routing.yaml", "words.yaml", "templates")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of one rule: its value before and after (None when absent)."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class RuleReview:
    """A rule added, removed or changed, with every field that differs."""

    rule_id: str
    status: Status
    version_before: int | None
    version_after: int | None
    fields: tuple[FieldChange, ...]

    @property
    def version_not_raised(self) -> bool:
        return self.status == "changed" and self.version_before == self.version_after


@dataclass(frozen=True, slots=True)
class FileChange:
    """A template or routing file added, removed or changed (by content)."""

    path: str
    status: Status


@dataclass(frozen=True, slots=True)
class PackReview:
    """Everything that differs between two rule directories, as written."""

    old_source: str
    old_fingerprint: str
    new_source: str
    new_fingerprint: str
    rules: tuple[RuleReview, ...]
    predicates: tuple[RuleReview, ...]
    files: tuple[FileChange, ...]
    #: the churn score's half-life, weights and bands (``weights.<rule>``) that differ
    score: tuple[FieldChange, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.rules or self.predicates or self.files or self.score)


def review_packs(old: RuleSet, new: RuleSet) -> PackReview:
    """Rules, predicates and reader-facing files added, removed and changed, field by field."""
    old_specs = {r.id: r.spec for r in old.rules}
    new_specs = {r.id: r.spec for r in new.rules}
    rules: list[RuleReview] = []
    for rule_id in sorted(old_specs.keys() | new_specs.keys()):
        before, after = old_specs.get(rule_id), new_specs.get(rule_id)
        if before == after:
            continue
        status: Status = "added" if before is None else "removed" if after is None else "changed"
        rules.append(
            RuleReview(
                rule_id=rule_id,
                status=status,
                version_before=before.version if before is not None else None,
                version_after=after.version if after is not None else None,
                fields=_field_changes(_flat(before), _flat(after)),
            )
        )
    predicates = [
        RuleReview(
            rule_id=name,
            status="added"
            if name not in old.predicates
            else "removed"
            if name not in new.predicates
            else "changed",
            version_before=None,
            version_after=None,
            fields=(FieldChange("condition", old.predicates.get(name), new.predicates.get(name)),),
        )
        for name in sorted(old.predicates.keys() | new.predicates.keys())
        if old.predicates.get(name) != new.predicates.get(name)
    ]
    return PackReview(
        old_source=old.source,
        old_fingerprint=old.fingerprint,
        new_source=new.source,
        new_fingerprint=new.fingerprint,
        rules=tuple(rules),
        predicates=tuple(predicates),
        files=_file_changes(Path(old.source), Path(new.source)),
        score=_field_changes(_score_fields(old.score), _score_fields(new.score)),
    )


def _score_fields(config: ScoreConfig | None) -> dict[str, str]:
    """The churn score as written: ``half_life``, ``weights.<rule>`` in points, ``bands``."""
    if config is None:
        return {}
    fields = {"half_life": config.half_life_text}
    fields |= {f"weights.{rule}": str(points(w)) for rule, w in sorted(config.weights.items())}
    fields["bands"] = ", ".join(str(points(b)) for b in config.bands)
    return fields


def flatten_spec(spec: RuleSpec) -> dict[str, str]:
    """A rule's fields as ``dotted.path -> text``: nested blocks and schedule steps spelt out.

    Steps are named by their ``name`` (``schedule.steps[3d].before``) so a reordering
    is no change and an edited step is one line.
    """
    return dict(_walk("", msgspec.to_builtins(spec, enc_hook=str)))


def _flat(spec: RuleSpec | None) -> dict[str, str]:
    return {} if spec is None else flatten_spec(spec)


def _walk(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(f"{prefix}.{key}" if prefix else str(key), item)
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(item, dict) and "name" in item for item in value)
    ):
        for item in value:
            yield from _walk(f"{prefix}[{item['name']}]", item)
    elif value is not None:
        yield prefix, _text(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _field_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[FieldChange, ...]:
    return tuple(
        FieldChange(name, before.get(name), after.get(name))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    )


def _file_changes(old_root: Path, new_root: Path) -> tuple[FileChange, ...]:
    old, new = _digests(old_root), _digests(new_root)
    changes = []
    for path in sorted(old.keys() | new.keys()):
        if old.get(path) == new.get(path):
            continue
        status: Status = "added" if path not in old else "removed" if path not in new else "changed"
        changes.append(FileChange(path, status))
    return tuple(changes)


def _digests(root: Path) -> dict[str, str]:
    """Content digests of the reviewed files under ``root``, by path relative to it."""
    out: dict[str, str] = {}
    for name in REVIEWED_FILES:
        top = root / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in paths:
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
