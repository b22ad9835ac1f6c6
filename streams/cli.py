"""The ``churnwatch`` command. Each group lives in its own module; this file wires them."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, BinaryIO

import typer
from rich.console import Console

from followup import cli as followup_cli
from rules.engine import Engine
from rules.exceptions import RuleSetError
from rules.loader import load_rules
from schemas.exceptions import ChurnwatchError
from schemas.store import AlertStore
from streams import cli_demo, cli_kafka, cli_ops, cli_rules
from streams.replay import AlertSink, JsonLinesAlertSink, ReplayDriver, ReplaySummary
from streams.settings import DEFAULT_DB_URL, SHIPPED_RULES
from streams.summary import print_summary

__all__ = ["app", "main"]

app = typer.Typer(
    help="churnwatch: real-time churn early warning for retail banks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_rules.app, name="rules")
app.command("generate")(cli_demo.generate)
app.command("demo")(cli_demo.demo)
cli_kafka.register(app)
cli_ops.register(app)
followup_cli.register(app)
err = Console(stderr=True)

RulesOption = Annotated[Path, typer.Option("--rules", help="Rule directory.")]
DbOption = Annotated[str, typer.Option("--db", help="Alert store URL (SQLAlchemy).")]


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as handle:
            yield handle


@contextlib.contextmanager
def _open_output(path: Path | None) -> Iterator[IO[bytes] | None]:
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        yield handle


def run_replay(
    file: str,
    rules_dir: Path,
    db: str,
    alerts_out: Path | None,
    dead_letters_out: Path | None,
    sinks: list[AlertSink],
    show_progress: bool,
) -> ReplaySummary:
    """Replay ``file`` with the rules in ``rules_dir`` into the store at ``db``."""
    ruleset = load_rules(rules_dir)
    with (
        AlertStore(db) as store,
        _open_output(alerts_out) as alerts_handle,
        _open_output(dead_letters_out) as dead_handle,
        _open_input(file) as handle,
    ):
        all_sinks = list(sinks)
        if alerts_handle is not None:
            all_sinks.insert(0, JsonLinesAlertSink(alerts_handle))
        driver = ReplayDriver(Engine(ruleset), store, sinks=all_sinks, dead_letters=dead_handle)
        if show_progress and file != "-" and sys.stderr.isatty():
            from streams.progress import replay_with_progress

            return replay_with_progress(driver, handle, file)
        return driver.run(handle, source=file)


@app.command("replay")
def replay(
    file: Annotated[str, typer.Argument(help="Contract-v1 JSON lines, or - for stdin.")],
    rules_dir: RulesOption = SHIPPED_RULES,
    db: DbOption = DEFAULT_DB_URL,
    alerts_out: Annotated[
        Path | None, typer.Option("--alerts-out", help="Write each new alert as a JSON line.")
    ] = None,
    dead_letters_out: Annotated[
        Path | None,
        typer.Option("--dead-letters-out", help="Write each dead letter as a JSON line."),
    ] = None,
    notify: Annotated[
        str, typer.Option("--notify", help="Notifier for new alerts: console or none.")
    ] = "none",
) -> None:
    """Run events from a file through the rules; store and print the alerts."""
    from streams.notify import sinks_for

    try:
        summary = run_replay(
            file, rules_dir, db, alerts_out, dead_letters_out, sinks_for(notify), True
        )
    except RuleSetError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except (ChurnwatchError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    print_summary(summary, Console(stderr=True))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
