"""``churnwatch replay``: a file of events through the rules, alerts stored and printed."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, BinaryIO

import typer
from rich.console import Console

from churnwatch.cli.options import ChannelsFileOption, PublicUrlOption
from churnwatch.exceptions import ChurnwatchError
from churnwatch.rules import DEFAULT_TIMEZONE, SHIPPED_RULES
from churnwatch.rules.durations import format_duration, parse_duration
from churnwatch.rules.exceptions import RuleSetError
from churnwatch.schemas.screen import DEFAULT_LIMITS, Limits
from churnwatch.settings import DEFAULT_DB_URL
from churnwatch.streams.future import DEFAULT_MAX_AHEAD

if TYPE_CHECKING:
    from churnwatch.rules.loader import RuleSet
    from churnwatch.streams.replay.driver import AlertSink, ReplaySummary

__all__ = ["register", "replay", "run_replay", "write_replay_metrics"]

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
    *,
    notify: str = "none",
    sample: int = 0,
    channels_file: Path | None = None,
    until: dt.datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    metrics_out: Path | None = None,
    public_url: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    max_ahead: int | None = DEFAULT_MAX_AHEAD,
) -> ReplaySummary:
    """Replay ``file`` with the rules in ``rules_dir`` into the store at ``db``.

    ``notify`` (none, console, routed) routes new alerts and delivers them through the
    outbox in the same store; ``sample`` limits the console to that many messages per
    rule, audience and language. ``until`` moves the event-time clock on after the last
    event, so reminders and inactivity checks due by then fire. ``metrics_out`` writes
    the run's Prometheus metrics once, as a textfile, at the end. With notifications on,
    each routed alert opens its follow-up, and staff messages carry a signed link to
    ``churnwatch web`` at ``public_url`` when a link secret is configured. ``limits``
    says what decode accepts (the largest amount). An event dated more than ``max_ahead``
    seconds after the wall clock at the start is a dead letter (streams/future.py): a
    historical file is all in the past, and one absurd date would fire every timer;
    None takes every date (a synthetic bank keeps its own calendar).
    """
    from churnwatch.followup.wiring import OutboxNotify, follow_up_parts, follow_up_sink
    from churnwatch.rules.engine import Engine
    from churnwatch.rules.loader import load_rules
    from churnwatch.schemas.store import AlertStore
    from churnwatch.streams.replay.driver import JsonLinesAlertSink, ReplayDriver, wall_clock
    from churnwatch.streams.replay.notify import notifications_for, print_delivery_summary

    ruleset = load_rules(rules_dir, timezone=timezone)
    with (
        AlertStore(db) as store,
        _open_output(alerts_out) as alerts_handle,
        _open_output(dead_letters_out) as dead_handle,
        _open_input(file) as handle,
    ):
        follow_up = follow_up_parts(store.engine, ruleset, rules_dir, public_url=public_url)
        notifications = notifications_for(
            notify,
            store,
            rules_dir,
            ruleset,
            sample=sample,
            channels_file=channels_file,
            links=follow_up.links,
            control=follow_up.control,
            closed=follow_up.store.case_closed,
        )
        all_sinks = list(sinks)
        if alerts_handle is not None:
            all_sinks.insert(0, JsonLinesAlertSink(alerts_handle))
        if notifications is not None:
            all_sinks.append(notifications)
            notify_staff = OutboxNotify(follow_up.store, notifications)
            all_sinks.append(follow_up_sink(follow_up, notify_staff, notifications.clock))
        driver = ReplayDriver(
            Engine(ruleset),
            store,
            sinks=all_sinks,
            dead_letters=dead_handle,
            route=notifications.router if notifications is not None else None,
            limits=limits,
            keep=False,  # the store and the sinks have them: memory grows with customers only
            present=None if max_ahead is None else wall_clock(),
            max_ahead=DEFAULT_MAX_AHEAD if max_ahead is None else max_ahead,
        )
        if show_progress and file != "-" and sys.stderr.isatty():
            from churnwatch.streams.replay.progress import replay_with_progress

            summary = replay_with_progress(driver, handle, file)
        else:
            summary = driver.run(handle, source=file)
        if until is not None:
            tail = driver.advance_to(until)
            summary.alerts_by_rule.update(tail.alerts_by_rule)
            summary.new_alerts += tail.new_alerts
            summary.outcomes.update(tail.outcomes)
        if notifications is not None:
            notifications.finish()
            print_delivery_summary(notifications, Console(stderr=True))
        if metrics_out is not None:
            write_replay_metrics(summary, ruleset, metrics_out)
        return summary


def write_replay_metrics(summary: ReplaySummary, ruleset: RuleSet, path: Path) -> None:
    """The replay's counters as a Prometheus textfile (for node_exporter's collector)."""
    from churnwatch.metrics import Metrics

    metrics = Metrics()
    metrics.record_replay_summary(
        summary, severities={rule.id: rule.spec.severity for rule in ruleset.rules}
    )
    metrics.rule_set_loaded(ruleset.fingerprint, len(ruleset.rules))
    metrics.rules_evaluated(
        {
            rule.id: sum(summary.events_by_type.get(name, 0) for name in rule.types)
            for rule in ruleset.rules
            if rule.spec.enabled
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_textfile(str(path))


def register(app: typer.Typer) -> None:
    """Add ``replay`` to the ``churnwatch`` app."""
    app.command("replay")(replay)


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
        str,
        typer.Option(
            "--notify",
            help="Deliver new alerts: none, console (print every message) or routed "
            "(the routing file's channels).",
        ),
    ] = "none",
    channels_file: ChannelsFileOption = None,
    until: Annotated[
        dt.datetime | None,
        typer.Option(
            "--until",
            help="After the last event, move the clock to this time (ISO 8601 with offset) "
            "so reminders and checks due by then fire.",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", help="The bank's timezone for schedules and days.")
    ] = DEFAULT_TIMEZONE,
    metrics_out: Annotated[
        Path | None,
        typer.Option("--metrics-out", help="Write the run's Prometheus metrics to this file."),
    ] = None,
    public_url: PublicUrlOption = None,
    max_amount: Annotated[
        Decimal,
        typer.Option(
            "--max-amount",
            parser=Decimal,
            help="The largest amount, balance or AUM an event may carry; larger ones are "
            "dead letters (amount_too_large).",
        ),
    ] = DEFAULT_LIMITS.max_amount,
    max_ahead: Annotated[
        str,
        typer.Option(
            "--max-ahead",
            help="How far past the wall clock an event may be dated (e.g. 1h, 30d); later "
            "ones are dead letters (in_the_future).",
        ),
    ] = format_duration(DEFAULT_MAX_AHEAD),
) -> None:
    """Run events from a file through the rules; store and print the alerts."""
    from churnwatch.streams.replay.summary import print_summary

    try:
        summary = run_replay(
            file,
            rules_dir,
            db,
            alerts_out,
            dead_letters_out,
            [],
            True,
            notify=notify,
            channels_file=channels_file,
            until=until,
            timezone=timezone,
            metrics_out=metrics_out,
            public_url=public_url,
            limits=Limits(max_amount=max_amount),
            max_ahead=parse_duration(max_ahead.strip()),
        )
    except RuleSetError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except (ChurnwatchError, OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    print_summary(summary, Console(stderr=True))
