"""Render a backtest's result: plain text for the terminal, one HTML file.

The HTML report is self-contained: styles inline, charts as inline SVG, no script, no
font or stylesheet fetched from anywhere, so it can be mailed to compliance or opened
on a phone offline. Every value goes through jinja2 autoescaping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jinja2
from markupsafe import Markup

from churnwatch.streams.backtest.result import AlertExample, BacktestResult, Reach, RuleDiff

__all__ = ["DayChart", "day_chart", "render_html", "render_text"]

#: per-day rows shown in the text report, at most
TEXT_DAYS = 14


# --------------------------------------------------------------------------- text


def render_text(result: BacktestResult) -> str:
    """The report as plain text lines (no colour codes), for the terminal or a ticket."""
    out: list[str] = []
    replay = result.replay
    out.append(
        f"Backtest: {result.new_source} ({result.new_fingerprint}) "
        f"against baseline {result.baseline_source} ({result.baseline_fingerprint})"
    )
    span = f"{result.days[0]} .. {result.days[-1]}" if result.days else "no alerts"
    out.append(
        f"Events: {result.events_source}: {replay.lines:,} lines, {replay.events:,} events, "
        f"{sum(replay.dead_letters.values()):,} dead letters; alert days {span} "
        f"({result.timezone})"
    )
    out.extend(f"WARNING: {warning}" for warning in result.coverage_warnings)
    out.append("")
    out.extend(_text_changes(result))
    out.append("")
    out.append(
        f"Alerts: {result.before:,} before, {result.after:,} after "
        f"(+{result.added:,} added, -{result.removed:,} removed)"
    )
    out.append(f"Would message: {_reach_text(result.reach_before, result.reach_after)}")
    out.append("")
    out.extend(_text_table(result.rules))
    for rule in result.rules:
        if rule.alerts_changed:
            out.append("")
            out.extend(_text_examples(rule))
    changed_days = [
        d for d in result.days if result.days_before.get(d, 0) != result.days_after.get(d, 0)
    ]
    out.append("")
    if not changed_days:
        out.append("Per day: no day changes.")
    else:
        out.append(f"Per day ({len(changed_days)} day(s) change; before -> after):")
        for day in changed_days[:TEXT_DAYS]:
            before, after = result.days_before.get(day, 0), result.days_after.get(day, 0)
            out.append(f"  {day}  {before:>5} -> {after:<5} ({after - before:+d})")
        if len(changed_days) > TEXT_DAYS:
            out.append(f"  ... and {len(changed_days) - TEXT_DAYS} more day(s) (see --html)")
    out.append("")
    out.append("Result: " + ("NO CHANGE in alerts." if result.no_change else _verdict(result)))
    return "\n".join(out)


def _verdict(result: BacktestResult) -> str:
    rules = [r.rule_id for r in result.rules if r.alerts_changed]
    return (
        f"{result.added:,} alert(s) added and {result.removed:,} removed, "
        f"in {len(rules)} rule(s): {', '.join(rules)}."
    )


def _text_changes(result: BacktestResult) -> list[str]:
    changes = result.changes
    if not changes.any:
        return ["Rule set changes: none (same rules, same versions)."]
    out = ["Rule set changes:"]
    out.extend(f"  added    {rid} v{v}" for rid, v in changes.added)
    out.extend(f"  removed  {rid} v{v}" for rid, v in changes.removed)
    out.extend(f"  changed  {rid} v{a} -> v{b}" for rid, a, b in changes.changed)
    out.extend(f"  predicate changed  {name}" for name in changes.predicates)
    out.extend(
        f"  WARNING  {rid} changed but its version was not raised" for rid in changes.same_version
    )
    return out


def _reach_text(before: Reach, after: Reach) -> str:
    text = f"customers {before.customers} -> {after.customers}, "
    text += f"managers {before.managers} -> {after.managers}"
    if before.executives or after.executives:
        text += f", executives {before.executives} -> {after.executives}"
    return text


def _version_text(rule: RuleDiff) -> str:
    a = "-" if rule.version_before is None else f"v{rule.version_before}"
    b = "-" if rule.version_after is None else f"v{rule.version_after}"
    return a if a == b else f"{a}->{b}"


def _text_table(rules: Sequence[RuleDiff]) -> list[str]:
    header = ("rule", "version", "before", "after", "added", "removed", "customers", "managers")
    rows = [
        (
            r.rule_id,
            _version_text(r),
            f"{r.before:,}",
            f"{r.after:,}",
            f"+{r.added:,}",
            f"-{r.removed:,}",
            f"{r.reach_before.customers}->{r.reach_after.customers}",
            f"{r.reach_before.managers}->{r.reach_after.managers}",
        )
        for r in rules
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _text_examples(rule: RuleDiff) -> list[str]:
    out = [f"{rule.rule_id}: +{rule.added:,} added, -{rule.removed:,} removed"]
    for sign, examples, total in (
        ("+", rule.added_examples, rule.added),
        ("-", rule.removed_examples, rule.removed),
    ):
        out.extend(f"  {sign} {_example_text(e)}" for e in examples)
        if total > len(examples):
            out.append(f"  {sign} ... {total - len(examples):,} more")
    return out


def _example_text(example: AlertExample) -> str:
    facts = " ".join(f"{k}={v}" for k, v in example.facts)
    return f"{example.occurred_at:%Y-%m-%d %H:%M} {example.customer_id}  {facts}".rstrip()


# --------------------------------------------------------------------------- chart


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    label: str


@dataclass(frozen=True, slots=True)
class DayChart:
    """An SVG bar chart, before vs after per day, laid out in Python for the template."""

    width: int
    height: int
    top: int
    bottom: int
    left: int
    peak: int
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]


def day_chart(
    days: Sequence[dt.date],
    before: Mapping[dt.date, int],
    after: Mapping[dt.date, int],
    *,
    height: int = 180,
) -> DayChart:
    """Lay out one pair of bars per day (baseline grey, new blue), scaled to the busiest day.

    Days without alerts get no bar; their slot stays empty so days line up across charts.
    """
    left, top, bottom = 34, 12, 24
    slot = 14 if len(days) <= 60 else 8
    width = left + max(len(days), 1) * slot + 8
    peak = max([*before.values(), *after.values(), 1])
    plot = height - top - bottom
    bars: list[Bar] = []
    ticks: list[tuple[float, str]] = []
    step = max(1, len(days) // 8)
    for i, day in enumerate(days):
        x0 = left + i * slot + 1
        for offset, series, counts in ((0, "before", before), (1, "after", after)):
            count = counts.get(day, 0)
            if not count:
                continue
            h = plot * count / peak
            bars.append(
                Bar(
                    x=x0 + offset * (slot - 2) / 2,
                    y=top + plot - h,
                    width=(slot - 2) / 2,
                    height=h,
                    series=series,
                    label=f"{day}: {series} {count}",
                )
            )
        if i % step == 0:
            ticks.append((x0 + (slot - 2) / 2, f"{day:%m-%d}"))
    return DayChart(width, height, top, bottom, left, peak, tuple(bars), tuple(ticks))


# --------------------------------------------------------------------------- html

_TEMPLATE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>churnwatch backtest: {{ r.new_source }}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 960px; padding: 12px; color: #1b1f24; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
h3 { font-size: 1em; margin-bottom: .3em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .4em 0; font-size: .92em; }
th, td { border-bottom: 1px solid #d0d7de; padding: 4px 8px; text-align: left;
         vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.added { color: #1a7f37; } .removed { color: #cf222e; } .muted { color: #656d76; }
.warn { background: #fff8c5; padding: 6px 8px; }
.verdict { font-weight: 600; padding: 8px; background: #f6f8fa; }
svg { max-width: 100%; height: auto; display: block; }
svg .before { fill: #8c959f; } svg .after { fill: #0969da; }
svg text { font-size: 10px; fill: #656d76; }
.key span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
code { font-size: .92em; }
</style>
</head>
<body>
<h1>Backtest of a rule change</h1>
{{ before }}
<p>New rules <code>{{ r.new_source }}</code> ({{ r.new_fingerprint }})<br>
baseline <code>{{ r.baseline_source }}</code> ({{ r.baseline_fingerprint }})<br>
events <code>{{ r.events_source }}</code>: {{ "{:,}".format(r.replay.lines) }} lines,
{{ "{:,}".format(r.replay.events) }} events,
{{ "{:,}".format(r.replay.dead_letters.values() | sum) }} dead letters.
Days are local days in {{ r.timezone }}.</p>
<p class="verdict">{{ verdict }}</p>
{% for warning in r.coverage_warnings %}<p class="warn">{{ warning }}</p>
{% endfor %}

<h2>Rule set changes</h2>
{% if not r.changes.any %}<p>None: the same rules at the same versions.</p>{% else %}
<ul>
{% for rid, v in r.changes.added %}<li class="added">added {{ rid }} v{{ v }}</li>{% endfor %}
{% for rid, v in r.changes.removed %}
<li class="removed">removed {{ rid }} v{{ v }}</li>{% endfor %}
{% for rid, a, b in r.changes.changed %}<li>changed {{ rid }} v{{ a }} → v{{ b }}</li>{% endfor %}
{% for name in r.changes.predicates %}<li>predicate changed: {{ name }}</li>{% endfor %}
</ul>
{% for rid in r.changes.same_version %}
<p class="warn">{{ rid }} changed but its version was not raised.</p>{% endfor %}
{% endif %}

<h2>Alerts per day</h2>
<p>{{ "{:,}".format(r.before) }} before, {{ "{:,}".format(r.after) }} after
(<span class="added">+{{ "{:,}".format(r.added) }}</span>,
<span class="removed">−{{ "{:,}".format(r.removed) }}</span>).
Would message: customers {{ r.reach_before.customers }} → {{ r.reach_after.customers }},
managers {{ r.reach_before.managers }} → {{ r.reach_after.managers }}{% if
r.reach_before.executives or r.reach_after.executives %}, executives
{{ r.reach_before.executives }} → {{ r.reach_after.executives }}{% endif %}.</p>
{{ chart(total, "All rules, alerts per day") }}

<h2>Per rule</h2>
<div class="scroll"><table>
<thead><tr><th>rule</th><th>version</th><th class="n">before</th><th class="n">after</th>
<th class="n">added</th><th class="n">removed</th><th class="n">customers</th>
<th class="n">managers</th></tr></thead>
<tbody>
{% for rule in r.rules %}<tr>
<td>{% if rule.alerts_changed %}<a href="#rule-{{ rule.rule_id }}">{{ rule.rule_id }}</a>{%
 else %}{{ rule.rule_id }}{% endif %}<br><span class="muted">{{ rule.title }}</span></td>
<td>{{ version(rule) }}</td>
<td class="n">{{ "{:,}".format(rule.before) }}</td>
<td class="n">{{ "{:,}".format(rule.after) }}</td>
<td class="n added">+{{ "{:,}".format(rule.added) }}</td>
<td class="n removed">−{{ "{:,}".format(rule.removed) }}</td>
<td class="n">{{ rule.reach_before.customers }} → {{ rule.reach_after.customers }}</td>
<td class="n">{{ rule.reach_before.managers }} → {{ rule.reach_after.managers }}</td>
</tr>{% endfor %}
</tbody></table></div>

{% for rule in r.rules if rule.alerts_changed %}
<section id="rule-{{ rule.rule_id }}">
<h2>{{ rule.rule_id }} <span class="muted">{{ version(rule) }}</span></h2>
<p>{{ rule.title }}: {{ rule.before }} → {{ rule.after }} alerts
(<span class="added">+{{ rule.added }}</span>, <span class="removed">−{{ rule.removed }}</span>).
</p>
{{ chart(rule_charts[rule.rule_id], rule.rule_id ~ ", alerts per day") }}
{% for kind, examples, total in [("added", rule.added_examples, rule.added),
                                 ("removed", rule.removed_examples, rule.removed)] %}
{% if total %}
<h3 class="{{ kind }}">{{ kind | capitalize }} ({{ total }}{% if total > examples | length
%}, first {{ examples | length }} shown{% endif %})</h3>
<div class="scroll"><table>
<thead><tr><th>when</th><th>customer</th><th>facts</th><th>trigger</th></tr></thead>
<tbody>{% for e in examples %}<tr>
<td>{{ e.occurred_at.strftime("%Y-%m-%d %H:%M") }}</td><td>{{ e.customer_id }}</td>
<td>{% for k, v in e.facts %}{{ k }} <b>{{ v }}</b>{% if not loop.last %}<br>{% endif %}{%
 endfor %}</td>
<td class="muted">{{ e.trigger_event_ids | join(", ") }}</td>
</tr>{% endfor %}</tbody></table></div>
{% endif %}{% endfor %}
</section>
{% endfor %}

<h2>How to read this</h2>
<p class="muted">Both rule sets ran over the same events with the replay driver. An alert is
the same in both when rule id, customer and triggering events agree. "Customers" counts
distinct customers who would get an SMS (addressed to the customer and opted in);
"managers" counts distinct relationship managers and branch heads addressed. Counts are
before cooldowns, quiet hours and daily caps, with the directory as of the last event.</p>
</body>
</html>
"""

