"""The worker as operations see it, on a real broker: metrics and probes over HTTP, and
rule timers on both clocks, across a SIGKILL. Workers run as ``churnwatch worker``
subprocesses."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.decode import DeadLetter, decode
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, WorkerProcess, free_port, wait_until
from ..eventgen import customer_line, events, transfer_line

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

StartWorker = Callable[[Setup, str], WorkerProcess]
POISON = [b"{not json", b"[1, 2, 3]", b'{"type": "transaction"}']
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, keyed by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def status_of(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def send(setup: Setup, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=setup.config.bootstrap_servers)
    for topic, key, value in messages:
        producer.send(topic, value, key=key)
    producer.flush()
    producer.close()


def product_line(event_id: str, customer: str, at: dt.datetime, maturity: dt.date) -> bytes:
    return json.dumps(
        {
            "type": "product",
            "event_id": event_id,
            "occurred_at": at.isoformat(),
            "customer_id": customer,
            "account_id": f"a-{customer}",
            "product_id": "TD-1",
            "product_kind": "time_deposit",
            "action": "maturity_scheduled",
            "amount": "200000.00",
            "maturity_date": maturity.isoformat(),
        }
    ).encode()


def maturity_steps(setup: Setup) -> list[str]:
    with AlertStore(setup.db) as store:
        return [a.alert_id for a in store.alerts(rule_id="maturity-reminder")]


def sink_ids(worker: WorkerProcess) -> list[str]:
    text = worker.alerts_out.read_text() if worker.alerts_out.exists() else ""
    return [json.loads(line)["alert_id"] for line in text.splitlines() if line]


def test_metrics_count_a_known_input_and_readyz_turns_ready(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """Scraped over HTTP, the counters move by exactly the events by type, dead letters by
    reason, duplicates and alerts by rule of a known input; /readyz answers 200 once
    partitions are assigned and /healthz answers 200."""
    port = free_port()
    setup = make_setup(metrics_port=port)
    lines = [
        line for line in events(customers=20, per_customer=20, seed=5) if b'"staff"' not in line
    ]
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)))
    driver.run(lines)
    by_rule = Counter(alert.rule_id for alert in driver.stored)
    assert by_rule
    topics = setup.config.topics
    create_topics(setup.config)
    messages = []
    for line in lines:
        data = json.loads(line)
        topic = topics.customers if data["type"] == "customer" else topics.transactions
        messages.append((topic, data["customer_id"].encode(), line))
    repeats = [m for m in messages if m[0] == topics.transactions][-5:]  # within lateness
    poison = [(topics.transactions, b"cu00001", p) for p in POISON]
    reasons = Counter(r.code for r in map(decode, POISON) if isinstance(r, DeadLetter))
    worker = start_worker(setup, "metrics")
    wait_until(lambda: status_of(port, "/readyz") == 200, what="/readyz 200 after assignment")
    assert status_of(port, "/healthz") == 200
    send(setup, messages + poison + repeats)

    def counted() -> bool:
        samples = scrape(port)
        return samples.get(("churnwatch_events_total", (("type", "transaction"),))) == 405

    wait_until(counted, what="every event counted")
    wait_until(lambda: len(setup.alert_ids()) == len(driver.stored), what="every alert")
    samples = scrape(port)
    assert samples[("churnwatch_events_total", (("type", "customer"),))] == 20
    for reason, count in reasons.items():
        assert samples[("churnwatch_dead_letters_total", (("reason", reason),))] == count
    letters = sum(v for (n, _), v in samples.items() if n == "churnwatch_dead_letters_total")
    assert letters == len(POISON)
    assert samples[("churnwatch_duplicate_events_total", ())] == 5
    for rule, count in by_rule.items():
        raised = sum(
            value
            for (name, labels), value in samples.items()
            if name == "churnwatch_alerts_total" and ("rule", rule) in labels
        )
        assert raised == count, rule
        assert samples[("churnwatch_rule_matches_total", (("rule", rule),))] >= count
    assert samples[("churnwatch_alerts_stored_total", (("outcome", "new"),))] == len(driver.stored)
    assert samples[("churnwatch_event_to_alert_latency_seconds_count", ())] == len(driver.stored)
    version = [labels for name, labels in samples if name == "churnwatch_rule_set_info"]
    assert version == [(("version", Engine(load_rules(SHIPPED_RULES)).ruleset.fingerprint),)]
    assert worker.terminate() == 0


def test_maturity_steps_survive_a_sigkill_between_steps(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """A maturity scheduled 10 days out, a worker SIGKILLed after the first step fired and
    started again: later events (another customer's) move the clock past the other two
    steps, which fire from the timers rebuilt from restored state; each of the three steps
    is stored and handed to the sinks exactly once."""
    setup = make_setup(commit_interval=0.2)
    topics = setup.config.topics
    create_topics(setup.config)
    day0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=SHANGHAI)
    send(
        setup,
        [
            (topics.customers, b"c-mat", customer_line("c-mat", day0 - dt.timedelta(days=1))),
            (topics.customers, b"c-clk", customer_line("c-clk", day0 - dt.timedelta(days=1))),
            (
                topics.products,
                b"c-mat",
                product_line("sched-1", "c-mat", day0, dt.date(2026, 3, 11)),
            ),
        ],
    )
    first = start_worker(setup, "first")
    first.wait_for_log("assigned partitions")

    def tick(n: int, days: float) -> tuple[str, bytes, bytes]:
        at = day0 + dt.timedelta(days=days)
        line = transfer_line(f"clk-{n}", "c-clk", at, Decimal(10), Decimal(1000))
        return (topics.transactions, b"c-clk", line)

    send(setup, [tick(1, 1)])
    # a checkpoint past the tick: the schedule, committed with the offsets it reflects, is
    # in the changelog (two customers, the schedule and the tick)
    wait_until(lambda: setup.committed() == 4, what="a checkpoint after the first tick")
    send(setup, [tick(2, 3.5)])  # past the 7-day step (2026-03-04 09:30)
    wait_until(lambda: len(maturity_steps(setup)) == 1, what="the 7-day step")
    first.kill()
    second = start_worker(setup, "second")
    second.wait_for_log("assigned partitions")
    send(setup, [tick(3, 7.5), tick(4, 9.5)])  # past the 3-day and the 1-day steps
    wait_until(lambda: len(maturity_steps(setup)) == 3, what="all three steps")
    assert second.terminate() == 0
    steps = maturity_steps(setup)
    assert len(set(steps)) == 3
    delivered = [i for i in sink_ids(first) + sink_ids(second) if i in steps]
    assert sorted(delivered) == sorted(steps), "a step was handed to the sinks twice or never"


def test_wall_clock_fires_steps_that_no_event_reaches(
    make_setup: Callable[..., Setup], start_worker: StartWorker
) -> None:
    """With ``timer_clock: wall`` the steps whose time has come by the wall clock fire with
    no later event; the step still in the future does not."""
    setup = make_setup(timer_clock="wall")
    topics = setup.config.topics
    create_topics(setup.config)
    now = dt.datetime.now(SHANGHAI).replace(microsecond=0)
    scheduled = now - dt.timedelta(days=8)
    maturity = (now + dt.timedelta(days=2)).date()
    send(
        setup,
        [
            (
                topics.customers,
                b"c-wall",
                customer_line("c-wall", scheduled - dt.timedelta(days=1)),
            ),
            (topics.products, b"c-wall", product_line("sched-w", "c-wall", scheduled, maturity)),
        ],
    )
    worker = start_worker(setup, "wall")
    wait_until(lambda: len(maturity_steps(setup)) == 2, what="the 7-day and 3-day steps")
    assert worker.terminate() == 0
    with AlertStore(setup.db) as store:
        steps = sorted(a.facts["step"] for a in store.alerts(rule_id="maturity-reminder"))
    assert steps == ["3d", "7d"]
