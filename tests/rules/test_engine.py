"""The rule engine: duplicates, lateness, cooldown, deterministic ids, bounded state, hot swap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from contract_events import NOW, T0, at, customer, engine_for, event, transaction, write_rules

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.engine import Engine, Outcome, Status
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.models import Alert

RULES = {
    "predicates.yaml": """
        predicates:
          outflow: event.direction == "debit" and not event.counterparty.same_bank
          payroll: event.direction == "credit" and event.kind == "payroll"
    """,
    "rules.yaml": """
        rules:
          - id: big-out
            version: 1
            title: Big outflow
            description: d
            owner: o
            severity: high
            match: outflow
            threshold: {at_least: 50000.00}
            audience: [relationship_manager]
            cooldown: 1d
          - id: daily-out
            version: 1
            title: Many outflows in a day
            description: d
            owner: o
            severity: medium
            match: outflow
            window: {over: 1d, at_least: 1000000.00}
            audience: [relationship_manager]
          - id: payroll-out
            version: 1
            title: Payroll moved out
            description: d
            owner: o
            severity: medium
            match: outflow
            follow_up: {trigger: payroll, within: 72h, at_least_share: 0.7}
            audience: [relationship_manager]
          - id: drain
            version: 1
            title: Balance drained
            description: d
            owner: o
            severity: high
            match: outflow
            balance_fall: {over: 7d, at_most_share_of_peak: 0.5, drop_at_least: 50000.00}
            audience: [relationship_manager]
            cooldown: 7d
    """,
}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", RULES)


@pytest.fixture
def engine(rules_dir: Path) -> Engine:
    return engine_for(rules_dir)


def play(
    engine: Engine, messages: list[dict[str, Any]], state: CustomerState | None = None
) -> tuple[CustomerState | None, list[Alert], list[Outcome]]:
    alerts: list[Alert] = []
    outcomes = []
    for message in messages:
        outcome = engine.evaluate(event(message), state, NOW)
        state = outcome.state
        alerts.extend(outcome.alerts)
        outcomes.append(outcome)
    return state, alerts, outcomes


def big(n: int, hours: float, amount: str = "60000.00", **more: Any) -> dict[str, Any]:
    return transaction(event_id=f"tx-{n}", occurred_at=at(hours=hours), amount=amount, **more)


class TestDuplicates:
    def test_a_repeated_event_id_is_ignored(self, engine: Engine) -> None:
        """The second delivery of an event is a duplicate and raises no alert."""
        _, alerts, outcomes = play(engine, [big(1, 0), big(1, 0)])
        assert [o.status for o in outcomes] == [Status.EVALUATED, Status.DUPLICATE]
        assert [a.rule_id for a in alerts] == ["big-out"]

    def test_a_duplicate_with_different_content_is_still_ignored(self, engine: Engine) -> None:
        """``event_id`` alone is the idempotency key."""
        _, alerts, outcomes = play(engine, [big(1, 0, "10.00"), big(1, 1, "90000.00")])
        assert outcomes[1].status is Status.DUPLICATE
        assert alerts == []

    def test_staff_events_are_directory_only(self, engine: Engine) -> None:
        """A staff record is not evaluated against rules."""
        from contract_events import staff

        outcome = engine.evaluate(event(staff()), None, NOW)
        assert outcome.status is Status.DIRECTORY
        assert not outcome.alerts


class TestLateness:
    def test_an_event_beyond_the_lateness_is_refused_with_late_by(self, engine: Engine) -> None:
        """An event older than the lateness allows is TOO_LATE, saying by how much."""
        _, alerts, outcomes = play(engine, [big(1, 72, "10.00"), big(2, 0)])
        assert outcomes[1].status is Status.TOO_LATE
        assert outcomes[1].late_by == dt.timedelta(hours=72)
        assert alerts == []

    def test_an_event_within_the_lateness_is_evaluated(self, engine: Engine) -> None:
        """An event a day late is placed by event time and evaluated."""
        _, alerts, outcomes = play(engine, [big(1, 24, "10.00"), big(2, 0)])
        assert outcomes[1].status is Status.EVALUATED
        assert [a.trigger_event_ids for a in alerts] == [["tx-2"]]

    def test_a_refused_event_is_not_remembered(self, engine: Engine) -> None:
        """A too-late event leaves no trace: not seen, no block entry."""
        state, _, _ = play(engine, [big(1, 72, "10.00"), big(2, 0)])
        assert state is not None
        assert "tx-2" not in state.seen

    def test_lateness_is_configurable(self, rules_dir: Path) -> None:
        """With a lateness of four days, an event three days late is evaluated."""
        lenient = Engine(load_rules(rules_dir), lateness=4 * 86400)
        _, alerts, _ = play(lenient, [big(1, 72, "10.00"), big(2, 0)])
        assert len(alerts) == 1


class TestCooldown:
    def test_a_second_firing_within_the_cooldown_is_held_back(self, engine: Engine) -> None:
        """Two large outflows two hours apart alert once (cooldown 1d), but both match."""
        _, alerts, outcomes = play(engine, [big(1, 0), big(2, 2)])
        assert [a.trigger_event_ids for a in alerts] == [["tx-1"]]
        assert "big-out" in outcomes[1].matched

    def test_after_the_cooldown_it_fires_again(self, engine: Engine) -> None:
        """Two large outflows 25 hours apart alert twice."""
        _, alerts, _ = play(engine, [big(1, 0), big(2, 25)])
        assert len(alerts) == 2

    def test_cooldown_counts_event_time_not_the_wall_clock(self, engine: Engine) -> None:
        """A day of wall clock between two events an hour apart does not end the cooldown."""
        first = engine.evaluate(event(big(1, 0)), None, NOW)
        later = NOW + dt.timedelta(days=3)
        second = engine.evaluate(event(big(2, 1)), first.state, later)
        assert len(first.alerts) == 1
        assert not second.alerts

    def test_cooldown_holds_for_an_earlier_event_too(self, engine: Engine) -> None:
        """An out-of-order event an hour before an alert is within the same cooldown."""
        _, alerts, _ = play(engine, [big(1, 5), big(2, 4)])
        assert len(alerts) == 1


class TestAlertIds:
    def test_ids_are_deterministic_across_runs(self) -> None:
        """Two fresh engines given the same events produce the same alert ids."""
        messages = [big(1, 0), big(2, 30, "75000.00"), big(3, 60)]
        first = play(engine_for(), messages)[1]
        second = play(engine_for(), messages)[1]
        assert [a.alert_id for a in first] == [a.alert_id for a in second]
        # three large outflows, and the churn score crossing 60 with the second of them
        assert len({a.alert_id for a in first}) == len(first) == 4
        assert [a.rule_id for a in first].count("churn-score-high") == 1

    def test_ids_do_not_depend_on_detection_time(self, engine: Engine) -> None:
        """The same trigger detected at another wall-clock time has the same id."""
        one = engine_for().evaluate(event(big(1, 0)), None, NOW).alerts
        two = engine_for().evaluate(event(big(1, 0)), None, NOW + dt.timedelta(hours=5)).alerts
        assert [a.alert_id for a in one] == [a.alert_id for a in two]
        assert one[0].detected_at != two[0].detected_at

    def test_alert_carries_rule_and_event_fields(self, engine: Engine) -> None:
        """An alert names its rule, version, severity, customer, account and event time."""
        (alert,) = engine.evaluate(event(big(1, 0)), None, NOW).alerts
        assert (alert.rule_id, alert.rule_version, alert.severity) == ("big-out", 1, "high")
        assert (alert.customer_id, alert.account_id) == ("C1", "AC1")
        assert alert.occurred_at == T0
        assert alert.detected_at == NOW
        assert alert.facts["amount"] == "60000.00"
        assert [r.audience for r in alert.recipients] == ["relationship_manager"]


def weeks_of_life(weeks: int, per_day: int = 12) -> list[dict[str, Any]]:
    """Ordinary activity of one customer: small card payments and transfers, every day."""
    messages = []
    balance = 500000
    for n in range(weeks * 7 * per_day):
        hours = n * 24 / per_day
        balance += 7 if n % 2 else -5
        messages.append(
            transaction(
                event_id=f"ev-{n}",
                occurred_at=at(hours=hours),
                amount="5.00" if n % 2 == 0 else "7.00",
                direction="debit" if n % 2 == 0 else "credit",
                balance_after=str(balance),
                kind="transfer" if n % 3 else "card",
            )
        )
    return messages


def block_entries(state: CustomerState) -> int:
    total = 0
    for block_state in state.blocks.values():
        for name in ("entries", "observations", "triggers", "pending"):
            total += len(getattr(block_state, name, ()))
        total += len(getattr(block_state, "days", ()))
    return total


class TestBoundedState:
    def test_seen_ids_and_block_entries_stay_bounded(self, engine: Engine) -> None:
        """After twelve weeks at 12 events a day, state holds only about the last ten days."""
        state, _, _ = play(engine, weeks_of_life(12))
        assert state is not None
        per_day = 12
        # lateness 2 d, pruned every half horizon (3.5 d): at most ~6 days of ids
        assert len(state.seen) <= per_day * 6
        # 7 d balance window plus half a horizon between prunes
        assert block_entries(state) <= 3 * per_day * 11
        assert min(state.seen.values()) >= state.watermark - 6 * 86400 * 1_000_000

    def test_state_with_the_shipped_pack_is_bounded_too(self) -> None:
        """With the shipped pack's 120-day horizon, ids older than about 62 days are gone."""
        pack = engine_for()
        state, _, _ = play(pack, weeks_of_life(26, per_day=4))
        assert state is not None
        assert len(state.seen) <= 4 * 63
        assert len(state.seen) < 26 * 7 * 4 / 2


