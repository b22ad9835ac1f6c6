"""The follow-up as the store reads it: one alert's standing, and a customer's other alerts.

Value types only, apart from the store's transactions: the customer page builds history
items from a query of its own and the link page passes a follow-up around, and neither
needs the store to name them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from churnwatch.schemas.models import Alert
from churnwatch.schemas.times import utc_or_none

__all__ = ["FollowUp", "HistoryItem"]


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One alert's follow-up as it stands, with the customer snapshot taken when it opened."""

    alert_id: str
    status: str
    outcome: str | None
    retained_amount: Decimal | None
    is_control: bool
    customer_name: str
    customer_tier: str
    branch_id: str
    manager_id: str
    language: str
    opened_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    contacted_at: dt.datetime | None
    outcome_at: dt.datetime | None
    outcome_by: str | None
    escalation_level: int
    next_escalation_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> FollowUp:
        amount = row["retained_amount"]
        return cls(
            alert_id=row["alert_id"],
            status=row["status"],
            outcome=row["outcome"],
            retained_amount=Decimal(amount) if amount is not None else None,
            is_control=bool(row["is_control"]),
            customer_name=row["customer_name"],
            customer_tier=row["customer_tier"],
            branch_id=row["branch_id"],
            manager_id=row["manager_id"],
            language=row["language"],
            opened_at=utc_or_none(row["opened_at"]),  # type: ignore[arg-type]
            acknowledged_at=utc_or_none(row["acknowledged_at"]),
            acknowledged_by=row["acknowledged_by"],
            contacted_at=utc_or_none(row["contacted_at"]),
            outcome_at=utc_or_none(row["outcome_at"]),
            outcome_by=row["outcome_by"],
            escalation_level=row["escalation_level"],
            next_escalation_at=utc_or_none(row["next_escalation_at"]),
        )


@dataclass(frozen=True, slots=True)
class HistoryItem:
    alert: Alert
    status: str | None
    outcome: str | None
