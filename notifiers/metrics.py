"""Delivery metrics. Label values come from the channel registry and the Reason enum.

``churnwatch_deliveries_total{channel, outcome, reason}`` counts every decision (sent,
retry, failed, suppressed, deferred); ``churnwatch_alert_dispatch_seconds{channel}``
measures from the alert's ``occurred_at`` to the send, with a bucket at the one-minute
objective for manager alerts. Series for every installed channel exist from the start,
so a dashboard shows a zero rather than a gap.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = ["OUTCOMES", "DeliveryMetrics", "default_metrics"]

OUTCOMES = ("sent", "retry", "failed", "suppressed", "deferred")
LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 3600, 6 * 3600, 24 * 3600)


class DeliveryMetrics:
    __slots__ = ("deliveries", "latency")

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.deliveries = Counter(
            "churnwatch_deliveries",
            "Delivery decisions by channel, outcome and reason.",
            ["channel", "outcome", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "churnwatch_alert_dispatch_seconds",
            "Seconds from the alert's occurred_at to its message being sent.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def preset(self, channels: Iterable[str]) -> None:
        for channel in channels:
            self.latency.labels(channel)
            for outcome in ("sent", "retry", "failed"):
                self.deliveries.labels(channel, outcome, "none" if outcome == "sent" else "unknown")

    def count(self, channel: str, outcome: str, reason: str = "none", n: int = 1) -> None:
        self.deliveries.labels(channel, outcome, reason).inc(n)


@functools.cache
def default_metrics() -> DeliveryMetrics:
    """The process-wide metrics on prometheus-client's default registry."""
    from notifiers.registry import channels

    metrics = DeliveryMetrics()
    metrics.preset(channels())
    return metrics
