"""The worker's metrics glue: a batch's alerts counted once per rule and severity."""

from __future__ import annotations

import datetime as dt

from churnwatch.metrics import Metrics
from churnwatch.schemas.models import Alert
from churnwatch.streams.worker.health import WorkerObservability


def _alert(alert_id: str, rule_id: str, severity: str) -> Alert:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    return Alert(
        alert_id=alert_id,
        rule_id=rule_id,
        rule_version=1,
        severity=severity,  # type: ignore[arg-type]
        customer_id="C1",
        account_id=None,
        occurred_at=at,
        detected_at=at,
        facts={},
        trigger_event_ids=[],
        recipients=[],
    )


class TestAlerts:
    def test_a_batch_counts_each_rule_and_severity_and_times_only_live_alerts(self) -> None:
        """Three new alerts of two rules, one from a timer: counted per rule and severity,
        two latency samples (the live ones), one duplicate counted as such."""
        metrics = Metrics()
        observe = WorkerObservability(metrics)
        fresh = [
            _alert("a1", "large-transfer-out", "high"),
            _alert("a2", "large-transfer-out", "high"),
            _alert("a3", "payroll-moved-out", "medium"),
        ]
        observe.alerts(fresh, 4, live={"a1", "a3"})
        sample = metrics.registry.get_sample_value
        by_rule = "churnwatch_alerts_total"
        assert sample(by_rule, {"rule": "large-transfer-out", "severity": "high"}) == 2
        assert sample(by_rule, {"rule": "payroll-moved-out", "severity": "medium"}) == 1
        latency = "churnwatch_event_to_alert_latency_seconds"
        assert sample(f"{latency}_count") == 2
        assert 3.0 < (sample(f"{latency}_sum") or 0) < 60.0
        assert sample("churnwatch_alerts_stored_total", {"outcome": "duplicate"}) == 1
