"""The deployment as compose describes it, as local processes: everyone hears, once.

A broker, PostgreSQL, two workers in one group, ``churnwatch web`` and the escalation
job run from the shipped ``deploy/compose.config.yaml`` with only addresses overridden
(broker, relay, Twilio API, rule and state directories, metrics ports), and with the
environment compose.yaml gives its services. Local receivers stand in for the WeCom
application API (gettoken and message/send), the bank's SMTP relay (STARTTLS and a login)
and the Twilio API. A generated bank's events go onto the topics; the customers,
relationship managers, branch heads and executives each receive their messages, staff
each at their own WeCom user id, and no message arrives twice.

The shipped routing holds staff messages for ``group_wait`` (up to 15 minutes) and
customers' texts through the night. Rather than wait, the test moves the store's clock:
it makes the waiting deliveries due now, as those minutes passing would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from ruamel.yaml import YAML

from churnwatch.rules import SHIPPED_RULES
from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset

from .conftest import free_port

sys.path.insert(0, str(Path(__file__).parents[1] / "notifiers"))
from helpers import SmtpPeer, TwilioPeer, make_certificate
from im_peers import WecomAppPeer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DEPLOY = Path(__file__).parents[2] / "deploy"
SMTP_PASSWORD = "relay-pass-stack-4d1e"
TWILIO_TOKEN = "twilio-token-stack-77aa"
WECOM_SECRET = "wecom-app-secret-stack-5e0b"
WEB_SECRET = "link-secret-for-the-stack-test-0123456789"
LINK = re.compile(r"https?://127\.0\.0\.1:\d+/a/[A-Za-z0-9_-]+")


@dataclass
class Stack:
    tmp: Path
    config: Path
    env: dict[str, str]
    db: str
    web_port: int
    wecom: WecomAppPeer
    relay: SmtpPeer
    twilio: TwilioPeer
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def churnwatch(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A one-shot churnwatch command (like compose's ``run --rm``)."""
        return subprocess.run(
            [sys.executable, "-m", "churnwatch", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def churnwatch_together(
        self, *commands: tuple[str, ...]
    ) -> list[subprocess.CompletedProcess[str]]:
        """One-shot churnwatch commands that do not depend on each other, run side by side
        (each a process of its own, as compose runs them; a process's start is seconds of
        imports)."""
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "churnwatch", *args],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        done = []
        for args, process in zip(commands, processes, strict=True):
            stdout, stderr = process.communicate(timeout=120)
            done.append(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))
        return done

    def start(self, label: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{label}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "churnwatch", *args],
            env={**self.env, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append((label, process, log))
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {label}\n{log.read_text(errors='replace')[-3000:]}"
            for label, _, log in self.processes
        )

    def rows(self, query: str) -> list[Any]:
        engine = sa.create_engine(self.db)
        try:
            with engine.begin() as conn:
                result = conn.execute(sa.text(query))
                return list(result.all()) if result.returns_rows else []
        finally:
            engine.dispose()


def compose_variables() -> list[str]:
    """The environment compose.yaml gives each worker."""
    compose = YAML(typ="safe", pure=True).load((DEPLOY / "compose.yaml").read_text())
    return list(compose["x-worker"]["environment"])


@pytest.fixture
def stack(broker_url: str, postgres_empty_url: str, tmp_path: Path) -> Iterator[Stack]:
    """compose.config.yaml with its addresses pointed at local stand-ins."""
    cert, key = make_certificate(tmp_path)
    relay = SmtpPeer(cert, key, username="churnwatch", password=SMTP_PASSWORD)
    twilio = TwilioPeer()
    wecom = WecomAppPeer("ww0000000000000000", WECOM_SECRET, set())
    yaml = YAML(typ="safe", pure=True)
    config = yaml.load((DEPLOY / "compose.config.yaml").read_text())
    config["broker"]["url"] = broker_url
    config["rules"]["dir"] = str(SHIPPED_RULES)  # compose mounts rules/pack there
    config["metrics"]["host"] = "127.0.0.1"
    config["notifiers"]["email"].update(host="127.0.0.1", port=relay.port)
    config["notifiers"]["twilio_sms"]["base_url"] = twilio.url
    config["notifiers"]["wecom_app"]["base_url"] = wecom.url
    path = tmp_path / "config.yaml"
    with path.open("w") as handle:
        yaml.dump(config, handle)
    web_port = free_port()
    values = {
        "CHURNWATCH_STORE_URL": postgres_empty_url,
        "CHURNWATCH_WEB_SECRET": WEB_SECRET,
        "CHURNWATCH_WEB_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "TWILIO_ACCOUNT_SID": "AC" + "5" * 32,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM": "+15005550006",
        "CHURNWATCH_WECOM_SECRET": WECOM_SECRET,
        "CHURNWATCH_SMTP_PASSWORD": SMTP_PASSWORD,
    }
    variables = compose_variables()
    assert set(variables) == set(values), "compose.yaml's worker environment changed"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNWATCH_", "TWILIO_"))}
    env.update(values)
    env["SSL_CERT_FILE"] = str(cert)  # the relay's certificate, as the bank's CA would be
    made = Stack(tmp_path, path, env, postgres_empty_url, web_port, wecom, relay, twilio)
    try:
        yield made
    finally:
        for _, process, _ in made.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        wecom.close()
        twilio.close()
        relay.close()


