"""The two worker runtimes and a no-op Faust agent on one broker and one data set, one run.

    .venv/bin/python bench/faust_bench.py [--events 60000] [--rounds 2] [--partitions 4]

Not a test: prints figures. The generated events (the worker bench's transactions-heavy
mix) are produced once onto the input topics; then, in turn and each in its own process
and consumer group, reading them all from the start:

- ``noop``: a Faust agent on the same topics with the same settings as churnwatch's
  Faust app (``faust_settings``: ``noack_take`` batches of ``max_poll_records``, raw
  bytes) that only counts what it is handed: Faust's own cost, the bar's denominator;
- ``faust``: churnwatch's Faust runtime (``streams/faust/``), shipped rule pack, SQLite;
- ``aiokafka``: the default runtime, same pack and store.

Each reports events per wall second from its first event to its last processed one, and
per CPU second of its process (Faust's consumer thread included; the broker runs apart).
``--rounds`` repeats the three in turn, so a burst of load on the shared machine does not
land on one of them only; the best round of each is compared. ``--profile`` writes a
cProfile of the ``faust`` child to the given file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from worker_bench import events, load, make_config, start_broker  # noqa: E402

from churnwatch.streams.config import Config, load_config  # noqa: E402
from churnwatch.streams.topics import create_topics  # noqa: E402

KINDS = ("noop", "faust", "aiokafka")


class Clock:
    """First event to last, wall and CPU, polled every 2 ms from the child's loop."""

    def __init__(self, total: int, progress: Callable[[], int]) -> None:
        self.total = total
        self.progress = progress
        self.started = self.cpu = 0.0
        self.result: dict[str, float] = {}

    async def watch(self, done: Callable[[dict[str, float]], None]) -> None:
        while self.progress() == 0:
            await asyncio.sleep(0.002)
        self.started, self.cpu = time.perf_counter(), time.process_time()
        while self.progress() < self.total:
            await asyncio.sleep(0.002)
        seconds = time.perf_counter() - self.started
        cpu = time.process_time() - self.cpu
        done({"events": self.total, "seconds": seconds, "cpu": cpu})


def report(kind: str) -> Callable[[dict[str, float]], None]:
    def done(result: dict[str, float]) -> None:
        print(json.dumps({"kind": kind, **result}), flush=True)

    return done


def faust_child(config: Config, total: int, noop: bool) -> None:
    import faust

    from churnwatch.streams.faust import faust_settings, mount
    from churnwatch.streams.worker.topics import input_topics, prepare_topics

    asyncio.run(prepare_topics(config))
    app = faust.App(config.worker.group_id, **faust_settings(config))
    kind = "noop" if noop else "faust"
    if noop:
        seen = [0]
        channel = app.topic(
            *input_topics(config),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        @app.agent(channel, name="noop")
        async def count(stream: faust.StreamT[bytes]) -> None:
            async for batch in stream.noack_take(config.worker.max_poll_records, 0.05):
                seen[0] += len(batch)

        clock = Clock(total, lambda: seen[0])
    else:
        runtime = mount(app, config)

        def processed() -> int:
            buffered = sum(task.buffered() for task in runtime.order.tasks.values())
            return runtime.stats.events - buffered if runtime.stats.events else 0

        clock = Clock(total, processed)

    def done(result: dict[str, float]) -> None:
        report(kind)(result)
        os.kill(os.getpid(), signal.SIGTERM)

    @app.task
    async def watch() -> None:
        await clock.watch(done)

    worker = faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False, override_logging=False
    )
    with contextlib.suppress(SystemExit):  # Faust's worker ends with one
        worker.execute_from_commandline()


async def aiokafka_child(config: Config, total: int) -> None:
    from churnwatch.streams.worker.loop import Worker

    worker = Worker(config)
    task = asyncio.create_task(worker.run(install_signals=False))
    clock = Clock(
        total,
        lambda: (
            worker.stats.events - sum(t.buffered() for t in worker.order.tasks.values())
            if worker.stats.events
            else 0
        ),
    )
    await clock.watch(report("aiokafka"))
    worker.stop()
    await task


def child(args: argparse.Namespace) -> None:
    # as ``churnwatch worker`` sets them: no debug records built per message
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_config(args.config, environ={})
    if args.child == "aiokafka":
        asyncio.run(aiokafka_child(config, args.events))
    elif args.profile:
        import cProfile

        cProfile.runctx(
            "faust_child(config, args.events, False)", globals(), locals(), args.profile
        )
    else:
        faust_child(config, args.events, noop=args.child == "noop")


def run_child(kind: str, config_path: Path, total: int, profile: str | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--config", str(config_path)]
    command += ["--events", str(total)]
    if profile and kind == "faust":
        command += ["--profile", profile]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    for line in out.stdout.splitlines():
        if '{"kind"' in line:  # Faust's worker writes terminal codes around it
            result: dict[str, float] = json.loads(line[line.index("{") :])
            return result
    raise SystemExit(f"{kind} gave no figure:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--child", choices=KINDS, default=None)
    parser.add_argument("--config", default=None)
    parser.add_argument("--only", choices=KINDS, default=None)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    broker, url = start_broker()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config, _ = make_config(url, Path(tmp), "fb", args.partitions)
            create_topics(config)
            per = max(1, args.events // 2000)
            lines = [
                line
                for line in events(customers=2000, per_customer=per, seed=1)
                if b'"staff"' not in line
            ]
            asyncio.run(load(config, lines))
            best: dict[str, dict[str, float]] = {}
            kinds = KINDS if not args.only else (args.only,)
            for round_ in range(args.rounds):
                for kind in kinds:
                    name = f"{kind}{round_}"
                    _, path = make_config(url, Path(tmp), name, args.partitions)
                    # the same input topics, a consumer group and outputs of its own
                    text = path.read_text().replace(f"{name}.tx", "fb.tx")
                    text = text.replace(f"{name}.pr", "fb.pr").replace(f"{name}.cu", "fb.cu")
                    path.write_text(text)
                    result = run_child(kind, path, len(lines), args.profile)
                    rate = result["events"] / result["seconds"]
                    per_cpu = result["events"] / result["cpu"]
                    print(
                        f"round {round_ + 1} {kind:9} {rate:9,.0f} events/s "
                        f"({per_cpu:,.0f} per CPU second)",
                        flush=True,
                    )
                    if kind not in best or rate > best[kind]["rate"]:
                        best[kind] = {"rate": rate, "cpu": per_cpu}
            print(f"events: {len(lines):,} ({args.partitions} partitions, shipped pack)")
            if args.only:
                return
            for kind in KINDS:
                print(
                    f"best {kind:9} {best[kind]['rate']:9,.0f} events/s "
                    f"({best[kind]['cpu']:,.0f} per CPU second)"
                )
            noop = best["noop"]
            print(
                f"faust runtime / no-op Faust agent: {best['faust']['rate'] / noop['rate']:.2f} "
                f"wall, {best['faust']['cpu'] / noop['cpu']:.2f} per CPU second (bar >= 0.8)"
            )
            ratio = best["aiokafka"]["rate"] / best["faust"]["rate"]
            print(f"aiokafka runtime / faust runtime: {ratio:.2f}")
    finally:
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    main()
