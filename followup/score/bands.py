"""Outcomes by churn score band: does the score rank customers well?

Every alert carries the customer's churn score at its time and the band it fell in
(rules/score.py; the bands are the pack's ``score.bands`` when the alert was raised).
Per band, one count per case (the 7-3-1 steps of one maturity are one case, as in the
rest of the report; its first alert's score stands for it), treated and control
customers together: the cases, their customers, the outcomes managers recorded and the
outcomes derived from the accounts, and the share of decided cases that *left*. A score
that ranks well shows that share rising band by band.

One figure sums it up per kind of outcome: the *concordance* (the area under the ROC
curve, by the Mann-Whitney rank sum with ties counted half): the chance that a case that
left carries a higher score than a case that did not (retained, partly retained, or, for
recorded outcomes, a false alarm). 0.5 ranks no better than chance, 1.0 perfectly.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from babel.numbers import format_decimal, format_percent

from churnwatch.followup.i18n import translations
from churnwatch.notifiers.filters import locale_of

__all__ = [
    "BandStats",
    "ScoreBands",
    "band_label",
    "concordance",
    "score_band_csv_rows",
    "score_band_text_lines",
    "score_bands",
]

#: recorded outcomes (churnwatch.followup.OUTCOMES) and derived ones, in the report's order
RECORDED = ("retained", "partly_retained", "left", "false_alarm")
DERIVED = ("retained", "partly_retained", "left", "unknown")
#: the outcomes' names as the pages' catalog has them (the alert page's and the report's)
LABELS = {
    "retained": "retained",
    "partly_retained": "partly retained",
    "left": "left",
    "false_alarm": "not churn (false alarm)",
    "unknown": "not yet known",
}


@dataclass
class BandStats:
    """One band's cases (one per case) and their outcomes, treated and control together."""

    low: Decimal
    high: Decimal | None
    cases: int = 0
    customers: set[str] = field(default_factory=set)
    recorded: Counter[str] = field(default_factory=Counter)
    derived: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def _left_share(outcomes: Counter[str], others: tuple[str, ...]) -> float | None:
        decided = outcomes["left"] + sum(outcomes[o] for o in others)
        return outcomes["left"] / decided if decided else None

    @property
    def recorded_left(self) -> float | None:
        """Left over the cases with a recorded outcome (false alarms count as not left)."""
        return self._left_share(self.recorded, ("retained", "partly_retained", "false_alarm"))

    @property
    def derived_left(self) -> float | None:
        """Left over the cases with a decided derived outcome (unknown is left out)."""
        return self._left_share(self.derived, ("retained", "partly_retained"))


@dataclass(frozen=True)
class ScoreBands:
    bands: list[BandStats]
    #: concordance of the score with *left*, and the number of decided cases it rests on
    derived_concordance: float | None = None
    derived_n: int = 0
    recorded_concordance: float | None = None
    recorded_n: int = 0


def concordance(scored: Iterable[tuple[Decimal, bool]]) -> float | None:
    """P(score of a *left* case > score of another) + half the ties; None without both."""
    items = sorted(scored, key=lambda item: item[0])
    left = sum(1 for _, is_left in items if is_left)
    kept = len(items) - left
    if not left or not kept:
        return None
    rank_sum = Fraction(0)
    start = 0
    while start < len(items):  # ranks 1..n, ties sharing their average rank
        end = start
        while end < len(items) and items[end][0] == items[start][0]:
            end += 1
        average = Fraction(start + 1 + end, 2)
        rank_sum += average * sum(1 for _, is_left in items[start:end] if is_left)
        start = end
    u = rank_sum - Fraction(left * (left + 1), 2)
    return float(u / (left * kept))


def score_bands(cases: Iterable[Any]) -> ScoreBands:
    """The bands of the report's cases (followup.report.build.Case) that carry a score."""
    firsts: dict[str, Any] = {}
    recorded: dict[str, str] = {}
    for case in cases:
        if case.score is None:
            continue
        firsts.setdefault(case.case, case)
        if case.outcome:
            recorded[case.case] = case.outcome
    bands: dict[Decimal, BandStats] = {}
    derived_scores: list[tuple[Decimal, bool]] = []
    recorded_scores: list[tuple[Decimal, bool]] = []
    for key, case in firsts.items():
        low, high = case.band
        band = bands.setdefault(low, BandStats(low, high))
        band.cases += 1
        band.customers.add(case.customer_id)
        if case.derived:
            band.derived[case.derived] += 1
            if case.derived != "unknown":
                derived_scores.append((case.score, case.derived == "left"))
        outcome = recorded.get(key)
        if outcome:
            band.recorded[outcome] += 1
            recorded_scores.append((case.score, outcome == "left"))
    return ScoreBands(
        [bands[low] for low in sorted(bands)],
        concordance(derived_scores),
        len(derived_scores),
        concordance(recorded_scores),
        len(recorded_scores),
    )


