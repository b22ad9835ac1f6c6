"""``churnwatch topics create``, ``produce`` and ``worker``: the commands that talk to Kafka."""

from __future__ import annotations

import contextlib
import enum
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from churnwatch.cli.options import (
    BrokerOption,
    ConfigOption,
    DbOption,
    RulesOption,
    effective_config,
)
from churnwatch.exceptions import ChurnwatchError
from churnwatch.rules.exceptions import RuleSetError

__all__ = ["register", "topics_app"]

topics_app = typer.Typer(help="Manage churnwatch's Kafka topics.", no_args_is_help=True)
log = logging.getLogger("churnwatch.worker")
err = Console(stderr=True)
out = Console()


class Runtime(enum.Enum):
    """What drives the worker: ``worker.runtime``'s choices."""

    AIOKAFKA = "aiokafka"
    FAUST = "faust"


def register(app: typer.Typer) -> None:
    """Add these commands to the ``churnwatch`` app."""
    app.add_typer(topics_app, name="topics")
    app.command("produce")(produce)
    app.command("worker")(worker)


@topics_app.command("create")
def topics_create(
    partitions: Annotated[
        int | None, typer.Option("--partitions", min=1, help="Partitions per topic.")
    ] = None,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
) -> None:
    """Create the input, alert, dead-letter and worker topics (directories compacted)."""
    from churnwatch.streams.topics import create_topics

    settings = effective_config(config, broker, db, rules)
    try:
        results = create_topics(settings, partitions)
    except ChurnwatchError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    table = Table("topic", "partitions", "cleanup", "", title_justify="left")
    for result in results:
        table.add_row(
            result.name,
            str(result.partitions),
            "compact" if result.compacted else "delete",
            "created" if result.created else "exists",
        )
    out.print(table)


@contextlib.contextmanager
def _lines(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as handle:
            yield handle


def produce(
    file: Annotated[str, typer.Argument(help="Contract-v1 JSON lines, or - for stdin.")],
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
) -> None:
    """Publish JSON lines onto the topic of their type, keyed by customer (staff by staff id)."""
    from churnwatch.streams.produce import produce_lines

    settings = effective_config(config, broker, db, rules)
    try:
        with _lines(file) as handle:
            summary = produce_lines(settings, handle, source=file)
    except (ChurnwatchError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    sent = ", ".join(f"{count:,} {name}" for name, count in sorted(summary.sent.items()))
    err.print(f"sent {summary.total_sent:,} events ({sent or 'none'})", highlight=False)
    if summary.dead_letters:
        reasons = ", ".join(f"{n:,} {code}" for code, n in sorted(summary.dead_letters.items()))
        err.print(
            f"[yellow]{sum(summary.dead_letters.values()):,} bad lines sent to "
            f"{settings.topics.dead_letter}[/yellow] ({reasons})",
            highlight=False,
        )


def worker(
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
    alerts_out: Annotated[
        Path | None, typer.Option("--alerts-out", help="Append each new alert as a JSON line.")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning.")] = "info",
    runtime: Annotated[
        Runtime | None,
        typer.Option(
            "--runtime", help="aiokafka (the default) or faust; overrides worker.runtime."
        ),
    ] = None,
) -> None:
    """Run a streaming worker; several in one group share the partitions. Stops on SIGTERM."""
    import asyncio

    from churnwatch.streams.replay.driver import AlertSink, JsonLinesAlertSink
    from churnwatch.streams.worker.health import WorkerObservability
    from churnwatch.streams.worker.loop import Worker
    from churnwatch.streams.worker.notify import worker_notifications

    settings = effective_config(config, broker, db, rules)
    if runtime is not None:
        settings = msgspec.structs.replace(
            settings, worker=msgspec.structs.replace(settings.worker, runtime=runtime.value)
        )
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("aiokafka", "kafka", "alembic", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Faust's timers warn when a run outlasts the interval: the Faust runtime's tick
    # checkpoints, which may (streams/faust/runtime.py)
    logging.getLogger("mode.timers").setLevel(logging.ERROR)
    sinks: list[AlertSink] = []
    with contextlib.ExitStack() as stack:
        if alerts_out is not None:
            alerts_out.parent.mkdir(parents=True, exist_ok=True)
            sinks.append(JsonLinesAlertSink(stack.enter_context(alerts_out.open("ab"))))
        try:
            observe = WorkerObservability()
            delivery = worker_notifications(settings, observe.metrics)
            route = None
            if delivery is not None:
                sinks.extend(delivery.sinks)
                route = delivery.route
                delivery.loop.start()
                stack.callback(delivery.loop.stop)
            else:
                log.warning("notifications are off: no notifiers configured (config: notifiers)")
            on_reload = delivery.use_templates if delivery is not None else None
            if settings.worker.runtime == "faust":
                from churnwatch.streams.faust import run_faust_worker

                run_faust_worker(
                    settings,
                    sinks=sinks,
                    route=route,
                    observe=observe,
                    on_reload=on_reload,
                    loglevel=log_level,
                )
                return
            worker = Worker(
                settings, sinks=sinks, route=route, observe=observe, on_reload=on_reload
            )
            asyncio.run(worker.run())
        except RuleSetError as exc:
            for problem in exc.problems:
                err.print(str(problem), markup=False, highlight=False)
            raise typer.Exit(2) from exc
        except ChurnwatchError as exc:  # one line: it ends up in a pod's log
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc
