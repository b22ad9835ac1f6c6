"""The worker's view of :mod:`churnwatch.metrics` and :mod:`churnwatch.probes`.

The project has one metrics registry (``Metrics``) and one probe server
(``ObservabilityServer``: ``/metrics``, ``/healthz``, ``/readyz``); this module is the
worker's glue to them, so the hot loop makes a handful of calls per *batch*, never a
prometheus-client call per event: the loop counts events by type, duplicates and rule
matches in plain dicts and hands them over once per batch (:meth:`BatchCounts.publish`).

Readiness is: partitions assigned (set on every rebalance), rule set loaded (set at start
and on each reload), alert store reachable (a ``SELECT 1`` run by the probe thread, with a
short pool timeout), and no alert write being retried. Liveness is a heartbeat the loop
beats once per iteration; the loop turns at least every 100 ms (the ``getmany`` timeout),
so a minute of silence means it is wedged.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import text

from churnwatch.metrics import Metrics
from churnwatch.probes import Liveness, ObservabilityServer, Readiness
from churnwatch.rules.ruleset import RuleSet

if TYPE_CHECKING:
    from churnwatch.rules.engine import Engine
    from churnwatch.schemas.models import Alert
    from churnwatch.schemas.store import AlertStore

__all__ = ["STORE_WRITES", "BatchCounts", "WorkerObservability"]

#: the readiness check that fails while alert writes are being retried
STORE_WRITES = "store_writes"

#: Event classes (``churnwatch.schemas.models``) to the ``type`` label, without a per-event
#: lookup of ``event.type``: the loop keys its counts by class.
_TYPE_OF_CLASS: dict[str, str] = {
    "TransactionEvent": "transaction",
    "ProductEvent": "product",
    "CustomerEvent": "customer",
    "StaffEvent": "staff",
}


class BatchCounts:
    """What one batch saw, counted in dicts by the loop and published once."""

    __slots__ = ("duplicates", "matches", "types")

    def __init__(self) -> None:
        self.types: dict[type, int] = {}
        self.matches: dict[str, int] = {}
        self.duplicates = 0

    def publish(self, metrics: Metrics, ruleset: RuleSet | None = None) -> None:
        if self.types:
            metrics.events_in(
                {_TYPE_OF_CLASS.get(kind.__name__, "other"): n for kind, n in self.types.items()}
            )
            if ruleset is not None:
                metrics.rules_evaluated(evaluations(ruleset, self.types))
        if self.matches:
            metrics.rules_matched(self.matches)
        if self.duplicates:
            metrics.duplicate(self.duplicates)


def evaluations(ruleset: RuleSet, events: Mapping[type, int]) -> dict[str, int]:
    """Rule evaluations in a batch: each enabled rule once per event of its types."""
    counts: dict[str, int] = {}
    for kind, n in events.items():
        for rule in ruleset.by_class.get(kind, ()):
            counts[rule.id] = counts.get(rule.id, 0) + n
    return counts


class WorkerObservability:
    """Metrics, readiness and liveness of one worker, and the server that shows them."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.readiness = Readiness()
        self.liveness = Liveness()
        self.server: ObservabilityServer | None = None
        #: alert writes failing and being retried (``streams/worker/retry.py``)
        self.outage = False
        self.readiness.add_check(STORE_WRITES, lambda: not self.outage)

    def serve(self, host: str, port: int) -> int:
        """Start ``/metrics``, ``/healthz`` and ``/readyz``; return the bound port."""
        self.server = self.metrics.serve(
            port, host, readiness=self.readiness, liveness=self.liveness
        )
        return self.server.port

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def watch_store(self, store: AlertStore) -> None:
        """Probe the store on each ``/readyz`` with a ``SELECT 1`` (from the probe thread)."""

        def reachable() -> bool:
            with store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True

        self.readiness.set_store_check(reachable)

    def rules_loaded(self, engine: Engine, *, reloaded: bool = False) -> None:
        """Record the rule set in force, at start or after a successful hot reload."""
        ruleset = engine.ruleset
        if reloaded:
            self.metrics.reload_succeeded(ruleset.fingerprint, len(ruleset.rules))
        else:
            self.metrics.rule_set_loaded(ruleset.fingerprint, len(ruleset.rules))
        self.readiness.set_rule_set_loaded(ruleset.fingerprint)

    def reload_refused(self) -> None:
        self.metrics.reload_failed()

    def store_outage(self, down: bool) -> None:
        """Not ready while alert writes fail: the probe's ``SELECT 1`` may pass meanwhile."""
        self.outage = down
        self.metrics.store_down(down)

    def assigned(self, partitions: int) -> None:
        self.readiness.set_partitions_assigned(partitions)

    def alerts(self, fresh: list[Alert], stored: int, live: set[str]) -> None:
        """Count a batch's alerts: new ones by rule and severity, new vs already stored.

        Only alerts whose id is in ``live`` came from events just read and add a latency
        sample; a timer's alert carries the scheduling event's ``occurred_at`` (days ago).
        Alerts already stored (a replay after a restart) are not counted again by rule.
        """
        metrics = self.metrics
        now = time.time()
        counts: dict[tuple[str, str], int] = {}
        for alert in fresh:
            kind = (alert.rule_id, alert.severity)
            counts[kind] = counts.get(kind, 0) + 1
            if alert.alert_id in live:
                metrics.alert_latency(now - alert.occurred_at.timestamp())
        for (rule, severity), count in counts.items():
            metrics.alert(rule, severity, count=count)
        metrics.alerts_stored_batch(new=len(fresh), duplicate=stored - len(fresh))
