"""The managers' page end to end in headless Chromium, and the inbound SMS webhook."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from churnwatch.followup.escalation import EscalationPolicy, Escalator
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify
from churnwatch.followup.tokens import LinkSigner, manager_link, short_ref
from churnwatch.followup.web import WebSettings, create_app
from churnwatch.metrics import Metrics
from churnwatch.notifiers.setup import load_templates, routing_for
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.tables import deliveries

from .conftest import MONDAY_10, add, customer, make_alert
from .server import serve

SECRET = b"test-secret-0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
]


@dataclass
class Site:
    base: str
    store: FollowUpStore
    metrics: Metrics
    messages: list[str]


def _refused(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "churnwatch_followup_refused_total", {"reason": reason}
    )
    return value or 0.0


@pytest.fixture
def site(store: FollowUpStore) -> Iterator[Site]:
    """An alert routed to S-RM1, its delivered manager message, and the web app serving it."""
    now = dt.datetime.now(dt.UTC)
    earlier = make_alert(10, at=MONDAY_10 - dt.timedelta(days=40))
    alert = make_alert(11, at=now)
    add(store, earlier, alert)
    clock = FixedClock(now)
    escalator = Escalator(store, EscalationPolicy(), RecordingNotify(), clock)
    escalator.open(earlier, customer(), [("S-RM1", "relationship_manager")])
    store.record(earlier.alert_id, "outcome", "S-RM1", "web", now, outcome="retained")
    escalator.open(alert, customer(), [("S-RM1", "relationship_manager")])
    link = manager_link("http://placeholder", alert.alert_id, "S-RM1", secret=SECRET, now=now)
    metrics = Metrics()
    app = create_app(
        WebSettings(
            store=store,
            signer=LinkSigner(SECRET),
            ruleset=load_rules(SHIPPED_RULES),
            templates=load_templates(SHIPPED_RULES, routing_for(SHIPPED_RULES)),
            twilio_auth_token=TWILIO_TOKEN,
            metrics=metrics,
        )
    )
    with serve(app) as base:
        message = (
            f"[churnwatch] 李娜 大额转出 80,000.00 → {link.replace('http://placeholder', base)}"
        )
        yield Site(base, store, metrics, [message])


def _link(site: Site) -> str:
    found = re.search(r"http://\S+", site.messages[0])
    assert found is not None
    return found.group(0)


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run scripts/ensure-chromium.sh as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class TestAlertPageInChromium:
    def test_acknowledge_and_record_an_outcome(self, site: Site, browser: object) -> None:
        """The manager opens the link, acknowledges, sets an outcome; the store records it."""
        page = browser.new_page(locale="en-US")  # type: ignore[attr-defined]
        response = page.goto(_link(site))
        assert response.status == 200
        assert page.inner_text("#customer-name") == "李娜"
        assert page.inner_text("#account") == "•••• 4567"
        assert "6222020200001234567" not in page.content()
        assert "80,000.00" in page.inner_text("#what")
        assert "Call today" in page.content() or "<li>" in page.content()
        assert "retained" in page.inner_text("#history")
        page.click("#ack")
        page.wait_for_selector("#flash")
        assert page.inner_text("#status") == "acknowledged"
        page.select_option("#outcome-select", "partly_retained")
        page.fill("#retained-amount", "50,000")
        page.fill("#note", "Customer keeps half; rest to a mortgage.")
        page.click("#save-outcome")
        page.wait_for_selector("#outcome")
        assert page.inner_text("#outcome") == "partly retained"

        alert_id = make_alert(11).alert_id
        followup = site.store.get(alert_id)
        assert followup is not None
        assert (followup.status, followup.outcome) == ("closed", "partly_retained")
        assert followup.acknowledged_by == "S-RM1" and followup.outcome_by == "S-RM1"
        assert str(followup.retained_amount) == "50000"
        kinds = [(e["kind"], e["actor"], e["channel"]) for e in site.store.events(alert_id)]
        assert kinds == [
            ("opened", "system", "system"),
            ("acknowledge", "S-RM1", "web"),
            ("outcome", "S-RM1", "web"),
        ]
        assert site.store.events(alert_id)[-1]["note"].startswith("Customer keeps half")
        assert all(e["at"].tzinfo is not None for e in site.store.events(alert_id))

    def test_page_in_chinese(self, site: Site, browser: object) -> None:
        """A Chinese-speaking phone gets the page in zh-CN."""
        page = browser.new_page(locale="zh-CN")  # type: ignore[attr-defined]
        page.goto(_link(site))
        assert page.inner_text("#ack") == "确认收到"
        assert "他行转出" in page.inner_text("#what")

    def test_second_staff_members_token_is_refused(self, site: Site, browser: object) -> None:
        """Another manager's valid token for the same alert gets 403, and it is counted."""
        now = dt.datetime.now(dt.UTC)
        other = manager_link(site.base, make_alert(11).alert_id, "S-RM2", secret=SECRET, now=now)
        page = browser.new_page()  # type: ignore[attr-defined]
        assert page.goto(other).status == 403
        assert _refused(site.metrics, "not_routed") == 1

    def test_branch_head_of_the_branch_may_open_it(self, site: Site) -> None:
        """The head of the customer's branch sees the alert; another branch's head does not."""
        now = dt.datetime.now(dt.UTC)
        alert_id = make_alert(11).alert_id
        own = manager_link(site.base, alert_id, "S-BH1", secret=SECRET, now=now)
        other = manager_link(site.base, alert_id, "S-BH2", secret=SECRET, now=now)
        assert httpx.get(own).status_code == 200
        assert httpx.get(other).status_code == 403


