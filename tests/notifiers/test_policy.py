"""Contact policy through the pipeline and a real outbox, with a controlled clock."""

from __future__ import annotations

from helpers import Rig, alert, customer

from churnwatch.notifiers.directory import InMemoryDirectory


def customer_alert(at: str, rule_id: str = "payroll-moved-out", **kwargs: object) -> object:
    return alert(rule_id=rule_id, audience=("customer",), at=at, facts={}, **kwargs)  # type: ignore[arg-type]


class TestOptOut:
    def test_no_sms_without_opt_in(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """A customer with sms_opt_in false gets nothing; the row says why."""
        directory.put_customer(customer(sms_opt_in=False))
        rig.deliver([customer_alert("2026-03-02T10:00:00+08:00")], directory)  # type: ignore[list-item]
        assert rig.sms() == []
        [row] = rig.outbox.list()
        assert row.status == "suppressed" and "opted out" in (row.last_error or "")


class TestQuietHours:
    def test_night_sms_is_deferred_to_morning_not_dropped(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """An SMS at 22:30 waits until 08:00 the next day, then goes out."""
        rig.clock.set("2026-03-02T22:30:00+08:00")
        rig.deliver([customer_alert("2026-03-02T22:30:00+08:00")], directory)  # type: ignore[list-item]
        assert rig.sms() == []
        [row] = rig.outbox.list()
        assert row.status == "pending"
        assert row.due_at.isoformat() == "2026-03-03T00:00:00+00:00"  # 08:00 in Shanghai
        rig.clock.set("2026-03-03T07:59:00+08:00")
        rig.dispatcher.run_until_idle()
        assert rig.sms() == []
        rig.clock.set("2026-03-03T08:00:00+08:00")
        rig.dispatcher.run_until_idle()
        assert len(rig.sms()) == 1

    def test_manager_alerts_ignore_quiet_hours(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """Quiet hours are for customers: a manager alert at night goes after its group wait."""
        rig.clock.set("2026-03-02T23:00:00+08:00")
        rig.deliver([alert(at="2026-03-02T23:00:00+08:00")], directory)
        rig.clock.advance(minutes=2)
        rig.dispatcher.run_until_idle()
        assert len(rig.recorders["wecom_app"].sent) == 1


class TestCaps:
    def test_one_per_day_three_per_week(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """The second SMS on a day is suppressed; the fourth in a week too, whatever the day."""
        days = ["02", "02", "03", "04", "05"]  # Monday..Thursday, one week
        for index, day in enumerate(days):
            at = f"2026-03-{day}T10:{index:02d}:00+08:00"
            rig.clock.set(at)
            rig.deliver([customer_alert(at, rule_id=f"rule-{index}")], directory)  # type: ignore[list-item]
        assert len(rig.sms()) == 3
        notes = sorted(r.last_error or "" for r in rig.outbox.list(status="suppressed"))
        assert notes == [
            "cap: already 1 message(s) this day",
            "cap: already 3 message(s) this week",
        ]

    def test_a_new_week_resets_the_weekly_cap(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """Monday of the next week allows a text again."""
        for index, at in enumerate(
            [
                "2026-03-02T10:00:00+08:00",
                "2026-03-03T10:00:00+08:00",
                "2026-03-04T10:00:00+08:00",
                "2026-03-09T10:00:00+08:00",
            ]
        ):
            rig.clock.set(at)
            rig.deliver([customer_alert(at, rule_id=f"rule-{index}")], directory)  # type: ignore[list-item]
        assert len(rig.sms()) == 4


class TestCooldown:
    def test_same_rule_same_customer_within_cooldown(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """The same rule about the same customer is not texted again within 72 hours."""
        rig.clock.set("2026-03-02T10:00:00+08:00")
        rig.deliver([customer_alert("2026-03-02T10:00:00+08:00")], directory)  # type: ignore[list-item]
        rig.clock.set("2026-03-04T10:00:00+08:00")
        rig.deliver([customer_alert("2026-03-04T10:00:00+08:00")], directory)  # type: ignore[list-item]
        rig.clock.set("2026-03-06T10:00:00+08:00")
        rig.deliver([customer_alert("2026-03-06T10:00:00+08:00")], directory)  # type: ignore[list-item]
        assert len(rig.sms()) == 2
        [row] = rig.outbox.list(status="suppressed")
        assert (row.last_error or "").startswith("cooldown")


class TestGrouping:
    def test_alerts_within_group_wait_become_one_message(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """Two manager alerts a minute apart go out as one message at the end of the wait."""
        rig.deliver([alert(at="2026-03-02T10:00:00+08:00")], directory)
        rig.clock.advance(minutes=1)
        rig.deliver(
            [
                alert(
                    at="2026-03-02T10:01:00+08:00",
                    facts={"amount": "90000.00", "threshold": "50000.00"},
                )
            ],
            directory,
        )
        assert rig.recorders["wecom_app"].sent == []
        rig.clock.advance(minutes=1)
        rig.dispatcher.run_until_idle()
        [message] = rig.recorders["wecom_app"].sent
        assert len(message.alert_ids) == 2
        assert "80,000.00" in message.body and "90,000.00" in message.body
        assert message.body.startswith("【流失预警汇总】1 位客户 · 2 条新预警")
        ids = {r.provider_message_id for r in rig.outbox.list(status="sent")}
        assert len(ids) == 1

    def test_an_alert_after_the_group_left_starts_a_new_one(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """Once a group is sent, the next alert waits for its own group."""
        rig.deliver([alert(at="2026-03-02T10:00:00+08:00")], directory)
        rig.clock.advance(minutes=3)
        rig.dispatcher.run_until_idle()
        rig.deliver([alert(at="2026-03-02T10:03:00+08:00")], directory)
        rig.clock.advance(minutes=3)
        rig.dispatcher.run_until_idle()
        assert [len(m.alert_ids) for m in rig.recorders["wecom_app"].sent] == [1, 1]


def test_a_step_of_a_closed_case_is_told_to_nobody(rig: Rig, directory: InMemoryDirectory) -> None:
    """A 7-3-1 step whose case already has an outcome is recorded but not delivered."""
    rig.pipeline.closed = lambda a: a.alert_id == "A-closed-step"
    rig.deliver([alert(alert_id="A-closed-step"), alert(alert_id="A-open")], directory)
    rig.clock.advance(minutes=5)
    rig.dispatcher.run_until_idle()
    assert rig.pipeline.plan_report.suppressed.get("case closed") == 1
    [message] = rig.recorders["wecom_app"].sent
    assert message.alert_ids == ("A-open",)
