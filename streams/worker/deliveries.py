"""Sending beside the worker: the outbox dispatcher, escalations and the morning lists on
their own thread.

The worker's hot loop only *writes* deliveries (routing, policy, rendering, one outbox
transaction per alert); talking to Twilio, SMTP or a webhook can take seconds and must
never stall event processing. So a :class:`DeliveryLoop` thread sends what is due, runs
due escalations, records and sends the relationship managers' morning lists when they
fall due, and reports the outbox backlog, every ``interval`` seconds. It shares
nothing with the loop but the database, which is what the outbox is for: a crash of
either leaves rows a restarted one picks up.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from churnwatch.followup.escalation import Escalator
from churnwatch.followup.morning.send import MorningSender
from churnwatch.metrics import Metrics
from churnwatch.notifiers.dispatcher import Dispatcher
from churnwatch.notifiers.outbox import Outbox

__all__ = ["DeliveryLoop", "DeliveryParts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryParts:
    dispatcher: Dispatcher
    outbox: Outbox
    escalator: Escalator | None
    #: the morning lists (None: the routing file turned them off)
    morning: MorningSender | None = None


class DeliveryLoop:
    """A daemon thread: dispatch due deliveries, escalate, measure the backlog; repeat."""

    def __init__(self, parts: DeliveryParts, metrics: Metrics, interval: float = 1.0) -> None:
        self.parts = parts
        self.metrics = metrics
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="deliveries", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the pass under way, then stop (messages in flight are not cut off)."""
        self.stopping.set()
        self.thread.join(timeout)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.once()
            except Exception:  # one bad pass must not end sending for good
                log.exception("delivery pass failed; retrying in %.0f s", self.interval)
            self.stopping.wait(self.interval)

    def once(self) -> None:
        if self.parts.escalator is not None:
            self.parts.escalator.run_due()
        if self.parts.morning is not None:
            self.parts.morning.run_due()
        self.parts.dispatcher.run_until_idle()
        self.report_backlog()

    def report_backlog(self) -> None:
        outbox = self.parts.outbox
        pending = outbox.counts().get("pending", 0)
        due = outbox.next_due()
        now = dt.datetime.now(dt.UTC)
        age = max((now - due).total_seconds(), 0.0) if due is not None else 0.0
        self.metrics.outbox(pending, age)
        if self.parts.escalator is not None:
            waiting = self.parts.escalator.oldest_due()
            late = (now - waiting).total_seconds() if waiting is not None else 0.0
            self.metrics.escalation_backlog(late)
