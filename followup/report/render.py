"""The report as text (terminal), CSV (spreadsheets) and self-contained HTML with charts.

The HTML has no external file, script or font: it is mailed around and opened offline,
so its per-day charts are inline SVG drawn here.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from babel.dates import format_timedelta
from babel.numbers import format_decimal, format_percent
from markupsafe import Markup, escape

from churnwatch.followup import OUTCOMES
from churnwatch.followup.report.build import DERIVED, GroupStats, Report
from churnwatch.followup.report.holdings import (
    holding_csv_rows,
    holding_sections,
    holding_text_lines,
)
from churnwatch.followup.score.bands import (
    band_label,
    score_band_csv_rows,
    score_band_text_lines,
)
from churnwatch.followup.spreadsheet import safe_writer
from churnwatch.followup.uplift import Interval
from churnwatch.notifiers.filters import date_long, locale_of, money
from churnwatch.schemas.profile_views import HOLDING_THRESHOLDS

__all__ = [
    "ReportNames",
    "day_chart",
    "fmt_duration",
    "fmt_share",
    "render_csv",
    "render_html",
    "render_text",
]

_COLUMNS = (
    "alerts",
    "acknowledged",
    "median_ack",
    *OUTCOMES,
    "precision",
    "retention",
    "control_alerts",
    "control_retention",
    "uplift",
)
#: the outcomes derived from the accounts, beside the recorded ones (one per case)
_DERIVED_COLUMNS = (
    *(f"derived_{o}" for o in DERIVED),
    *(f"control_derived_{o}" for o in DERIVED),
    "derived_retention",
    "control_derived_retention",
    "derived_uplift",
    "derived_uplift_low",
    "derived_uplift_high",
    "treated_n",
    "control_n",
)
#: the text report's table of them, per rule: recorded and derived side by side
_TEXT_DERIVED = (
    "treated_n",
    "control_n",
    "derived r/p/l/u",
    "control r/p/l/u",
    "retention",
    "derived_retention",
    "control_derived_retention",
    "derived_uplift",
    "95% CI",
)


def fmt_share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def fmt_points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pp"


def fmt_duration(value: dt.timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def _cells(g: GroupStats) -> list[str]:
    return [
        str(g.alerts),
        fmt_share(g.ack_share),
        fmt_duration(g.median_ack),
        *(str(g.outcomes[o]) for o in OUTCOMES),
        fmt_share(g.precision),
        fmt_share(g.retention),
        str(g.control_alerts),
        fmt_share(g.control_retention),
        fmt_points(g.uplift),
    ]


def fmt_interval(value: Interval | None) -> str:
    return "-" if value is None else f"{value.low * 100:+.1f} to {value.high * 100:+.1f} pp"


def _counts(outcomes: Mapping[str, int]) -> str:
    return "/".join(str(outcomes.get(o, 0)) for o in DERIVED)


def _derived_cells(g: GroupStats) -> list[str]:
    return [
        str(g.treated_n),
        str(g.control_n),
        _counts(g.derived),
        _counts(g.control_derived),
        fmt_share(g.retention),
        fmt_share(g.derived_retention),
        fmt_share(g.control_derived_retention),
        fmt_points(g.derived_uplift),
        fmt_interval(g.derived_interval),
    ]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]


def _sections(report: Report) -> Iterable[tuple[str, list[GroupStats]]]:
    yield "rule", report.by_rule
    yield "branch", report.by_branch
    yield "manager", report.by_manager


def render_text(report: Report, language: str = "en", names: ReportNames | None = None) -> str:
    """The operators' table (ids, English columns); the cross-holding section in ``language``."""
    lines = [
        f"churnwatch follow-up report, {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}"
        f" ({report.timezone})",
    ]
    header = ["", *_COLUMNS]
    for name, groups in _sections(report):
        rows = [[f"by {name}", *header[1:]]] + [[g.key, *_cells(g)] for g in groups]
        lines.append("")
        lines.extend(_table(rows))
    rows = [["outcomes from the accounts, by rule", *_TEXT_DERIVED]]
    rows += [[g.key, *_derived_cells(g)] for g in report.by_rule]
    lines.append("")
    lines.extend(_table(rows))
    m = report.maturity
    lines += [
        "",
        f"maturing funds retained: {fmt_share(m.share)}"
        f" ({m.retained_amount} of {m.maturing_amount};"
        f" {m.products_with_outcome} of {m.products} products with an outcome)",
    ]
    lines += score_band_text_lines(report.score_bands, language)
    lines += holding_text_lines(report.holdings, (names or ReportNames()).of, language)
    return "\n".join(lines) + "\n"


