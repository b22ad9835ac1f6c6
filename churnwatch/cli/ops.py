"""``alerts export``, ``config check`` and ``db upgrade|status``: what is there, and the
store's schema step."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
import typer
from rich.console import Console
from rich.markup import escape

from churnwatch.cli.options import (
    BrokerOption,
    ConfigOption,
    DbOption,
    RulesOption,
    effective_config,
)
from churnwatch.exceptions import ChurnwatchError
from churnwatch.streams.config import Config, env_names
from churnwatch.streams.masking import mask_text, masked

if TYPE_CHECKING:
    from churnwatch.schemas.models import Alert

__all__ = ["CSV_COLUMNS", "alerts_app", "config_app", "db_app", "register"]

alerts_app = typer.Typer(help="Read the alert store.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
db_app = typer.Typer(
    help="The alert store's schema: upgrade it before starting a new version.",
    no_args_is_help=True,
)
err = Console(stderr=True)

CSV_COLUMNS = (
    "alert_id",
    "rule_id",
    "rule_version",
    "severity",
    "customer_id",
    "account_id",
    "occurred_at",
    "detected_at",
    "title",
    "facts",
    "trigger_event_ids",
)


def register(app: typer.Typer) -> None:
    """Add these command groups to the ``churnwatch`` app."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")


def _csv_row(alert: Alert) -> list[str]:
    data = msgspec.to_builtins(alert)
    row = []
    for column in CSV_COLUMNS:
        value = data.get(column)
        if isinstance(value, dict | list):
            value = msgspec.json.encode(value).decode()
        row.append("" if value is None else str(value))
    return row


@alerts_app.command("export")
def alerts_export(
    output_format: Annotated[
        Literal["jsonl", "csv"], typer.Option("--format", help="jsonl or csv.")
    ] = "jsonl",
    rule_id: Annotated[str | None, typer.Option("--rule", help="Only this rule id.")] = None,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
) -> None:
    """Write every stored alert to stdout, in detection order."""
    from churnwatch.followup.spreadsheet import safe_writer
    from churnwatch.schemas.store import AlertStore

    settings = effective_config(config, broker, db, rules)
    stdout = sys.stdout
    try:
        with AlertStore(settings.store.url) as store:
            if output_format == "csv":
                writer = safe_writer(stdout)
                writer.writerow(CSV_COLUMNS)
                for alert in store.alerts(rule_id=rule_id):
                    writer.writerow(_csv_row(alert))
            else:
                encoder = msgspec.json.Encoder()
                for alert in store.alerts(rule_id=rule_id):
                    stdout.write(encoder.encode(alert).decode() + "\n")
    except ChurnwatchError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    stdout.flush()


@config_app.command("check")
def config_check(
    show_env: Annotated[
        bool, typer.Option("--env", help="Also list every environment variable read.")
    ] = False,
    without_secrets: Annotated[
        bool,
        typer.Option(
            "--without-secrets",
            help="The secrets are not on this machine (CI): a missing one is only a warning.",
        ),
    ] = False,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
) -> None:
    """Check the whole deployment: the config, and that every audience the rule directory's
    routing names is reached by an installed, configured channel with its secrets.

    Prints the effective settings (secrets masked) and which audience goes to which
    channel; exits 1 with one line per problem.
    """
    from ruamel.yaml import YAML

    settings = effective_config(config, broker, db, rules)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(masked(settings), buffer)
    sys.stdout.write(buffer.getvalue())
    if show_env:
        sys.stdout.write("\n# environment variables\n")
        for name, path in env_names().items():
            sys.stdout.write(f"# {name} -> {'.'.join(path)}\n")
    problems = check_reach(settings, secrets_here=not without_secrets)
    if problems:
        for problem in problems:
            err.print(
                f"[red]problem:[/red] {escape(mask_text(problem))}",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(1)
    err.print("config OK", style="green")


def check_reach(settings: Config, *, secrets_here: bool) -> list[str]:
    """Print who is reached by which channel; the problems, one line each.

    The routing file is the one the worker would use: ``routing.yaml`` in the rule
    directory, else the shipped one. A rule directory that is not there is a problem:
    the worker would not start; give ``--rules`` to check against another copy.
    """
    from churnwatch.notifiers.check import check_deployment
    from churnwatch.notifiers.exceptions import RoutingError
    from churnwatch.notifiers.registry import channels
    from churnwatch.notifiers.setup import routing_for

    rules_dir = Path(settings.rules.dir)
    problems: list[str] = []
    routing = None
    if not rules_dir.is_dir():
        problems.append(f"rules.dir: {rules_dir} is not a directory here (check with --rules DIR)")
    else:
        try:
            routing = routing_for(rules_dir, check_installed=False)
        except RoutingError as exc:
            problems.append(str(exc))
    result = check_deployment(
        routing, settings.notifiers, channels(), os.environ, secrets_here=secrets_here
    )
    if routing is not None:
        sys.stdout.write(f"\n# who is told, by which channel ({routing.source})\n")
        for reach in result.audiences:
            mark = "ok" if reach.ok else "NOT REACHED"
            sys.stdout.write(f"# {reach.audience} -> {reach.channel}: {mark}\n")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    return problems + result.problems


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
) -> None:
    """Bring the store's schema to this version's, once, before the new workers start.

    Safe to run twice or from two places at once (they queue); refuses a store a newer
    churnwatch already upgraded.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from churnwatch.schemas.store import mask_url, migrate, open_engine
    from churnwatch.schemas.upgrade import schema_problem, schema_state

    settings = effective_config(config, broker, db, rules)
    where = mask_url(settings.store.url)
    try:
        engine = open_engine(settings.store.url)
        try:
            before = schema_state(engine)
            if before.status == "ahead":
                err.print(f"[red]error:[/red] {schema_problem(before)}", highlight=False)
                raise typer.Exit(1)
            migrate(engine)
            after = schema_state(engine)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        err.print(
            f"[red]error:[/red] cannot upgrade the store at {where}: {escape(mask_text(str(exc)))}",
            highlight=False,
        )
        raise typer.Exit(1) from exc
    except ChurnwatchError as exc:
        err.print(f"[red]error:[/red] {escape(mask_text(str(exc)))}", highlight=False)
        raise typer.Exit(1) from exc
    change = (
        "already current"
        if before.current == after.current
        else f"from {before.current or 'an empty store'}"
    )
    err.print(f"{where}: schema at revision {after.current} ({change})", highlight=False)


@db_app.command("status")
def db_status(
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
) -> None:
    """The store's schema revision against this version's; exit 1 unless they match."""
    from sqlalchemy.exc import SQLAlchemyError

    from churnwatch.schemas.store import mask_url, open_engine
    from churnwatch.schemas.upgrade import schema_problem, schema_state

    settings = effective_config(config, broker, db, rules)
    try:
        engine = open_engine(settings.store.url)
        try:
            state = schema_state(engine)
        finally:
            engine.dispose()
    except (SQLAlchemyError, ChurnwatchError) as exc:
        err.print(f"[red]error:[/red] {escape(mask_text(str(exc)))}", highlight=False)
        raise typer.Exit(1) from exc
    sys.stdout.write(
        f"store: {mask_url(settings.store.url)}\nschema: {state.current or 'none'}\n"
        f"this churnwatch: {state.head}\nstatus: {state.status}\n"
    )
    problem = schema_problem(state)
    if problem is not None:
        err.print(problem, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
