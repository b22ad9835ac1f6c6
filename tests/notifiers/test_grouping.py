"""One message per customer: a manager's group message lists its alerts by customer."""

from __future__ import annotations

import msgspec
from helpers import Rig, alert, customer

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.grouping import by_customer


def test_several_rules_for_one_customer_read_as_one_entry(
    rig: Rig, directory: InMemoryDirectory
) -> None:
    """Three alerts about two customers within the wait: one message, each customer once,
    their alerts under them in time order, customers by their first alert."""
    directory.put_customer(customer("C2", name="李明", tier="B"))
    rig.deliver(
        [
            alert(at="2026-03-02T10:00:00+08:00", facts={"amount": "80000.00", "threshold": "1"}),
            alert(at="2026-03-02T10:00:30+08:00", customer_id="C2"),
        ],
        directory,
    )
    rig.clock.advance(minutes=1)
    rig.deliver(
        [
            alert(
                rule_id="payroll-moved-out",
                severity="medium",
                at="2026-03-02T10:01:00+08:00",
                facts={"trigger_amount": "20000.00", "within": "72h", "sum_amount": "18000.00",
                       "share": "0.9"},
            )
        ],
        directory,
    )  # fmt: skip
    rig.clock.advance(minutes=1)
    rig.dispatcher.run_until_idle()
    [message] = rig.recorders["wecom_app"].sent
    body = message.body
    assert body.startswith("【流失预警汇总】2 位客户 · 3 条新预警")
    assert body.count("王芳") == 1 and body.count("李明") == 1
    assert "■ 王芳（C级） · 2 条预警" in body
    assert body.index("80,000.00") < body.index("18,000.00") < body.index("李明")
    assert message.customer_id is None and len(message.alert_ids) == 3


def test_a_staff_member_reads_the_group_in_their_own_language(
    rig: Rig, directory: InMemoryDirectory
) -> None:
    """An English-reading manager's group message is English, from the pack's _group texts."""
    manager = directory.staff("RM1")
    assert manager is not None
    directory.put_staff(msgspec.structs.replace(manager, language="en"))
    rig.deliver([alert(at="2026-03-02T10:00:00+08:00")], directory)
    rig.deliver([alert(at="2026-03-02T10:00:10+08:00", rule_id="balance-sharp-fall")], directory)
    rig.clock.advance(minutes=2)
    rig.dispatcher.run_until_idle()
    [message] = rig.recorders["wecom_app"].sent
    assert message.body.startswith("[churn alerts] 2 new alerts about 1 customer")
    assert "■ 王芳 (tier C) · 2 alerts" in message.body
    assert message.customer_id == "C1"


def test_rows_written_before_items_still_list_under_their_customer() -> None:
    """A row planned by an older version (no item) shows its whole text under its customer id."""
    customers = by_customer(
        [
            {"customer_id": "C1", "occurred_at": "2026-03-02T02:00:00+00:00", "body": "old"},
            {"customer_id": "C1", "occurred_at": "2026-03-02T01:00:00+00:00", "body": "older"},
        ]
    )
    [entry] = customers
    assert entry["id"] == "C1" and [a["what"] for a in entry["alerts"]] == ["older", "old"]
