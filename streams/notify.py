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


class _SampledConsoleAlerts(_ConsoleAlerts):
    """Prints at most ``per_rule`` alerts of each rule; counts the rest."""

    def __init__(self, per_rule: int) -> None:
        super().__init__()
        self.per_rule = per_rule
        self.shown: dict[str, int] = {}

    def __call__(self, alerts: Sequence[Alert], directory: InMemoryDirectory) -> None:
        chosen = []
        for alert in alerts:
            if self.shown.get(alert.rule_id, 0) < self.per_rule:
                self.shown[alert.rule_id] = self.shown.get(alert.rule_id, 0) + 1
                chosen.append(alert)
        super().__call__(chosen, directory)


def demo_sinks(per_rule: int) -> list[AlertSink]:
    """The demo's console output: a few alerts of each rule."""
    return [_SampledConsoleAlerts(per_rule)]
