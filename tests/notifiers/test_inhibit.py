"""Inhibition: an alert of one rule holds the customer texts of others for a while.

The stage alone (matchers, windows, Alertmanager's both-sides rule) runs on alerts in a
list; the pipeline tests run through a real SQLite outbox and the shipped routing file,
whose inhibit rule holds the payroll offer for 7 days after a high-severity alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest
from helpers import Rig, alert, customer

from churnwatch.metrics import Metrics
from churnwatch.notifiers.context import Delivery
from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.exceptions import RoutingError
from churnwatch.notifiers.inhibit import Inhibitor, InhibitRule, Matcher, check_against_rules
from churnwatch.notifiers.routing_file import load_routing
from churnwatch.rules import SHIPPED_RULES
from churnwatch.schemas.models import Alert, Recipient

DAY = dt.timedelta(days=1)


class ListedAlerts:
    """The stored alerts, as a list: what the stage asks of the store."""

    def __init__(self, *alerts: Alert) -> None:
        self.alerts = list(alerts)

    def alerts_about(self, customer_id: str, since: dt.datetime, until: dt.datetime) -> list[Alert]:
        return [
            a
            for a in self.alerts
            if a.customer_id == customer_id and since <= a.occurred_at <= until
        ]


def told(item: Alert) -> Alert:
    """The alert as the store keeps it once routed: someone was told."""
    routed = [Recipient(audience="relationship_manager", staff_id="RM1", channel="wecom_app")]
    return msgspec.structs.replace(item, recipients=routed)


def sms(item: Alert, *, deferred: dt.timedelta = dt.timedelta(0)) -> Delivery:
    now = item.occurred_at
    return Delivery(
        alert=item,
        audience="customer",
        recipient_id=item.customer_id,
        channel="twilio_sms",
        customer=customer(item.customer_id),
        staff=None,
        tier="C",
        now=now,
        due_at=now + deferred,
    )


HOLD = InhibitRule(
    name="offer waits",
    source=(Matcher.parse('severity=~"high|critical"'),),
    target=(Matcher.parse('rule_id="payroll-moved-out"'),),
    equal=("customer_id",),
    duration=7 * DAY,
)


def offer(at: str, customer_id: str = "C1") -> Alert:
    return alert(rule_id="payroll-moved-out", severity="medium", at=at, customer_id=customer_id)


class TestMatcher:
    def test_alertmanager_syntax(self) -> None:
        """Quoted and bare values, the four operators, regexes anchored at both ends."""
        assert Matcher.parse('rule_id="a-b"').matches({"rule_id": "a-b"})
        assert Matcher.parse("rule_id = a-b").matches({"rule_id": "a-b"})
        assert Matcher.parse('severity!="low"').matches({"severity": "high"})
        assert Matcher.parse('severity=~"high|critical"').matches({"severity": "critical"})
        assert not Matcher.parse('severity=~"hi"').matches({"severity": "high"})
        assert Matcher.parse('tier!~"A|private"').matches({})

    @pytest.mark.parametrize("text", ["rule_id", 'rule_id=="x"', 'rule_id="x', "severity=~("])
    def test_refuses_what_is_not_a_matcher(self, text: str) -> None:
        """A matcher that cannot be read is an error, never a matcher that matches nothing."""
        with pytest.raises(ValueError):
            Matcher.parse(text)


class TestStage:
    source = told(alert(at="2026-03-02T10:00:00+08:00", severity="high"))

    def test_holds_the_customers_offer_within_the_window(self) -> None:
        """A payroll offer within 7 days after a high alert is suppressed, naming its source."""
        held = Inhibitor([HOLD], ListedAlerts(self.source))(sms(offer("2026-03-05T10:00:00+08:00")))
        assert held.outcome == "suppressed" and held.inhibited_by is not None
        assert held.inhibited_by.alert_id == self.source.alert_id
        assert held.inhibited_by.until == self.source.occurred_at + 7 * DAY
        assert (held.note or "").startswith("inhibited: large-transfer-out alert")

    @pytest.mark.parametrize(
        ("at", "customer_id"),
        [
            ("2026-03-02T09:59:00+08:00", "C1"),  # before the source
            ("2026-03-09T10:00:00+08:00", "C1"),  # the hold ended
            ("2026-03-03T10:00:00+08:00", "C2"),  # another customer
        ],
    )
    def test_outside_the_hold_the_offer_goes(self, at: str, customer_id: str) -> None:
        """Before the source, after its duration, or for another customer: nothing is held."""
        stage = Inhibitor([HOLD], ListedAlerts(self.source))
        assert stage(sms(offer(at, customer_id))).outcome == "pending"

    def test_a_deferred_text_is_judged_when_it_would_go_out(self) -> None:
        """A text planned before the source but deferred past it (quiet hours) is held."""
        night = offer("2026-03-02T09:00:00+08:00")
        stage = Inhibitor([HOLD], ListedAlerts(self.source))
        assert stage(sms(night)).outcome == "pending"
        assert stage(sms(night, deferred=dt.timedelta(hours=2))).outcome == "suppressed"

    def test_staff_are_always_told(self) -> None:
        """Only customer texts are held: the manager's message of the same alert is not."""
        target = offer("2026-03-03T10:00:00+08:00")
        to_manager = replace(
            sms(target), audience="relationship_manager", recipient_id="RM1", channel="wecom_app"
        )
        assert Inhibitor([HOLD], ListedAlerts(self.source))(to_manager).outcome == "pending"

    def test_sources_nobody_was_told_hold_nothing(self) -> None:
        """A shadow rule's alert (routed to nobody) and a control group's alert hold nothing."""
        target = sms(offer("2026-03-03T10:00:00+08:00"))
        unrouted = msgspec.structs.replace(self.source, recipients=[])  # as a shadow is stored
        assert Inhibitor([HOLD], ListedAlerts(unrouted))(target).outcome == "pending"
        control = Inhibitor([HOLD], ListedAlerts(self.source), told=lambda a: False)
        assert control(target).outcome == "pending"

    def test_alerts_matching_both_sides_do_not_hold_each_other(self) -> None:
        """As in Alertmanager: with high alerts as sources and targets, neither holds the other."""
        both = InhibitRule("high holds all", HOLD.source, (), ("customer_id",), 7 * DAY)
        later_high = told(alert(at="2026-03-03T10:00:00+08:00", severity="high"))
        stage = Inhibitor([both], ListedAlerts(self.source, later_high))
        assert stage(sms(later_high)).outcome == "pending"
        assert stage(sms(offer("2026-03-03T10:00:00+08:00"))).outcome == "suppressed"

    def test_equal_account_holds_only_texts_about_that_account(self) -> None:
        """With account_id in equal, an offer about another account goes out."""
        rule = InhibitRule("same account", HOLD.source, HOLD.target, ("customer_id", "account_id"),
                           7 * DAY)  # fmt: skip
        other = msgspec.structs.replace(
            offer("2026-03-03T10:00:00+08:00"), account_id="6222020000009999"
        )
        stage = Inhibitor([rule], ListedAlerts(self.source))
        assert stage(sms(other)).outcome == "pending"
        assert stage(sms(offer("2026-03-03T10:00:00+08:00"))).outcome == "suppressed"


