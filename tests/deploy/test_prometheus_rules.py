"""deploy/prometheus: the alert rules pass promtool and use only metrics that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from deploy_files import DEPLOY, METRIC, load_yaml

from churnwatch.metrics import Metrics

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "churnwatch-rules.yaml"
RULE_TESTS = PROMETHEUS / "churnwatch-rules.test.yaml"


def promtool_run(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> str:
    """Run promtool and fail the test with its output when it does not exit 0."""
    result = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def alert_rules() -> list[dict[str, object]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def test_rules_pass_promtool_check(promtool: str) -> None:
    """`promtool check rules` accepts the churnwatch alert rules."""
    out = promtool_run(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_rules_pass_their_promtool_unit_tests(promtool: str) -> None:
    """`promtool test rules` passes: each alert fires on its failure and not otherwise."""
    assert "SUCCESS" in promtool_run(promtool, "test", "rules", str(RULE_TESTS))


def test_every_alert_has_a_unit_test() -> None:
    """Each alert in the rules file is exercised by at least one promtool test case."""
    tested = {
        case["alertname"]
        for test in load_yaml(RULE_TESTS)["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alert_rules()} <= tested


def test_the_issue_s_alerts_are_all_there() -> None:
    """Lag growing, dead letters rising, deliveries failing, outbox old and reload failing."""
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "ChurnwatchConsumerLagGrowing",
        "ChurnwatchDeadLettersRising",
        "ChurnwatchDeliveriesFailing",
        "ChurnwatchOutboxBacklogOld",
        "ChurnwatchRuleReloadFailing",
    } <= names


def test_rules_use_only_metrics_that_exist() -> None:
    """Every churnwatch_* name in an alert expression is one churnwatch.metrics exposes."""
    known = Metrics().names()
    used = {name for rule in alert_rules() for name in METRIC.findall(str(rule["expr"]))}
    assert used, "the rules reference no churnwatch metric at all"
    assert used <= known, sorted(used - known)


def test_every_alert_points_at_its_runbook_section() -> None:
    """Each alert's runbook annotation names a heading that exists in deploy/README.md."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in readme.splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        runbook = annotations["runbook"]
        assert runbook == f"deploy/README.md#{str(rule['alert']).lower()}"
        assert runbook.split("#", 1)[1] in anchors, f"no README heading for {rule['alert']}"


def test_compose_prometheus_config_passes_promtool(promtool: str) -> None:
    """The compose prometheus.yml, with the rules it loads, passes `promtool check config`."""
    promtool_run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))


def test_the_parts_that_are_not_workers_are_watched() -> None:
    """churnwatch web down, escalations not run in time, outbox deliveries stuck; the
    compose Prometheus scrapes web under the job the web alert uses."""
    names = {rule["alert"] for rule in alert_rules()}
    assert {"ChurnwatchWebDown", "ChurnwatchEscalationsLate", "ChurnwatchOutboxBacklogOld"} <= names
    scrape = load_yaml(PROMETHEUS / "prometheus.yml")["scrape_configs"]
    web = [job for job in scrape if job["job_name"] == "churnwatch-web"]
    assert web and web[0]["static_configs"][0]["targets"] == ["web:9465"]
