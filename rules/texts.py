"""Words staff and customers read, as the rule pack gives them: per language.

A rule's ``title``, ``description`` and ``suggested_actions`` may be written once (one
language for every reader) or per language (``title: {zh-CN: 大额资金转出他行, en: Large
transfer out}``). The pack's ``words.yaml`` names the things rules talk about: severities,
tiers, product and transaction kinds, schedule steps, and the bank's own signature and
hotline for customer texts. Compliance owns both; no reader-facing word lives in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from churnwatch.rules.exceptions import Problem, RuleSetError

__all__ = [
    "FALLBACK_LANGUAGE",
    "WORDS_FILE",
    "Localized",
    "LocalizedList",
    "RuleTexts",
    "Words",
    "languages_of",
    "load_words",
    "pick",
    "pick_list",
]

FALLBACK_LANGUAGE: Final = "zh-CN"
WORDS_FILE: Final = "words.yaml"

#: one text for every reader, or one per language
Localized = str | dict[str, str]
LocalizedList = list[str] | dict[str, list[str]]


def pick(value: Localized, language: str) -> str:
    """The text in ``language``; else zh-CN, else the first one given."""
    if isinstance(value, str):
        return value
    for lang in (language, FALLBACK_LANGUAGE):
        if lang in value:
            return value[lang]
    return next(iter(value.values()), "")


def pick_list(value: LocalizedList, language: str) -> list[str]:
    if isinstance(value, list):
        return list(value)
    for lang in (language, FALLBACK_LANGUAGE):
        if lang in value:
            return list(value[lang])
    return list(next(iter(value.values()), []))


def languages_of(value: Localized | LocalizedList) -> frozenset[str] | None:
    """The languages a text is given in; None when it is one text for all."""
    return frozenset(value) if isinstance(value, dict) else None


@dataclass(frozen=True)
class RuleTexts:
    """What a rule says to a reader, in every language it is given in."""

    title: Localized
    description: Localized = ""
    actions: LocalizedList = field(default_factory=list)

    def title_in(self, language: str) -> str:
        return pick(self.title, language)

    def description_in(self, language: str) -> str:
        return pick(self.description, language)

    def actions_in(self, language: str) -> list[str]:
        return pick_list(self.actions, language)

    def missing(self, languages: Sequence[str]) -> list[str]:
        """``field: language`` for each text given per language but not in one of ``languages``.

        A text written once (a plain string) serves every language and is never missing.
        """
        fields: dict[str, Localized | LocalizedList] = {
            "title": self.title,
            "description": self.description,
            "suggested_actions": self.actions,
        }
        return [
            f"{name}: {lang}"
            for name, value in fields.items()
            if (given := languages_of(value)) is not None
            for lang in languages
            if lang not in given
        ]


class _BankSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    signature: Localized = ""
    hotline: str = ""


class _WordsSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    bank: _BankSpec = msgspec.field(default_factory=_BankSpec)
    severities: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    tiers: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    products: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    transactions: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    steps: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    #: schedule steps as the morning list names them (before the step's own message)
    morning_steps: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    roles: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)


@dataclass(frozen=True)
class Words:
    """The pack's vocabulary: ``word("products", "fund_plan", "zh-CN")`` → 基金定投."""

    sections: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    signature: Localized = ""
    hotline: str = ""

    def word(self, section: str, key: object, language: str) -> str:
        """The word for ``key``; the key itself when the pack does not name it."""
        names = self.sections.get(section, {}).get(str(key))
        if not names:
            return str(key)
        return pick(dict(names), language)

    def languages(self) -> frozenset[str]:
        return frozenset(
            lang
            for section in self.sections.values()
            for names in section.values()
            for lang in names
        )

    def missing(self, languages: Sequence[str]) -> list[str]:
        """``section.key: language`` for every word not given in one of ``languages``."""
        return [
            f"{section}.{key}: {lang}"
            for section, entries in sorted(self.sections.items())
            for key, names in entries.items()
            for lang in languages
            if lang not in names
        ]


def load_words(directory: Path) -> Words:
    """The pack's ``words.yaml``; an empty vocabulary when the pack has none."""
    from churnwatch.rules.yamlfile import YamlSyntaxError, load_yaml, plain

    path = directory / WORDS_FILE
    if not path.exists():
        return Words()
    try:
        document = load_yaml(path)
        spec = msgspec.convert(plain(document.data) or {}, _WordsSpec)
    except YamlSyntaxError as exc:
        raise RuleSetError([Problem(str(path), exc.line, exc.column, exc.message)]) from exc
    except msgspec.ValidationError as exc:
        raise RuleSetError([Problem(str(path), 1, 1, str(exc))]) from exc
    sections = {
        name: getattr(spec, name)
        for name in (
            "severities",
            "tiers",
            "products",
            "transactions",
            "steps",
            "morning_steps",
            "roles",
        )
    }
    return Words(sections, spec.bank.signature, spec.bank.hotline)
