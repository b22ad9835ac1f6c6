"""churnwatch.metrics: counters move by the right amounts, labels stay bounded, replay textfile."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from churnwatch.cli.replay import run_replay
from churnwatch.metrics import (
    ALERT_TO_DELIVERY_BUCKETS_S,
    ALERT_TO_DELIVERY_OBJECTIVE_S,
    EVENT_TO_ALERT_BUCKETS_S,
    EVENT_TO_ALERT_OBJECTIVE_S,
    Metrics,
)
from churnwatch.rules import SHIPPED_RULES
from churnwatch.schemas.decode import REASON_CODES
from churnwatch.streams.replay.driver import ReplaySummary


def value(m: Metrics, name: str, **labels: str) -> float:
    """One sample's value, 0.0 when the sample does not exist."""
    found = m.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def samples_of(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a text exposition, keyed by name and label set."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class TestRegistry:
    def test_two_instances_do_not_collide(self) -> None:
        """Each Metrics has its own registry, so two in one process count separately."""
        a, b = Metrics(), Metrics()
        a.event_in("transaction")
        assert value(a, "churnwatch_events_total", type="transaction") == 1
        assert value(b, "churnwatch_events_total", type="transaction") == 0

    def test_every_name_is_namespaced(self) -> None:
        """Every exposed sample name starts with churnwatch_."""
        names = Metrics().names()
        assert names and all(n.startswith("churnwatch_") for n in names)

    def test_exposition_passes_promtool_lint(self, promtool: str) -> None:
        """promtool's metric linter finds nothing to say about our names, units and help."""
        m = Metrics()
        m.alert("large-transfer-out", "high", 0.2)
        m.delivery("twilio_sms", "sent", 3.0)
        result = subprocess.run(
            [promtool, "check", "metrics"],
            input=generate_latest(m.registry),
            capture_output=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


class TestCounters:
    def test_a_known_sequence_moves_each_counter_by_its_amount(self) -> None:
        """Three events, two dead letters, one duplicate and one alert count exactly so."""
        m = Metrics()
        for kind in ("transaction", "transaction", "customer"):
            m.event_in(kind)
        m.dead_letter("bad_json")
        m.dead_letter("too_late")
        m.duplicate()
        m.evaluated("large-transfer-out", matched=True)
        m.evaluated("large-transfer-out", matched=False)
        m.alert("large-transfer-out", "high", latency_s=0.2)
        m.alert_stored(new=True)
        assert value(m, "churnwatch_events_total", type="transaction") == 2
        assert value(m, "churnwatch_events_total", type="customer") == 1
        assert value(m, "churnwatch_dead_letters_total", reason="bad_json") == 1
        assert value(m, "churnwatch_dead_letters_total", reason="too_late") == 1
        assert value(m, "churnwatch_duplicate_events_total") == 1
        assert value(m, "churnwatch_rule_evaluations_total", rule="large-transfer-out") == 2
        assert value(m, "churnwatch_rule_matches_total", rule="large-transfer-out") == 1
        assert value(m, "churnwatch_alerts_total", rule="large-transfer-out", severity="high") == 1
        assert value(m, "churnwatch_alerts_stored_total", outcome="new") == 1

    def test_deliveries_count_attempts_outcomes_and_latency(self) -> None:
        """Two attempts, one retry then one send: attempts 2, one of each outcome, one latency."""
        m = Metrics()
        m.delivery_attempt("twilio_sms")
        m.delivery("twilio_sms", "retry")
        m.delivery_attempt("twilio_sms")
        m.delivery("twilio_sms", "sent", latency_s=7.0)
        assert value(m, "churnwatch_delivery_attempts_total", channel="twilio_sms") == 2
        assert value(m, "churnwatch_deliveries_total", channel="twilio_sms", outcome="retry") == 1
        assert value(m, "churnwatch_deliveries_total", channel="twilio_sms", outcome="sent") == 1
        name = "churnwatch_alert_to_delivery_latency_seconds"
        assert value(m, f"{name}_count", channel="twilio_sms") == 1
        assert value(m, f"{name}_sum", channel="twilio_sms") == 7.0
        assert value(m, f"{name}_bucket", channel="twilio_sms", le="5.0") == 0
        assert value(m, f"{name}_bucket", channel="twilio_sms", le="10.0") == 1

    def test_unknown_label_values_fold_into_other(self) -> None:
        """A producer's made-up type, reason, severity or outcome cannot add a series."""
        m = Metrics()
        m.event_in("acct-123456")
        m.dead_letter("weird")
        m.alert("r", "apocalyptic")
        m.delivery("webhook", "exploded")
        assert value(m, "churnwatch_events_total", type="other") == 1
        assert value(m, "churnwatch_dead_letters_total", reason="other") == 1
        assert value(m, "churnwatch_alerts_total", rule="r", severity="other") == 1
        assert value(m, "churnwatch_deliveries_total", channel="webhook", outcome="other") == 1
        assert value(m, "churnwatch_events_total", type="acct-123456") == 0

    def test_every_reason_code_is_exposed_at_zero_before_any_dead_letter(self) -> None:
        """Reason series exist at 0 from the start, so rate() sees the first dead letter."""
        m = Metrics()
        for code in (*REASON_CODES, "too_late"):
            sample = m.registry.get_sample_value("churnwatch_dead_letters_total", {"reason": code})
            assert sample == 0.0, code

    def test_reloads_keep_one_version_and_flag_failure(self) -> None:
        """A reload replaces the version series; a failed one counts and sets last ok to 0."""
        m = Metrics()
        m.rule_set_loaded("v1", 8)
        m.reload_succeeded("v2", 7)
        m.reload_failed()
        assert value(m, "churnwatch_rule_set_info", version="v1") == 0
        assert m.registry.get_sample_value("churnwatch_rule_set_info", {"version": "v1"}) is None
        assert value(m, "churnwatch_rule_set_info", version="v2") == 1
        assert value(m, "churnwatch_rule_set_rules") == 7
        assert value(m, "churnwatch_rule_reloads_total", outcome="success") == 1
        assert value(m, "churnwatch_rule_reloads_total", outcome="failure") == 1
        assert value(m, "churnwatch_rule_set_last_reload_successful") == 0

    def test_lag_is_set_and_dropped_on_revoke(self) -> None:
        """A revoked partition's lag disappears instead of going stale."""
        m = Metrics()
        m.lag("churnwatch.transactions", 3, 120)
        assert value(m, "churnwatch_consumer_lag_messages", topic="churnwatch.transactions",
                     partition="3") == 120  # fmt: skip
        m.partition_revoked("churnwatch.transactions", 3)
        m.partition_revoked("churnwatch.transactions", 3)  # twice is harmless
        assert (
            m.registry.get_sample_value(
                "churnwatch_consumer_lag_messages",
                {"topic": "churnwatch.transactions", "partition": "3"},
            )
            is None
        )

    def test_outbox_gauges_follow_the_last_query(self) -> None:
        """The backlog gauges hold the last values set, never a negative age."""
        m = Metrics()
        m.outbox(pending=12, oldest_due_age_s=90.0)
        m.outbox(pending=3, oldest_due_age_s=-1.0)
        assert value(m, "churnwatch_outbox_pending_deliveries") == 3
        assert value(m, "churnwatch_outbox_oldest_due_age_seconds") == 0


class TestLatencyBuckets:
    def test_objectives_are_bucket_boundaries(self) -> None:
        """Each latency objective is exactly a bucket bound, so its ratio is exact."""
        assert EVENT_TO_ALERT_OBJECTIVE_S in EVENT_TO_ALERT_BUCKETS_S
        assert ALERT_TO_DELIVERY_OBJECTIVE_S in ALERT_TO_DELIVERY_BUCKETS_S
        assert max(ALERT_TO_DELIVERY_BUCKETS_S) >= 11 * 3600  # a night of quiet hours

    def test_an_alert_at_the_objective_falls_in_its_bucket(self) -> None:
        """An alert 0.5 s after its event counts as within the objective, 0.6 s does not."""
        m = Metrics()
        m.alert("r", "low", latency_s=0.5)
        m.alert("r", "low", latency_s=0.6)
        m.alert("r", "low")  # replay: no latency recorded
        name = "churnwatch_event_to_alert_latency_seconds"
        assert value(m, f"{name}_bucket", le="0.5") == 1
        assert value(m, f"{name}_count") == 2


class TestReplayTextfile:
    def test_a_summary_becomes_the_expected_samples(self, tmp_path: Path) -> None:
        """A hand-built summary's figures appear in the textfile exactly, too_late once."""
        summary = ReplaySummary(
            lines=10,
            events=7,
            events_by_type=Counter({"transaction": 5, "customer": 2}),
            dead_letters=Counter({"bad_json": 2, "too_late": 1}),
            duplicates=1,
            too_late=1,
            alerts_by_rule=Counter({"large-transfer-out": 3}),
            new_alerts=2,
            seconds=1.5,
        )
        m = Metrics()
        m.record_replay_summary(summary, severities={"large-transfer-out": "high"})
        path = tmp_path / "replay.prom"
        m.write_textfile(path)
        got = samples_of(path.read_text())
        expected = {
            ("churnwatch_events_total", (("type", "transaction"),)): 5,
            ("churnwatch_events_total", (("type", "customer"),)): 2,
            ("churnwatch_dead_letters_total", (("reason", "bad_json"),)): 2,
            ("churnwatch_dead_letters_total", (("reason", "too_late"),)): 1,
            ("churnwatch_duplicate_events_total", ()): 1,
            (
                "churnwatch_alerts_total",
                (("rule", "large-transfer-out"), ("severity", "high")),
            ): 3,
            ("churnwatch_alerts_stored_total", (("outcome", "new"),)): 2,
            ("churnwatch_alerts_stored_total", (("outcome", "duplicate"),)): 1,
            ("churnwatch_replay_lines_total", ()): 10,
            ("churnwatch_replay_duration_seconds", ()): 1.5,
        }
        for (name, labels), want in expected.items():
            assert got[(name, frozenset(labels))] == want, name

    def test_a_real_replay_is_recorded(self, tmp_path: Path, sqlite_url: str) -> None:
        """A replay of a customer, a big transfer, a bad line and its repeat is counted right."""
        customer = {
            "type": "customer", "event_id": "cu-1", "occurred_at": "2026-03-01T08:00:00+08:00",
            "customer_id": "C1", "name": "A", "phone": "+8613800000001", "language": "zh-CN",
            "aum": "600000.00", "branch_id": "B1", "manager_id": "RM1", "sms_opt_in": True,
        }  # fmt: skip
        transfer = {
            "type": "transaction", "event_id": "t-1",
            "occurred_at": "2026-03-02T10:00:00+08:00", "account_id": "AC1",
            "customer_id": "C1", "direction": "debit", "amount": "60000.00",
            "balance_after": "900000.00", "kind": "transfer", "channel": "mobile",
            "counterparty": {"bank": "Other Bank", "same_bank": False},
        }  # fmt: skip
        lines = [json.dumps(customer), json.dumps(transfer), "{not json", json.dumps(transfer)]
        events = tmp_path / "events.jsonl"
        events.write_text("\n".join(lines) + "\n")
        summary = run_replay(str(events), SHIPPED_RULES, sqlite_url, None, None, [], False)
        m = Metrics()
        m.record_replay_summary(summary, severities={"large-transfer-out": "high"})
        path = tmp_path / "out" / "replay.prom"
        path.parent.mkdir()
        m.write_textfile(path)
        got = samples_of(path.read_text())

        def sample(name: str, **labels: str) -> float:
            return got.get((name, frozenset(labels.items())), 0.0)

        assert sample("churnwatch_events_total", type="customer") == 1
        assert sample("churnwatch_events_total", type="transaction") == 2  # repeat included
        assert sample("churnwatch_dead_letters_total", reason="bad_json") == 1
        assert sample("churnwatch_duplicate_events_total") == 1
        assert sample("churnwatch_alerts_total", rule="large-transfer-out", severity="high") == 1
        assert sample("churnwatch_alerts_stored_total", outcome="new") == 1
        assert sample("churnwatch_replay_lines_total") == 4


@pytest.fixture
def promtool() -> str:
    """The promtool binary, or a skip saying how to get it."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool is not installed; run scripts/ensure-promtool.sh (Debian: prometheus)"
        )
    return found


def test_delivery_failure_reasons_are_the_notifiers_reasons() -> None:
    from churnwatch.metrics import DELIVERY_FAILURE_REASONS
    from churnwatch.notifiers.exceptions import Reason

    assert set(DELIVERY_FAILURE_REASONS) == {reason.value for reason in Reason}
