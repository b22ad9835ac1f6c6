"""Replay throughput on a generated bank data set: decode, validate, evaluate, store.

Not a test: it prints figures. Run with ``make bench`` or::

    .venv/bin/python bench/replay_bench.py [--customers 5000] [--weeks 6] [--repeat 3]

It generates the data set once (the same synthetic bank as ``make demo``; 5,000
customers over 6 weeks are about 325,000 events: the replay target is set on at least
300,000), then replays it ``--repeat`` times through the full replay path — the
shipped rule pack and a fresh SQLite alert store each time — and reports the best run.
Events per CPU second (``time.process_time``) is the figure to compare across machines
and with other work running; events per wall second is printed beside it. Beside them, in the
same run: the rate of ``json.loads`` and of churnwatch's own decode alone over the same
lines (the floor no replay can beat), the replay's own figure (``events per second`` of
its summary), the encoded state per customer, by rule block, and the memory a state
takes in the process, by rule block: with thousands of customers, a replay waits on
memory more than it computes (each event reads its customer's state from wherever the
heap put it), so the in-memory size moves the rate as much as the code does.

``--parts`` adds where a line's CPU time goes: decode, the engine and the isolation
journal (rules/isolation.py) each timed alone over the same events, the three in one
loop, and the best replay's time per line beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.codec import encode_state, stored_block
from churnwatch.rules.engine import Engine, event_micros
from churnwatch.rules.isolation import Isolation
from churnwatch.rules.loader import RuleSet, load_rules
from churnwatch.rules.state import BlockState, CustomerState
from churnwatch.schemas.decode import DeadLetter, decode
from churnwatch.schemas.models import StaffEvent
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.collector import fewer_young_collections
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--parts", action="store_true", help="also time decode, engine and journal alone"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "events.jsonl"
        started = time.perf_counter()
        count = write_dataset(DatasetSpec(customers=args.customers, weeks=args.weeks), data)
        print(f"generated {count:,} events in {time.perf_counter() - started:.1f} s")
        lines = data.read_bytes().splitlines(keepends=True)
        ruleset = load_rules(SHIPPED_RULES)
        # each message as the drivers hand it to decode: without its line break (a
        # message with one takes decode's exact path, schemas/posting.py)
        messages = [line.rstrip(b"\r\n") for line in lines]
        for name, parse in (("json.loads", json.loads), ("churnwatch decode", decode)):
            cpu0 = time.process_time()
            for message in messages:
                parse(message)
            print(f"{name} alone: {count / (time.process_time() - cpu0):,.0f} lines per CPU second")
        # every run starts from the same heap: the peers' copies of the messages and the
        # previous run's states (tens of MB for 5,000 customers) are dropped first, or the
        # later runs replay beside them and measure their cache misses too
        del messages
        wall_rates, cpu_rates, own_rates = [], [], []
        states: dict[str, CustomerState] = {}
        for run in range(1, args.repeat + 1):
            states = {}
            gc.collect()
            with AlertStore(f"sqlite:///{Path(tmp) / f'run{run}.db'}") as store:
                driver = ReplayDriver(Engine(ruleset), store)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                summary = driver.run(lines)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            wall_rates.append(count / wall)
            cpu_rates.append(count / cpu)
            own_rates.append(summary.events_per_second)
            states = driver.states
            print(
                f"run {run}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                f"{count / wall:,.0f} events/s wall, {count / cpu:,.0f} events/CPU-s, "
                f"own rate {summary.events_per_second:,.0f} events/s, "
                f"{summary.alerts} alerts, {sum(summary.dead_letters.values())} dead letters"
            )
            del driver, summary  # the next run's ``states = {}`` then frees this run's states
        print(
            f"best: {max(cpu_rates):,.0f} events per CPU second "
            f"({max(wall_rates):,.0f} per wall second); "
            f"median {statistics.median(cpu_rates):,.0f} per CPU second; one core, "
            f"{len(ruleset.rules)} rules, SQLite store; best own rate "
            f"{max(own_rates):,.0f} events/s"
        )
        print_state_sizes(states)
        print_memory_sizes(states)
        if args.parts:
            del states
            print_parts(lines, ruleset, 1 / max(cpu_rates))


def print_parts(lines: list[bytes], ruleset: RuleSet, replay_seconds: float) -> None:
    """Where a line's CPU time goes: decode, the engine and the isolation journal each
    timed alone over the same events, then the three in one loop, beside the best
    replay's time per line (what the driver adds: timers, store, and the cache misses of
    running them together)."""
    messages = [line.rstrip(b"\r\n") for line in lines]
    now = dt.datetime.now(dt.UTC)

    def cpu(work: Callable[[], object]) -> float:
        gc.collect()
        with fewer_young_collections():
            started = time.process_time()
            work()
            return (time.process_time() - started) / len(lines) * 1e6

    decoded: list[Any] = []
    decode_us = cpu(lambda: decoded.extend(decode(m) for m in messages))
    events = [
        (e, event_micros(e.occurred_at), m)
        for e, m in zip(decoded, messages, strict=True)
        if not isinstance(e, StaffEvent | DeadLetter)
    ]
    decoded.clear()

    def engine_alone() -> None:
        engine = Engine(ruleset)
        states: dict[str, CustomerState | None] = {}
        for event, at, _ in events:
            states[event.customer_id] = engine.evaluate(
                event, states.get(event.customer_id), now, at
            ).state

    def journaled() -> None:
        isolation = Isolation(Engine(ruleset))
        states: dict[str, CustomerState | None] = {}
        for event, at, message in events:
            who = event.customer_id
            states[who] = isolation.evaluate(who, event, message, states.get(who), now, at).state

    def one_loop() -> None:
        isolation = Isolation(Engine(ruleset))
        states: dict[str, CustomerState | None] = {}
        for message in messages:
            event = decode(message)
            if isinstance(event, StaffEvent | DeadLetter):
                continue
            who, at = event.customer_id, event_micros(event.occurred_at)
            states[who] = isolation.evaluate(who, event, message, states.get(who), now, at).state

    engine_us, journaled_us = cpu(engine_alone), cpu(journaled)
    events.clear()
    together_us = cpu(one_loop)
    print(
        f"a line's CPU time, µs: decode alone (every event kept) {decode_us:.2f}; "
        f"engine alone {engine_us:.2f}; "
        f"engine with the isolation journal {journaled_us:.2f} (the journal "
        f"{journaled_us - engine_us:.2f}); the three in one loop {together_us:.2f} "
        f"(alone they sum to {decode_us + journaled_us:.2f}); the best replay "
        f"{replay_seconds * 1e6:.2f}"
    )


def print_state_sizes(states: dict[str, CustomerState]) -> None:
    """Average encoded state per customer, and the share of it each rule block holds."""
    customers = len(states) or 1
    total = sum(len(encode_state(state)) for state in states.values())
    average = total / customers
    print(f"state: {average:,.0f} bytes per customer on average ({len(states):,} customers)")
    by_block: dict[str, int] = {}
    for state in states.values():
        for rule_id, block in state.blocks.items():
            by_block[rule_id] = by_block.get(rule_id, 0) + len(encoder.encode(stored_block(block)))
    seen = sum(len(encoder.encode(state.seen)) for state in states.values())
    # the churn score's contributions: the state's bytes with them less without them
    scored = [state for state in states.values() if state.score]
    score = sum(
        len(encode_state(state)) - len(encode_state(msgspec.structs.replace(state, score=[])))
        for state in scored
    )
    for name, size in sorted(by_block.items(), key=lambda item: -item[1]):
        print(f"  {name}: {size / customers:,.0f} bytes per customer")
    print(f"  remembered event ids: {seen / customers:,.0f} bytes per customer")
    print(
        f"  churn score contributions: {score / customers:,.1f} bytes per customer "
        f"({len(scored):,} customers with any)"
    )


def print_memory_sizes(states: dict[str, CustomerState]) -> None:
    """Heap bytes a customer's state holds in the process, in all and by rule block.

    Measured by tracemalloc while copies are made (the state's own fields through msgpack,
    which gives back an equal state): what the allocator handed out, headers included.
    """
    customers = len(states) or 1
    whole = _heap_bytes([encoder.encode(state) for state in states.values()], CustomerState)
    print(f"in memory: {whole / customers:,.0f} bytes per customer state")
    by_block: dict[str, list[bytes]] = {}
    for state in states.values():
        for rule_id, block in state.blocks.items():
            by_block.setdefault(rule_id, []).append(encoder.encode(block))
    sizes = {rule_id: _heap_bytes(blobs, BlockState) for rule_id, blobs in by_block.items()}
    for rule_id, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"  {rule_id}: {size / customers:,.0f} bytes per customer")


def _heap_bytes(blobs: list[bytes], kind: Any) -> int:
    """Bytes allocated, and kept, by decoding ``blobs`` as ``kind``."""
    decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(kind)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        copies = [decoder.decode(blob) for blob in blobs]
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del copies
    return used


encoder = msgspec.msgpack.Encoder()

if __name__ == "__main__":
    main()