def routing_with(tmp_path: Path, block: str) -> Path:
    """The shipped routing file with its inhibit section replaced by ``block``."""
    text = (SHIPPED_RULES / "routing.yaml").read_text(encoding="utf-8")
    start = text.index("inhibit:\n")
    end = text.index("\n\n", start)
    path = tmp_path / "routing.yaml"
    path.write_text(text[:start] + block.strip("\n") + text[end:], encoding="utf-8")
    return path


class TestRoutingFile:
    def test_the_shipped_rule_loads(self) -> None:
        """The shipped file holds the payroll offer for 7 days after a high or critical alert."""
        [rule] = load_routing(SHIPPED_RULES / "routing.yaml").inhibit
        assert rule.duration == 7 * DAY and rule.equal == ("customer_id",)
        assert [str(m) for m in rule.target] == ['rule_id="payroll-moved-out"']

    @pytest.mark.parametrize(
        ("entry", "line", "message"),
        [
            ("    source_matchers: ['severity=~high']\n"
             "    target_matchers: ['audience=\"customer\"']", 3, "cannot test 'audience'"),
            ("    source_matchers: ['severity=\"urgent\"']\n    target_matchers: []", 2,
             "unknown severity 'urgent'"),
            ("    source_matchers: ['rule_id']\n    target_matchers: []", 2, "is not a matcher"),
            ("    source_matchers: []\n    target_matchers: []", 2, "name the alerts"),
            ("    source_matchers: ['severity=high']\n    target_matchers: []\n"
             "    equal: [account_id]", 4, "equal must list customer_id"),
            ("    source_matchers: ['severity=high']\n    target_matchers: ['tier=gold']", 3,
             "unknown tier 'gold'"),
        ],
    )  # fmt: skip
    def test_errors_point_at_the_line(
        self, tmp_path: Path, entry: str, line: int, message: str
    ) -> None:
        """A bad inhibit entry is refused with the file, the line of the setting and why."""
        block = f"inhibit:\n  - name: bad\n{entry}\n    duration: 7d"
        path = routing_with(tmp_path, block)
        first = (path.read_text(encoding="utf-8").splitlines()).index("inhibit:") + 1
        with pytest.raises(RoutingError) as caught:
            load_routing(path)
        assert f"{path}:{first + line}:" in str(caught.value)
        assert message in str(caught.value)

    def test_a_missing_duration_is_refused(self, tmp_path: Path) -> None:
        """Every hold says how long it lasts: no default a bank did not choose."""
        block = "inhibit:\n  - source_matchers: ['severity=high']\n    target_matchers: []"
        with pytest.raises(RoutingError, match="duration"):
            load_routing(routing_with(tmp_path, block))

    def test_rule_check_names_unknown_rules_and_empty_targets(self) -> None:
        """A misspelt rule id, or a target no rule texting customers matches, is reported."""
        rule = InhibitRule(
            "typo",
            (Matcher.parse('rule_id="large-transfer-ot"'),),
            (Matcher.parse('rule_id="large-transfer-out"'),),
            ("customer_id",),
            DAY,
            line=42,
        )
        live = {"large-transfer-out": "high", "payroll-moved-out": "medium"}
        problems = check_against_rules([rule], live, {"payroll-moved-out": "medium"}, "r.yaml")
        assert problems == [
            "r.yaml:42: inhibit rule 'typo': no rule in force with id 'large-transfer-ot'",
            "r.yaml:42: inhibit rule 'typo': source_matchers match no rule in force",
            "r.yaml:42: inhibit rule 'typo': target_matchers match no rule that texts "
            "customers, so it holds nothing",
        ]


