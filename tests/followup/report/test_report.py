"""The report's figures against a small hand-computed fixture.

Fixture (Monday 2026-11-23, 10:00 Shanghai unless noted; minutes are time to acknowledge):

=====  ==================  ========  =====  =======  ======================
alert  rule                customer  branch  ack      outcome
=====  ==================  ========  =====  =======  ======================
1      large-transfer-out  C1        BR01   30 m     retained
2      large-transfer-out  C2        BR01   90 m     false_alarm
3      large-transfer-out  C3        BR02   60 m     left
4      large-transfer-out  C4        BR02   -        -
5      large-transfer-out  C5        BR01   control  left (back office)
6      large-transfer-out  C6        BR02   control  left (back office)
7      maturity-reminder   C7 P1     BR01   10 m     retained       (100,000)
8      maturity-reminder   C7 P1     BR01   -        -   (Tuesday, 1-day step)
9      maturity-reminder   C8 P2     BR02   20 m     partly, 20,000 (50,000)
10     maturity-reminder   C9 P3     BR01   40 m     left           (30,000)
11     maturity-reminder   C10 P4    BR02   -        -              (70,000)
12     large-transfer-out  C1        BR01   5 m      retained   (40 days ago: outside)
=====  ==================  ========  =====  =======  ======================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from churnwatch.followup.report.build import Report, build_report
from churnwatch.followup.report.render import render_csv, render_html, render_text
from churnwatch.followup.store import FollowUpStore

from ..conftest import MONDAY_10, add, customer, make_alert


@pytest.fixture
def store(both_stores: FollowUpStore) -> FollowUpStore:
    """These tests run on SQLite and on PostgreSQL."""
    return both_stores


M = dt.timedelta(minutes=1)
ROWS = [
    (1, "large-transfer-out", "C1", "BR01", 30, "retained", None, None),
    (2, "large-transfer-out", "C2", "BR01", 90, "false_alarm", None, None),
    (3, "large-transfer-out", "C3", "BR02", 60, "left", None, None),
    (4, "large-transfer-out", "C4", "BR02", None, None, None, None),
    (5, "large-transfer-out", "C5", "BR01", "control", "left", None, None),
    (6, "large-transfer-out", "C6", "BR02", "control", "left", None, None),
    (7, "maturity-reminder", "C7", "BR01", 10, "retained", "P1", "100000.00"),
    (8, "maturity-reminder", "C7", "BR01", None, None, "P1", "100000.00"),
    (9, "maturity-reminder", "C8", "BR02", 20, "partly_retained", "P2", "50000.00"),
    (10, "maturity-reminder", "C9", "BR01", 40, "left", "P3", "30000.00"),
    (11, "maturity-reminder", "C10", "BR02", None, None, "P4", "70000.00"),
    (12, "large-transfer-out", "C1", "BR01", 5, "retained", None, None),
]
MANAGER = {"BR01": "S-RM1", "BR02": "S-RM3"}


@pytest.fixture
def report(store: FollowUpStore) -> Report:
    for n, rule, cust, branch, ack, outcome, product, amount in ROWS:
        at = MONDAY_10 + (dt.timedelta(days=1) if n == 8 else dt.timedelta())
        at -= dt.timedelta(days=40) if n == 12 else dt.timedelta()
        facts = {"product_id": product, "amount": amount} if product else None
        alert = make_alert(n, rule_id=rule, customer_id=cust, at=at, facts=facts)
        add(store, alert)
        control = ack == "control"
        routed = [] if control else [(MANAGER[branch], "relationship_manager")]
        store.open(alert, customer(cust, MANAGER[branch], branch), routed, at, control=control)
        if isinstance(ack, int):
            store.record(alert.alert_id, "acknowledge", MANAGER[branch], "web", at + ack * M)
        if outcome:
            kept = Decimal("20000") if outcome == "partly_retained" else None
            store.record(
                alert.alert_id, "outcome", "S-EX1", "web", at + 600 * M,
                outcome=outcome, retained_amount=kept,
            )  # fmt: skip
    since = MONDAY_10 - dt.timedelta(days=30)
    return build_report(store.engine, since, MONDAY_10 + dt.timedelta(days=2))


def test_per_rule_figures(report: Report) -> None:
    """Alerts, acknowledged share, median time to acknowledge, outcomes, precision, uplift."""
    transfer, maturity = report.by_rule
    assert transfer.key == "large-transfer-out"
    assert (transfer.alerts, transfer.acknowledged, transfer.control_alerts) == (4, 3, 2)
    assert transfer.ack_share == 0.75
    assert transfer.median_ack == 60 * M
    assert dict(transfer.outcomes) == {"retained": 1, "false_alarm": 1, "left": 1}
    assert transfer.precision == pytest.approx(2 / 3)
    assert transfer.retention == 0.5
    assert transfer.control_retention == 0.0
    assert transfer.uplift == 0.5
    assert (maturity.alerts, maturity.acknowledged) == (5, 3)
    assert maturity.ack_share == 0.6 and maturity.median_ack == 20 * M
    assert maturity.precision == 1.0 and maturity.retention == pytest.approx(2 / 3)
    assert maturity.uplift is None


def test_per_branch_and_manager(report: Report) -> None:
    """Branch and manager rows split the same cases by the customer's branch and manager."""
    br01, br02 = report.by_branch
    assert (br01.key, br01.alerts, br01.acknowledged, br01.median_ack) == ("BR01", 5, 4, 35 * M)
    assert br01.precision == 0.75
    assert (br02.key, br02.alerts, br02.acknowledged, br02.median_ack) == ("BR02", 4, 2, 40 * M)
    assert br02.precision == 1.0
    assert [g.key for g in report.by_manager] == ["S-RM1", "S-RM3"]
    assert [g.alerts for g in report.by_manager] == [5, 4]


def test_maturing_funds_retained(report: Report) -> None:
    """(100,000 + 20,000) kept of the 180,000 maturing in products with an outcome."""
    m = report.maturity
    assert (m.products, m.products_with_outcome) == (4, 3)
    assert (m.maturing_amount, m.retained_amount) == (Decimal("180000.00"), Decimal("120000.00"))
    assert m.share == pytest.approx(2 / 3)


def test_per_day_counts(report: Report) -> None:
    """Acted-on alerts per local day and rule, with how many were acknowledged."""
    monday, tuesday = dt.date(2026, 11, 23), dt.date(2026, 11, 24)
    assert report.per_day == {
        monday: {"large-transfer-out": (4, 3), "maturity-reminder": (4, 3)},
        tuesday: {"maturity-reminder": (1, 0)},
    }


def test_renderings(report: Report) -> None:
    """Text, CSV and self-contained HTML carry the same figures."""
    text = render_text(report)
    assert "large-transfer-out" in text and "+50.0 pp" in text and "66.7%" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    transfer = next(r for r in rows if r["section"] == "rule" and r["key"] == "large-transfer-out")
    assert transfer["acknowledged"] == "0.7500" and transfer["median_ack"] == "3600"
    assert transfer["uplift"] == "0.5000"
    html = render_html(report)
    assert html.count("<svg") == 3  # all rules, then one per rule
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "66.7%" in html
