"""A small bank for the follow-up tests: staff in two branches, customers, alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from churnwatch.followup.store import FollowUpStore
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import Alert, StaffEvent
from churnwatch.schemas.store import AlertStore

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
#: Monday 2026-11-23, 10:00 in Shanghai
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)

STAFF = [
    ("S-RM1", "王伟", "+8613800000001", "relationship_manager", "BR01"),
    ("S-RM2", "Lily Zhao", "+8613800000002", "relationship_manager", "BR01"),
    ("S-RM3", "Tom Wu", "+8613800000003", "relationship_manager", "BR02"),
    ("S-BH1", "黄芳", "+8613800000011", "branch_head", "BR01"),
    ("S-BH2", "Ken Ma", "+8613800000012", "branch_head", "BR02"),
    ("S-EX1", "陈强", "+8613800000021", "executive", "HQ"),
]


def staff_event(staff_id: str, name: str, phone: str, role: str, branch: str) -> StaffEvent:
    return StaffEvent(
        event_id=f"st-{staff_id}",
        occurred_at=MONDAY_10,
        staff_id=staff_id,
        name=name,
        phone=phone,
        role=role,  # type: ignore[arg-type]
        branch_id=branch,
        active=True,
    )


def customer(customer_id: str = "C1", manager: str = "S-RM1", branch: str = "BR01") -> Any:
    return CustomerProfile(
        customer_id=customer_id,
        name="李娜",
        phone="+8613900000001",
        language="zh-CN",
        aum=Decimal("600000"),
        tier="A",
        branch_id=branch,
        manager_id=manager,
        sms_opt_in=True,
    )


def make_alert(
    n: int,
    *,
    rule_id: str = "large-transfer-out",
    severity: str = "high",
    customer_id: str = "C1",
    at: dt.datetime = MONDAY_10,
    facts: dict[str, Any] | None = None,
) -> Alert:
    return Alert(
        alert_id=f"al-{n:024x}",
        rule_id=rule_id,
        rule_version=1,
        severity=severity,  # type: ignore[arg-type]
        customer_id=customer_id,
        account_id="6222020200001234567",
        occurred_at=at,
        detected_at=at,
        facts=facts if facts is not None else {"amount": "80000.00", "threshold": "50000.00"},
        trigger_event_ids=[f"ev-{n}"],
        title="Large transfer out of the bank",
    )


@pytest.fixture
def store(sqlite_url: str) -> Iterator[FollowUpStore]:
    yield from _store(sqlite_url)


@pytest.fixture(params=["sqlite", "postgres"])
def both_stores(request: pytest.FixtureRequest) -> Iterator[FollowUpStore]:
    """The same store on SQLite and on PostgreSQL (skipped when it is not reachable)."""
    yield from _store(request.getfixturevalue(f"{request.param}_url"))


def _store(url: str) -> Iterator[FollowUpStore]:
    with AlertStore(url) as alert_store:
        followups = FollowUpStore(alert_store.engine)
        for row in STAFF:
            followups.put_staff(staff_event(*row), MONDAY_10)
        yield followups


def add(store: FollowUpStore, *batch: Alert) -> None:
    """Put alerts in the alert store the follow-up store shares."""
    AlertStore.add_alerts(_Shim(store), list(batch))  # type: ignore[arg-type]


class _Shim:
    """Lets tests reuse AlertStore.add_alerts on the follow-up store's engine."""

    def __init__(self, store: FollowUpStore) -> None:
        self.engine = store.engine
        self.url = "test"

    def _insert(self) -> Any:
        return AlertStore._insert(self)  # type: ignore[arg-type]
