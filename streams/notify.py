"""Choosing what happens to new alerts in the replay driver (``--notify``)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from notifiers.directory import InMemoryDirectory
from schemas.models import Alert
from streams.replay import AlertSink

__all__ = ["sinks_for"]


class _ConsoleAlerts:
    def __init__(self) -> None:
        self.console = Console()

    def __call__(self, alerts: Sequence[Alert], directory: InMemoryDirectory) -> None:
        for alert in alerts:
            self.console.print(
                f"[bold]{alert.severity.upper()}[/bold] {alert.rule_id} "
                f"customer {alert.customer_id}: {alert.facts}",
                highlight=False,
            )


def sinks_for(name: str) -> list[AlertSink]:
    if name == "none":
        return []
    if name == "console":
        return [_ConsoleAlerts()]
    raise ValueError(f"unknown notifier {name!r}: use console or none")
