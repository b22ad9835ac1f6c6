"""Every churnwatch series, defined once: its name, help text, labels and buckets.

Dashboards, alert rules and the README bind to these names, so they are written here and
nowhere else; :func:`exposed_names` is what tests/deploy holds them against, so a renamed
series breaks a test, not a graph. The series live in a ``CollectorRegistry`` of their own
rather than prometheus-client's global one: tests, the replay command and a worker can
then build as many as they like in one process without "duplicated timeseries" errors.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from churnwatch.metrics.labels import DEAD_LETTER_REASONS, FOLLOWUP_REFUSALS, OTHER

__all__ = [
    "ALERT_TO_DELIVERY_BUCKETS_S",
    "ALERT_TO_DELIVERY_OBJECTIVE_S",
    "EVENT_TO_ALERT_BUCKETS_S",
    "EVENT_TO_ALERT_OBJECTIVE_S",
    "Families",
    "exposed_names",
]

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


class Families:
    """One registry and every metric family in it, each label set a dashboard reads at zero
    from the start. :class:`~churnwatch.metrics.recorder.Metrics` adds the calls."""

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
