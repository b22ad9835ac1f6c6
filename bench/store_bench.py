"""Many customers' state in the worker's local RocksDB: size, restart, memory, cold vs warm.

Not a test: it prints figures. Run with::

    .venv/bin/python bench/store_bench.py [--customers 10000000] [--partitions 8] [--dir DIR]

It builds the local store a worker keeps (``streams/worker/state_store.py``: one
database per partition, the shared block cache) holding ``--customers`` synthetic states:
the states a replay of a generated bank leaves, each copied under a new customer id with
its own name, phone and balances, encoded with today's codec. Then, as after a restart,
it opens the databases again and prints:

- the time to open them and to read every stored state (what a worker does on
  assignment today, here without holding them all), the resident memory, the decode rate;
- the CPU cost of one event for a customer whose state is in memory (warm: evaluate) and
  for one whose state is only on disk (cold: read, decode, evaluate), over a random sample
  (CPU time, so that other load on the machine does not inflate it; build, open and read
  times are wall-clock).

Sizes are a parameter because building ten million states takes a while on a small
machine. Every figure is measured at the size given, except the one line that says how
long decoding every state would take at the decode rate measured on 200,000 of them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.durations import EPOCH
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.decode import decode
from churnwatch.schemas.models import TransactionEvent
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.worker.state_store import STATE_PREFIX, LocalStates

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
BATCH = 20_000
#: states decoded to time decode
DECODED = 200_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--sample", type=int, default=20_000, help="events timed cold and warm")
    parser.add_argument("--cache-mb", type=int, default=64, help="the shared block cache")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to build (default: a temp dir)"
    )
    parser.add_argument("--reopen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    engine = Engine(load_rules(SHIPPED_RULES))
    templates, events = _templates(engine)
    if args.reopen:  # the restart, in a process of its own
        _restart(args.dir, args, engine, templates, events)
        return
    root = args.dir or Path(tempfile.mkdtemp(prefix="churnwatch-store-bench-"))
    print(
        f"{len(templates)} template states from a generated bank, "
        f"{sum(len(encode_state(s)) for s in templates) / len(templates):,.0f} bytes each"
    )
    try:
        _build(root, args.customers, args.partitions, args.cache_mb, templates)
        print("restart: a new process opens the databases", flush=True)
        restart = [sys.executable, __file__, "--reopen", "--dir", str(root)]
        for name in ("customers", "partitions", "sample", "cache_mb"):
            restart += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        subprocess.run(restart, check=True)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _templates(engine: Engine) -> tuple[list[CustomerState], list[TransactionEvent]]:
    """States of a small generated bank after six weeks, and postings to time against them."""
    lines = list(generate(DatasetSpec(customers=300, weeks=6, seed=16)))
    driver = ReplayDriver(engine, None, clock=lambda: NOW)
    driver.run(lines)
    postings = [e for e in map(decode, lines[-3000:]) if isinstance(e, TransactionEvent)]
    return list(driver.states.values()), postings


def _partition(customer_id: str, partitions: int) -> int:
    return (
        int.from_bytes(hashlib.blake2b(customer_id.encode(), digest_size=4).digest()) % partitions
    )


#: the customer id written into every template state, replaced per copy (same length)
PLACEHOLDER = "C#########"


def _template_bytes(template: CustomerState) -> bytes:
    """The template encoded with :data:`PLACEHOLDER` as its customer's id and phone tail."""
    state = decode_state(encode_state(template))
    if state.customer is not None:
        state.customer = msgspec.structs.replace(
            state.customer, customer_id=PLACEHOLDER, phone="+8613" + PLACEHOLDER
        )
    return encode_state(state)


def _id(number: int) -> str:
    return f"C{number:09d}"


