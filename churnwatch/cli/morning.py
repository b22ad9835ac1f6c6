"""``churnwatch morning``: the relationship managers' morning list, by hand or on a schedule.

The worker sends the lists itself (its delivery thread); these commands are for a
deployment that sends without a worker, for an operator resending a day, and for
looking at a day's lists before they go out (``--preview`` records and sends nothing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from churnwatch.cli.options import ChannelsFileOption, PublicUrlOption
from churnwatch.exceptions import ChurnwatchError
from churnwatch.rules import SHIPPED_RULES
from churnwatch.settings import DEFAULT_DB_URL

if TYPE_CHECKING:
    from churnwatch.followup.morning.send import MorningSender

__all__ = ["app"]

err = Console(stderr=True)
app = typer.Typer(help="The relationship managers' morning list.", no_args_is_help=True)
Db = Annotated[str, typer.Option("--db", envvar="CHURNWATCH_STORE_URL", help="Alert store URL.")]
Rules = Annotated[Path, typer.Option("--rules", help="Rule directory (routing.yaml inside).")]
Channel = Annotated[
    str | None, typer.Option("--channel", help="Send by this channel instead (e.g. console).")
]


def _sender(
    db: str,
    rules_dir: Path,
    channels_file: Path | None,
    channel: str | None,
    public_url: str | None,
) -> MorningSender:
    from churnwatch.followup.morning.config import load_config
    from churnwatch.followup.morning.send import MorningSender
    from churnwatch.followup.wiring import follow_up_parts
    from churnwatch.notifiers.settings import load_channels_file
    from churnwatch.notifiers.setup import build_pipeline
    from churnwatch.rules.loader import load_rules
    from churnwatch.schemas.store import AlertStore

    store = AlertStore(db)
    ruleset = load_rules(rules_dir)
    config = load_config(rules_dir / "routing.yaml")
    if channel is not None:
        config = dataclasses.replace(config, channel=channel)
    parts = follow_up_parts(store.engine, ruleset, rules_dir, public_url=public_url)
    pipeline = build_pipeline(
        store.engine, rules_dir, channel=channel, sections=load_channels_file(channels_file)
    )
    assert pipeline.dispatcher is not None
    return MorningSender(
        store.engine,
        ruleset,
        config,
        pipeline.routing,
        pipeline.templates,
        pipeline.dispatcher.notifiers,
        link=parts.morning_link,
    )


@app.command("send")
def send(
    date: Annotated[
        str | None, typer.Option("--date", help="The day (YYYY-MM-DD); default: today, bank time.")
    ] = None,
    staff: Annotated[
        list[str] | None, typer.Option("--staff", help="Only this manager (repeatable).")
    ] = None,
    preview: Annotated[
        bool, typer.Option("--preview", help="Print the lists; record and send nothing.")
    ] = False,
    db: Db = DEFAULT_DB_URL,
    rules_dir: Rules = SHIPPED_RULES,
    channels_file: ChannelsFileOption = None,
    channel: Channel = None,
    public_url: PublicUrlOption = None,
) -> None:
    """Record and send one day's lists (each person's once, whenever it is run)."""
    try:
        sender = _sender(db, rules_dir, channels_file, channel, public_url)
        zone = sender.config.zone
        day = dt.date.fromisoformat(date) if date else dt.datetime.now(zone).date()
        if preview:
            for prepared in sender.prepare(day, staff):
                who = f"{prepared.morning.staff.staff_id} {prepared.morning.staff.name}"
                if prepared.rendered is None:
                    typer.echo(f"== {who}: nothing to do, nothing sent\n")
                    continue
                note = f" ({prepared.problem})" if prepared.problem else ""
                typer.echo(f"== {who} via {prepared.channel}{note}\n{prepared.rendered.body}\n")
            return
        if not sender.config.calendar.is_business_day(day):
            err.print(f"{day} is not a business day: no list is sent", highlight=False)
            return
        new = sender.record(day, staff)
        sent = sender.send_pending()
    except (ChurnwatchError, ValueError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    counts = ", ".join(f"{k} {v}" for k, v in sorted(sender.counts(day).items())) or "none"
    err.print(f"{day}: {new} new list(s) recorded, {sent} sent; lists: {counts}", highlight=False)


@app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[int, typer.Option("--interval", help="Seconds between passes.")] = 60,
    db: Db = DEFAULT_DB_URL,
    rules_dir: Rules = SHIPPED_RULES,
    channels_file: ChannelsFileOption = None,
    channel: Channel = None,
    public_url: PublicUrlOption = None,
) -> None:
    """Send each business day's lists at their time (what the worker does on its own)."""
    try:
        sender = _sender(db, rules_dir, channels_file, channel, public_url)
    except (ChurnwatchError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    while True:
        sent = sender.run_due()
        if sent:
            err.print(f"sent {sent} morning list(s)", highlight=False)
        if once:
            return
        time.sleep(interval)
