"""How replay cost grows with the length of the stream: events per second and peak memory.

Not a test: it prints figures. Run with::

    .venv/bin/python bench/growth_bench.py [--events 100000 1000000 10000000] [--customers 3000]

For each size it generates the synthetic bank with the same customers and as many weeks
as that many events take (so the number of active customers stays the same and only
the length of history grows), writes it to a file, and replays it in a fresh process
reading the file line by line (the data set is never held in memory) through the full
replay path: the shipped rule pack, a SQLite alert store, no notifier. It prints, per
size, the replay's own rate (``events per second`` of its summary), events per CPU
second, and the peak resident memory of that process. Time should grow with events and
memory with customers, not with events: state is pruned by event time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset

#: events one customer of the generated bank makes in a week, about (measured: 198,695
#: events for 3,000 customers in 6 weeks)
EVENTS_PER_CUSTOMER_WEEK = 11.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_replay(args.child)))
        return

    print(
        f"{'events':>12} {'weeks':>6} {'own events/s':>13} {'events/CPU-s':>13} "
        f"{'peak MiB':>9} {'alerts':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for wanted in args.events:
            weeks = max(3, round(wanted / (args.customers * EVENTS_PER_CUSTOMER_WEEK)))
            data = Path(tmp) / "events.jsonl"
            started = time.perf_counter()
            count = write_dataset(DatasetSpec(customers=args.customers, weeks=weeks), data)
            generated = time.perf_counter() - started
            run = subprocess.run(
                [sys.executable, __file__, "--child", str(data)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(run.stdout.strip().splitlines()[-1])
            print(
                f"{count:>12,} {weeks:>6} {figures['own_rate']:>13,.0f} "
                f"{count / figures['cpu']:>13,.0f} {figures['peak_mib']:>9,.0f} "
                f"{figures['alerts']:>8,}  (generated in {generated:,.0f} s)",
                flush=True,
            )
            data.unlink()


def _replay(path: Path) -> dict[str, float]:
    """Replay ``path`` in this process; its own rate, CPU seconds and peak memory."""
    from churnwatch.rules import SHIPPED_RULES
    from churnwatch.rules.engine import Engine
    from churnwatch.rules.loader import load_rules
    from churnwatch.schemas.store import AlertStore
    from churnwatch.streams.replay.driver import ReplayDriver

    with tempfile.TemporaryDirectory() as tmp, AlertStore(f"sqlite:///{tmp}/alerts.db") as store:
        driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), store, keep=False)
        cpu = time.process_time()
        with path.open("rb") as lines:
            summary = driver.run(lines)
        cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "own_rate": summary.events_per_second,
        "cpu": cpu,
        "peak_mib": peak,
        "alerts": summary.alerts,
    }


if __name__ == "__main__":
    main()
