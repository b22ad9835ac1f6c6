"""Derived outcomes in the report, beside the recorded ones, against a hand-computed fixture.

Fixture (Monday 2026-11-23, 10:00 Shanghai):

=====  ==================  ========  =======  ===============  ==================
alert  rule                customer  group    recorded         derived
=====  ==================  ========  =======  ===============  ==================
1      large-transfer-out  C1        treated  retained         retained
2      large-transfer-out  C2        treated  -                retained
3      large-transfer-out  C3        treated  -                left
4      large-transfer-out  C4        treated  -                partly (0.25)
5      large-transfer-out  C5        treated  -                unknown
6      large-transfer-out  C6        control  -                left
7      large-transfer-out  C7        control  -                left
8      large-transfer-out  C8        control  -                retained
9      maturity-reminder   C9        treated  -                retained (7d step)
10     maturity-reminder   C9        treated  -                retained (3d step, same case)
11     maturity-reminder   C10       treated  -                left
=====  ==================  ========  =======  ===============  ==================

Transfers: treated 3 kept of 4 decided (75%), control 1 of 3 (33.3%): uplift +41.7 points,
Newcombe's 95% interval -22.6 to +75.7 points. Maturity: the two steps of C9's maturity
are one case, so 1 kept of 2 (50%), and no control group: no uplift.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import msgspec
import pytest

from churnwatch.followup.report.build import Report, build_report
from churnwatch.followup.report.render import render_csv, render_html, render_text
from churnwatch.followup.store import FollowUpStore
from churnwatch.schemas.models import DerivedOutcome
from churnwatch.schemas.store import AlertStore

from ..conftest import MONDAY_10, _Shim, add, customer, make_alert

ROWS = [
    (1, "large-transfer-out", "C1", False, "retained", "retained", None),
    (2, "large-transfer-out", "C2", False, None, "retained", None),
    (3, "large-transfer-out", "C3", False, None, "left", None),
    (4, "large-transfer-out", "C4", False, None, "partly_retained", "0.2500"),
    (5, "large-transfer-out", "C5", False, None, "unknown", None),
    (6, "large-transfer-out", "C6", True, None, "left", None),
    (7, "large-transfer-out", "C7", True, None, "left", None),
    (8, "large-transfer-out", "C8", True, None, "retained", None),
    (9, "maturity-reminder", "C9", False, None, "retained", None),
    (10, "maturity-reminder", "C9", False, None, "retained", None),
    (11, "maturity-reminder", "C10", False, None, "left", None),
]


@pytest.fixture
def report(both_stores: FollowUpStore) -> Report:
    store = both_stores
    derived = []
    for n, rule, cust, control, recorded, outcome, share in ROWS:
        alert = make_alert(n, rule_id=rule, customer_id=cust)
        if n in (9, 10):  # two steps of one maturity: one case
            step = "7d" if n == 9 else "3d"
            alert = msgspec.structs.replace(
                alert,
                facts={"product_id": "P9", "amount": "100000.00", "step": step},
                trigger_event_ids=["sched-P9", f"step:{step}"],
            )
        add(store, alert)
        routed = [] if control else [("S-RM1", "relationship_manager")]
        store.open(alert, customer(cust, "S-RM1", "BR01"), routed, MONDAY_10, control=control)
        if recorded:
            store.record(alert.alert_id, "outcome", "S-RM1", "web", MONDAY_10, outcome=recorded)
        derived.append(
            DerivedOutcome(
                alert_id=alert.alert_id,
                rule_id=rule,
                customer_id=cust,
                outcome=outcome,
                decided_at=MONDAY_10 + dt.timedelta(days=9),
                share=Decimal(share) if share else None,
            )
        )
    AlertStore.add_outcomes(_Shim(store), derived)  # type: ignore[arg-type]
    since = MONDAY_10 - dt.timedelta(days=30)
    return build_report(store.engine, since, MONDAY_10 + dt.timedelta(days=2))


def test_derived_outcomes_per_group_beside_the_recorded_ones(report: Report) -> None:
    """Treated and control customers' derived outcomes are counted apart, one per case."""
    transfer, maturity = report.by_rule
    assert dict(transfer.derived) == {"retained": 2, "left": 1, "partly_retained": 1, "unknown": 1}
    assert dict(transfer.control_derived) == {"left": 2, "retained": 1}
    assert transfer.retention == 1.0  # recorded: the one outcome a manager entered
    assert transfer.derived_retention == 0.75
    assert transfer.control_derived_retention == pytest.approx(1 / 3)
    assert dict(maturity.derived) == {"retained": 1, "left": 1}
    assert maturity.derived_retention == 0.5


def test_uplift_with_its_interval_and_group_sizes(report: Report) -> None:
    """The uplift on derived outcomes, Newcombe's 95% interval and the two group sizes."""
    transfer, maturity = report.by_rule
    assert (transfer.treated_n, transfer.control_n) == (4, 3)
    assert transfer.derived_uplift == pytest.approx(0.75 - 1 / 3)
    interval = transfer.derived_interval
    assert interval is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == (-0.2257, 0.7568)
    assert maturity.derived_interval is None and maturity.derived_uplift is None


def test_text_csv_and_html_show_them(report: Report) -> None:
    """Each rendering carries the derived figures; the HTML reads in Chinese as in English."""
    text = render_text(report)
    assert "outcomes from the accounts, by rule" in text
    assert "+41.7 pp" in text and "-22.6 to +75.7 pp" in text and "2/1/1/1" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    transfer = next(r for r in rows if r["section"] == "rule" and r["key"] == "large-transfer-out")
    assert (transfer["treated_n"], transfer["control_n"]) == ("4", "3")
    assert (transfer["derived_uplift_low"], transfer["derived_uplift_high"]) == (
        "-0.2257",
        "0.7568",
    )
    assert transfer["control_derived_left"] == "2" and transfer["derived_unknown"] == "1"
    english = render_html(report, "en")
    assert "From the accounts" in english and "95% confidence interval" in english
    assert "4 followed up, 3 in the control group" in english
    chinese = render_html(report, "zh-CN")
    assert "按账户数据推算" in chinese and "95% 置信区间" in chinese
    assert "已跟进 4 位，对照组 3 位" in chinese and "From the accounts" not in chinese
