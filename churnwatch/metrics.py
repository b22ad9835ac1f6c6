"""Every churnwatch metric, defined once, with one-line calls for the drivers.

Operations must see at a glance that churnwatch keeps up, so everything is counted
(DESIGN.md, principle 5). The metrics live in a ``CollectorRegistry`` of their own rather
than prometheus-client's global one: tests, the replay command and a worker can then build
as many ``Metrics`` as they like in one process without "duplicated timeseries" errors.

Labels are bounded on purpose. A label value that is not in a known set (event types,
reason codes, severities, outcomes) is folded into ``other`` so one bad producer cannot
blow up the series count; rule ids and channel names are bounded by the rule pack and the
installed notifiers. Customer and account ids never become labels.

A Faust worker is one process, so prometheus-client's multiprocess mode is not needed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client import write_to_textfile as _write_to_textfile

from churnwatch.schemas.decode import REASON_CODES

if TYPE_CHECKING:
    from churnwatch.probes import Liveness, ObservabilityServer, Readiness

__all__ = [
    "ALERT_TO_DELIVERY_BUCKETS_S",
    "ALERT_TO_DELIVERY_OBJECTIVE_S",
    "DEAD_LETTER_REASONS",
    "DELIVERY_FAILURE_REASONS",
    "DELIVERY_OUTCOMES",
    "EVENT_TO_ALERT_BUCKETS_S",
    "EVENT_TO_ALERT_OBJECTIVE_S",
    "EVENT_TYPES",
    "FOLLOWUP_ACTIONS",
    "FOLLOWUP_REFUSALS",
    "OTHER",
    "SEVERITIES",
    "Metrics",
    "RunSummary",
    "exposed_names",
]

OTHER: Final = "other"
EVENT_TYPES: Final[tuple[str, ...]] = ("transaction", "product", "customer", "staff")
DEAD_LETTER_REASONS: Final[tuple[str, ...]] = (*REASON_CODES, "too_late", "rule_error")
SEVERITIES: Final[tuple[str, ...]] = ("low", "medium", "high", "critical")
DELIVERY_OUTCOMES: Final[tuple[str, ...]] = (
    "sent",  # the channel accepted it
    "retry",  # a transient failure; the outbox will try again after a backoff
    "failed",  # a permanent failure, or retries exhausted: stays visible in the outbox
    "deferred",  # quiet hours: held until morning, not dropped
    "suppressed",  # opt-out, caps or cooldown: deliberately not sent
)

FOLLOWUP_REFUSALS: Final[tuple[str, ...]] = (
    *("malformed", "forged", "expired", "not_routed", "csrf", "signature", "repeated"),
)
FOLLOWUP_ACTIONS: Final[tuple[str, ...]] = ("acknowledge", "contacted", "outcome", "note")
# The values of notifiers.exceptions.Reason, spelled out because metrics sit below the
# notifiers in the layers; tests/test_metrics.py keeps the two equal.
DELIVERY_FAILURE_REASONS: Final[tuple[str, ...]] = (
    "timeout",
    "connection",
    "rate_limited",
    "server_error",
    "invalid_recipient",
    "not_mobile",
    "opted_out",
    "unauthorized",
    "rejected",
    "misconfigured",
    "undeliverable",
    "unknown",
)


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


#: Managers must hear "within seconds"; the worker's p99 target is 500 ms (issue 3).
EVENT_TO_ALERT_OBJECTIVE_S: Final = 0.5
EVENT_TO_ALERT_BUCKETS_S: Final[tuple[float, ...]] = (
    *(0.01, 0.025, 0.05, 0.1, 0.25, EVENT_TO_ALERT_OBJECTIVE_S),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
#: A manager's phone should ring within a few seconds of the alert. Customer SMS in quiet
#: hours (21:00-08:00) wait up to 11 h, so the buckets reach a day.
ALERT_TO_DELIVERY_OBJECTIVE_S: Final = 5.0
ALERT_TO_DELIVERY_BUCKETS_S: Final[tuple[float, ...]] = (
    *(0.1, 0.25, 0.5, 1.0, 2.5, ALERT_TO_DELIVERY_OBJECTIVE_S, 10.0, 30.0, 60.0, 300.0),
    *(900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0),  # quiet hours
)


def _bounded(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


class Metrics:
    """The churnwatch metrics in one registry, with a method per thing that happens.

    Call sites stay one line (``metrics.event_in(event.type)``) and never touch a
    prometheus-client object, so names and labels are decided here and nowhere else.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build = Info("churnwatch_build", "The churnwatch version running.", registry=r)
        self.build.info({"version": _package_version()})
        # input
        self.events = Counter(
            "churnwatch_events_total",
            "Events decoded, by type; duplicates too (see churnwatch_duplicate_events_total).",
            ["type"],
            registry=r,
        )
        self.dead_letters = Counter(
            "churnwatch_dead_letters_total",
            "Messages sent to the dead-letter topic, by reason code.",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "churnwatch_duplicate_events_total",
            "Events ignored because their event_id was already processed.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "churnwatch_consumer_lag_messages",
            "Messages between the committed offset and the end of each assigned partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.task_idle = Counter(
            "churnwatch_task_idle_seconds_total",
            "Seconds tasks held buffered events back, waiting for another input partition "
            "so as to process in event-time order.",
            registry=r,
        )
        self.store_outage = Gauge(
            "churnwatch_store_outage",
            "1 while the worker retries writes to an unreachable alert store.",
            registry=r,
        )
        self.lost = Counter(
            "churnwatch_partitions_lost_total",
            "Times the group rebalanced without this worker (a commit refused): its "
            "states were dropped and restored from the changelog on rejoin.",
            registry=r,
        )
        # rules
        self.evaluations = Counter(
            "churnwatch_rule_evaluations_total",
            "Times a rule was evaluated against an event or a timer.",
            ["rule"],
            registry=r,
        )
        self.matches = Counter(
            "churnwatch_rule_matches_total", "Times a rule's condition held.", ["rule"], registry=r
        )
        self.rule_set = Gauge(
            "churnwatch_rule_set_info",
            "Always 1; the label names the rule-set version in force.",
            ["version"],
            registry=r,
        )
        self.rules_loaded = Gauge(
            "churnwatch_rule_set_rules", "Enabled rules in the rule set in force.", registry=r
        )
        self.rule_set_loaded_at = Gauge(
            "churnwatch_rule_set_loaded_timestamp_seconds",
            "Unix time the rule set in force was loaded.",
            registry=r,
        )
        self.reloads = Counter(
            "churnwatch_rule_reloads_total",
            "Rule-set reload attempts by outcome (success or failure).",
            ["outcome"],
            registry=r,
        )
        self.last_reload_ok = Gauge(
            "churnwatch_rule_set_last_reload_successful",
            "1 when the last reload attempt succeeded, 0 when it was refused.",
            registry=r,
        )
        # alerts
        self.alerts = Counter(
            "churnwatch_alerts_total",
            "Alerts raised, by rule and severity.",
            ["rule", "severity"],
            registry=r,
        )
        self.alerts_stored = Counter(
            "churnwatch_alerts_stored_total",
            "Alerts written to the store: new, or duplicate (already stored by an earlier run).",
            ["outcome"],
            registry=r,
        )
        self.event_to_alert = Histogram(
            "churnwatch_event_to_alert_latency_seconds",
            "Wall time from an event's occurred_at to the alert it triggered.",
            buckets=EVENT_TO_ALERT_BUCKETS_S,
            registry=r,
        )
        # deliveries
        self.deliveries = Counter(
            "churnwatch_deliveries_total",
            "Delivery outcomes by channel: sent, retry, failed, deferred, suppressed.",
            ["channel", "outcome"],
            registry=r,
        )
        self.inhibited = Counter(
            "churnwatch_deliveries_inhibited_total",
            "Customer messages held by an inhibit rule of routing.yaml: the held message's "
            "rule, and the rule of the alert that held it.",
            ["rule", "by"],
            registry=r,
        )
        self.attempts = Counter(
            "churnwatch_delivery_attempts_total",
            "Calls made to a channel (each retry counts).",
            ["channel"],
            registry=r,
        )
        self.delivery_failures = Counter(
            "churnwatch_delivery_failures_total",
            "Failed sends by channel and reason (notifiers.exceptions.Reason), retried or not.",
            ["channel", "reason"],
            registry=r,
        )
        self.alert_to_delivery = Histogram(
            "churnwatch_alert_to_delivery_latency_seconds",
            "Wall time from an alert's detection to its successful delivery, by channel.",
            ["channel"],
            buckets=ALERT_TO_DELIVERY_BUCKETS_S,
            registry=r,
        )
        self.outbox_pending = Gauge(
            "churnwatch_outbox_pending_deliveries",
            "Deliveries written to the outbox and not yet sent or failed for good.",
            registry=r,
        )
        self.outbox_oldest_due_age = Gauge(
            "churnwatch_outbox_oldest_due_age_seconds",
            "How long the oldest due, unsent delivery has been waiting (0 when none is due).",
            registry=r,
        )
        self.escalation_oldest_due_age = Gauge(
            "churnwatch_escalation_oldest_due_age_seconds",
            "How long the oldest due escalation (an unacknowledged alert past its step's "
            "delay) has waited to go up a level (0 when none is due).",
            registry=r,
        )
        # replay
        self.replay_lines = Counter(
            "churnwatch_replay_lines_total", "Input lines read by replays.", registry=r
        )
        self.replay_duration = Gauge(
            "churnwatch_replay_duration_seconds", "Wall time of the last replay.", registry=r
        )
        self.replay_completed_at = Gauge(
            "churnwatch_replay_completed_timestamp_seconds",
            "Unix time the last replay finished.",
            registry=r,
        )
        # managers' follow-up (churnwatch web, inbound SMS)
        self.followup_refused = Counter(
            "churnwatch_followup_refused_total",
            "Follow-up links, forms and inbound SMS refused, by reason (forged, expired, ...).",
            ["reason"],
            registry=r,
        )
        self.followup_actions = Counter(
            "churnwatch_followup_actions_total",
            "Follow-up actions recorded, by action and channel (web, sms).",
            ["action", "channel"],
            registry=r,
        )
        for reason in FOLLOWUP_REFUSALS:
            self.followup_refused.labels(reason=reason)
        for reason in (*DEAD_LETTER_REASONS, OTHER):
            self.dead_letters.labels(reason=reason)  # so rate() sees the first dead letter
        for outcome in ("success", "failure"):
            self.reloads.labels(outcome=outcome)
        for outcome in ("new", "duplicate"):
            self.alerts_stored.labels(outcome=outcome)

    # --- input -------------------------------------------------------------------------
    def event_in(self, event_type: str) -> None:
        """Count one decoded event (a duplicate too); unknown types count as ``other``."""
        self.events.labels(type=_bounded(event_type, EVENT_TYPES)).inc()

    def dead_letter(self, code: str) -> None:
        """Count one dead letter by reason code (decode's codes, too_late, rule_error)."""
        self.dead_letters.labels(reason=_bounded(code, DEAD_LETTER_REASONS)).inc()

    def events_in(self, counts: Mapping[str, int]) -> None:
        """Count a batch of decoded events by type (one call per batch, not per event)."""
        for event_type, count in counts.items():
            self.events.labels(type=_bounded(event_type, EVENT_TYPES)).inc(count)

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
    def alert(self, rule: str, severity: str, latency_s: float | None = None) -> None:
        """Count one alert; ``latency_s`` (occurred_at to now) only for live events.

        A replay or a backtest passes no latency: its events are history, and their age
        would drown the live figures.
        """
        self.alerts.labels(rule=rule, severity=_bounded(severity, SEVERITIES)).inc()
        if latency_s is not None:
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
        self.deliveries.labels(channel=channel, outcome=_bounded(outcome, DELIVERY_OUTCOMES)).inc()
        if latency_s is not None:
            self.alert_to_delivery.labels(channel=channel).observe(max(latency_s, 0.0))

    def delivery_inhibited(self, rule: str, by: str) -> None:
        """Count one customer message held by another alert (rule ids: bounded by the pack)."""
        self.inhibited.labels(rule=rule, by=by).inc()

    def delivery_failure(self, channel: str, reason: str) -> None:
        """Count one failed send by its reason (a notifiers.exceptions.Reason value)."""
        self.delivery_failures.labels(
            channel=channel, reason=_bounded(reason, DELIVERY_FAILURE_REASONS)
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
        self.followup_refused.labels(reason=_bounded(reason, FOLLOWUP_REFUSALS)).inc()

    def followup_action(self, action: str, channel: str) -> None:
        """Count one follow-up action a person recorded."""
        self.followup_actions.labels(
            action=_bounded(action, FOLLOWUP_ACTIONS), channel=_bounded(channel, ("web", "sms"))
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
            self.events.labels(type=_bounded(event_type, EVENT_TYPES)).inc(count)
        for code, count in summary.dead_letters.items():
            self.dead_letters.labels(reason=_bounded(code, DEAD_LETTER_REASONS)).inc(count)
        self.duplicates.inc(summary.duplicates)
        severity_of = severities or {}
        for rule, count in summary.alerts_by_rule.items():
            severity = _bounded(severity_of.get(rule, OTHER), SEVERITIES)
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


def exposed_names(registry: CollectorRegistry) -> frozenset[str]:
    """Every sample name a registry can expose, with the suffixes Prometheus will see.

    A counter family ``x`` is scraped as ``x_total`` (and ``x_created``), a histogram as
    ``x_bucket``, ``x_sum`` and ``x_count``, an info as ``x_info``. Dashboards and alert
    rules are checked against this set, so a renamed metric breaks a test, not a graph.
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "info": ("_info",),
        "gauge": ("",),
    }
    names: set[str] = set()
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return frozenset(names)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("churnwatch")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"