_CHART = """\
<figure>
<svg viewBox="0 0 {{ c.width }} {{ c.height }}" width="{{ c.width }}" height="{{ c.height }}"
 role="img" aria-label="{{ caption }}">
<title>{{ caption }}</title>
<line x1="{{ c.left }}" y1="{{ c.top }}" x2="{{ c.left }}" y2="{{ c.height - c.bottom }}"
 stroke="#d0d7de"/>
<line x1="{{ c.left }}" y1="{{ c.height - c.bottom }}" x2="{{ c.width }}"
 y2="{{ c.height - c.bottom }}" stroke="#d0d7de"/>
<text x="{{ c.left - 4 }}" y="{{ c.top + 4 }}" text-anchor="end">{{ c.peak }}</text>
<text x="{{ c.left - 4 }}" y="{{ c.height - c.bottom }}" text-anchor="end">0</text>
{% for b in c.bars %}<rect class="{{ b.series }}" x="{{ '%.1f' % b.x }}" y="{{ '%.1f' % b.y }}"
 width="{{ '%.1f' % b.width }}" height="{{ '%.1f' % b.height }}"><title>{{ b.label }}</title></rect>
{% endfor %}{% for x, label in c.ticks %}<text x="{{ '%.1f' % x }}"
 y="{{ c.height - c.bottom + 14 }}" text-anchor="middle">{{ label }}</text>
{% endfor %}</svg>
<figcaption class="key">{{ caption }}
<span style="background:#8c959f"></span>before (baseline)
<span style="background:#0969da"></span>after (new)</figcaption>
</figure>
"""

_env = jinja2.Environment(
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_page = _env.from_string(_TEMPLATE)
_chart = _env.from_string(_CHART)


def render_html(result: BacktestResult, *, before: Markup | None = None) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts).

    ``before`` is escaped HTML shown under the title (the field-by-field review).
    """

    def chart(data: DayChart, caption: str) -> Markup:
        return Markup(_chart.render(c=data, caption=caption))

    total = day_chart(result.days, result.days_before, result.days_after)
    rule_charts = {
        rule.rule_id: day_chart(result.days, rule.days_before, rule.days_after)
        for rule in result.rules
        if rule.alerts_changed
    }
    verdict = "No change in alerts." if result.no_change else _verdict(result)
    return _page.render(
        r=result,
        total=total,
        rule_charts=rule_charts,
        chart=chart,
        version=_version_text,
        verdict=verdict,
        before=before or "",
    )
