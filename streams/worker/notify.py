"""Notifications and follow-up for the worker: what it writes inline, what a thread sends.

Inline, on the worker's loop: routing (the worker's ``route`` hook), then for every new
alert the delivery pipeline writes its outbox rows and the follow-up opens. No network
call happens there. On the :class:`~churnwatch.streams.worker.deliveries.DeliveryLoop`
thread: sending, retries, escalations and the backlog gauges. Each side has its own
pipeline object, so nothing in memory is shared between the two threads; the outbox in the store is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from churnwatch.followup.escalation import Escalator, load_policy
from churnwatch.followup.morning.config import load_config
from churnwatch.followup.morning.send import MorningSender
from churnwatch.followup.wiring import OutboxNotify, follow_up_parts, follow_up_sink
from churnwatch.metrics import Metrics
from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.pipeline import Notifications
from churnwatch.notifiers.setup import build_pipeline
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.config import Config
from churnwatch.streams.replay.driver import AlertSink
from churnwatch.streams.replay.pack import Pack
from churnwatch.streams.worker.deliveries import DeliveryLoop, DeliveryParts

__all__ = ["WorkerDelivery", "worker_notifications"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WorkerDelivery:
    sinks: list[AlertSink]
    route: Callable[[Alert, InMemoryDirectory], Alert]
    loop: DeliveryLoop
    pipelines: tuple[Notifications, ...] = ()

    def use_templates(self, pack: Pack) -> None:
        """Send with the templates of a pack that just went live (a hot reload).

        Templates never reload by themselves: what the reload checked is what is sent.
        One assignment per pipeline, so each message uses the old set or the new one.
        """
        for pipeline in self.pipelines:
            pipeline.templates = pack.templates
            if pipeline.dispatcher is not None:
                pipeline.dispatcher.templates = pack.templates
        morning = self.loop.parts.morning
        if morning is not None:  # its texts and the rules it lists change with the pack
            morning.templates, morning.ruleset = pack.templates, pack.ruleset


def worker_notifications(config: Config, metrics: Metrics) -> WorkerDelivery | None:
    """The worker's notification parts, or None when no notifier is configured."""
    if not config.notifiers:
        return None
    rules_dir = Path(config.rules.dir)
    store = AlertStore(config.store.url)
    ruleset = load_rules(rules_dir, timezone=config.timezone)
    parts = follow_up_parts(store.engine, ruleset, rules_dir)
    texts = {rule.id: rule.spec.texts for rule in ruleset.rules}

    def pipeline(control: Callable[[Alert], bool] | None) -> Notifications:
        return build_pipeline(
            store.engine,
            rules_dir,
            sections=config.notifiers,
            metrics=metrics,
            texts=texts,
            links=parts.links,
            control=control,
            closed=parts.store.case_closed,
        )

    inline = pipeline(parts.control)
    sending = pipeline(None)  # escalations: control alerts never escalate, never get here
    dispatcher = sending.dispatcher
    assert dispatcher is not None
    inline.dispatcher = None  # the loop writes rows only; the thread sends them
    escalator = Escalator(
        parts.store,
        load_policy(rules_dir / "routing.yaml"),
        OutboxNotify(parts.store, sending),
        _now,
    )
    sink = follow_up_sink(parts, OutboxNotify(parts.store, inline), _now)
    morning_config = load_config(rules_dir / "routing.yaml")
    morning = (
        MorningSender(
            store.engine,
            ruleset,
            morning_config,
            sending.routing,
            sending.templates,
            dispatcher.notifiers,
            link=parts.morning_link,
            metrics=metrics,
        )
        if morning_config.enabled
        else None
    )
    loop = DeliveryLoop(DeliveryParts(dispatcher, sending.outbox, escalator, morning), metrics)
    return WorkerDelivery([inline, sink], inline.router, loop, (inline, sending))
