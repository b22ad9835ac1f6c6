"""Escalation with a controlled clock: once, at the right time, never after acknowledgement."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from churnwatch.followup.businesstime import BusinessHours
from churnwatch.followup.escalation import EscalationPolicy, Escalator, load_policy
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify, Sent

from .conftest import MONDAY_10, SHANGHAI, add, customer, make_alert


@pytest.fixture
def store(both_stores: FollowUpStore) -> FollowUpStore:
    """These tests run on SQLite and on PostgreSQL."""
    return both_stores


HOUR = dt.timedelta(hours=1)


def escalator(store: FollowUpStore, clock: FixedClock, notify: RecordingNotify) -> Escalator:
    return Escalator(store, EscalationPolicy(), notify, clock)


class TestBusinessHours:
    def test_delay_within_one_day(self) -> None:
        """Four hours from 10:00 on a Monday is 14:00 the same day."""
        assert BusinessHours().add(MONDAY_10, 4 * HOUR) == MONDAY_10 + 4 * HOUR

    def test_delay_skips_the_night_and_the_weekend(self) -> None:
        """Four hours from Friday 16:00 is Monday 11:00 (two hours Friday, two Monday)."""
        friday_16 = dt.datetime(2026, 11, 27, 16, 0, tzinfo=SHANGHAI)
        monday_11 = dt.datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI)
        assert BusinessHours().add(friday_16, 4 * HOUR) == monday_11

    def test_delay_starts_at_opening_when_the_alert_came_at_night(self) -> None:
        """An alert at 23:00 counts from 09:00 the next working day."""
        night = dt.datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)
        assert BusinessHours().add(night, 4 * HOUR) == dt.datetime(
            2026, 11, 24, 13, 0, tzinfo=SHANGHAI
        )

    def test_holidays_are_skipped(self) -> None:
        """A listed holiday has no business hours."""
        hours = BusinessHours(holidays=frozenset({dt.date(2026, 11, 24)}))
        evening = dt.datetime(2026, 11, 23, 17, 0, tzinfo=SHANGHAI)
        assert hours.add(evening, 2 * HOUR) == dt.datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


class TestEscalation:
    def test_fires_once_at_the_right_time(self, store: FollowUpStore) -> None:
        """Unacknowledged for 4 business hours: the branch head is told once, not before."""
        clock, notify = FixedClock(MONDAY_10), RecordingNotify()
        alert = make_alert(1)
        add(store, alert)
        esc = escalator(store, clock, notify)
        esc.open(alert, customer(), [("S-RM1", "relationship_manager")])
        clock.advance(4 * HOUR - dt.timedelta(seconds=1))
        assert esc.run_due() == 0
        clock.advance(dt.timedelta(seconds=1))
        assert esc.run_due() == 1
        assert esc.run_due() == 0
        assert notify.sent == [Sent(alert.alert_id, "branch_head", "S-BH1", notify.sent[0].reason)]
        assert store.get(alert.alert_id).escalation_level == 1  # type: ignore[union-attr]

    def test_the_oldest_due_escalation_is_measured(self, store: FollowUpStore) -> None:
        """``oldest_due`` is when the longest-waiting due escalation fell due (the worker
        reports its age, so escalations that stop running raise an alert); none once run."""
        clock, notify = FixedClock(MONDAY_10), RecordingNotify()
        alert = make_alert(7)
        add(store, alert)
        esc = escalator(store, clock, notify)
        esc.open(alert, customer(), [("S-RM1", "relationship_manager")])
        assert esc.oldest_due() is None
        clock.advance(5 * HOUR)
        assert esc.oldest_due() == MONDAY_10 + 4 * HOUR
        esc.run_due()
        assert esc.oldest_due() is None

    def test_then_to_an_executive(self, store: FollowUpStore) -> None:
        """Four more business hours without acknowledgement reach the executive."""
        clock, notify = FixedClock(MONDAY_10), RecordingNotify()
        alert = make_alert(2)
        add(store, alert)
        esc = escalator(store, clock, notify)
        esc.open(alert, customer(), [("S-RM1", "relationship_manager")])
        clock.advance(4 * HOUR)
        esc.run_due()
        clock.now = dt.datetime(2026, 11, 23, 17, 59, tzinfo=SHANGHAI)  # 14:00 + 4h = 18:00
        esc.run_due()
        assert [s.audience for s in notify.sent] == ["branch_head"]
        clock.advance(dt.timedelta(minutes=1))
        esc.run_due()
        assert [(s.audience, s.staff_id) for s in notify.sent] == [
            ("branch_head", "S-BH1"),
            ("executive", "S-EX1"),
        ]
        clock.advance(30 * 24 * HOUR)
        assert esc.run_due() == 0

    def test_not_after_acknowledgement(self, store: FollowUpStore) -> None:
        """An acknowledged alert never escalates."""
        clock, notify = FixedClock(MONDAY_10), RecordingNotify()
        alert = make_alert(3)
        add(store, alert)
        esc = escalator(store, clock, notify)
        esc.open(alert, customer(), [("S-RM1", "relationship_manager")])
        clock.advance(HOUR)
        store.record(alert.alert_id, "acknowledge", "S-RM1", "web", clock())
        clock.advance(10 * 24 * HOUR)
        assert esc.run_due() == 0
        assert notify.sent == []

    def test_low_severity_and_control_alerts_never_escalate(self, store: FollowUpStore) -> None:
        """Only high and critical alerts escalate, and a control alert told nobody."""
        clock, notify = FixedClock(MONDAY_10), RecordingNotify()
        medium, control = make_alert(4, severity="medium"), make_alert(5)
        add(store, medium, control)
        esc = escalator(store, clock, notify)
        esc.open(medium, customer(), [("S-RM1", "relationship_manager")])
        esc.open(control, customer(), [], control=True)
        clock.advance(10 * 24 * HOUR)
        assert esc.run_due() == 0

    def test_once_only_across_a_restart(self, store: FollowUpStore) -> None:
        """A new escalator on the same store (a restart) neither repeats nor loses the timer."""
        clock = FixedClock(MONDAY_10)
        first_notify, second_notify = RecordingNotify(), RecordingNotify()
        alert = make_alert(6)
        add(store, alert)
        escalator(store, clock, first_notify).open(
            alert, customer(), [("S-RM1", "relationship_manager")]
        )
        clock.advance(5 * HOUR)
        restarted = escalator(FollowUpStore(store.engine), clock, second_notify)
        assert restarted.run_due() == 1
        again = escalator(FollowUpStore(store.engine), clock, first_notify)
        assert again.run_due() == 0
        assert [s.staff_id for s in second_notify.sent] == ["S-BH1"]
        assert first_notify.sent == []

    def test_claimed_but_not_notified_is_notified_after_a_crash(self, store: FollowUpStore) -> None:
        """A crash between claiming and notifying is finished by the next run, once."""
        clock, notify = FixedClock(MONDAY_10), RecordingNotify()
        alert = make_alert(7)
        add(store, alert)

        def crash(*_: object) -> None:
            raise RuntimeError("process killed")

        esc = Escalator(store, EscalationPolicy(), crash, clock)
        esc.open(alert, customer(), [("S-RM1", "relationship_manager")])
        clock.advance(4 * HOUR)
        with pytest.raises(RuntimeError):
            esc.run_due()
        restarted = escalator(FollowUpStore(store.engine), clock, notify)
        restarted.run_due()
        restarted.run_due()
        assert [s.staff_id for s in notify.sent] == ["S-BH1"]


class TestPolicyFile:
    def test_defaults_without_a_routing_file(self, tmp_path: Path) -> None:
        """No routing file: branch head after 4 h, executive 4 h later, 09:00-18:00 Mon-Fri."""
        policy = load_policy(tmp_path / "routing.yaml")
        assert policy == EscalationPolicy()

    def test_reads_the_escalation_section(self, tmp_path: Path) -> None:
        """Delays, severities and business hours come from the routing file."""
        path = tmp_path / "routing.yaml"
        path.write_text(
            "escalation:\n"
            "  severities: [critical]\n"
            "  steps:\n"
            "    - {audience: branch_head, after: 2h}\n"
            "  business_hours:\n"
            '    {timezone: Asia/Shanghai, start: "08:30", end: "17:00",'
            " weekdays: [mon, tue, wed, thu, fri, sat], holidays: [2026-10-01]}\n",
            encoding="utf-8",
        )
        policy = load_policy(path)
        assert policy.severities == frozenset({"critical"})
        assert [(s.audience, s.after) for s in policy.steps] == [("branch_head", 2 * HOUR)]
        assert policy.hours.start == dt.time(8, 30) and 5 in policy.hours.weekdays
        assert dt.date(2026, 10, 1) in policy.hours.holidays


def test_shipped_routing_file_is_read_by_both_loaders() -> None:
    """The shipped routing.yaml carries the escalation section, and routing still loads it."""
    from churnwatch.notifiers.routing_file import load_routing
    from churnwatch.rules import SHIPPED_RULES

    load_routing(SHIPPED_RULES / "routing.yaml")
    assert load_policy(SHIPPED_RULES / "routing.yaml") == EscalationPolicy()
