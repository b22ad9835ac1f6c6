"""``churnwatch notifiers …`` and ``churnwatch deliveries …``: channels and the outbox.

``notifiers list`` shows every channel installed through the ``churnwatch.notifiers``
entry point group and whether its settings are usable (never their values).
``deliveries list`` and ``deliveries retry`` are for operators; ``deliveries dispatch``
runs the dispatcher against a store (once, or in a loop beside the worker).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from churnwatch.cli.options import ChannelsFileOption
from churnwatch.exceptions import ChurnwatchError
from churnwatch.notifiers import STATUSES
from churnwatch.rules import SHIPPED_RULES
from churnwatch.settings import DEFAULT_DB_URL

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
notifiers_app = typer.Typer(
    help="Notifier channels: what is installed and configured.", no_args_is_help=True
)
deliveries_app = typer.Typer(
    help="The delivery outbox: list, retry, dispatch.", no_args_is_help=True
)
app.add_typer(notifiers_app, name="notifiers")
app.add_typer(deliveries_app, name="deliveries")
out = Console()
err = Console(stderr=True)

DbOption = Annotated[str, typer.Option("--db", help="Alert store URL (SQLAlchemy).")]


@notifiers_app.command("list")
def list_notifiers(
    channels_file: ChannelsFileOption = None,
    rules_dir: Annotated[
        Path, typer.Option("--rules", help="Rule directory (its routing.yaml names the audiences).")
    ] = SHIPPED_RULES,
) -> None:
    """Installed channels, whether each is configured (from the file and environment), and
    which audiences the routing sends to it."""
    from churnwatch.notifiers.registry import status
    from churnwatch.notifiers.settings import load_channels_file
    from churnwatch.notifiers.setup import routing_for

    try:
        sections = load_channels_file(channels_file)
        rows = status(sections, os.environ)
        routing = routing_for(rules_dir, check_installed=False)
    except ChurnwatchError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    audiences: dict[str, list[str]] = {}
    for audience, route in routing.audiences.items():
        audiences.setdefault(route.channel, []).append(audience)
    table = Table(title="notifier channels (entry point group churnwatch.notifiers)")
    for column in ("channel", "configured", "audiences", "what", "problem"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            "yes" if row.configured else "no",
            ", ".join(audiences.get(row.name, [])),
            row.summary,
            row.problem or "",
        )
    out.print(table)


@deliveries_app.command("list")
def list_deliveries(
    db: DbOption = DEFAULT_DB_URL,
    status_: Annotated[
        str | None, typer.Option("--status", help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """Deliveries in the outbox, newest first; addresses masked."""
    from churnwatch.notifiers.masking import mask_digits
    from churnwatch.notifiers.outbox import Outbox
    from churnwatch.schemas.store import AlertStore

    if status_ is not None and status_ not in STATUSES:
        err.print(f"[red]error:[/red] --status must be one of {', '.join(STATUSES)}")
        raise typer.Exit(2)
    with AlertStore(db) as store:
        rows = Outbox(store.engine).list(status=status_, limit=limit)
    table = Table(title=f"deliveries ({status_ or 'all'})")
    for column in (
        "id",
        "status",
        "tries",
        "channel",
        "audience",
        "recipient",
        "address",
        "rule",
        "due / sent (UTC)",
        "why",
    ):
        table.add_column(column)
    for row in rows:
        when = row.sent_at or row.due_at
        table.add_row(
            str(row.id),
            row.status,
            str(row.attempts),
            row.channel,
            row.audience,
            row.recipient_id,
            mask_digits(row.payload.get("address")),
            str(row.payload.get("rule_id", "")),
            f"{when:%Y-%m-%d %H:%M}",
            row.last_error or row.payload.get("note") or "",
        )
    out.print(table)


@deliveries_app.command("retry")
def retry_delivery(
    delivery_id: Annotated[int, typer.Argument(help="The delivery id (from deliveries list).")],
    db: DbOption = DEFAULT_DB_URL,
) -> None:
    """Make a failed delivery due again now (after fixing what made it fail)."""
    from churnwatch.notifiers.clock import wall_clock
    from churnwatch.notifiers.outbox import Outbox
    from churnwatch.schemas.store import AlertStore

    with AlertStore(db) as store:
        outbox = Outbox(store.engine)
        row = outbox.get(delivery_id)
        if row is None:
            err.print(f"[red]error:[/red] no delivery {delivery_id}")
            raise typer.Exit(1)
        if not outbox.retry(delivery_id, wall_clock()):
            err.print(
                f"[red]error:[/red] delivery {delivery_id} is {row.status}; "
                "only failed ones are retried"
            )
            raise typer.Exit(1)
    out.print(f"delivery {delivery_id} is pending again; the next dispatch sends it")


@deliveries_app.command("hold")
def hold_deliveries(
    due_before: Annotated[
        str,
        typer.Option(
            "--due-before",
            help="ISO time with offset, e.g. 2026-11-30T09:15:00+08:00: when the store failed.",
        ),
    ],
    db: DbOption = DEFAULT_DB_URL,
) -> None:
    """After restoring an older backup: mark failed every delivery that may have gone out
    since (pending and due before the time, or being sent), so none is sent twice."""
    from churnwatch.notifiers.clock import wall_clock
    from churnwatch.notifiers.outbox import Outbox
    from churnwatch.schemas.store import AlertStore

    try:
        when = dt.datetime.fromisoformat(due_before)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --due-before: not an ISO time: {due_before!r}")
        raise typer.Exit(2) from exc
    if when.tzinfo is None:
        err.print("[red]error:[/red] --due-before needs an offset (+08:00 or Z)")
        raise typer.Exit(2)
    with AlertStore(db) as store:
        held = Outbox(store.engine).hold(when, wall_clock())
    out.print(
        f"held {held} deliveries (now failed): review them with "
        "`churnwatch deliveries list --status failed`, retry the ones that did not go out",
        highlight=False,
    )


@deliveries_app.command("dispatch")
def dispatch(
    db: DbOption = DEFAULT_DB_URL,
    channels_file: ChannelsFileOption = None,
    rules_dir: Annotated[Path, typer.Option("--rules", help="Rule directory.")] = SHIPPED_RULES,
    loop: Annotated[bool, typer.Option(help="Keep dispatching every --interval seconds.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 2.0,
) -> None:
    """Send the deliveries that are due, with the configured channels."""
    from churnwatch.metrics import Metrics
    from churnwatch.notifiers.dispatcher import Dispatcher
    from churnwatch.notifiers.exceptions import NotifierError
    from churnwatch.notifiers.outbox import Outbox
    from churnwatch.notifiers.registry import build_configured
    from churnwatch.notifiers.settings import load_channels_file
    from churnwatch.notifiers.setup import load_templates, routing_for
    from churnwatch.schemas.store import AlertStore

    try:
        routing = routing_for(rules_dir)
        templates = load_templates(rules_dir, routing)
        notifiers, problems = build_configured(
            routing.channels, load_channels_file(channels_file), os.environ
        )
    except (ChurnwatchError, NotifierError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    for name, problem in problems.items():
        err.print(
            f"[yellow]warning:[/yellow] channel {name} is not configured ({problem}); "
            "its deliveries stay pending for a dispatcher that has it",
            highlight=False,
        )
    if not notifiers:
        err.print("[red]error:[/red] no channel of the routing is configured", highlight=False)
        raise typer.Exit(2)
    with AlertStore(db) as store:
        dispatcher = Dispatcher(
            Outbox(store.engine), notifiers, templates=templates, metrics=Metrics()
        )
        while True:
            report = dispatcher.run_until_idle()
            if report.sent or report.retried or report.failed:
                out.print(
                    f"{dt.datetime.now(dt.UTC):%H:%M:%S} sent {report.sent}, "
                    f"retrying {report.retried}, failed {report.failed}",
                    highlight=False,
                )
            if not loop:
                break
            time.sleep(interval)
