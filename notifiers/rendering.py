"""What a message template sees and what rendering gives back.

Kept apart from :mod:`churnwatch.notifiers.templates` (which loads, checks and renders the
pack's texts) because the pipeline, the follow-up pages and the load check's samples all
build a :class:`RenderContext`, and none of them needs the template machinery to do it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from churnwatch.notifiers.filters import local_time
from churnwatch.rules.texts import RuleTexts, Words, pick

__all__ = ["RenderContext", "Rendered"]


@dataclass(frozen=True)
class RenderContext:
    """Everything a template may read, built by the pipeline for one delivery."""

    template: str
    rule_id: str
    audience: str
    languages: tuple[str, ...]
    alert: Mapping[str, Any]
    facts: Mapping[str, Any]
    customer: Mapping[str, Any]
    recipient: Mapping[str, Any]
    account: str
    texts: RuleTexts | None = None
    sensitive: tuple[str, ...] = field(default=(), repr=False)

    def variables(self, language: str, words: Words | None = None) -> dict[str, Any]:
        """What a text sees, with the rule's words in ``language``."""
        words = words or Words()
        alert = dict(self.alert)
        if self.texts is not None:
            alert["title"] = self.texts.title_in(language)
        if "occurred_at" in alert:
            alert["when"] = local_time(alert["occurred_at"], language)
        return {
            "alert": alert,
            "facts": self.facts,
            "customer": self.customer,
            "recipient": self.recipient,
            "account": self.account,
            "actions": self.texts.actions_in(language) if self.texts else [],
            "audience": self.audience,
            "language": language,
            "bank": {"signature": pick(words.signature, language), "hotline": words.hotline},
        }


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    language: str
    segments: int
    template: str
    #: the parts a message listing several alerts shows per alert (``_group``)
    title: str = ""
    what: str = ""
    footer: str = ""
