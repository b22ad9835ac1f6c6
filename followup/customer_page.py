"""The customer on the alert page: what a manager needs before calling (issue 13).

Tier and assets with the customer's rank in their branch, the products held and the
maturities coming up, whether payroll lands here, the alerts and outcomes of the last 90
days, and the phone number as a tap-to-call link. The number is masked until the manager
taps to reveal it; each reveal is an audit row (who, when, which alert) in
``phone_reveals``, and the number stays shown to that person on that alert for
:data:`REVEAL_FOR`, then is masked again. All of it comes from the customer profiles the
drivers keep (:mod:`churnwatch.schemas.profiles`); the words are the catalogs' and the pack's.

The texts this alert sent the customer are listed too, with why one did not go: a manager
about to call should know whether the customer already got an offer, or whether another
alert about them held it (an inhibit rule of ``routing.yaml``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, and_, func, insert, select

from churnwatch.followup.records import HistoryItem
from churnwatch.schemas.models import Alert
from churnwatch.schemas.profile_views import (
    CustomerView,
    ProductView,
    branch_rank,
    customer_view,
)
from churnwatch.schemas.store import alert_from_row
from churnwatch.schemas.tables import alerts, deliveries, followups, phone_reveals
from churnwatch.schemas.times import utc

__all__ = [
    "MATURING_DAYS",
    "PAYROLL_DAYS",
    "RECENT_DAYS",
    "REVEAL_FOR",
    "CustomerPanel",
    "CustomerText",
    "customer_panel",
    "customer_texts",
    "mask_phone",
    "recent_alerts",
    "record_reveal",
    "revealed",
]

#: the page lists the customer's alerts of this many days before this one, and since
RECENT_DAYS: Final = 90
#: products maturing within this many days of today are "coming up"
MATURING_DAYS: Final = 30
#: a payroll credited within this many days "lands here" (a monthly payroll, some slack)
PAYROLL_DAYS: Final = 45
#: how long a revealed number stays shown to the person who revealed it, on that alert
REVEAL_FOR: Final = dt.timedelta(minutes=10)


def mask_phone(phone: str | None) -> str:
    """Only the last four digits until the manager reveals the number."""
    if not phone:
        return "-"
    return "•••• " + phone[-4:]


@dataclass(frozen=True, slots=True)
class CustomerPanel:
    """The customer section of the page, ready for the template."""

    view: CustomerView | None
    #: (rank, customers in the branch) by assets
    rank: tuple[int, int] | None
    held: list[ProductView]
    maturing: list[ProductView]
    #: "here" (credited within PAYROLL_DAYS), "earlier" (credited before that) or "none"
    payroll: str
    #: the full number, only while this person's reveal lasts; else None
    phone: str | None
    phone_masked: str
    history: list[HistoryItem]


def customer_panel(
    engine: Engine, alert: Alert, staff_id: str, now: dt.datetime, today: dt.date
) -> CustomerPanel:
    """Everything the page shows about the alert's customer, as ``staff_id`` may see it."""
    view = customer_view(engine, alert.customer_id)
    held = view.held if view is not None else []
    payroll = "none"
    if view is not None and view.payroll_last_at is not None:
        recent = utc(now) - view.payroll_last_at <= dt.timedelta(days=PAYROLL_DAYS)
        payroll = "here" if recent else "earlier"
    phone = view.phone if view is not None else None
    since = min(utc(now), utc(alert.occurred_at)) - dt.timedelta(days=RECENT_DAYS)
    return CustomerPanel(
        view=view,
        rank=branch_rank(engine, alert.customer_id),
        held=held,
        maturing=view.maturing(today, MATURING_DAYS) if view is not None else [],
        payroll=payroll,
        phone=phone if phone and revealed(engine, alert.alert_id, staff_id, now) else None,
        phone_masked=mask_phone(phone),
        history=recent_alerts(engine, alert.customer_id, alert.alert_id, since),
    )


def recent_alerts(
    engine: Engine, customer_id: str, other_than: str, since: dt.datetime, limit: int = 50
) -> list[HistoryItem]:
    """The customer's other alerts since ``since``, newest first, with their follow-up."""
    query = (
        select(alerts, followups.c.status, followups.c.outcome)
        .select_from(alerts.outerjoin(followups, followups.c.alert_id == alerts.c.alert_id))
        .where(
            alerts.c.customer_id == customer_id,
            alerts.c.alert_id != other_than,
            alerts.c.occurred_at >= utc(since),
        )
        .order_by(alerts.c.occurred_at.desc(), alerts.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [HistoryItem(alert_from_row(r._mapping), r.status, r.outcome) for r in rows]


def record_reveal(engine: Engine, alert: Alert, staff_id: str, now: dt.datetime) -> None:
    """The audit row of one reveal: who, when, which alert (and whose number)."""
    with engine.begin() as conn:
        conn.execute(
            insert(phone_reveals).values(
                alert_id=alert.alert_id,
                staff_id=staff_id,
                customer_id=alert.customer_id,
                at=utc(now),
            )
        )


def revealed(engine: Engine, alert_id: str, staff_id: str, now: dt.datetime) -> bool:
    """Whether ``staff_id`` revealed the number on this alert within :data:`REVEAL_FOR`."""
    moment = utc(now)
    query = select(func.count()).where(
        and_(
            phone_reveals.c.alert_id == alert_id,
            phone_reveals.c.staff_id == staff_id,
            phone_reveals.c.at > moment - REVEAL_FOR,
            phone_reveals.c.at <= moment,
        )
    )
    with engine.connect() as conn:
        return bool(conn.scalar(query))


@dataclass(frozen=True, slots=True)
class CustomerText:
    """One text this alert meant for the customer, and what became of it."""

    #: sent, waiting, held (an inhibit rule), not_sent (opt-out, caps, cooldown) or failed
    status: str
    #: when it went out, or is due
    at: dt.datetime
    #: why it was not sent: opted_out, cap, cooldown or other
    reason: str | None = None
    #: the alert that held it: its rule, event time, and the end of the hold
    held_by_rule: str | None = None
    held_since: dt.datetime | None = None
    held_until: dt.datetime | None = None


_REASONS: Final = {"opted out": "opted_out", "cap": "cap", "cooldown": "cooldown"}


def customer_texts(engine: Engine, alert_id: str) -> list[CustomerText]:
    """The customer texts of ``alert_id`` as its delivery records tell them."""
    query = (
        select(deliveries)
        .where(deliveries.c.alert_id == alert_id, deliveries.c.audience == "customer")
        .order_by(deliveries.c.id)
    )
    with engine.connect() as conn:
        rows = [r._mapping for r in conn.execute(query)]
    return [_text(row) for row in rows]


def _text(row: Any) -> CustomerText:
    payload = row["payload"] or {}
    status = str(row["status"])
    due = utc(row["due_at"])
    held = payload.get("inhibited_by")
    if status == "suppressed" and isinstance(held, dict):
        return CustomerText(
            "held",
            due,
            held_by_rule=str(held.get("rule_id", "")),
            held_since=dt.datetime.fromisoformat(held["occurred_at"]),
            held_until=dt.datetime.fromisoformat(held["until"]),
        )
    if status == "suppressed":
        kind = str(row["last_error"] or "").split(":", 1)[0]
        return CustomerText("not_sent", due, reason=_REASONS.get(kind, "other"))
    if status == "sent":
        return CustomerText("sent", utc(row["sent_at"]) if row["sent_at"] else due)
    if status == "failed":
        return CustomerText("failed", due)
    return CustomerText("waiting", due)
