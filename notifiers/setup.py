"""Putting the pipeline together for a driver: routing file, templates, channels, outbox.

The routing file and templates are read from the rule directory (compliance keeps them
beside the rules) and, when it has none, from the shipped pack. ``channel`` overrides
every audience's channel (``--notify console`` in the replay and the demo).

The outbox and the dispatcher (SQLAlchemy) are imported by :func:`build_pipeline` only:
``churnwatch rules check`` reads the routing and templates and needs no database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnwatch.notifiers.clock import Clock, wall_clock
from churnwatch.notifiers.registry import build_notifiers, channels
from churnwatch.notifiers.routing_file import Routing, load_routing
from churnwatch.notifiers.templates import TemplateBook
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.texts import WORDS_FILE, RuleTexts, load_words

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from churnwatch.notifiers.metrics import DeliveryMetrics
    from churnwatch.notifiers.pipeline import Notifications
    from churnwatch.notifiers.protocol import Notifier
    from churnwatch.schemas.models import Alert

__all__ = ["build_pipeline", "load_templates", "routing_for"]


def routing_for(rules_dir: Path, *, check_installed: bool = True) -> Routing:
    """The routing file beside the rules, else the shipped one; channels checked as installed
    unless ``check_installed`` is False (``config check`` reports them with the rest)."""
    path = rules_dir / "routing.yaml"
    if not path.is_file():
        path = SHIPPED_RULES / "routing.yaml"
    return load_routing(path, frozenset(channels()) if check_installed else None)


def load_templates(rules_dir: Path, routing: Routing) -> TemplateBook:
    """Templates and words beside the rules, else the shipped ones; SMS audiences from routing."""
    directory = rules_dir / "templates"
    if not directory.is_dir():
        directory = SHIPPED_RULES / "templates"
    installed = channels()
    sms = frozenset(
        audience
        for audience, route in routing.audiences.items()
        if route.channel in installed and installed[route.channel].sms
    )
    words_dir = rules_dir if (rules_dir / WORDS_FILE).is_file() else SHIPPED_RULES
    return TemplateBook(
        directory,
        sms_audiences=sms,
        max_segments=routing.max_segments,
        words=load_words(words_dir),
    )


def build_pipeline(
    engine: Engine,
    rules_dir: Path,
    *,
    channel: str | None = None,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    clock: Clock = wall_clock,
    texts: Mapping[str, RuleTexts] | None = None,
    notifiers: Mapping[str, Notifier] | None = None,
    metrics: DeliveryMetrics | None = None,
    links: Callable[[str, str], Mapping[str, str]] | None = None,
    control: Callable[[Alert], bool] | None = None,
    closed: Callable[[Alert], bool] | None = None,
) -> Notifications:
    """A ready :class:`Notifications` sink over ``engine``'s outbox."""
    from churnwatch.notifiers.dispatcher import Dispatcher
    from churnwatch.notifiers.outbox import Outbox
    from churnwatch.notifiers.pipeline import Notifications

    routing = routing_for(rules_dir)
    templates = load_templates(rules_dir, routing)
    if channel is not None:
        routing = routing.with_channel(channel)
    if notifiers is None:
        notifiers = build_notifiers(
            routing.channels, sections or {}, env if env is not None else os.environ
        )
    outbox = Outbox(engine)
    dispatcher = Dispatcher(outbox, notifiers, templates=templates, clock=clock, metrics=metrics)
    return Notifications(
        routing,
        templates,
        outbox,
        dispatcher,
        clock=clock,
        texts=texts,
        metrics=metrics,
        links=links,
        control=control,
        closed=closed,
    )
