"""The churn score for managers: outcomes by score band in the report, the score on the page.

Fixture (Monday 2026-11-23, 10:00 Shanghai; every alert large-transfer-out):

=====  ========  =====  =======  ========  ===========  ===========
alert  customer  score  band     group     recorded     derived
=====  ========  =====  =======  ========  ===========  ===========
1      C1        10     0-25     treated   retained     retained
2      C2        20     0-25     treated   -            retained
3      C3        30     25-50    treated   false alarm  left
4      C4        40     25-50    control   -            retained
5      C5        60     50-75    treated   left         left
6      C6        80     75+      control   -            left
7      C7        80     75+      treated   retained     unknown
8      C8        -      -        treated   left         left       (no score: left out)
=====  ========  =====  =======  ========  ===========  ===========

Derived concordance: the left cases score 30, 60, 80 against 10, 20, 40 kept: 30 beats
two, 60 and 80 beat all three: 8 of 9 pairs, 0.89. Recorded: the one left (60) against
10, 30 (false alarm) and 80 (retained): 2 of 3, 0.67.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import httpx
import msgspec
import pytest

from churnwatch.followup.escalation import EscalationPolicy, Escalator
from churnwatch.followup.report.build import Report, build_report
from churnwatch.followup.report.render import render_csv, render_html, render_text
from churnwatch.followup.score.bands import concordance
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify
from churnwatch.followup.tokens import LinkSigner, manager_link
from churnwatch.followup.web import WebSettings, create_app
from churnwatch.notifiers.setup import load_templates, routing_for
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.models import Alert, AlertScore, DerivedOutcome, ScoreContribution
from churnwatch.schemas.store import AlertStore

from ..conftest import MONDAY_10, _Shim, add, customer, make_alert
from ..server import serve

BANDS = {10: ("0", "25"), 20: ("0", "25"), 30: ("25", "50"), 40: ("25", "50")}
BANDS |= {60: ("50", "75"), 80: ("75", None)}
ROWS = [
    (1, "C1", 10, False, "retained", "retained"),
    (2, "C2", 20, False, None, "retained"),
    (3, "C3", 30, False, "false_alarm", "left"),
    (4, "C4", 40, True, None, "retained"),
    (5, "C5", 60, False, "left", "left"),
    (6, "C6", 80, True, None, "left"),
    (7, "C7", 80, False, "retained", "unknown"),
    (8, "C8", None, False, "left", "left"),
]


def scored(alert: Alert, points: int, at: dt.datetime) -> Alert:
    low, high = BANDS[points]
    part = ScoreContribution("large-transfer-out", at, Decimal("30.00"), Decimal(points))
    score = AlertScore(
        Decimal(points), "30d", Decimal(low), Decimal(high) if high else None, [part]
    )
    return msgspec.structs.replace(alert, score=score)


@pytest.fixture
def report(both_stores: FollowUpStore) -> Report:
    store = both_stores
    derived = []
    for n, cust, points, control, recorded, outcome in ROWS:
        alert = make_alert(n, customer_id=cust)
        if points is not None:
            alert = scored(alert, points, MONDAY_10)
        add(store, alert)
        routed = [] if control else [("S-RM1", "relationship_manager")]
        store.open(alert, customer(cust, "S-RM1", "BR01"), routed, MONDAY_10, control=control)
        if recorded:
            store.record(alert.alert_id, "outcome", "S-RM1", "web", MONDAY_10, outcome=recorded)
        derived.append(
            DerivedOutcome(
                alert_id=alert.alert_id,
                rule_id=alert.rule_id,
                customer_id=cust,
                outcome=outcome,
                decided_at=MONDAY_10 + dt.timedelta(days=9),
            )
        )
    AlertStore.add_outcomes(_Shim(store), derived)  # type: ignore[arg-type]
    since = MONDAY_10 - dt.timedelta(days=30)
    return build_report(store.engine, since, MONDAY_10 + dt.timedelta(days=2))


def test_outcomes_per_band_one_per_case(report: Report) -> None:
    """Each band counts its cases, customers and outcomes; an alert without a score is out."""
    bands = report.score_bands.bands
    assert [(b.low, b.high, b.cases) for b in bands] == [
        (Decimal(0), Decimal(25), 2),
        (Decimal(25), Decimal(50), 2),
        (Decimal(50), Decimal(75), 1),
        (Decimal(75), None, 2),
    ]
    assert [b.recorded_left for b in bands] == [0.0, 0.0, 1.0, 0.0]
    assert [b.derived_left for b in bands] == [0.0, 0.5, 1.0, 1.0]
    assert dict(bands[1].recorded) == {"false_alarm": 1}
    assert dict(bands[3].derived) == {"left": 1, "unknown": 1}


def test_the_concordance_of_score_and_leaving(report: Report) -> None:
    """8 of 9 derived pairs and 2 of 3 recorded pairs are ranked right (hand-computed)."""
    bands = report.score_bands
    assert (bands.derived_n, bands.recorded_n) == (6, 4)
    assert bands.derived_concordance == pytest.approx(8 / 9)
    assert bands.recorded_concordance == pytest.approx(2 / 3)


def test_concordance_counts_ties_half() -> None:
    """Left 3, 5 against kept 1, 5: 3>1, 5>1 and the tie 5=5 counts half: 2.5 of 4."""
    cases = [(Decimal(3), True), (Decimal(5), True), (Decimal(1), False), (Decimal(5), False)]
    assert concordance(cases) == 0.625
    assert concordance([(Decimal(1), True)]) is None


def test_text_csv_and_html_show_the_bands(report: Report) -> None:
    """Every rendering carries the bands; the HTML and the text read in either language."""
    text = render_text(report)
    assert "Outcomes by churn score band" in text and "derived 0.89 (6 cases)" in text
    assert "recorded 0.67 (4 cases)" in text and "75 +" in text
    header = next(line for line in text.splitlines() if line.startswith("Churn score"))
    first = next(line for line in text.splitlines() if line.startswith("0 – 25"))
    assert first.index("2 ") == header.index("Cases")  # a dash is one column, not two
    rows = list(csv.reader(io.StringIO(render_csv(report))))
    band = next(r for r in rows if r[0] == "Churn score band" and r[1] == "25")
    assert band[2:5] == ["50", "2", "2"] and band[-1] == "0.5000"
    english = render_html(report, "en")
    assert "Outcomes by churn score band" in english and 'id="score-concordance"' in english
    chinese = render_html(report, "zh-CN")
    assert "按流失风险评分分段的结果" in chinese and "Outcomes by churn score band" not in chinese
    assert "按流失风险评分分段的结果" in render_text(report, "zh-CN")


SECRET = b"test-secret-0123456789abcdef"


@pytest.fixture
def page_link(store: FollowUpStore) -> Iterator[str]:
    """An alert carrying a score of two contributions, and the web app serving its page."""
    now = dt.datetime.now(dt.UTC)
    alert = make_alert(21, at=now)
    score = AlertScore(
        Decimal("64.99"),
        "30d",
        Decimal("50"),
        Decimal("75"),
        [
            ScoreContribution(
                "balance-sharp-fall", now - dt.timedelta(hours=1), Decimal("35"), Decimal("34.99")
            ),
            ScoreContribution("large-transfer-out", now, Decimal("30"), Decimal("30")),
        ],
    )
    alert = msgspec.structs.replace(alert, score=score)
    add(store, alert)
    Escalator(store, EscalationPolicy(), RecordingNotify(), FixedClock(now)).open(
        alert, customer(), [("S-RM1", "relationship_manager")]
    )
    app = create_app(
        WebSettings(
            store=store,
            signer=LinkSigner(SECRET),
            ruleset=load_rules(SHIPPED_RULES),
            templates=load_templates(SHIPPED_RULES, routing_for(SHIPPED_RULES)),
        )
    )
    with serve(app) as base:
        yield manager_link(base, alert.alert_id, "S-RM1", secret=SECRET, now=now)


def test_the_page_shows_the_score_and_its_contributions(page_link: str) -> None:
    """The score, its band and each signal by its rule's title from the pack, in both languages."""
    chinese = httpx.get(page_link + "?lang=zh-CN").text
    assert "本次预警时的流失风险评分" in chinese and 'id="score-points">64.99<' in chinese
    assert "余额大幅下降" in chinese and "大额资金流出" in chinese and "34.99" in chinese
    assert "每过 30天减半" in chinese and "50 – 75" in chinese
    english = httpx.get(page_link + "?lang=en").text
    assert "Churn score at this alert" in english and "Balance falling sharply" in english
    assert english.index("Large outflow from the bank") < english.index("Balance falling")