def staff_by_role(events: Path, field: str = "phone") -> dict[str, dict[str, str]]:
    """role -> {staff_id: phone (or another field)} from the generated directory."""
    found: dict[str, dict[str, str]] = {}
    for line in events.read_text().splitlines():
        if '"type":"staff"' in line:
            person = json.loads(line)
            found.setdefault(person["role"], {})[person["staff_id"]] = person[field]
    return found


def settle(stack: Stack, query: str, what: str, quiet: float = 4.0, timeout: float = 120) -> int:
    """Wait until ``query``'s count is non-zero and has not moved for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = int(stack.rows(query)[0][0])
        if count != last:
            last, since = count, time.monotonic()
        elif count and time.monotonic() - since >= quiet:
            return count
        time.sleep(0.5)
    pytest.fail(f"{what} did not settle (last count {last}):\n{stack.logs()}")


def make_due_now(stack: Stack) -> None:
    """Time passes: deliveries held for group_wait or quiet hours are due now."""
    stack.rows("update deliveries set due_at = now() where status = 'pending'")


def wait_all_sent(stack: Stack, timeout: float = 60) -> None:
    """Until no delivery is waiting or being sent; fails with what is left and why."""
    query = (
        "select channel, audience, status, attempts, due_at, last_error from deliveries"
        " where status in ('pending', 'sending')"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = stack.rows(query)
        if not left:
            return
        time.sleep(0.3)
    pytest.fail(f"deliveries still waiting: {left[:10]}\n{stack.logs()}")


def test_the_compose_stack_tells_every_audience_once(stack: Stack) -> None:
    events = stack.tmp / "events.jsonl"
    # the bank's events (``churnwatch generate``'s, whose own tests are tests/cli's)
    write_dataset(DatasetSpec(customers=300, weeks=3), events)
    for role in staff_by_role(events, "im_user_id").values():
        stack.wecom.users.update(role.values())  # the bank's WeCom knows its staff
    # compose's one-shots, and the configuration's check
    upgraded, created, checked = stack.churnwatch_together(
        ("db", "upgrade", "--config", str(stack.config)),
        ("topics", "create", "--config", str(stack.config)),
        ("config", "check", "--config", str(stack.config)),
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert created.returncode == 0, created.stdout + created.stderr
    assert checked.returncode == 0, checked.stderr
    web = stack.start("web", "web", "--rules", str(SHIPPED_RULES), "--host", "127.0.0.1",
                      "--port", str(stack.web_port),
                      "--metrics-port", str(free_port()))  # fmt: skip
    workers = [
        stack.start(
            f"worker-{n}",
            "worker",
            "--config",
            str(stack.config),
            CHURNWATCH_WORKER_STATE_STORE=f"rocksdb://{stack.tmp / f'state-{n}'}",
            CHURNWATCH_METRICS_PORT=str(free_port()),
        )
        for n in (1, 2)
    ]
    produced = stack.churnwatch("produce", str(events), "--config", str(stack.config))
    assert produced.returncode == 0, produced.stderr

    alerts = settle(stack, "select count(*) from alerts", "the alerts")
    settle(stack, "select count(*) from deliveries", "the deliveries")
    make_due_now(stack)
    wait_all_sent(stack)
    make_due_now(stack)  # anything a late group opened meanwhile
    wait_all_sent(stack)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        assert worker.wait(timeout=60) == 0, stack.logs()

    statuses = Counter(
        (audience, status)
        for audience, status in stack.rows("select audience, status from deliveries")
    )
    assert not {s for (_, s) in statuses} - {"sent", "suppressed"}, statuses
    people = staff_by_role(events)
    ims = staff_by_role(events, "im_user_id")
    wecom, relay, twilio = stack.wecom, stack.relay, stack.twilio

    # each audience heard, through its own channel, and only the people it should be:
    # staff privately, each at their own WeCom user id
    users = Counter(message["touser"] for message in wecom.sent)
    managers = set(ims["relationship_manager"].values())
    heads = set(ims["branch_head"].values())
    assert set(users) & managers, (users, statuses)
    assert set(users) & heads, (users, statuses)
    assert set(users) <= managers | heads
    assert wecom.token_requests <= 2  # one cached token per worker, not one per message
    phones = set(people["relationship_manager"].values()) | set(people["branch_head"].values())
    texts = [request["form"]["To"] for request in twilio.requests]
    assert texts and not set(texts) & phones
    mailed = {envelope.rcpt_tos[0] for envelope in relay.messages}
    assert mailed and mailed <= {f"{sid}@bank.example" for sid in people["executive"]}
    assert relay.logins and set(relay.logins) == {"churnwatch"}

    # once: no message repeated, and as many messages as the outbox says it sent
    keys = [(message["touser"], message["text"]["content"]) for message in wecom.sent]
    assert len(keys) == len(set(keys))
    ids = [message_from_bytes(envelope.content)["Message-ID"] for envelope in relay.messages]
    assert len(ids) == len(set(ids))
    sms = [(r["form"]["To"], r["form"]["Body"]) for r in twilio.requests]
    assert len(sms) == len(set(sms))
    sent_messages = {
        channel: count
        for channel, count in stack.rows(
            "select channel, count(distinct coalesce(provider_message_id, cast(id as text)))"
            " from deliveries where status = 'sent' group by channel"
        )
    }
    # a digest over WeCom's 2,048 bytes goes as several texts, recorded by its last one
    wecom_sent = sent_messages.pop("wecom_app")
    assert 0 < wecom_sent <= len(keys), (wecom_sent, len(keys))
    assert sent_messages == {"email": len(ids), "twilio_sms": len(sms)}, statuses

    # a manager's link opens the alert in churnwatch web
    bodies = [m["text"]["content"] for m in wecom.sent]
    link = next(LINK.search(b) for b in bodies if LINK.search(b))
    assert link is not None
    page = httpx.get(link.group(0), timeout=10)
    assert page.status_code == 200, page.text[:500]

    # the escalation job, with the same configuration: a high alert nobody acknowledged
    # four business hours ago goes to the branch head (one not told of it already: a
    # person hears of an alert once)
    high = stack.rows(
        "select f.alert_id from followups f join alerts a on a.alert_id = f.alert_id"
        " where a.severity = 'high' and f.acknowledged_at is null"
        " and f.next_escalation_at is not null and not exists (select 1 from deliveries d"
        " where d.alert_id = f.alert_id and d.audience = 'branch_head')"
        " order by f.alert_id limit 1"
    )
    assert high, f"no open high alert among {alerts}"
    stack.rows(
        "update followups set next_escalation_at = now() - interval '1 minute'"
        f" where alert_id = '{high[0][0]}'"
    )
    before = len(wecom.sent)
    job = ("--db", stack.db, "--rules", str(SHIPPED_RULES), "--channels", str(stack.config))
    escalated = stack.churnwatch("escalations", "run", "--once", *job)
    assert escalated.returncode == 0, escalated.stderr
    assert "escalated 1 alert(s)" in escalated.stderr
    make_due_now(stack)
    dispatched = stack.churnwatch("deliveries", "dispatch", *job)
    assert dispatched.returncode == 0, dispatched.stdout + dispatched.stderr
    assert len(wecom.sent) == before + 1
    assert wecom.sent[-1]["touser"] in heads
    web.terminate()


def test_a_worker_refuses_a_store_whose_schema_is_behind(stack: Stack) -> None:
    """Started before ``db upgrade``, a worker exits at once saying what to run, rather
    than racing the others to create the schema; after the upgrade it starts."""
    created = stack.churnwatch("topics", "create", "--config", str(stack.config))
    assert created.returncode == 0, created.stderr
    refused = stack.churnwatch("worker", "--config", str(stack.config), timeout=60)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "run `churnwatch db upgrade`" in refused.stderr
    upgraded = stack.churnwatch("db", "upgrade", "--config", str(stack.config))
    assert upgraded.returncode == 0, upgraded.stderr
    stack.rows("update alembic_version set version_num = '9999'")
    ahead = stack.churnwatch("worker", "--config", str(stack.config), timeout=60)
    assert ahead.returncode == 1
    assert "newer than this churnwatch knows" in ahead.stderr
