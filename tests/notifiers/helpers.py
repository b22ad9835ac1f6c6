"""Real local peers for the channel tests: a Twilio Messages API, a webhook receiver, SMTP.

Each listens on a free loopback port, records what it received, and can be scripted to
answer the next requests with an error, so tests see the channel's real request path.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from churnwatch.notifiers.channels.webhook import verify_generic
from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.dispatcher import Dispatcher
from churnwatch.notifiers.outbox import Outbox
from churnwatch.notifiers.pipeline import Notifications
from churnwatch.notifiers.protocol import Notifier
from churnwatch.notifiers.retry import RetryPolicy
from churnwatch.notifiers.setup import load_templates, routing_for
from churnwatch.notifiers.testing import FixedClock, RecordingNotifier
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import Alert, Recipient, StaffEvent
from churnwatch.schemas.store import AlertStore

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TWILIO_TOKEN = "tw-secret-token-7f3a9c"
WEBHOOK_SECRET = "wh-secret-hmac-51be02"
SMTP_PASSWORD = "smtp-secret-pass-90d1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _HttpPeer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[Scripted] = deque()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                answer = peer.handle(self.path, dict(self.headers), body)
                if answer.delay:
                    time.sleep(answer.delay)
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Scripted:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TwilioPeer(_HttpPeer):
    """Speaks enough of Twilio's Messages API for the SDK: create returns a message."""

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Scripted:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        auth = headers.get("Authorization", "")
        user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        self.requests.append({"path": path, "form": form, "user": user, "password": password})
        if self.script:
            return self.script.popleft()
        return Scripted(
            201, {"sid": f"SM{len(self.requests):032d}", "status": "queued", "to": form.get("To")}
        )

    def fail_next(self, status: int, code: int | None = None, **headers: str) -> None:
        body = {
            "code": code,
            "message": "The 'To' number +8613800001234 is not valid",
            "status": status,
        }
        self.script.append(Scripted(status, body, headers))

    @property
    def delivered(self) -> int:
        return sum(1 for _ in self.requests) - 0


class WebhookPeer(_HttpPeer):
    """A receiver that verifies churnwatch's HMAC signature and drops repeated keys."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.accepted: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.bad_signatures = 0
        super().__init__()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Scripted:
        self.requests.append({"path": path, "headers": headers, "body": body})
        if self.script:
            return self.script.popleft()
        ok = verify_generic(
            self.secret,
            headers.get("X-Churnwatch-Timestamp", ""),
            body,
            headers.get("X-Churnwatch-Signature", ""),
            now=time.time(),
        )
        if not ok:
            self.bad_signatures += 1
            return Scripted(401, {"error": "bad signature"})
        key = headers.get("Idempotency-Key", "")
        if key not in self.keys:
            self.keys.add(key)
            self.accepted.append({"path": path, "json": json.loads(body), "headers": headers})
        return Scripted(200, {"errcode": 0, "id": f"wh-{len(self.accepted)}"})

    def fail_next(self, status: int, body: dict[str, Any] | None = None, **headers: str) -> None:
        self.script.append(Scripted(status, body or {}, headers))


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI), as (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class SmtpPeer:
    """aiosmtpd with STARTTLS required and a login check; scripted replies to DATA."""

    def __init__(self, cert: Path, key: Path, username: str, password: str) -> None:
        self.messages: list[Envelope] = []
        self.replies: deque[str] = deque()
        self.logins: list[str] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        peer = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
                if peer.replies:
                    return peer.replies.popleft()
                peer.messages.append(envelope)
                return "250 OK"

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            from aiosmtpd.smtp import AuthResult

            ok = data.login.decode() == username and data.password.decode() == password
            peer.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticator,
            auth_require_tls=True,
        )
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def twilio_env(peer: TwilioPeer) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_BASE_URL": peer.url,
    }


def customer(customer_id: str = "C1", **changes: Any) -> CustomerProfile:
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "name": "王芳",
        "phone": "+8613800001234",
        "language": "zh-CN",
        "aum": Decimal("120000"),
        "tier": "C",
        "branch_id": "BR1",
        "manager_id": "RM1",
        "sms_opt_in": True,
    }
    values.update(changes)
    return CustomerProfile(**values)


def staff(staff_id: str, role: str, branch: str = "BR1", active: bool = True) -> StaffEvent:
    return StaffEvent(
        event_id=f"st-{staff_id}",
        occurred_at=dt.datetime(2026, 1, 1, tzinfo=SHANGHAI),
        staff_id=staff_id,
        name=f"Staff {staff_id}",
        phone=f"+8613900{sum(map(ord, staff_id)) % 100000:05d}",
        role=role,  # type: ignore[arg-type]
        branch_id=branch,
        active=active,
        im_user_id=staff_id.lower(),
    )


_serial = iter(range(1, 1_000_000))


def alert(
    *,
    rule_id: str = "large-transfer-out",
    audience: tuple[str, ...] = ("relationship_manager",),
    at: str = "2026-03-02T10:00:00+08:00",
    customer_id: str = "C1",
    severity: str = "high",
    facts: dict[str, Any] | None = None,
    alert_id: str | None = None,
    template: str | None = None,
) -> Alert:
    moment = dt.datetime.fromisoformat(at)
    return Alert(
        alert_id=alert_id or f"A{next(_serial):06d}",
        rule_id=rule_id,
        rule_version=1,
        severity=severity,  # type: ignore[arg-type]
        customer_id=customer_id,
        account_id="6222020000005678",
        occurred_at=moment,
        detected_at=moment,
        facts=facts if facts is not None else {"amount": "80000.00", "threshold": "50000.00"},
        trigger_event_ids=["e1"],
        recipients=[Recipient(audience=a) for a in audience],
        title="Large transfer out of the bank",
        template=template,
    )


class Rig:
    """A pipeline over a real SQLite store, a fixed clock and recording notifiers."""

    def __init__(
        self,
        url: str,
        notifiers: dict[str, Notifier] | None = None,
        clock: FixedClock | None = None,
        channel: str | None = None,
    ) -> None:
        self.store = AlertStore(url)
        self.clock = clock or FixedClock("2026-03-02T10:00:00+08:00")
        self.routing = routing_for(SHIPPED_RULES)
        self.templates = load_templates(SHIPPED_RULES, self.routing)
        if channel is not None:  # after the templates: their SMS checks follow the real routes
            self.routing = self.routing.with_channel(channel)
        self.recorders = {name: RecordingNotifier() for name in self.routing.channels}
        self.notifiers: dict[str, Notifier] = dict(self.recorders)
        self.notifiers.update(notifiers or {})
        self.outbox = Outbox(self.store.engine)
        self.dispatcher = Dispatcher(
            self.outbox,
            self.notifiers,
            templates=self.templates,
            clock=self.clock,
            retry=RetryPolicy(first=dt.timedelta(seconds=10), max_attempts=3),
        )
        self.pipeline = Notifications(
            self.routing,
            self.templates,
            self.outbox,
            self.dispatcher,
            clock=self.clock,
            texts={rule.id: rule.spec.texts for rule in load_rules(SHIPPED_RULES).rules},
        )

    def deliver(self, alerts: list[Alert], directory: InMemoryDirectory) -> list[Alert]:
        """Route, store and hand to the pipeline, the way the replay driver does."""
        routed = [self.pipeline.router(a, directory) for a in alerts]
        fresh = self.store.add_alerts(routed)
        self.pipeline(fresh, directory)
        return fresh

    def sms(self) -> list[str]:
        return self.recorders["twilio_sms"].bodies

    def close(self) -> None:
        self.store.close()
