"""Turning a rule file's YAML into typed specs, with every problem of every key located.

A mixin of the loader (like :mod:`churnwatch.rules.building`): msgspec reports the first
problem of a structure and its path; this part turns the path into a file and line, and
keeps converting past the first problem so compliance sees them all in one run.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from churnwatch.rules.model import (
    AbsenceSpec,
    BalanceFallSpec,
    CalendarSpec,
    ChangeSpec,
    FollowUpSpec,
    HistorySpec,
    OverdueSpec,
    RuleFileSpec,
    RuleSpec,
    ScheduleSpec,
    ThresholdSpec,
    WindowSpec,
)
from churnwatch.rules.wrong_values import did_you_mean, in_plain_words
from churnwatch.rules.yamlfile import ProblemReporting, YamlDocument

__all__ = ["SpecParsing"]

_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")
_RULE_KEYS = frozenset(RuleSpec.__struct_fields__)
_TOP_KEY = re.compile(r" - at `\$\.([A-Za-z_]+)")
#: valid values for the required keys of a rule, standing in for a wrong one so the rest
#: of the rule is still checked (the rule itself is refused either way)
_STAND_INS: dict[str, Any] = {
    "id": "stand-in",
    "version": 1,
    "title": "stand-in",
    "description": "",
    "owner": "stand-in",
    "severity": "high",
    "audience": ["relationship_manager"],
}
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
        ("history", HistorySpec),
        ("overdue", OverdueSpec),
        ("calendar", CalendarSpec),
    )
}


class SpecParsing(ProblemReporting):
    """Spec conversion for the loader (see churnwatch.rules.loader._Loader)."""

    def convert_rule(self, doc: YamlDocument, index: int, item: Any) -> RuleSpec | None:
        """The rule's spec, or None with a problem for every key that is wrong.

        msgspec stops at the first problem; the key it names is set aside (a required
        one replaced by a stand-in) and the rule converted again, so a bad severity does
        not hide a NaN threshold two lines further down.
        """
        remaining = dict(item) if isinstance(item, dict) else item
        failed = False
        for _ in range(len(_RULE_KEYS) + 1):
            try:
                rule = msgspec.convert(remaining, RuleSpec, strict=True)
            except msgspec.ValidationError as exc:
                failed = True
                self.schema_problem(
                    doc,
                    str(exc).replace(" - at `$", f" - at `$.rules[{index}]"),
                    default_keys=["rules", index],
                )
                if not isinstance(remaining, dict):
                    return None
                missing = _MISSING_FIELD.search(str(exc))
                if missing and missing[1] in _STAND_INS and missing[1] not in remaining:
                    remaining[missing[1]] = _STAND_INS[missing[1]]
                    continue
                key = _TOP_KEY.search(str(exc))
                if key is None or key[1] not in remaining:
                    return None
                if key[1] in _STAND_INS:
                    if remaining[key[1]] == _STAND_INS[key[1]]:
                        return None
                    remaining[key[1]] = _STAND_INS[key[1]]
                else:
                    del remaining[key[1]]
                continue
            return None if failed else rule
        return None

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
                f"unknown key {key!r}{did_you_mean(key, _RULE_KEYS)}",
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
            hint = did_you_mean(unknown.group(1), allowed) if allowed else ""
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
        wording = in_plain_words(text, doc.data, keys, RuleFileSpec)
        self.problem(doc, keys, wording, rule_id, field_name)