class TestRefusals:
    def test_forged_and_expired_tokens_get_403_and_are_counted(self, site: Site) -> None:
        """A token signed with another secret, or past its expiry, is refused and counted."""
        alert_id = make_alert(11).alert_id
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        forged = manager_link(site.base, alert_id, "S-RM1", secret=b"x" * 32)
        expired = manager_link(site.base, alert_id, "S-RM1", secret=SECRET, now=long_ago)
        assert httpx.get(forged).status_code == 403
        assert httpx.get(expired).status_code == 403
        assert httpx.get(site.base + "/a/not-a-token").status_code == 403
        assert _refused(site.metrics, "forged") == 1
        assert _refused(site.metrics, "expired") == 1
        assert httpx.get(site.base + "/metrics").status_code == 404  # a port of its own

    def test_form_without_the_csrf_token_is_refused(self, site: Site) -> None:
        """A POST that did not come from the page (no CSRF token, or the wrong one) is 403."""
        with httpx.Client() as client:
            assert client.get(_link(site)).status_code == 200
            answer = client.post(_link(site), data={"action": "acknowledge", "csrf": "nope"})
        assert answer.status_code == 403
        assert site.store.get(make_alert(11).alert_id).acknowledged_at is None  # type: ignore[union-attr]
        assert _refused(site.metrics, "csrf") == 1


def _sms(site: Site, body: str, phone: str, token: str = TWILIO_TOKEN) -> httpx.Response:
    url = site.base + "/sms/inbound"
    params = {"From": phone, "To": "+8610000000", "Body": body, "MessageSid": "SM" + "0" * 32}
    signature = RequestValidator(token).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