def render_csv(report: Report, language: str = "en", names: ReportNames | None = None) -> str:
    """Rows for a spreadsheet; the cross-holding block headed in ``language``."""
    out = io.StringIO()
    writer = safe_writer(out)
    writer.writerow(["section", "key", *_COLUMNS, *_DERIVED_COLUMNS])
    for name, groups in _sections(report):
        for g in groups:
            writer.writerow(
                [
                    name,
                    g.key,
                    g.alerts,
                    "" if g.ack_share is None else f"{g.ack_share:.4f}",
                    "" if g.median_ack is None else int(g.median_ack.total_seconds()),
                    *(g.outcomes[o] for o in OUTCOMES),
                    "" if g.precision is None else f"{g.precision:.4f}",
                    "" if g.retention is None else f"{g.retention:.4f}",
                    g.control_alerts,
                    "" if g.control_retention is None else f"{g.control_retention:.4f}",
                    "" if g.uplift is None else f"{g.uplift:.4f}",
                    *_derived_csv(g),
                ]
            )
    m = report.maturity
    writer.writerow(["maturity", "maturing_amount", str(m.maturing_amount)])
    writer.writerow(["maturity", "retained_amount", str(m.retained_amount)])
    writer.writerow(["maturity", "share", "" if m.share is None else f"{m.share:.4f}"])
    for row in score_band_csv_rows(report.score_bands, language):
        writer.writerow(row)
    for row in holding_csv_rows(report.holdings, (names or ReportNames()).of, language):
        writer.writerow(row)
    return out.getvalue()


def _derived_csv(g: GroupStats) -> list[object]:
    interval = g.derived_interval

    def ratio(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    return [
        *(g.derived[o] for o in DERIVED),
        *(g.control_derived[o] for o in DERIVED),
        ratio(g.derived_retention),
        ratio(g.control_derived_retention),
        ratio(g.derived_uplift),
        ratio(interval.low if interval else None),
        ratio(interval.high if interval else None),
        g.treated_n,
        g.control_n,
    ]


def day_chart(
    report: Report,
    rule_id: str | None = None,
    width: int = 640,
    *,
    caption: str = "{top} a day at most",
    tip: str = "{day}: {count} alerts, {acked} acknowledged",
) -> Markup:
    """Bars per day: alerts (light) with the acknowledged part (dark), as inline SVG.

    ``caption`` and ``tip`` are the page's words in the reader's language (format strings).
    """
    days = list(report.per_day)
    if not days:
        return Markup("")
    first, last = days[0], days[-1]
    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    values = []
    for day in span:
        by_rule = report.per_day.get(day, {})
        pairs = [by_rule.get(rule_id, (0, 0))] if rule_id else list(by_rule.values())
        values.append((sum(p[0] for p in pairs), sum(p[1] for p in pairs)))
    top = max(v[0] for v in values) or 1
    height, pad = 120, 18
    bar = max(2.0, (width - 2 * pad) / len(span))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 2 * pad}"'
        f' role="img" class="chart">',
        f'<text x="{pad}" y="12" font-size="11">{escape(caption.format(top=top))}</text>',
    ]
    for i, (day, (count, acked)) in enumerate(zip(span, values, strict=True)):
        x = pad + i * bar
        h_all, h_ack = height * count / top, height * acked / top
        text = escape(tip.format(day=f"{day:%Y-%m-%d}", count=count, acked=acked))
        parts.append(
            f'<g><title>{text}</title><rect x="{x:.1f}" y="{pad + height - h_all:.1f}"'
            f' width="{bar * 0.8:.1f}" height="{h_all:.1f}" fill="#9ecae1"/>'
            f'<rect x="{x:.1f}" y="{pad + height - h_ack:.1f}" width="{bar * 0.8:.1f}"'
            f' height="{h_ack:.1f}" fill="#3182bd"/></g>'
        )
    parts.append(
        f'<text x="{pad}" y="{height + 2 * pad - 2}" font-size="11">{first:%m-%d}</text>'
        f'<text x="{width - pad}" y="{height + 2 * pad - 2}" font-size="11"'
        f' text-anchor="end">{last:%m-%d}</text></svg>'
    )
    return Markup("".join(parts))


@dataclass(frozen=True)
class ReportNames:
    """How the page names what the report groups by: rules, branches, managers."""

    rules: Mapping[str, str] = field(default_factory=dict)
    branches: Mapping[str, str] = field(default_factory=dict)
    managers: Mapping[str, str] = field(default_factory=dict)

    def of(self, section: str, key: str) -> str:
        names = {"rule": self.rules, "branch": self.branches, "manager": self.managers}[section]
        return names.get(key, key)


def render_html(
    report: Report,
    language: str = "en",
    names: ReportNames | None = None,
    *,
    scope: str = "",
) -> str:
    """The report page: one card per rule, branch and manager, so it reads on a phone.

    ``scope`` names whose report it is (a branch's), shown in the heading.
    """
    from churnwatch.followup.pages import render_page  # the page environment owns the templates

    names = names or ReportNames()
    locale = locale_of(language)
    return render_page(
        "report.html.j2",
        language,
        report=report,
        scope=scope,
        sections=[
            (section, [(names.of(section, g.key), g) for g in groups])
            for section, groups in _sections(report)
        ],
        holdings=holding_sections(report.holdings, names.of),
        score_bands=report.score_bands,
        band_label=lambda band: band_label(band, language),
        ratio=lambda v: "-" if v is None else format_decimal(v, "0.00", locale=locale),
        thresholds=HOLDING_THRESHOLDS,
        chart=day_chart,
        share=lambda v: "-" if v is None else format_percent(v, "#,##0.#%", locale=locale),
        points=lambda v: (
            "-" if v is None else format_decimal(v * 100, "+#,##0.0;-#,##0.0", locale=locale)
        ),
        waited=lambda v: "-" if v is None else format_timedelta(v, locale=locale),
        money=lambda v: money(v, language),
        day=lambda v: date_long(v, language),
    )
