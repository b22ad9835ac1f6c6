"""The customer on the alert page: tier, assets and rank, products and maturities, payroll,
the last 90 days' alerts, and the phone masked until revealed (the reveal recorded)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from churnwatch.followup.customer_page import REVEAL_FOR
from churnwatch.followup.escalation import EscalationPolicy, Escalator
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify
from churnwatch.followup.tokens import LinkSigner, manager_link
from churnwatch.followup.web import WebSettings, create_app
from churnwatch.notifiers.context import Inhibition
from churnwatch.notifiers.outbox import NewDelivery, Outbox
from churnwatch.notifiers.setup import load_templates, routing_for
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import load_rules
from churnwatch.rules.tiers import DEFAULT_TIERS
from churnwatch.schemas.models import CustomerEvent, ProductEvent, TransactionEvent
from churnwatch.schemas.profiles import ProfileBook
from churnwatch.schemas.tables import phone_reveals

from .conftest import MONDAY_10, add, customer, make_alert
from .server import serve
from .test_pages_zh import english_words, visible_text

SECRET = b"customer-page-secret-0123456789ab"
NOW = MONDAY_10  # Monday 2026-11-23 10:00 Shanghai
PHONE = "+8613900004321"


@dataclass
class Page:
    base: str
    store: FollowUpStore
    clock: FixedClock
    alert_id: str

    def link(self, staff_id: str = "S-RM1") -> str:
        url = manager_link(self.base, self.alert_id, staff_id, secret=SECRET, now=self.clock())
        return url


def _events() -> list[object]:
    """Hand-made: C1 in BR01 with 600,000 (C2 has more: C1 ranks 2 of 3), a time deposit
    maturing in 10 days, a wealth product, a cancelled fund plan, payroll 20 days ago."""
    at = NOW - dt.timedelta(days=60)
    people = [
        CustomerEvent(
            event_id=f"cu-{cid}",
            occurred_at=at,
            customer_id=cid,
            name="李娜",
            phone=PHONE,
            language="zh-CN",
            aum=Decimal(aum),
            branch_id="BR01",
            manager_id="S-RM1",
            sms_opt_in=True,
        )
        for cid, aum in (("C1", 600000), ("C2", 900000), ("C3", 1000))
    ]
    products = [
        ProductEvent(
            event_id=f"pr-{n}",
            occurred_at=at + dt.timedelta(hours=n),
            customer_id="C1",
            account_id="AC1",
            product_id=pid,
            product_kind=kind,  # type: ignore[arg-type]
            action=action,  # type: ignore[arg-type]
            amount=Decimal(amount) if amount is not None else None,
            maturity_date=maturity,
        )
        for n, (pid, kind, action, amount, maturity) in enumerate(
            [
                ("TD1", "time_deposit", "opened", 200000, dt.date(2026, 12, 3)),
                ("WM1", "wealth", "opened", 50000, None),
                ("FP1", "fund_plan", "opened", None, None),
                ("FP1", "fund_plan", "cancelled", None, None),
            ]
        )
    ]
    payroll = TransactionEvent(
        event_id="tx-pay",
        occurred_at=NOW - dt.timedelta(days=20),
        account_id="AC1",
        customer_id="C1",
        direction="credit",
        amount=Decimal(18000),
        balance_after=Decimal(30000),
        kind="payroll",
        channel="batch",
    )
    return [*people, *products, payroll]


@pytest.fixture
def page(store: FollowUpStore) -> Iterator[Page]:
    book = ProfileBook(DEFAULT_TIERS.tier_of)
    for event in _events():
        book.note(event)
    book.write(store.engine)
    old = make_alert(1, at=NOW - dt.timedelta(days=120))
    recent = make_alert(2, at=NOW - dt.timedelta(days=40))
    alert = make_alert(3, at=NOW)
    add(store, old, recent, alert)
    clock = FixedClock(NOW)
    escalator = Escalator(store, EscalationPolicy(), RecordingNotify(), clock)
    for item in (old, recent, alert):
        escalator.open(item, customer(), [("S-RM1", "relationship_manager")])
    store.record(recent.alert_id, "outcome", "S-RM1", "web", NOW, outcome="retained")
    app = create_app(
        WebSettings(
            store=store,
            signer=LinkSigner(SECRET),
            ruleset=load_rules(SHIPPED_RULES),
            templates=load_templates(SHIPPED_RULES, routing_for(SHIPPED_RULES)),
            clock=clock,
        )
    )
    with serve(app) as base:
        yield Page(base, store, clock, alert.alert_id)


def _section(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:dd|ul|p)>', html, re.S)
    assert found is not None, element_id
    return visible_text(found.group(1))


def _reveal(client: httpx.Client, link: str) -> httpx.Response:
    page = client.get(link)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return client.post(link, data={"action": "reveal_phone", "csrf": csrf.group(1)})


class TestCustomerSection:
    def test_what_a_manager_reads_before_calling_in_chinese(self, page: Page) -> None:
        """Tier by the pack's name, assets, rank 2 of 3, the two products held (not the
        cancelled plan), the deposit maturing in 10 days, payroll landing here, the alert of
        40 days ago with its outcome (not the one of 120 days ago); no English word."""
        html = httpx.get(page.link() + "?lang=zh-CN").text
        assert _section(html, "tier").strip() == "A级"
        assert _section(html, "assets").strip() == "600,000.00"
        assert "2" in _section(html, "rank") and "3" in _section(html, "rank")
        products = _section(html, "products")
        assert "定期存款" in products and "200,000.00" in products and "理财" in products
        assert "基金定投" not in products
        assert "2026年12月3日" in _section(html, "maturing")
        assert "在本行代发" in _section(html, "payroll")
        history = _section(html, "history")
        assert "已挽留" in history and history.count("·") == 2  # one item: day · title · outcome
        assert english_words(visible_text(html), {"李娜", "王伟"}) == []

    def test_the_same_in_english(self, page: Page) -> None:
        """The English page takes its words from the catalog's message ids and the pack."""
        html = httpx.get(page.link() + "?lang=en").text
        assert "Products held" in html and "time deposit" in _section(html, "products")
        assert "December 3, 2026" in _section(html, "maturing")


