"""``churnwatch alerts export`` and ``churnwatch config check``: reading what is there."""

from __future__ import annotations

import csv
import io
import os
import sys
from typing import Annotated, Any, Literal

import msgspec
import typer
from rich.console import Console

from churnwatch.cli.options import (
    BrokerOption,
    ConfigOption,
    DbOption,
    RulesOption,
    effective_config,
)
from churnwatch.exceptions import ChurnwatchError
from churnwatch.schemas.models import Alert
from churnwatch.streams.config import env_names, masked

__all__ = ["CSV_COLUMNS", "alerts_app", "config_app", "register"]

alerts_app = typer.Typer(help="Read the alert store.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
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
    from churnwatch.schemas.store import AlertStore

    settings = effective_config(config, broker, db, rules)
    stdout = sys.stdout
    try:
        with AlertStore(settings.store.url) as store:
            if output_format == "csv":
                writer = csv.writer(stdout, lineterminator="\n")
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
    config: ConfigOption = None,
    broker: BrokerOption = None,
    db: DbOption = None,
    rules: RulesOption = None,
) -> None:
    """Validate the config and print the effective settings, secrets masked."""
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
    if not check_notifiers(settings.notifiers):
        raise typer.Exit(1)
    err.print("config OK", style="green")


def check_notifiers(sections: dict[str, Any]) -> bool:
    """Each notifier section through its channel's own validation; False on a real error.

    A secret that is not available here (unset variable, unreadable file) is a warning:
    the secrets live on the machines that run churnwatch, not where configs are checked.
    """
    from churnwatch.notifiers.exceptions import ConfigError, SecretUnavailable
    from churnwatch.notifiers.registry import channels

    installed = channels()
    ok = True
    for name, section in sorted(sections.items()):
        plugin = installed.get(name)
        if plugin is None:
            err.print(
                f"notifiers.{name}: no such channel; installed: {', '.join(sorted(installed))}",
                highlight=False,
            )
            ok = False
            continue
        try:
            plugin.configure(section or {}, os.environ)
        except SecretUnavailable as exc:
            err.print(f"[yellow]warning:[/yellow] {exc}", highlight=False)
        except ConfigError as exc:
            err.print(f"[red]notifiers.{name}:[/red] {exc}", highlight=False)
            ok = False
    return ok
