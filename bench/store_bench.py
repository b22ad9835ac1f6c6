"""Ten million customers' state in the worker's local RocksDB: memory, restart, cold vs warm.

Not a test: it prints figures. Run with::

    .venv/bin/python bench/store_bench.py [--customers 10000000] [--partitions 8] [--dir DIR]

It builds the local store a worker keeps (``streams/worker/state_store.py``: one
database per partition, the shared block cache) holding ``--customers`` synthetic states:
the states a replay of a generated bank leaves, each copied under a new customer id with
its own name and phone, encoded with today's codec, each with its next timer in the same
write batch, as a checkpoint writes them: blind, as the worker writes a customer its read
found no state for (``PartitionDB.write``'s ``known``). Then, as after a restart, a new process does
what a worker does with those databases and prints:

- restore: the time to open the databases and to find each partition's next timer
  (``streams/worker/stored_timers.py``), and the states they say they hold;
- resident memory of the process with its working set full (``--cache`` decoded states
  over all partitions, ``streams/worker/state_cache.py``), the engine and rule pack loaded;
- the CPU cost of one event, as the worker pays it (in batches of ``FETCH`` events, each
  partition's share prefetched in one multi-get, ``CachedStates.prefetch``; then
  ``CachedStates.get`` and ``Engine.evaluate``), for customers whose state is in the
  working set (warm) and for customers picked at random among all (cold: their share of
  a multi-get, one decode, and an eviction), and the ratio. CPU time, so that other load
  on the machine does not inflate it; build, open and restore times are wall-clock. Each
  timed run starts as the worker's events do after a checkpoint: what is alive frozen out
  of the collector's walk (``freeze_survivors``). Without it a full collection over the
  working set (~0.2 s) fell in whichever run reached it and was counted as that run's
  events' cost (the warm figure read 21-37 µs per event instead of ~9).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
from churnwatch.streams.collector import freeze_survivors, tune_for_many_states
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.worker.state_cache import CachedStates
from churnwatch.streams.worker.state_store import ABSENT, LocalStates, PartitionDB
from churnwatch.streams.worker.stored_timers import StoredTimers

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
BATCH = 20_000
#: events per worker batch when timed (a fetch; each partition's share read in one go)
FETCH = 500
#: cold and warm runs, alternating
ROUNDS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--sample", type=int, default=20_000, help="events timed cold and warm")
    parser.add_argument("--cache-mb", type=int, default=64, help="the shared block cache")
    parser.add_argument("--cache", type=int, default=50_000, help="worker.state_cache_customers")
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
        _build(root, args.customers, args.partitions, args.cache_mb, templates, engine)
        print("restart: a new process opens the databases", flush=True)
        restart = [sys.executable, __file__, "--reopen", "--dir", str(root)]
        for name in ("customers", "partitions", "sample", "cache_mb", "cache"):
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
    root: Path,
    customers: int,
    partitions: int,
    cache_mb: int,
    templates: list[CustomerState],
    engine: Engine,
) -> None:
    local = LocalStates(root, "bench-changelog", cache_mb)
    dbs = [local.open(p) for p in range(partitions)]
    started = time.perf_counter()
    pending: list[list[tuple[str, bytes | None]]] = [[] for _ in range(partitions)]
    encoded = [_template_bytes(t) for t in templates]
    dues = [engine.next_due(t) for t in templates]
    placeholder = PLACEHOLDER.encode()
    written = 0
    for number in range(customers):
        customer_id = _id(number)
        part = _partition(customer_id, partitions)
        value = encoded[number % len(encoded)].replace(placeholder, customer_id.encode())
        pending[part].append((customer_id, value))
        written += len(value)
        if len(pending[part]) >= BATCH:
            _write(dbs[part], pending[part], dues, number)
            pending[part] = []
        if number and number % 1_000_000 == 0:
            print(f"  {number:,} states written, {time.perf_counter() - started:,.0f} s")
    for part, changes in enumerate(pending):
        if changes:
            _write(dbs[part], changes, dues, customers)
    seconds = time.perf_counter() - started
    settled = _settle(dbs)
    local.close_all()
    on_disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(
        f"built {customers:,} states in {partitions} partitions in {seconds:,.0f} s; "
        f"{written / customers:,.0f} bytes per state encoded, {on_disk / customers:,.0f} on disk "
        f"({on_disk / 2**30:,.2f} GiB); RocksDB's compactions then settled in {settled:,.0f} s"
    )


def _settle(dbs: list[PartitionDB]) -> float:
    """Wait for the compactions the build left pending; return the seconds waited.

    A worker's store has its compactions keeping up with its checkpoints; a bulk build
    leaves up to ten level-0 files per database, and a point read checks every one of
    them (cold reads measured 70 µs instead of 15-20 before they were compacted).
    """
    started = time.perf_counter()
    while any(
        db.db.property_value("rocksdb.compaction-pending") != "0"
        or db.db.property_value("rocksdb.num-running-compactions") != "0"
        for db in dbs
    ):
        time.sleep(0.5)
    return time.perf_counter() - started


def _write(
    db: PartitionDB, changes: list[tuple[str, bytes | None]], dues: list[int | None], offset: int
) -> None:
    """A checkpoint's write: the states, each customer's next timer, the offset; each
    customer new to the database, as the worker knows from the read that found none."""
    timers = [(c, dues[int(c[1:]) % len(dues)]) for c, _ in changes]
    db.write(changes, offset, timers, known=dict.fromkeys((c for c, _ in changes), ABSENT))


def _restart(
    root: Path,
    args: argparse.Namespace,
    engine: Engine,
    templates: list[CustomerState],
    events: list[TransactionEvent],
) -> None:
    print(f"resident memory before opening (engine and rule pack loaded): {_rss()}")
    tune_for_many_states()  # as the worker does
    started, cpu = time.perf_counter(), time.process_time()
    local = LocalStates(root, "bench-changelog", args.cache_mb)
    dbs = [local.open(p) for p in range(args.partitions)]
    held = sum(db.count() for db in dbs)
    timers = [StoredTimers(db) for db in dbs]
    first_due = min(d for t in timers if (d := t.next_due()) is not None)
    restore = time.perf_counter() - started
    print(
        f"restore: {args.partitions} databases opened, {held:,} states counted and each "
        f"partition's next timer read (earliest {EPOCH + dt.timedelta(microseconds=first_due)}) "
        f"in {restore:.2f} s ({time.process_time() - cpu:.2f} s CPU); resident {_rss()}"
    )

    share = max(args.cache // args.partitions, 1)
    cached = [CachedStates(db, share) for db in dbs]
    rng = random.Random(16)
    # an hour after the latest template event: every customer's next posting, in order
    after = EPOCH + dt.timedelta(microseconds=max(s.watermark for s in templates) + 3_600_000_000)

    def event(i: int, who: str) -> TransactionEvent:
        return msgspec.structs.replace(
            events[i % len(events)], customer_id=who, event_id=f"bench-{i}", occurred_at=after
        )

    def run(sample: list[str], offset: int) -> float:
        """CPU seconds of this thread for the sample's events, as the worker handles them
        (RocksDB's compaction threads, busy after a build, are not counted): in batches of
        ``FETCH`` events, each partition's share of a batch prefetched in one read."""
        timed = [(event(offset + i, who), who) for i, who in enumerate(sample)]
        freeze_survivors()  # as the worker after a checkpoint: collections walk only what is new
        evaluate = engine.evaluate
        t0 = time.thread_time()
        for batch in _batches(timed, args.partitions):
            for partition, work in batch.items():
                states = cached[partition]
                states.prefetch([who for _, who in work])
                for ev, who in work:
                    outcome = evaluate(ev, states.get(who), NOW)
                    if outcome.state is not None:
                        states[who] = outcome.state
        return time.thread_time() - t0

    # fill the working set with random customers (a worker after a while), then time
    started = time.perf_counter()
    fill = [_id(rng.randrange(args.customers)) for _ in range(args.cache)]
    run(fill, 0)
    print(
        f"working set filled: {sum(len(c) for c in cached):,} decoded states "
        f"({share:,} per partition) in {time.perf_counter() - started:,.1f} s; "
        f"resident {_rss()}"
    )
    # cold and warm in alternating rounds, so that a slow minute of a shared machine
    # falls on both; the median round of each is reported
    per = max(args.sample // ROUNDS, 1)
    offset = len(fill)
    colds: list[float] = []
    warms: list[float] = []
    missed = hit = 0
    for _ in range(ROUNDS):
        misses = sum(c.misses for c in cached)
        colds.append(run([_id(rng.randrange(args.customers)) for _ in range(per)], offset) / per)
        missed += sum(c.misses for c in cached) - misses
        offset += per
        in_memory = [who for c in cached for who in c.recent]
        hits = sum(c.hits for c in cached)
        warms.append(run(rng.sample(in_memory, per), offset) / per)
        hit += sum(c.hits for c in cached) - hits
        offset += per
    cold_us = statistics.median(colds) * 1e6
    warm_us = statistics.median(warms) * 1e6
    print(
        f"CPU per event, median of {ROUNDS} alternating rounds of {per:,}: warm (state in the "
        f"working set; {hit:,} of {per * ROUNDS:,} hits) {warm_us:,.1f} µs "
        f"(rounds {_figures(warms)}), cold (random customers among {args.customers:,}; "
        f"{missed:,} of {per * ROUNDS:,} read from RocksDB) {cold_us:,.1f} µs "
        f"(rounds {_figures(colds)}): cold = {cold_us / warm_us:.1f} x warm"
    )
    resident = _rss()
    _cold_parts(cached, args, rng, event, offset, engine)
    offset += args.sample
    # the same cold events under CPython's default young-generation threshold: what
    # tune_for_many_states saves (the working set's decodes swell the young generation)
    threshold = gc.get_threshold()
    gc.set_threshold(700, *threshold[1:])
    untuned_sample = [_id(rng.randrange(args.customers)) for _ in range(args.sample)]
    untuned = run(untuned_sample, offset)
    gc.set_threshold(*threshold)
    print(
        f"cold with CPython's default gc threshold (700) instead of the worker's "
        f"({threshold[0]:,}): {untuned / len(untuned_sample) * 1e6:,.1f} µs per event"
    )
    print(
        f"resident memory with the working set full: {resident}; "
        f"peak resident memory of the restarted process: {_rss('VmHWM')}"
    )
    local.close_all()


def _cold_parts(
    cached: list[CachedStates],
    args: argparse.Namespace,
    rng: random.Random,
    event: Callable[[int, str], TransactionEvent],
    offset: int,
    engine: Engine,
) -> None:
    """Where a cold event's time goes: the steps of ``CachedStates.get`` and the
    evaluation, each timed alone (a clock read around each adds ~1 µs in all)."""
    parts = dict.fromkeys(("read", "decode", "evict", "evaluate"), 0.0)
    sample = [_id(rng.randrange(args.customers)) for _ in range(args.sample)]
    timed = [(event(offset + i, who), who) for i, who in enumerate(sample)]
    clock = time.thread_time
    freeze_survivors()
    for batch in _batches(timed, args.partitions):
        for partition, work in batch.items():
            states = cached[partition]
            t0 = clock()
            states.prefetch([who for _, who in work])
            parts["read"] += clock() - t0
            for ev, who in work:
                state = states.recent.get(who)
                if state is None:
                    found = states.fetched.pop(who, None)
                    if found is not None:
                        t1 = clock()
                        state = decode_state(found[1], lazy=True)
                        t2 = clock()
                        states[who] = state
                        parts["decode"] += t2 - t1
                        parts["evict"] += clock() - t2
                t3 = clock()
                outcome = engine.evaluate(ev, state, NOW)
                parts["evaluate"] += clock() - t3
                if outcome.state is not None and outcome.state is not state:
                    states[who] = outcome.state
    shown = ", ".join(f"{name} {spent / len(timed) * 1e6:,.1f}" for name, spent in parts.items())
    print(f"a cold event's parts, µs per event ({len(timed):,} events): {shown}")


def _batches(
    timed: list[tuple[TransactionEvent, str]], partitions: int
) -> Iterator[dict[int, list[tuple[TransactionEvent, str]]]]:
    """The events in the worker's batches of ``FETCH``, each split by partition (its
    tasks), in order within each."""
    for start in range(0, len(timed), FETCH):
        batch: dict[int, list[tuple[TransactionEvent, str]]] = {}
        for ev, who in timed[start : start + FETCH]:
            batch.setdefault(_partition(who, partitions), []).append((ev, who))
        yield batch


def _figures(seconds: list[float]) -> str:
    return "/".join(f"{s * 1e6:,.0f}" for s in seconds)


def _rss(field: str = "VmRSS") -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            kib = int(line.split()[1])
            return f"{kib / 1024:,.0f} MiB"
    return "unknown"


if __name__ == "__main__":
    main()
