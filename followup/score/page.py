"""The churn score section of the alert page: the customer's score at the alert, and why.

The alert carries the score and its contributions as the engine computed them
(:class:`~churnwatch.schemas.models.AlertScore`); this turns them into what the page
shows in the reader's language: each signal named by its rule's title from the pack,
its time in the bank's zone, its weight and what it was still worth, numbers and
durations formatted by Babel. The section's own words are the pages' gettext catalog's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

from churnwatch.notifiers.filters import duration, local_time, locale_of
from churnwatch.rules.loader import RuleSet
from churnwatch.schemas.models import Alert

__all__ = ["ScoreRow", "ScoreView", "score_view"]


@dataclass(frozen=True, slots=True)
class ScoreRow:
    rule: str
    at: str
    weight: str
    value: str


@dataclass(frozen=True, slots=True)
class ScoreView:
    points: str
    band: str
    half_life: str
    rows: list[ScoreRow]


def _number(value: Decimal, language: str) -> str:
    return format_decimal(value, "#,##0.##", locale=locale_of(language))


def score_view(
    alert: Alert, ruleset: RuleSet | None, language: str, zone: ZoneInfo
) -> ScoreView | None:
    """The section's content, or None for an alert without a score (no ``score:`` then)."""
    score = alert.score
    if score is None:
        return None

    def title(rule_id: str) -> str:
        rule = ruleset.get(rule_id) if ruleset is not None else None
        return rule.spec.texts.title_in(language) if rule is not None else rule_id

    low = _number(score.band_from, language)
    band = (
        f"{low} – {_number(score.band_to, language)}" if score.band_to is not None else f"{low} +"
    )
    return ScoreView(
        points=_number(score.points, language),
        band=band,
        half_life=duration(score.half_life, language),
        rows=[
            ScoreRow(
                title(c.rule_id),
                local_time(c.at.astimezone(zone), language),
                _number(c.weight, language),
                _number(c.value, language),
            )
            for c in reversed(score.contributions)  # the newest first
        ],
    )
