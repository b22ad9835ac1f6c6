"""The managers' web app against an attacker, over HTTP: parameters, headers, cookies, logs."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from churnwatch.followup.escalation import EscalationPolicy, Escalator
from churnwatch.followup.hardening import CONTENT_SECURITY_POLICY
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify
from churnwatch.followup.tokens import SECRET_ENV, LinkSigner, manager_link
from churnwatch.followup.web import REPORT_SCOPE, WebSettings, create_app

from .conftest import add, customer, make_alert
from .server import free_port, serve

SECRET = b"hardening-secret-0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token-for-hardening"


def _app(store: FollowUpStore, public_url: str | None = None) -> object:
    return create_app(WebSettings(store=store, signer=LinkSigner(SECRET), public_url=public_url))


def _token(alert_id: str, staff_id: str) -> str:
    return manager_link("http://x", alert_id, staff_id, secret=SECRET).rsplit("/", 1)[1]


@pytest.fixture
def opened(store: FollowUpStore) -> Iterator[FollowUpStore]:
    """One open alert of S-RM1's, as the worker leaves it."""
    now = dt.datetime.now(dt.UTC)
    alert = make_alert(21, at=now)
    add(store, alert)
    Escalator(store, EscalationPolicy(), RecordingNotify(), FixedClock(now)).open(
        alert, customer(), [("S-RM1", "relationship_manager")]
    )
    yield store


@pytest.mark.parametrize("days", ["abc", "1e3", "999999999", "-1", "0", "７", "3661"])
def test_a_bad_report_period_is_a_400_with_a_plain_message(
    opened: FollowUpStore, days: str
) -> None:
    with serve(_app(opened)) as base:  # type: ignore[arg-type]
        url = f"{base}/report/{_token(REPORT_SCOPE, 'S-EX1')}"
        answer = httpx.get(url, params={"days": days})
        assert answer.status_code == 400
        assert answer.text.startswith("days must be a whole number")
        assert httpx.get(url, params={"days": "7"}).status_code == 200


def test_every_answer_carries_the_security_headers(opened: FollowUpStore) -> None:
    with serve(_app(opened)) as base:  # type: ignore[arg-type]
        answers = [
            httpx.get(f"{base}/a/{_token(make_alert(21).alert_id, 'S-RM1')}"),
            httpx.get(f"{base}/a/forged-token"),
            httpx.get(f"{base}/report/{_token(REPORT_SCOPE, 'S-EX1')}?days=x"),
            httpx.get(f"{base}/healthz"),
            httpx.post(f"{base}/sms/inbound", data={"From": "+86"}),
        ]
    assert [a.status_code for a in answers] == [200, 403, 400, 200, 403]
    for answer in answers:
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("public_url", "secure"), [("https://cw.bank.example", True), (None, False)]
)
def test_the_session_cookie_is_secure_when_the_public_url_is_https(
    opened: FollowUpStore, public_url: str | None, secure: bool
) -> None:
    """TLS usually ends at a proxy: the request is plain HTTP, the public URL says https."""
    with serve(_app(opened, public_url)) as base:  # type: ignore[arg-type]
        answer = httpx.get(f"{base}/a/{_token(make_alert(21).alert_id, 'S-RM1')}")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert ("secure" in cookie.split(";")[-1] or "; secure" in cookie) is secure


def test_link_tokens_never_reach_the_access_log_and_metrics_are_on_their_own_port(
    tmp_path: Path, sqlite_url: str
) -> None:
    """``churnwatch web`` itself, its access log on: paths show ``/a/…``, never the token."""
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, SECRET_ENV: SECRET.decode(), "NO_COLOR": "1"}
    log = tmp_path / "web.log"
    command = [sys.executable, "-m", "churnwatch", "web", "--db", sqlite_url]
    command += ["--port", str(port), "--metrics-host", "127.0.0.1"]
    command += ["--metrics-port", str(metrics_port)]
    with log.open("w") as sink:
        server = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        tokens = [_token("al-1", "S-RM1"), _token(REPORT_SCOPE, "S-EX1")]
        httpx.get(f"{base}/a/{tokens[0]}?lang=en")
        httpx.get(f"{base}/report/{tokens[1]}?days=abc")
        assert httpx.get(f"{base}/metrics").status_code == 404  # never on the public port
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'churnwatch_followup_refused_total{reason="forged"}' in scrape
    finally:
        server.terminate()
        server.wait(timeout=20)
    text = log.read_text()
    assert '"GET /a/…?lang=en HTTP/1.1" 403' in text, text
    assert '"GET /report/…?days=abc HTTP/1.1"' in text, text
    assert all(token not in text for token in tokens)


def _signed_sms(base: str, body: str, sid: str) -> httpx.Response:
    url = base + "/sms/inbound"
    params = {"From": "+8613800000001", "To": "+8610000000", "Body": body, "MessageSid": sid}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


def test_a_replayed_inbound_sms_is_acted_on_once(store: FollowUpStore, sqlite_url: str) -> None:
    """A validly signed "4" replayed three times marks one alert a false alarm, not three;
    the claim is in the store, so a restarted app (a second app on it) remembers it."""
    now = dt.datetime.now(dt.UTC)
    alerts = [make_alert(40 + n, at=now - dt.timedelta(minutes=n)) for n in range(3)]
    add(store, *alerts)
    escalator = Escalator(store, EscalationPolicy(), RecordingNotify(), FixedClock(now))
    for alert in alerts:
        escalator.open(alert, customer(), [("S-RM1", "relationship_manager")])
    settings = WebSettings(store=store, signer=LinkSigner(SECRET), twilio_auth_token=TWILIO_TOKEN)
    sid = "SM" + "a" * 32
    with serve(create_app(settings)) as base:
        first = _signed_sms(base, "4", sid)
        answers = [_signed_sms(base, "4", sid) for _ in range(2)]
    with serve(create_app(settings)) as base:  # a restart: the claim is durable
        answers.append(_signed_sms(base, "4", sid))
        other = _signed_sms(base, "4", "SM" + "b" * 32)
    assert first.status_code == 200 and all(a.status_code == 200 for a in answers)
    assert all(a.text == first.text for a in answers)
    outcomes = [store.get(a.alert_id).outcome for a in alerts]  # type: ignore[union-attr]
    assert outcomes.count("false_alarm") == 2  # the first message and the different one
    assert other.status_code == 200


def test_an_inbound_sms_without_a_message_sid_is_refused(store: FollowUpStore) -> None:
    settings = WebSettings(store=store, signer=LinkSigner(SECRET), twilio_auth_token=TWILIO_TOKEN)
    url_params = {"From": "+8613800000001", "Body": "4"}
    with serve(create_app(settings)) as base:
        url = base + "/sms/inbound"
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, url_params)
        answer = httpx.post(url, data=url_params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 400