def _number(value: Decimal, language: str) -> str:
    return format_decimal(value, "#,##0.##", locale=locale_of(language))


def band_label(band: BandStats, language: str) -> str:
    """``25 – 50`` or ``75 +`` (the points of the band), numbers in the reader's locale."""
    low = _number(band.low, language)
    return f"{low} – {_number(band.high, language)}" if band.high is not None else f"{low} +"


def _share(value: float | None, language: str) -> str:
    return "-" if value is None else format_percent(value, "#,##0.#%", locale=locale_of(language))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def score_band_text_lines(bands: ScoreBands, language: str) -> list[str]:
    """The section as aligned text lines, in ``language``; nothing when no alert has a score."""
    if not bands.bands:
        return []
    _ = translations(language).gettext
    header = [
        _("Churn score"),
        _("Cases"),
        _("Customers"),
        _("Recorded r/p/l/f"),
        _("Recorded left"),
        _("Derived r/p/l/u"),
        _("Derived left"),
    ]
    rows = [header] + [
        [
            band_label(b, language),
            str(b.cases),
            str(len(b.customers)),
            "/".join(str(b.recorded[o]) for o in RECORDED),
            _share(b.recorded_left, language),
            "/".join(str(b.derived[o]) for o in DERIVED),
            _share(b.derived_left, language),
        ]
        for b in bands.bands
    ]
    widths = [max(len(r[i]) + _wide(r[i]) for r in rows) for i in range(len(header))]
    lines = ["", _("Outcomes by churn score band (one per case, control customers included)")]
    lines += [
        "  ".join(
            c + " " * (w - len(c) - _wide(c)) for c, w in zip(r, widths, strict=True)
        ).rstrip()
        for r in rows
    ]
    lines.append(
        _(
            "Concordance of the score with leaving: derived %(derived)s (%(dn)s cases), "
            "recorded %(recorded)s (%(rn)s cases); 0.5 is chance, 1 is perfect."
        )
        % {
            "derived": _ratio(bands.derived_concordance),
            "dn": bands.derived_n,
            "recorded": _ratio(bands.recorded_concordance),
            "rn": bands.recorded_n,
        }
    )
    return lines


def _wide(text: str) -> int:
    """Extra terminal columns: a wide (CJK) character takes two, a dash one."""
    return sum(1 for ch in text if unicodedata.east_asian_width(ch) in ("W", "F"))


def score_band_csv_rows(bands: ScoreBands, language: str) -> Iterable[list[Any]]:
    """A header row in ``language``, a row per band, and the concordance row."""
    if not bands.bands:
        return
    _ = translations(language).gettext
    title = _("Churn score band")
    yield [
        title,
        _("From"),
        _("Below"),
        _("Cases"),
        _("Customers"),
        *(f"{_('Recorded')}: {_(LABELS[o])}" for o in RECORDED),
        *(f"{_('Derived')}: {_(LABELS[o])}" for o in DERIVED),
        _("Recorded left"),
        _("Derived left"),
    ]
    for b in bands.bands:
        yield [
            title,
            str(b.low),
            "" if b.high is None else str(b.high),
            b.cases,
            len(b.customers),
            *(b.recorded[o] for o in RECORDED),
            *(b.derived[o] for o in DERIVED),
            "" if b.recorded_left is None else f"{b.recorded_left:.4f}",
            "" if b.derived_left is None else f"{b.derived_left:.4f}",
        ]
    yield [
        _("Concordance of the score with leaving"),
        _("Derived"),
        "" if bands.derived_concordance is None else f"{bands.derived_concordance:.4f}",
        bands.derived_n,
        _("Recorded"),
        "" if bands.recorded_concordance is None else f"{bands.recorded_concordance:.4f}",
        bands.recorded_n,
    ]
