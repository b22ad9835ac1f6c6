"""Options every operator command shares, and turning them into the effective config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from churnwatch.streams.config import Config, load_config
from churnwatch.streams.exceptions import ConfigError

__all__ = [
    "BrokerOption",
    "ChannelsFileOption",
    "ConfigOption",
    "DbOption",
    "PublicUrlOption",
    "RulesOption",
    "effective_config",
]

err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Config file (YAML or TOML); or set CHURNWATCH_CONFIG."),
]
BrokerOption = Annotated[
    str | None, typer.Option("--broker", help="Broker URL, e.g. kafka://host:9092.")
]
DbOption = Annotated[str | None, typer.Option("--db", help="Alert store URL (SQLAlchemy).")]
RulesOption = Annotated[Path | None, typer.Option("--rules", help="Rule directory.")]
PublicUrlOption = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        envvar="CHURNWATCH_WEB_PUBLIC_URL",
        help="Public address of churnwatch web, for the follow-up links in staff messages.",
    ),
]
ChannelsFileOption = Annotated[
    Path | None,
    typer.Option("--channels", help="Channel settings file (as for --notify routed)."),
]


def effective_config(
    config: Path | None, broker: str | None, db: str | None, rules: Path | None
) -> Config:
    """The config file, overridden by the environment, overridden by the flags; or exit 2."""
    try:
        return load_config(config, broker=broker, db=db, rules=rules)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]config:[/red] {problem}", highlight=False, markup=True)
        raise typer.Exit(2) from exc