class TestSerialisedState:
    def test_state_round_trips_mid_stream_with_identical_later_alerts(self, engine: Engine) -> None:
        """Encoding and decoding the state halfway changes none of the later alerts."""
        messages = [
            transaction(
                event_id="pay",
                occurred_at=at(),
                direction="credit",
                kind="payroll",
                amount="20000.00",
                balance_after="520000.00",
            ),
            big(1, 1, "8000.00", balance_after="512000.00"),
            big(2, 5, "300000.00", balance_after="212000.00"),
            big(3, 30, "9000.00", balance_after="203000.00"),
            big(4, 40, "150000.00", balance_after="53000.00"),
            big(5, 50, "60000.00", balance_after="-7000.00"),
        ]
        _, straight, _ = play(Engine(engine.ruleset), messages)
        fresh = Engine(engine.ruleset)
        state, first_half, _ = play(fresh, messages[:3])
        assert state is not None
        restored = decode_state(encode_state(state))
        assert restored == state
        _, second_half, _ = play(Engine(engine.ruleset), messages[3:], restored)
        assert first_half + second_half == straight
        assert {a.rule_id for a in straight} >= {"big-out", "payroll-out", "drain"}

    def test_a_customer_profile_survives_encoding(self, engine: Engine) -> None:
        """The customer record in the state decodes back equal, tier included."""
        state = engine.evaluate(event(customer(aum="600000")), None, NOW).state
        assert state is not None
        restored = decode_state(encode_state(state))
        assert restored.customer == state.customer
        assert restored.customer is not None
        assert restored.customer.tier == "A"


