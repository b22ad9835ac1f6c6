"""``Metrics``: a method per thing that happens, so every call site stays one line.

Call sites (``metrics.event_in(event.type)``) never touch a prometheus-client object: the
series are :class:`~churnwatch.metrics.families.Families`', the label values are bounded
by :mod:`churnwatch.metrics.labels`, and this class only says which moves when.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from prometheus_client import write_to_textfile as _write_to_textfile

from churnwatch.metrics.families import Families, exposed_names
from churnwatch.metrics.labels import (
    DEAD_LETTER_REASONS,
    DELIVERY_FAILURE_REASONS,
    DELIVERY_OUTCOMES,
    EVENT_TYPES,
    FOLLOWUP_ACTIONS,
    FOLLOWUP_REFUSALS,
    OTHER,
    SEVERITIES,
    bounded,
)

if TYPE_CHECKING:
    from churnwatch.probes import Liveness, ObservabilityServer, Readiness

__all__ = ["Metrics", "RunSummary"]


class RunSummary(Protocol):
    """What a finished replay reports (``churnwatch.streams.replay.driver.ReplaySummary``).

    A protocol, not an import: the metrics sit below the stream drivers that fill them.
    """

    @property
    def events_by_type(self) -> Mapping[str, int]: ...
    @property
    def dead_letters(self) -> Mapping[str, int]: ...
    @property
    def alerts_by_rule(self) -> Mapping[str, int]: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def new_alerts(self) -> int: ...
    @property
    def alerts(self) -> int: ...
    @property
    def lines(self) -> int: ...
    @property
    def seconds(self) -> float: ...


class Metrics(Families):
    """The churnwatch metrics in one registry, with a method per thing that happens.

    Call sites stay one line (``metrics.event_in(event.type)``) and never touch a
    prometheus-client object, so names and labels are decided in this package and
    nowhere else.
    """

    # --- input -------------------------------------------------------------------------
    def event_in(self, event_type: str) -> None:
        """Count one decoded event (a duplicate too); unknown types count as ``other``."""
        self.events.labels(type=bounded(event_type, EVENT_TYPES)).inc()

    def dead_letter(self, code: str) -> None:
        """Count one dead letter by reason code (decode's codes, too_late, rule_error)."""
        self.dead_letters.labels(reason=bounded(code, DEAD_LETTER_REASONS)).inc()

    def events_in(self, counts: Mapping[str, int]) -> None:
        """Count a batch of decoded events by type (one call per batch, not per event)."""
        for event_type, count in counts.items():
            self.events.labels(type=bounded(event_type, EVENT_TYPES)).inc(count)

    def duplicate(self, count: int = 1) -> None:
        """Count events ignored as already seen (``count`` of them, for a batch)."""
        self.duplicates.inc(count)

    def lag(self, topic: str, partition: int, messages: int) -> None:
        """Set the consumer lag of one assigned partition."""
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(messages)

    def task_waited(self, seconds: float) -> None:
        """Count time tasks held events back for event-time order."""
        self.task_idle.inc(seconds)

    def store_down(self, down: bool) -> None:
        """Note the start (True) or end (False) of an alert store outage."""
        self.store_outage.set(1 if down else 0)

    def partitions_lost(self) -> None:
        """Count a commit the group refused: this worker's partitions were lost."""
        self.lost.inc()

    def partition_revoked(self, topic: str, partition: int) -> None:
        """Drop a revoked partition's lag so a stale value does not fire an alert."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))

    # --- rules -------------------------------------------------------------------------
    def evaluated(self, rule: str, matched: bool = False) -> None:
        """Count one evaluation of ``rule``, and one match when its condition held."""
        self.evaluations.labels(rule=rule).inc()
        if matched:
            self.matches.labels(rule=rule).inc()

    def rules_evaluated(self, counts: Mapping[str, int]) -> None:
        """Count a batch's rule evaluations by rule, once per batch."""
        for rule, count in counts.items():
            self.evaluations.labels(rule=rule).inc(count)

    def rules_matched(self, counts: Mapping[str, int]) -> None:
        """Count a batch's matches by rule (the engine's ``Outcome.matched``), once per batch."""
        for rule, count in counts.items():
            self.matches.labels(rule=rule).inc(count)

    def rule_set_loaded(self, version: str, rules: int) -> None:
        """Record a rule set put in force (at start or by a successful reload)."""
        self.rule_set.clear()
        self.rule_set.labels(version=version).set(1)
        self.rules_loaded.set(rules)
        self.rule_set_loaded_at.set(time.time())
        self.last_reload_ok.set(1)

    def reload_succeeded(self, version: str, rules: int) -> None:
        """Count a successful hot reload and record the new rule set."""
        self.reloads.labels(outcome="success").inc()
        self.rule_set_loaded(version, rules)

    def reload_failed(self) -> None:
        """Count a refused reload; the old rule set stays in force and its info is kept."""
        self.reloads.labels(outcome="failure").inc()
        self.last_reload_ok.set(0)

    # --- alerts ------------------------------------------------------------------------
    def alert(
        self, rule: str, severity: str, latency_s: float | None = None, count: int = 1
    ) -> None:
        """Count ``count`` alerts of a rule and severity (a worker's batch counts them
        first: a labelled counter costs a lookup per call); ``latency_s`` (occurred_at to
        now, of one alert) only for live events.

        A replay or a backtest passes no latency: its events are history, and their age
        would drown the live figures.
        """
        self.alerts.labels(rule=rule, severity=bounded(severity, SEVERITIES)).inc(count)
        if latency_s is not None:
            self.event_to_alert.observe(max(latency_s, 0.0))

    def alert_latency(self, latency_s: float) -> None:
        """One live alert's time from its event's occurred_at to now."""
        self.event_to_alert.observe(max(latency_s, 0.0))

    def alert_stored(self, new: bool) -> None:
        """Count one alert written to the store; ``new=False`` when its id was already there."""
        self.alerts_stored.labels(outcome="new" if new else "duplicate").inc()

    def alerts_stored_batch(self, new: int, duplicate: int) -> None:
        """Count a batch written to the store: ``new`` rows, ``duplicate`` ids already there."""
        if new:
            self.alerts_stored.labels(outcome="new").inc(new)
        if duplicate:
            self.alerts_stored.labels(outcome="duplicate").inc(duplicate)

    # --- deliveries --------------------------------------------------------------------
    def delivery_attempt(self, channel: str) -> None:
        """Count one call to a channel, retries included."""
        self.attempts.labels(channel=channel).inc()

    def delivery(self, channel: str, outcome: str, latency_s: float | None = None) -> None:
        """Count one delivery outcome; ``latency_s`` (alert detected to sent) when sent."""
        self.deliveries.labels(channel=channel, outcome=bounded(outcome, DELIVERY_OUTCOMES)).inc()
        if latency_s is not None:
            self.alert_to_delivery.labels(channel=channel).observe(max(latency_s, 0.0))

    def delivery_inhibited(self, rule: str, by: str) -> None:
        """Count one customer message held by another alert (rule ids: bounded by the pack)."""
        self.inhibited.labels(rule=rule, by=by).inc()

    def delivery_failure(self, channel: str, reason: str) -> None:
        """Count one failed send by its reason (a notifiers.exceptions.Reason value)."""
        self.delivery_failures.labels(
            channel=channel, reason=bounded(reason, DELIVERY_FAILURE_REASONS)
        ).inc()

    def outbox(self, pending: int, oldest_due_age_s: float) -> None:
        """Set the outbox gauges from one backlog query."""
        self.outbox_pending.set(pending)
        self.outbox_oldest_due_age.set(max(oldest_due_age_s, 0.0))

    def escalation_backlog(self, oldest_due_age_s: float) -> None:
        """Set the escalation gauge: escalations not run in time show here."""
        self.escalation_oldest_due_age.set(max(oldest_due_age_s, 0.0))

    # --- follow-up ---------------------------------------------------------------------
    def followup_refused_one(self, reason: str) -> None:
        """Count one refused link, form or inbound SMS (a forgery shows up here)."""
        self.followup_refused.labels(reason=bounded(reason, FOLLOWUP_REFUSALS)).inc()

    def followup_action(self, action: str, channel: str) -> None:
        """Count one follow-up action a person recorded."""
        self.followup_actions.labels(
            action=bounded(action, FOLLOWUP_ACTIONS), channel=bounded(channel, ("web", "sms"))
        ).inc()

    # --- replay ------------------------------------------------------------------------
    def record_replay_summary(
        self, summary: RunSummary, severities: Mapping[str, str] | None = None
    ) -> None:
        """Add a finished replay's figures, so ``--metrics-out`` never touches the hot loop.

        ``summary.dead_letters`` already holds the too-late events under ``too_late``, so
        ``summary.too_late`` is not added again. The summary counts alerts by rule only;
        ``severities`` (rule id to severity, from the rule set) fills the severity label,
        ``other`` where it is missing.
        """
        for event_type, count in summary.events_by_type.items():
            self.events.labels(type=bounded(event_type, EVENT_TYPES)).inc(count)
        for code, count in summary.dead_letters.items():
            self.dead_letters.labels(reason=bounded(code, DEAD_LETTER_REASONS)).inc(count)
        self.duplicates.inc(summary.duplicates)
        severity_of = severities or {}
        for rule, count in summary.alerts_by_rule.items():
            severity = bounded(severity_of.get(rule, OTHER), SEVERITIES)
            self.alerts.labels(rule=rule, severity=severity).inc(count)
        self.alerts_stored.labels(outcome="new").inc(summary.new_alerts)
        self.alerts_stored.labels(outcome="duplicate").inc(
            max(summary.alerts - summary.new_alerts, 0)
        )
        self.replay_lines.inc(summary.lines)
        self.replay_duration.set(summary.seconds)
        self.replay_completed_at.set(time.time())

    # --- exposition --------------------------------------------------------------------
    def write_textfile(self, path: Path | str) -> None:
        """Write every metric in the text format, atomically (for node_exporter's textfile
        collector or a CI artefact), once at the end of a replay."""
        _write_to_textfile(str(path), self.registry)

    def serve(
        self,
        port: int,
        host: str = "0.0.0.0",
        *,
        readiness: Readiness | None = None,
        liveness: Liveness | None = None,
    ) -> ObservabilityServer:
        """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on one port in a daemon thread.

        ``host`` defaults to every interface: kubelet probes and Prometheus scrapes come
        from outside the container. Close the returned server on shutdown.
        """
        from churnwatch.probes import ObservabilityServer

        server = ObservabilityServer(
            self.registry, host=host, port=port, readiness=readiness, liveness=liveness
        )
        server.start()
        return server

    def names(self) -> frozenset[str]:
        """Every sample name this registry can expose (see ``exposed_names``)."""
        return exposed_names(self.registry)