def offer_alert(at: str) -> Alert:
    return alert(rule_id="payroll-moved-out", severity="medium", audience=("customer",), at=at,
                 facts={})  # fmt: skip


class TestPipeline:
    def test_a_held_text_is_recorded_and_counted(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """After a large transfer, the payroll offer is a suppressed row naming the transfer's
        alert, counted in churnwatch_deliveries_inhibited_total; the manager is still told."""
        metrics = Metrics()
        rig.pipeline.metrics = metrics
        [source] = rig.deliver([alert(at="2026-03-02T10:00:00+08:00")], directory)
        rig.clock.set("2026-03-02T11:00:00+08:00")
        rig.deliver([offer_alert("2026-03-02T11:00:00+08:00")], directory)
        rig.clock.advance(minutes=5)
        rig.dispatcher.run_until_idle()
        assert rig.sms() == []
        assert len(rig.recorders["wecom_app"].sent) == 1
        [row] = rig.outbox.list(status="suppressed")
        assert row.audience == "customer"
        assert (row.last_error or "").startswith(
            f"inhibited: large-transfer-out alert {source.alert_id} of 2026-03-02 02:00 UTC"
        )
        assert row.payload["inhibited_by"]["alert_id"] == source.alert_id
        assert rig.pipeline.plan_report.suppressed == {"inhibited": 1}
        sample = metrics.registry.get_sample_value(
            "churnwatch_deliveries_inhibited_total",
            {"rule": "payroll-moved-out", "by": "large-transfer-out"},
        )
        assert sample == 1

    def test_a_text_waiting_for_the_morning_is_held_by_a_later_alert(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """An offer deferred to 08:00 by quiet hours is held when a large transfer comes at
        night: the row waiting in the outbox is suppressed, and nothing goes at 08:00."""
        rig.clock.set("2026-03-02T22:00:00+08:00")
        rig.deliver([offer_alert("2026-03-02T22:00:00+08:00")], directory)
        assert rig.outbox.list()[0].status == "pending"
        rig.clock.set("2026-03-03T02:00:00+08:00")
        rig.deliver([alert(at="2026-03-03T02:00:00+08:00")], directory)
        rig.clock.set("2026-03-03T08:30:00+08:00")
        rig.dispatcher.run_until_idle()
        assert rig.sms() == []
        [row] = rig.outbox.list(status="suppressed")
        assert (row.last_error or "").startswith("inhibited:")
        assert rig.pipeline.plan_report.suppressed == {"inhibited": 1}

    def test_a_control_group_alert_holds_nothing(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """Nobody was told of a control-group alert, so the customer's offer goes out."""
        rig.pipeline.control = lambda a: a.rule_id == "large-transfer-out"
        rig.deliver([alert(at="2026-03-02T10:00:00+08:00")], directory)
        rig.clock.set("2026-03-02T11:00:00+08:00")
        rig.deliver([offer_alert("2026-03-02T11:00:00+08:00")], directory)
        assert len(rig.sms()) == 1

    def test_after_the_hold_the_offer_goes(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """Seven days after the large transfer, the payroll offer is sent again."""
        rig.deliver([alert(at="2026-03-02T10:00:00+08:00")], directory)
        rig.clock.set("2026-03-09T10:00:00+08:00")
        rig.deliver([offer_alert("2026-03-09T10:00:00+08:00")], directory)
        assert len(rig.sms()) == 1
