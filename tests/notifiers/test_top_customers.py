"""A branch's top customers by assets: the branch head and the named leader on their alerts.

Hand-computed fixture (per_branch: 2). BR01: C1 400,000, C2 300,000, C3 200,000,
C4 100,000, so C1 and C2 are its top two; BR02: C5 60,000, C6 40,000, so both are. The
leaders' list names S-LD1 for C2 and C3, S-LD2 for C5. No tier here reaches the routing
file's own branch-head escalation (tier A and up), so every branch head below comes from
the top-N rule.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import alert, customer, staff

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.exceptions import RoutingError
from churnwatch.notifiers.routing import Router
from churnwatch.notifiers.routing_file import Routing, load_routing
from churnwatch.notifiers.top_customers import TopCustomers, load_leaders
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.tiers import DEFAULT_TIERS
from churnwatch.schemas.models import CustomerEvent
from churnwatch.schemas.profiles import ProfileBook
from churnwatch.schemas.store import AlertStore

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
ASSETS = {
    "C1": ("BR01", "400000"),
    "C2": ("BR01", "300000"),
    "C3": ("BR01", "200000"),
    "C4": ("BR01", "100000"),
    "C5": ("BR02", "60000"),
    "C6": ("BR02", "40000"),
}
LEADERS = "customer_id,staff_id\nC2,S-LD1\nC3,S-LD1\nC5,S-LD2\n"


def pack_with_top_customers(tmp_path: Path, block: str, leaders: str = LEADERS) -> Path:
    routing = tmp_path / "routing.yaml"
    shutil.copy(SHIPPED_RULES / "routing.yaml", routing)
    routing.write_text(routing.read_text(encoding="utf-8") + block, encoding="utf-8")
    (tmp_path / "top-customers.csv").write_text(leaders, encoding="utf-8")
    return routing


TOP_2 = "\ntop_customers:\n  per_branch: 2\n  leaders: top-customers.csv\n"


def customer_event(customer_id: str, aum: str, at: dt.datetime, branch: str) -> CustomerEvent:
    return CustomerEvent(
        event_id=f"cu-{customer_id}-{at:%H%M}",
        occurred_at=at,
        customer_id=customer_id,
        name=customer_id,
        phone="+8613800000000",
        language="zh-CN",
        aum=Decimal(aum),
        branch_id=branch,
        manager_id="RM1" if branch == "BR01" else "RM2",
        sms_opt_in=True,
    )


@pytest.fixture
def routing(tmp_path: Path) -> Routing:
    return load_routing(pack_with_top_customers(tmp_path, TOP_2))


@pytest.fixture
def bank(sqlite_store: AlertStore) -> tuple[AlertStore, InMemoryDirectory]:
    book = ProfileBook(DEFAULT_TIERS.tier_of)
    directory = InMemoryDirectory()
    for customer_id, (branch, aum) in ASSETS.items():
        book.note(customer_event(customer_id, aum, T0, branch))
        directory.put_customer(
            customer(
                customer_id=customer_id,
                aum=Decimal(aum),
                tier=DEFAULT_TIERS.tier_of(Decimal(aum)),
                branch_id=branch,
                manager_id="RM1" if branch == "BR01" else "RM2",
            )
        )
    book.write(sqlite_store.engine)
    for person in (
        staff("RM1", "relationship_manager", "BR01"),
        staff("RM2", "relationship_manager", "BR02"),
        staff("BH1", "branch_head", "BR01"),
        staff("BH2", "branch_head", "BR02"),
        staff("S-LD1", "executive", "HQ"),
        staff("S-LD2", "executive", "HQ"),
    ):
        directory.put_staff(person)
    return sqlite_store, directory


def told(
    router: Router, directory: InMemoryDirectory, customer_id: str, **kw: object
) -> list[tuple[str, str | None]]:
    routed = router(alert(customer_id=customer_id, severity="medium", **kw), directory)  # type: ignore[arg-type]
    return [(r.audience, r.staff_id) for r in routed.recipients]


class TestTopCustomersRouting:
    def test_the_hand_computed_bank(
        self, routing: Routing, bank: tuple[AlertStore, InMemoryDirectory]
    ) -> None:
        """Top two per branch get the branch head; the named leader only while in the top two."""
        store, directory = bank
        router = Router(routing, TopCustomers(store.engine, 2))
        assert told(router, directory, "C1") == [
            ("relationship_manager", "RM1"),
            ("branch_head", "BH1"),
        ]
        assert told(router, directory, "C2") == [
            ("relationship_manager", "RM1"),
            ("branch_head", "BH1"),
            ("branch_head", "S-LD1"),
        ]
        assert told(router, directory, "C3") == [("relationship_manager", "RM1")]
        assert told(router, directory, "C4") == [("relationship_manager", "RM1")]
        assert told(router, directory, "C5") == [
            ("relationship_manager", "RM2"),
            ("branch_head", "BH2"),
            ("branch_head", "S-LD2"),
        ]
        assert told(router, directory, "C6") == [
            ("relationship_manager", "RM2"),
            ("branch_head", "BH2"),
        ]

    def test_customer_texts_do_not_wake_the_branch(
        self, routing: Routing, bank: tuple[AlertStore, InMemoryDirectory]
    ) -> None:
        """An alert only for the customer (an SMS reminder) stays the customer's."""
        store, directory = bank
        router = Router(routing, TopCustomers(store.engine, 2))
        assert told(router, directory, "C1", audience=("customer",)) == [("customer", None)]

    def test_the_rank_follows_newer_customer_records(
        self, routing: Routing, bank: tuple[AlertStore, InMemoryDirectory]
    ) -> None:
        """C4's assets rise to 2,000,000: C4 and C1 are the top two, C2 drops out and its
        leader stops hearing of it; an older record read later changes nothing."""
        store, directory = bank
        router = Router(routing, TopCustomers(store.engine, 2))
        assert ("branch_head", "S-LD1") in told(router, directory, "C2")
        book = ProfileBook(DEFAULT_TIERS.tier_of)
        book.note(customer_event("C4", "2000000", T0 + dt.timedelta(days=1), "BR01"))
        book.write(store.engine)
        assert told(router, directory, "C2") == [("relationship_manager", "RM1")]
        assert ("branch_head", "BH1") in told(router, directory, "C4")
        book.note(customer_event("C4", "1", T0 + dt.timedelta(hours=1), "BR01"))
        book.write(store.engine)
        assert ("branch_head", "BH1") in told(router, directory, "C4")

    def test_an_inactive_leader_is_not_told_and_no_branch_head_when_switched_off(
        self, tmp_path: Path, bank: tuple[AlertStore, InMemoryDirectory]
    ) -> None:
        """``branch_head: false`` keeps only the leader; an inactive leader is skipped."""
        store, directory = bank
        routing = load_routing(
            pack_with_top_customers(
                tmp_path,
                TOP_2 + "  branch_head: false\n",
            )
        )
        router = Router(routing, TopCustomers(store.engine, 2))
        assert told(router, directory, "C2") == [
            ("relationship_manager", "RM1"),
            ("branch_head", "S-LD1"),
        ]
        directory.put_staff(staff("S-LD1", "executive", "HQ", active=False))
        assert told(router, directory, "C2") == [("relationship_manager", "RM1")]


