"""The worker tells people: routed alerts become deliveries in the outbox, a thread sends
them, and every staff message opens a follow-up — on a real broker, with the ``file``
channel standing in for SMS and robots."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

from churnwatch.cli.replay import run_replay
from churnwatch.rules import SHIPPED_RULES
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.config import load_config
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, WorkerProcess, wait_until
from ..eventgen import customer_line, staff_line, transfer_line

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def file_channel_rules(tmp: Path) -> Path:
    """The shipped pack with every audience routed to the ``file`` channel."""
    rules = tmp / "rules"
    shutil.copytree(SHIPPED_RULES, rules)
    routing = rules / "routing.yaml"
    text = routing.read_text(encoding="utf-8")
    for channel in ("twilio_sms", "wecom_app", "email"):
        text = text.replace(f"channel: {channel}", "channel: file")
    routing.write_text(text.replace("group_wait:", "group_wait: 0s #"), encoding="utf-8")
    return rules


def test_a_large_transfer_reaches_the_manager_and_opens_a_follow_up(
    make_setup: Callable[..., Setup],
    start_worker: Callable[[Setup, str], WorkerProcess],
    tmp_path: Path,
) -> None:
    """A large transfer on the bus ends as a sent delivery to the relationship manager,
    written to the outbox before sending, with the follow-up opened for that manager."""
    setup = make_setup(rules_dir=file_channel_rules(tmp_path))
    outbox_file = tmp_path / "messages.jsonl"
    with setup.path.open("a", encoding="utf-8") as handle:
        handle.write(f'notifiers: {{file: {{path: "{outbox_file}"}}}}\n')
    setup = Setup(setup.path, load_config(setup.path, environ={}), setup.tmp)
    create_topics(setup.config)
    at = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
    topics = setup.config.topics
    producer = KafkaProducer(bootstrap_servers=setup.config.bootstrap_servers)
    producer.send(topics.staff, staff_line("rm-1", at), key=b"rm-1")
    producer.send(topics.customers, customer_line("cu1", at), key=b"cu1")
    producer.send(
        topics.transactions,
        transfer_line("tx-1", "cu1", at + dt.timedelta(hours=1), Decimal("80000.00"),
                      Decimal("220000.00")),
        key=b"cu1",
    )  # fmt: skip
    producer.flush()
    producer.close()
    worker = start_worker(setup, "notify")

    def sent() -> list[dict[str, object]]:
        if not outbox_file.exists():
            return []
        return [json.loads(line) for line in outbox_file.read_text().splitlines() if line]

    wait_until(lambda: len(sent()) >= 1, timeout=40, what="the manager's message sent")
    assert worker.terminate() == 0
    with AlertStore(setup.db) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("select audience, recipient_id, status from deliveries")).all()
        assigned = conn.execute(sa.text("select staff_id, audience from followup_assignees")).all()
    assert ("relationship_manager", "rm-1", "sent") in [tuple(r) for r in rows]
    assert ("rm-1", "relationship_manager") in [tuple(r) for r in assigned]
    body = json.dumps(sent()[0], ensure_ascii=False)
    assert "80,000.00" in body and "Customer cu1" in body


def test_a_held_customer_text_is_held_alike_by_the_worker_and_replay(
    make_setup: Callable[..., Setup],
    start_worker: Callable[[Setup, str], WorkerProcess],
    tmp_path: Path,
) -> None:
    """Payroll lands, then a large transfer takes it to another bank: the transfer's
    high-severity alert holds the payroll offer's SMS (the shipped inhibit rule). The
    worker and a replay of the same lines record the same deliveries, the SMS held."""
    setup = make_setup(rules_dir=file_channel_rules(tmp_path))
    outbox_file = tmp_path / "messages.jsonl"
    with setup.path.open("a", encoding="utf-8") as handle:
        handle.write(f'notifiers: {{file: {{path: "{outbox_file}"}}}}\n')
    setup = Setup(setup.path, load_config(setup.path, environ={}), setup.tmp)
    create_topics(setup.config)
    at = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
    lines = [
        (setup.config.topics.staff, staff_line("rm-1", at)),
        (setup.config.topics.customers, customer_line("cu1", at)),
        (setup.config.topics.transactions,
         transfer_line("tx-pay", "cu1", at + dt.timedelta(hours=1), Decimal("20000.00"),
                       Decimal("120000.00"), direction="credit", kind="payroll", same_bank=True)),
        (setup.config.topics.transactions,
         transfer_line("tx-out", "cu1", at + dt.timedelta(hours=2), Decimal("80000.00"),
                       Decimal("40000.00"))),
    ]  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=setup.config.bootstrap_servers)
    for topic, line in lines:
        producer.send(topic, line, key=b"rm-1" if topic == setup.config.topics.staff else b"cu1")
    producer.flush()
    producer.close()
    worker = start_worker(setup, "inhibit")

    def deliveries(db: str) -> set[tuple[str, str, str, str]]:
        with AlertStore(db) as store, store.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select a.rule_id, d.audience, d.status, coalesce(d.last_error, '') "
                    "from deliveries d join alerts a on a.alert_id = d.alert_id"
                )
            ).all()
        return {(r[0], r[1], r[2], r[3].split(":", 1)[0]) for r in rows}

    def settled() -> bool:
        found = deliveries(setup.db)
        return ("payroll-moved-out", "customer", "suppressed", "inhibited") in found and all(
            status != "pending" for _, _, status, _ in found
        )

    wait_until(settled, timeout=40, what="the offer held and the managers told")
    assert worker.terminate() == 0
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(line + b"\n" for _, line in lines))
    replayed = f"sqlite:///{tmp_path / 'replay.db'}"
    run_replay(str(events), tmp_path / "rules", replayed, None, None, [], False, notify="console")
    assert deliveries(replayed) == deliveries(setup.db)
