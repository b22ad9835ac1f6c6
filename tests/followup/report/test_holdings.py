"""Product cross-holding (产品交叉覆盖率) in the report, on a hand-computed fixture.

BR01: C1 (S-RM1) holds 5 products, C2 (S-RM1) 3 (a fourth cancelled), C3 (S-RM2) 2,
C4 (S-RM2) none (its one product redeemed). BR02: C5 (S-RM3) holds 1, C6 (S-RM3) 2.
C7 holds 4 but the bank sent no customer record for it: not counted. So BR01 has 4
customers, 3 holding at least 2 (75%), 2 at least 3 (50%), 1 at least 5 (25%); BR02 has
2, 1 at least 2 (50%), none at 3 or 5. S-RM1: 2 of 2, 2 of 2, 1 of 2; S-RM2: 1 of 2,
0, 0; S-RM3: 1 of 2, 0, 0.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest

from churnwatch.followup.report.build import build_report
from churnwatch.followup.report.render import ReportNames, render_csv, render_html, render_text
from churnwatch.rules.tiers import DEFAULT_TIERS
from churnwatch.schemas.models import CustomerEvent, ProductEvent
from churnwatch.schemas.profiles import ProfileBook
from churnwatch.schemas.store import AlertStore

from ..test_pages_zh import english_words, visible_text

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
PEOPLE = {
    "C1": ("BR01", "S-RM1", 5, 0),
    "C2": ("BR01", "S-RM1", 3, 1),
    "C3": ("BR01", "S-RM2", 2, 0),
    "C4": ("BR01", "S-RM2", 0, 1),
    "C5": ("BR02", "S-RM3", 1, 0),
    "C6": ("BR02", "S-RM3", 2, 0),
}
NAMES = ReportNames(
    branches={"BR01": "城东支行", "BR02": "城西支行"},
    managers={"S-RM1": "王伟", "S-RM2": "李娜", "S-RM3": "张强"},
)
KINDS = ["time_deposit", "wealth", "fund_plan", "insurance", "auto_debit"]


def _products(customer_id: str, held: int, closed: int) -> list[ProductEvent]:
    out = []
    for n in range(held + closed):
        for step, action in enumerate(["opened", "cancelled"] if n >= held else ["opened"]):
            out.append(
                ProductEvent(
                    event_id=f"{customer_id}-{n}-{action}",
                    occurred_at=T0 + dt.timedelta(hours=step),
                    customer_id=customer_id,
                    account_id="AC1",
                    product_id=f"P{n}",
                    product_kind=KINDS[n % len(KINDS)],  # type: ignore[arg-type]
                    action=action,  # type: ignore[arg-type]
                )
            )
    return out


@pytest.fixture
def store(sqlite_store: AlertStore) -> AlertStore:
    book = ProfileBook(DEFAULT_TIERS.tier_of)
    for customer_id, (branch, manager, held, closed) in PEOPLE.items():
        book.note(
            CustomerEvent(
                event_id=f"cu-{customer_id}",
                occurred_at=T0,
                customer_id=customer_id,
                name=customer_id,
                phone="+8613800000000",
                language="zh-CN",
                aum=Decimal(1000),
                branch_id=branch,
                manager_id=manager,
                sms_opt_in=True,
            )
        )
        for event in _products(customer_id, held, closed):
            book.note(event)
    for event in _products("C7", 4, 0):
        book.note(event)
    book.write(sqlite_store.engine)
    return sqlite_store


def _report(store: AlertStore, branch_id: str | None = None):  # type: ignore[no-untyped-def]
    return build_report(store.engine, T0 - dt.timedelta(days=30), T0, branch_id=branch_id)


def test_counts_per_branch_and_manager(store: AlertStore) -> None:
    """The hand-computed counts, per branch and per manager."""
    report = _report(store)
    counted = {
        section: {h.key: (h.customers, h.at_least[2], h.at_least[3], h.at_least[5]) for h in rows}
        for section, rows in report.holdings.items()
    }
    assert counted == {
        "branch": {"BR01": (4, 3, 2, 1), "BR02": (2, 1, 0, 0)},
        "manager": {"S-RM1": (2, 2, 2, 1), "S-RM2": (2, 1, 0, 0), "S-RM3": (2, 1, 0, 0)},
    }
    branch = report.holdings["branch"][0]
    assert (branch.share(2), branch.share(3), branch.share(5)) == (0.75, 0.5, 0.25)


def test_a_branch_heads_report_counts_their_branch(store: AlertStore) -> None:
    """Scoped to BR02: its customers and its manager only."""
    report = _report(store, "BR02")
    assert [h.key for h in report.holdings["branch"]] == ["BR02"]
    assert [h.key for h in report.holdings["manager"]] == ["S-RM3"]


def test_text_in_both_languages(store: AlertStore) -> None:
    """The section's words come from the catalog: English, then Chinese with no English
    word; names instead of ids; the shares as computed by hand."""
    report = _report(store)
    english = render_text(report, "en", NAMES)
    section = english[english.index("Product cross-holding") :]
    assert re.search(r"城东支行\s+4\s+75%\s+\(3\)\s+50%\s+\(2\)\s+25%\s+\(1\)", section), section
    assert "At least 5 products" in section
    chinese = render_text(report, "zh-CN", NAMES)
    section = chinese[chinese.index("产品交叉覆盖率") :]
    assert re.search(r"王伟\s+2\s+100%\s+\(2\)\s+100%\s+\(2\)\s+50%\s+\(1\)", section), section
    assert english_words(section, set()) == [], section


def test_csv_rows(store: AlertStore) -> None:
    """A header in the reader's language, then one row per branch and manager."""
    rows = list(csv.reader(io.StringIO(render_csv(_report(store), "zh-CN", NAMES))))
    start = next(i for i, row in enumerate(rows) if row[0] == "产品交叉覆盖率")
    header, *block = rows[start:]
    assert header[:4] == ["产品交叉覆盖率", "维度", "名称", "客户数"]
    assert [
        "产品交叉覆盖率",
        "网点",
        "城东支行",
        "4",
        "3",
        "2",
        "1",
        "0.7500",
        "0.5000",
        "0.2500",
    ] in block
    assert [
        "产品交叉覆盖率",
        "客户经理",
        "张强",
        "2",
        "1",
        "0",
        "0",
        "0.5000",
        "0.0000",
        "0.0000",
    ] in block
    assert len(block) == 5


def test_html_in_chinese(store: AlertStore) -> None:
    """The report page's section: titles and shares, no English word."""
    page = render_html(_report(store), "zh-CN", NAMES)
    section = visible_text(page[page.index('<section id="cross-holding"') :])
    assert "产品交叉覆盖率" in section and "至少 5 个产品" in section and "25%" in section
    assert english_words(section, set()) == [], section
