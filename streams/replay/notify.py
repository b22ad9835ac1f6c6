"""What happens to new alerts in the replay driver (``--notify none|console|routed``).

``console`` sends every audience's message to the console channel, in event time, so a
replay or the demo prints what customers and managers would have received and when;
``routed`` uses the routing file's channels with the channels file's settings (real
SMS, webhooks, email) on the wall clock. Either way deliveries go through the outbox
in the alert store, so ``churnwatch deliveries list`` shows them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

from churnwatch.notifiers.clock import EventClock, wall_clock
from churnwatch.notifiers.pipeline import Notifications
from churnwatch.notifiers.settings import load_channels_file
from churnwatch.notifiers.setup import build_pipeline
from churnwatch.rules.loader import RuleSet
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import AlertStore

__all__ = ["MODES", "notifications_for", "print_delivery_summary"]

MODES = ("none", "console", "routed")


def notifications_for(
    mode: str,
    store: AlertStore,
    rules_dir: Path,
    ruleset: RuleSet,
    *,
    sample: int = 0,
    channels_file: Path | None = None,
    links: Callable[[str, str], Mapping[str, str]] | None = None,
    control: Callable[[Alert], bool] | None = None,
    closed: Callable[[Alert], bool] | None = None,
) -> Notifications | None:
    """The notifications sink for ``mode``; ``None`` for ``none``."""
    if mode not in MODES:
        raise ValueError(f"unknown --notify {mode!r}: use {', '.join(MODES)}")
    if mode == "none":
        return None
    texts = {rule.id: rule.spec.texts for rule in ruleset.rules}
    if mode == "console":
        return build_pipeline(
            store.engine,
            rules_dir,
            channel="console",
            sections={"console": {"sample": sample}},
            clock=EventClock(),
            texts=texts,
            links=links,
            control=control,
            closed=closed,
        )
    return build_pipeline(
        store.engine,
        rules_dir,
        sections=load_channels_file(channels_file),
        clock=wall_clock,
        texts=texts,
        links=links,
        control=control,
        closed=closed,
    )


def print_delivery_summary(notifications: Notifications, console: Console) -> None:
    plan, sent = notifications.plan_report, notifications.dispatch_report
    table = Table(title="deliveries", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("sent", f"{sent.sent:,}")
    table.add_row("  deferred by quiet hours, then sent", f"{plan.deferred:,}")
    for reason, count in sorted(plan.suppressed.items()):
        table.add_row(f"suppressed: {reason}", f"{count:,}")
    table.add_row("failed", f"{plan.failed + sent.failed:,}")
    for reason, count in sorted(sent.reasons.items()):
        table.add_row(f"  {reason}", f"{count:,}")
    console.print(table)