class TestInboundSms:
    def test_signed_reply_acknowledges_the_latest_open_alert(self, site: Site) -> None:
        """``1`` from the manager's phone acknowledges their most recent open alert."""
        answer = _sms(site, "1", "+8613800000001")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        assert "<Response><Message>" in answer.text and "Acknowledged" in answer.text
        followup = site.store.get(make_alert(11).alert_id)
        assert followup is not None and followup.acknowledged_by == "S-RM1"
        assert site.store.events(followup.alert_id)[-1]["channel"] == "sms"

    def test_reply_with_a_reference(self, site: Site) -> None:
        """``2 <ref>`` records "retained" on the alert with that reference."""
        alert_id = make_alert(11).alert_id
        answer = _sms(site, f"２ {short_ref(alert_id)}", "+8613800000001")  # full-width digit
        assert short_ref(alert_id) in answer.text
        followup = site.store.get(alert_id)
        assert followup is not None and followup.outcome == "retained"

    def test_unknown_number_changes_nothing(self, site: Site) -> None:
        """A correctly signed reply from a number not in the staff directory changes nothing."""
        answer = _sms(site, "4", "+8613999999999")
        assert answer.status_code == 200 and "not registered" in answer.text
        assert site.store.get(make_alert(11).alert_id).outcome is None  # type: ignore[union-attr]

    def test_bad_signature_is_refused(self, site: Site) -> None:
        """A reply signed with another auth token, or unsigned, gets 403 and is counted."""
        assert _sms(site, "4", "+8613800000001", token="someone-elses-token").status_code == 403
        unsigned = httpx.post(site.base + "/sms/inbound", data={"From": "+8613800000001"})
        assert unsigned.status_code == 403
        assert site.store.get(make_alert(11).alert_id).outcome is None  # type: ignore[union-attr]
        assert _refused(site.metrics, "signature") == 2


def _status(site: Site, sid: str, status: str, code: str | None) -> httpx.Response:
    url = site.base + "/sms/status"
    params = {"MessageSid": sid, "MessageStatus": status, "To": "+8613800000002"}
    if code is not None:
        params["ErrorCode"] = code
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


def _sent_delivery(site: Site, sid: str) -> int:
    """A delivery row of alert 11 already sent to Twilio under message id ``sid``."""
    now = dt.datetime.now(dt.UTC)
    with site.store.engine.begin() as conn:
        result = conn.execute(
            sa.insert(deliveries).values(
                alert_id=make_alert(11).alert_id,
                audience="customer",
                recipient_id=f"C1-{sid[-4:]}",
                channel="twilio_sms",
                status="sent",
                attempts=1,
                due_at=now,
                created_at=now,
                updated_at=now,
                sent_at=now,
                provider_message_id=sid,
            )
        )
        return int(result.inserted_primary_key[0])


def _row(site: Site, delivery_id: int) -> Any:
    with site.store.engine.connect() as conn:
        return conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).one()


class TestDeliveryStatusCallbacks:
    def test_unreachable_handset_is_tried_again_later(self, site: Site) -> None:
        """Twilio 30003 (phone unreachable) puts the delivery back in the outbox, due later."""
        delivery = _sent_delivery(site, "SM" + "3" * 32)
        answer = _status(site, "SM" + "3" * 32, "undelivered", "30003")
        assert answer.status_code == 200 and answer.text == "retry"
        row = _row(site, delivery)
        assert row.status == "pending" and "30003" in row.last_error

    def test_spam_filtered_or_unknown_number_fails_for_good(self, site: Site) -> None:
        """30005, 30006 and 30007 mark the delivery failed, visible to operators."""
        for code in ("30005", "30006", "30007"):
            sid = "SM" + code * 6 + "00"
            delivery = _sent_delivery(site, sid)
            assert _status(site, sid, "failed", code).text == "failed"
            row = _row(site, delivery)
            assert row.status == "failed" and code in row.last_error

    def test_delivered_and_unknown_messages_change_nothing(self, site: Site) -> None:
        """A "delivered" callback leaves the row sent; one for a message we never sent is
        ignored."""
        delivery = _sent_delivery(site, "SM" + "1" * 32)
        assert _status(site, "SM" + "1" * 32, "delivered", None).text == "delivered"
        assert _row(site, delivery).status == "sent"
        assert _status(site, "SM" + "9" * 32, "failed", "30005").text == "ignored"

    def test_unsigned_callback_is_refused(self, site: Site) -> None:
        """A status callback without Twilio's signature is 403 and changes nothing."""
        delivery = _sent_delivery(site, "SM" + "5" * 32)
        url = site.base + "/sms/status"
        answer = httpx.post(url, data={"MessageSid": "SM" + "5" * 32, "MessageStatus": "failed"})
        assert answer.status_code == 403
        assert _row(site, delivery).status == "sent"