class TestHotSwap:
    def test_a_new_rule_set_applies_from_the_next_event(
        self, rules_dir: Path, tmp_path: Path
    ) -> None:
        """After a swap, the next event is judged by the new threshold and version."""
        engine = Engine(load_rules(rules_dir))
        state, before, _ = play(engine, [big(1, 0)])
        stricter = {
            **RULES,
            "rules.yaml": RULES["rules.yaml"]
            .replace("at_least: 50000.00", "at_least: 100000.00")
            .replace("version: 1\n            title: Big", "version: 2\n            title: Big"),
        }
        engine.swap(load_rules(write_rules(tmp_path / "v2", stricter)))
        state, after, _ = play(engine, [big(2, 30), big(3, 60, "120000.00")], state)
        assert [a.rule_version for a in before] == [1]
        assert [(a.rule_id, a.rule_version) for a in after] == [("big-out", 2)]
        assert after[0].trigger_event_ids == ["tx-3"]

    def test_state_of_a_removed_rule_is_dropped_on_prune(
        self, rules_dir: Path, tmp_path: Path
    ) -> None:
        """Block state of a rule no longer in the set does not linger after pruning."""
        engine = Engine(load_rules(rules_dir))
        state, _, _ = play(engine, [big(1, 0, "10.00")])
        assert state is not None and "drain" in state.blocks
        only_big = {
            **RULES,
            "rules.yaml": RULES["rules.yaml"].split("          - id: daily-out")[0],
        }
        engine.swap(load_rules(write_rules(tmp_path / "v2", only_big)))
        state, _, _ = play(engine, [big(2, 24 * 10, "10.00")], state)
        assert state is not None
        assert set(state.blocks) <= {"big-out"}
