"""Render a rule-pack review (``churnwatch rules diff``) as text and as one HTML file.

With events, the review goes on top of the backtest's own report (alerts gained and
lost per rule); without, it is a page of its own. Like the backtest report, the HTML is
self-contained and every value is escaped by jinja2.
"""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from churnwatch.streams.backtest.report import render_html
from churnwatch.streams.backtest.result import BacktestResult
from churnwatch.streams.backtest.review import PackReview, RuleReview

__all__ = ["render_review_html", "render_review_text"]

#: a changed text longer than this is shown cut, with its length
TEXT_WIDTH = 100


def render_review_text(review: PackReview) -> str:
    """Every rule, predicate and file change, one field per line."""
    out = [
        f"Rule pack review: {review.old_source} ({review.old_fingerprint}) -> "
        f"{review.new_source} ({review.new_fingerprint})"
    ]
    if not review.any:
        out.append("No change: the same rules, predicates, routing and texts.")
        return "\n".join(out)
    counts = {s: sum(r.status == s for r in review.rules) for s in ("added", "removed", "changed")}
    out.append(
        f"Rules: {counts['added']} added, {counts['removed']} removed, {counts['changed']} changed"
    )
    for rule in review.rules:
        out.append("")
        out.append(f"{rule.status:<8} {rule.rule_id} {_versions(rule)}")
        if rule.version_not_raised:
            out.append("  WARNING: changed but its version was not raised")
        if rule.status == "changed":
            out.extend(_field_line(f.field, f.before, f.after) for f in rule.fields)
    for predicate in review.predicates:
        out.append("")
        out.append(f"{predicate.status:<8} predicate {predicate.rule_id}")
        out.extend(_field_line(f.field, f.before, f.after) for f in predicate.fields)
    if review.score:
        out.append("")
        out.append("changed  churn score")
        out.extend(_field_line(f.field, f.before, f.after) for f in review.score)
    if review.files:
        out.append("")
        out.append("Texts and routing:")
        out.extend(f"  {f.status:<8} {f.path}" for f in review.files)
    return "\n".join(out)


def _versions(rule: RuleReview) -> str:
    if rule.status == "added":
        return f"v{rule.version_after}"
    if rule.status == "removed":
        return f"v{rule.version_before}"
    return f"v{rule.version_before} -> v{rule.version_after}"


def _field_line(name: str, before: str | None, after: str | None) -> str:
    return f"  {name}: {_short(before)} -> {_short(after)}"


def _short(value: str | None) -> str:
    if value is None:
        return "(absent)"
    value = " ".join(value.split())
    if len(value) > TEXT_WIDTH:
        return f"{value[:TEXT_WIDTH]}… ({len(value)} characters)"
    return value


_SECTION = """\
<h2>Rule changes, field by field</h2>
<p>Old <code>{{ v.old_source }}</code> ({{ v.old_fingerprint }}) →
new <code>{{ v.new_source }}</code> ({{ v.new_fingerprint }}).</p>
{% if not v.any %}<p>No change: the same rules, predicates, routing and texts.</p>{% endif %}
{% for rule in v.rules %}
<h3 class="{{ rule.status }}">{{ rule.status }} {{ rule.rule_id }}
<span class="muted">{{ versions(rule) }}</span></h3>
{% if rule.version_not_raised %}<p class="warn">Changed but its version was not raised.</p>
{% endif %}
{% if rule.status == "changed" %}
<div class="scroll"><table>
<thead><tr><th>field</th><th>before</th><th>after</th></tr></thead>
<tbody>{% for f in rule.fields %}<tr><td><code>{{ f.field }}</code></td>
<td class="removed">{{ f.before if f.before is not none else "(absent)" }}</td>
<td class="added">{{ f.after if f.after is not none else "(absent)" }}</td></tr>
{% endfor %}</tbody></table></div>
{% endif %}
{% endfor %}
{% for p in v.predicates %}
<h3>{{ p.status }} predicate {{ p.rule_id }}</h3>
<p><span class="removed">{{ p.fields[0].before or "(absent)" }}</span><br>
<span class="added">{{ p.fields[0].after or "(absent)" }}</span></p>
{% endfor %}
{% if v.score %}<h3 class="changed">changed churn score</h3>
<div class="scroll"><table>
<thead><tr><th>field</th><th>before</th><th>after</th></tr></thead>
<tbody>{% for f in v.score %}<tr><td><code>{{ f.field }}</code></td>
<td class="removed">{{ f.before if f.before is not none else "(absent)" }}</td>
<td class="added">{{ f.after if f.after is not none else "(absent)" }}</td></tr>
{% endfor %}</tbody></table></div>{% endif %}
{% if v.files %}<h3>Texts and routing</h3><ul>
{% for f in v.files %}<li class="{{ f.status }}">{{ f.status }} <code>{{ f.path }}</code></li>
{% endfor %}</ul>{% endif %}
"""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>churnwatch rule review: {{ v.new_source }}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 960px; padding: 12px; color: #1b1f24; }
table { border-collapse: collapse; font-size: .92em; }
th, td { border-bottom: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
.added { color: #1a7f37; } .removed { color: #cf222e; } .muted { color: #656d76; }
.warn { background: #fff8c5; padding: 6px 8px; } .scroll { overflow-x: auto; }
</style>
</head>
<body>
<h1>Review of a rule change</h1>
{{ section }}
</body>
</html>
"""

_env = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_section = _env.from_string(_SECTION)
_page = _env.from_string(_PAGE)


def render_review_html(review: PackReview, backtest: BacktestResult | None = None) -> str:
    """One page: the field changes, then (with events) the backtest's alerts gained and lost."""
    section = Markup(_section.render(v=review, versions=_versions))
    if backtest is None:
        return _page.render(v=review, section=section)
    return render_html(backtest, before=section)
