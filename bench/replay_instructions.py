"""Instructions per line of a replay, counted by callgrind: the figure load does not move.

Not a test: it prints figures. Wall and CPU seconds on the shared 2-core machines move
with whatever else runs (the same build measured 15,000 to 45,000 events per CPU
second in one afternoon); the number of instructions executed does not. Run::

    .venv/bin/python bench/replay_instructions.py [--customers 300] [--weeks 6]

It writes the generated bank to a temporary file, then runs itself under
``valgrind --tool=callgrind`` once per part, counting only what runs inside
``functools.reduce`` (the measured part is called through it, so start-up, imports and
data generation are left out): ``json.loads`` over the lines (the peer), churnwatch's
decode alone, the engine alone on the decoded events, and the whole replay (decode,
engine, timers, SQLite store). Needs valgrind; takes a few minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PARTS = ("json.loads", "decode", "engine", "replay")


def measure(data: Path, part: str) -> None:
    """Run one part over ``data`` inside functools.reduce (what callgrind counts)."""
    from churnwatch.rules import SHIPPED_RULES
    from churnwatch.rules.engine import Engine, event_micros
    from churnwatch.rules.loader import load_rules
    from churnwatch.schemas.decode import DeadLetter, decode
    from churnwatch.schemas.models import StaffEvent
    from churnwatch.schemas.store import AlertStore
    from churnwatch.streams.replay.driver import ReplayDriver

    lines = data.read_bytes().splitlines(keepends=True)
    ruleset = load_rules(SHIPPED_RULES)
    now = dt.datetime.now(dt.UTC)
    if part == "json.loads":
        functools.reduce(lambda _, line: json.loads(line), lines, None)
    elif part == "decode":
        functools.reduce(lambda _, line: decode(line.rstrip(b"\r\n")), lines, None)
    elif part == "engine":
        decoded = [decode(line.rstrip(b"\r\n")) for line in lines]
        events = [e for e in decoded if not isinstance(e, StaffEvent | DeadLetter)]
        engine = Engine(ruleset)
        states: dict[str, Any] = {}

        def step(_: object, event: Any) -> None:
            at = event_micros(event.occurred_at)
            outcome = engine.evaluate(event, states.get(event.customer_id), now, at)
            states[event.customer_id] = outcome.state

        functools.reduce(step, events, None)
    else:
        with tempfile.TemporaryDirectory() as tmp, AlertStore(f"sqlite:///{tmp}/a.db") as store:
            driver = ReplayDriver(Engine(ruleset), store)
            summary: Any = functools.reduce(lambda _, __: driver.run(lines), [None], None)
            print(f"alerts {summary.alerts}")
    print(f"lines {len(lines)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        measure(args.data, args.part)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "events.jsonl"
        count = write_dataset(DatasetSpec(customers=args.customers, weeks=args.weeks), data)
        print(f"{count:,} lines ({args.customers:,} customers, {args.weeks} weeks)")
        for part in PARTS:
            run = subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--collect-atstart=no",
                    "--toggle-collect=functools_reduce",
                    f"--callgrind-out-file={tmp}/callgrind.out",
                    sys.executable,
                    __file__,
                    "--part",
                    part,
                    "--data",
                    str(data),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            collected = re.search(r"Collected : (\d+)", run.stderr)
            lines = re.search(r"^lines (\d+)", run.stdout, re.MULTILINE)
            if collected is None or lines is None:
                sys.exit(f"{part}: no count in valgrind's output:\n{run.stderr[-2000:]}")
            per_line = int(collected.group(1)) / int(lines.group(1))
            print(f"{part}: {per_line:,.0f} instructions per line")


if __name__ == "__main__":
    main()
