"""deploy/grafana: the dashboard is valid JSON and queries only metrics churnwatch defines."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deploy_files import DEPLOY, METRIC

from churnwatch.metrics import Metrics

DASHBOARD = DEPLOY / "grafana" / "churnwatch-dashboard.json"
#: metrics Prometheus itself adds to every scrape, which a dashboard may use too
PROMETHEUS_OWN = {"up"}


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def expressions() -> list[str]:
    return [t["expr"] for p in panels(dashboard()["panels"]) for t in p.get("targets", [])]


def test_dashboard_references_only_metrics_that_exist() -> None:
    """Every churnwatch_* name in a panel query is one Metrics exposes, suffix included."""
    known = Metrics().names()
    used = {name for expr in expressions() for name in METRIC.findall(expr)}
    assert used <= known, sorted(used - known)


def test_dashboard_covers_the_metrics_operations_watch() -> None:
    """Events, dead letters, lag, alerts, latency, deliveries and the outbox are all graphed."""
    used = {name for expr in expressions() for name in METRIC.findall(expr)}
    for family in (
        "churnwatch_events_total",
        "churnwatch_dead_letters_total",
        "churnwatch_consumer_lag_messages",
        "churnwatch_alerts_total",
        "churnwatch_event_to_alert_latency_seconds_bucket",
        "churnwatch_deliveries_total",
        "churnwatch_alert_to_delivery_latency_seconds_bucket",
        "churnwatch_outbox_oldest_due_age_seconds",
        "churnwatch_rule_set_info",
    ):
        assert family in used, family


def test_the_metric_check_would_catch_a_renamed_metric() -> None:
    """A misspelt metric is not in the registry's names, so the check above can fail."""
    assert "churnwatch_event_total" not in Metrics().names()
    assert "churnwatch_events_total" in Metrics().names()


def test_panels_have_unique_ids_and_a_datasource_variable() -> None:
    """Panel ids are unique and queries use the ${datasource} variable, so it imports anywhere."""
    data = dashboard()
    ids = [p["id"] for p in panels(data["panels"])]
    assert len(ids) == len(set(ids))
    assert any(v["type"] == "datasource" for v in data["templating"]["list"])
    for panel in panels(data["panels"]):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"


def test_every_query_is_valid_promql(tmp_path: Path, promtool: str) -> None:
    """Each panel query parses as PromQL (checked by promtool as recording rules)."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)}
                    for i, expr in enumerate(expressions())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(json.dumps(rules), encoding="utf-8")  # JSON is YAML
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's interval macros with a literal range so promtool can parse it."""
    return re.sub(r"\$__(rate_)?interval|\$__range", "5m", expr)


def test_the_only_other_metric_is_prometheus_own() -> None:
    """Besides churnwatch_* the dashboard reads only Prometheus's own scrape health (up)."""
    others = {
        word
        for expr in expressions()
        for word in re.findall(r"\b([a-z_]+)\{", expr)
        if not word.startswith("churnwatch_")
    }
    assert others == PROMETHEUS_OWN