class TestPhoneReveal:
    def test_masked_until_revealed_and_the_reveal_is_recorded(self, page: Page) -> None:
        """Masked (last four digits, no tel: link) until the manager taps; then a tap-to-call
        link, and one audit row says who revealed it, when and on which alert."""
        with httpx.Client() as client:
            first = client.get(page.link()).text
            assert PHONE not in first and "tel:" not in first
            assert "•••• 4321" in _section(first, "phone")
            answer = _reveal(client, page.link())
            assert answer.status_code == 303
            shown = client.get(page.link()).text
        assert f'href="tel:{PHONE}"' in shown
        with page.store.engine.connect() as conn:
            rows = conn.execute(select(phone_reveals)).all()
        assert [(r.staff_id, r.alert_id, r.customer_id) for r in rows] == [
            ("S-RM1", page.alert_id, "C1")
        ]
        assert rows[0].at.replace(tzinfo=dt.UTC) == NOW.astimezone(dt.UTC).replace(tzinfo=dt.UTC)

    def test_a_reveal_is_for_that_person_and_a_while(self, page: Page) -> None:
        """The branch head, who did not reveal it, sees it masked; after REVEAL_FOR the
        manager sees it masked again."""
        with httpx.Client() as client:
            _reveal(client, page.link())
        assert PHONE not in httpx.get(page.link("S-BH1")).text
        assert PHONE in httpx.get(page.link()).text
        page.clock.advance(REVEAL_FOR + dt.timedelta(seconds=1))
        assert PHONE not in httpx.get(page.link()).text

    def test_a_reveal_without_the_pages_token_is_refused(self, page: Page) -> None:
        """A forged reveal (no CSRF token) records nothing."""
        with httpx.Client() as client:
            client.get(page.link())
            answer = client.post(page.link(), data={"action": "reveal_phone", "csrf": "x"})
        assert answer.status_code == 403
        with page.store.engine.connect() as conn:
            assert conn.execute(select(phone_reveals)).all() == []


class TestCustomerTexts:
    def test_a_held_text_says_which_alert_held_it(self, page: Page) -> None:
        """The alert's text to the customer, held by an inhibit rule, reads as held until
        when and by which alert (the rule's title from the pack), in Chinese and English."""
        source = NOW - dt.timedelta(hours=1)
        held = Inhibition("al-source", "large-transfer-out", source, source + dt.timedelta(days=7),
                          "offer waits")  # fmt: skip
        Outbox(page.store.engine).write(
            [
                NewDelivery(
                    alert_id=page.alert_id,
                    audience="customer",
                    recipient_id="C1",
                    channel="twilio_sms",
                    status="suppressed",
                    due_at=NOW,
                    payload={"inhibited_by": held.payload()},
                    last_error=held.note(),
                )
            ],
            NOW,
        )
        zh = _section(httpx.get(page.link() + "?lang=zh-CN").text, "customer-texts")
        assert "暂缓至 2026年11月30日 09:00" in zh and "大额资金流出" in zh
        en = _section(httpx.get(page.link() + "?lang=en").text, "customer-texts")
        assert en.strip().startswith("Held until Nov 30, 2026 09:00")
