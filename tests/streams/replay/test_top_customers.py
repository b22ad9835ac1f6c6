"""Replay routes a branch's top customers' alerts by the ranks as they stood at the alert.

Hand-computed: BR01 holds C1 400,000, C2 300,000, C3 200,000; top two per branch, and the
leaders' list names L1 for C2. C2's first large transfer finds C2 second: the branch head
and L1 are told. Then C3's new record says 450,000: C3 and C1 are the top two, and C2's
second transfer goes to its relationship manager only.
"""

from __future__ import annotations

from pathlib import Path

from contract_events import NOW, at, customer, encode, staff, transaction

from churnwatch.notifiers.routing import Router
from churnwatch.notifiers.routing_file import load_routing
from churnwatch.notifiers.top_customers import TopCustomers
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.replay.driver import ReplayDriver


def test_the_rank_at_each_alert(sqlite_store: AlertStore, tmp_path: Path) -> None:
    """The first alert brings in the branch head and the leader, the second does not."""
    routing_file = tmp_path / "routing.yaml"
    routing_file.write_text(
        (SHIPPED_RULES / "routing.yaml").read_text(encoding="utf-8")
        + "\ntop_customers:\n  per_branch: 2\n  leaders: top-customers.csv\n",
        encoding="utf-8",
    )
    (tmp_path / "top-customers.csv").write_text("customer_id,staff_id\nC2,L1\n", encoding="utf-8")
    routing = load_routing(routing_file)
    lines = [
        staff(event_id="s1", staff_id="RM1", branch_id="BR01"),
        staff(event_id="s2", staff_id="BH1", role="branch_head", branch_id="BR01"),
        staff(event_id="s3", staff_id="L1", role="executive", branch_id="HQ"),
        *(
            customer(
                event_id=f"c-{cid}", customer_id=cid, aum=aum, branch_id="BR01", manager_id="RM1"
            )
            for cid, aum in (("C1", "400000"), ("C2", "300000"), ("C3", "200000"))
        ),
        transaction(event_id="t1", customer_id="C2", amount="80000.00", occurred_at=at(hours=1)),
        customer(
            event_id="c-C3-2",
            customer_id="C3",
            aum="450000",
            branch_id="BR01",
            manager_id="RM1",
            occurred_at=at(hours=2),
        ),
        transaction(event_id="t2", customer_id="C2", amount="80000.00", occurred_at=at(hours=3)),
    ]
    driver = ReplayDriver(
        Engine(load_rules(SHIPPED_RULES)),
        sqlite_store,
        clock=lambda: NOW,
        route=Router(routing, TopCustomers(sqlite_store.engine, 2)),
    )
    driver.run(encode(line) for line in lines)
    told = [
        [(r.audience, r.staff_id) for r in alert.recipients]
        for alert in sorted(driver.stored, key=lambda a: a.occurred_at)
        if alert.rule_id == "large-transfer-out"
    ]
    assert told == [
        [("relationship_manager", "RM1"), ("branch_head", "BH1"), ("branch_head", "L1")],
        [("relationship_manager", "RM1")],
    ]
