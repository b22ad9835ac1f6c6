"""The closing summary of a replay: what was read, what was refused and why, what fired."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from churnwatch.streams.replay.driver import ReplaySummary

__all__ = ["print_summary"]


def print_summary(summary: ReplaySummary, console: Console) -> None:
    table = Table(title="churnwatch replay", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("lines read", f"{summary.lines:,}")
    table.add_row("events", f"{summary.events:,}")
    for name, count in sorted(summary.events_by_type.items()):
        table.add_row(f"  {name}", f"{count:,}")
    dead = sum(summary.dead_letters.values())
    table.add_row("dead letters", f"{dead:,}")
    for code, count in sorted(summary.dead_letters.items()):
        table.add_row(f"  {code}", f"{count:,}")
    table.add_row("duplicates ignored", f"{summary.duplicates:,}")
    table.add_row("alerts", f"{summary.alerts:,}")
    for rule_id, count in sorted(summary.alerts_by_rule.items()):
        table.add_row(f"  {rule_id}", f"{count:,}")
    table.add_row("new alerts stored", f"{summary.new_alerts:,}")
    if summary.outcomes:
        table.add_row("outcomes derived", f"{sum(summary.outcomes.values()):,}")
        for outcome, count in sorted(summary.outcomes.items()):
            table.add_row(f"  {outcome}", f"{count:,}")
    table.add_row("seconds", f"{summary.seconds:.2f}")
    table.add_row("events per second", f"{summary.events_per_second:,.0f}")
    console.print(table)