class TestLeadersList:
    @pytest.mark.parametrize(
        ("text", "line", "says"),
        [
            ("customer,staff\nC1,S1\n", 1, "first line must be customer_id,staff_id"),
            ("customer_id,staff_id\nC1,S1\nC2\n", 3, "give a customer id and a staff id"),
            ("customer_id,staff_id\nC1,S1\nC1,S2\n", 3, "assigned twice"),
        ],
    )
    def test_mistakes_name_the_file_and_line(
        self, tmp_path: Path, text: str, line: int, says: str
    ) -> None:
        """A wrong header, a short row, a customer given twice: refused with file and line."""
        path = tmp_path / "top-customers.csv"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(RoutingError, match=rf"top-customers.csv:{line}: .*{says}"):
            load_leaders(path)

    def test_the_routing_file_refuses_a_missing_list_and_a_zero_rank(self, tmp_path: Path) -> None:
        """``leaders`` must name a readable file beside routing.yaml; per_branch at least 1."""
        routing = pack_with_top_customers(tmp_path, "\ntop_customers:\n  per_branch: 0\n")
        with pytest.raises(RoutingError, match="per_branch must be at least 1"):
            load_routing(routing)
        routing = pack_with_top_customers(
            tmp_path, "\ntop_customers:\n  per_branch: 5\n  leaders: nowhere.csv\n"
        )
        with pytest.raises(RoutingError, match=r"nowhere\.csv"):
            load_routing(routing)