def _build(
    root: Path, customers: int, partitions: int, cache_mb: int, templates: list[CustomerState]
) -> None:
    local = LocalStates(root, "bench-changelog", cache_mb)
    dbs = [local.open(p) for p in range(partitions)]
    started = time.perf_counter()
    pending: list[list[tuple[str, bytes | None]]] = [[] for _ in range(partitions)]
    encoded = [_template_bytes(t) for t in templates]
    placeholder = PLACEHOLDER.encode()
    written = 0
    for number in range(customers):
        customer_id = _id(number)
        part = _partition(customer_id, partitions)
        value = encoded[number % len(encoded)].replace(placeholder, customer_id.encode())
        pending[part].append((customer_id, value))
        written += len(value)
        if len(pending[part]) >= BATCH:
            dbs[part].write(pending[part], number)
            pending[part] = []
        if number and number % 1_000_000 == 0:
            print(f"  {number:,} states written, {time.perf_counter() - started:,.0f} s")
    for part, changes in enumerate(pending):
        if changes:
            dbs[part].write(changes, customers)
    local.close_all()
    seconds = time.perf_counter() - started
    on_disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(
        f"built {customers:,} states in {partitions} partitions in {seconds:,.0f} s; "
        f"{written / customers:,.0f} bytes per state encoded, {on_disk / customers:,.0f} on disk "
        f"({on_disk / 2**30:,.2f} GiB)"
    )


def _restart(
    root: Path,
    args: argparse.Namespace,
    engine: Engine,
    templates: list[CustomerState],
    events: list[TransactionEvent],
) -> None:
    print(f"resident memory before opening (engine and rule pack loaded): {_rss()}")
    started = time.perf_counter()
    local = LocalStates(root, "bench-changelog", args.cache_mb)
    dbs = [local.open(p) for p in range(args.partitions)]
    print(
        f"opened {args.partitions} databases in {time.perf_counter() - started:.2f} s; "
        f"resident {_rss()}"
    )

    # an hour after the latest template event: every customer's next posting, in order
    after = EPOCH + dt.timedelta(microseconds=max(s.watermark for s in templates) + 3_600_000_000)
    rng = random.Random(16)
    sample = [_id(rng.randrange(args.customers)) for _ in range(args.sample)]
    timed = [
        msgspec.structs.replace(
            events[i % len(events)],
            customer_id=who,
            event_id=f"bench-{i}",
            occurred_at=after,
        )
        for i, who in enumerate(sample)
    ]
    reading = decoding = cold = 0.0
    warm_states: dict[str, CustomerState] = {}
    for who, event in zip(sample, timed, strict=True):
        db = dbs[_partition(who, args.partitions)].db
        t0 = time.thread_time()
        value = db[STATE_PREFIX + who.encode()]
        t1 = time.thread_time()
        state = decode_state(value)
        t2 = time.thread_time()
        engine.evaluate(event, state, NOW)
        cold += time.thread_time() - t0
        reading += t1 - t0
        decoding += t2 - t1
        warm_states[who] = decode_state(value)
    warm = 0.0
    for who, event in zip(sample, timed, strict=True):
        t0 = time.thread_time()
        engine.evaluate(event, warm_states[who], NOW)
        warm += time.thread_time() - t0
    count = len(sample)
    print(
        f"CPU per event, {count:,} random customers: warm (state in memory) "
        f"{warm / count * 1e6:,.1f} µs, cold (read from RocksDB, decode) "
        f"{cold / count * 1e6:,.1f} µs: "
        f"cold = {cold / warm:.1f} x warm (of cold: read {reading / count * 1e6:,.1f} µs, "
        f"decode {decoding / count * 1e6:,.1f} µs)"
    )
    del warm_states

    started = time.perf_counter()
    stored = size = 0
    first: list[bytes] = []
    for db in dbs:  # what PartitionDB.load does, without holding millions of values at once
        for key, value in db.db.items(from_key=STATE_PREFIX):
            if not key.startswith(STATE_PREFIX):
                break
            stored += 1
            size += len(value)
            if len(first) < DECODED:
                first.append(value)
    read = time.perf_counter() - started
    print(
        f"restart: read every stored state ({stored:,}, {size / 2**30:,.2f} GiB) in {read:,.1f} s; "
        f"resident {_rss()}"
    )
    started = time.thread_time()
    for value in first:
        decode_state(value)
    rate = len(first) / (time.thread_time() - started)
    print(
        f"decode: {rate:,.0f} states per second (measured on {len(first):,}); a restore that "
        f"decodes all {stored:,}, as the worker does at assignment today, needs "
        f"{stored / rate:,.0f} s more at that rate"
    )
    del first
    local.close_all()
    print(f"peak resident memory of the restarted process: {_rss('VmHWM')}")


def _rss(field: str = "VmRSS") -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            kib = int(line.split()[1])
            return f"{kib / 1024:,.0f} MiB"
    return "unknown"


if __name__ == "__main__":
    main()
