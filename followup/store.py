"""The follow-up record: current status per alert, and an append-only log of who did what.

Every action (acknowledge, contacted, an outcome, a note, an escalation) appends one row to
``followup_events`` and updates the alert's row in ``followups`` in the same transaction,
so the log and the status never disagree. The log is never updated or deleted: it is
what an auditor reads. Times are stored in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from sqlalchemy import Connection, and_, insert, or_, select, update

from churnwatch.followup import OUTCOMES, cases
from churnwatch.followup.exceptions import FollowUpError
from churnwatch.followup.records import FollowUp, HistoryItem
from churnwatch.followup.staff import StaffDirectory, StaffRecord
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import alert_from_row
from churnwatch.schemas.tables import (
    alerts,
    followup_assignees,
    followup_events,
    followups,
)
from churnwatch.schemas.times import utc, utc_or_none

__all__ = [
    "ACTIONS",
    "Action",
    "FollowUpStore",
]

Action = Literal["acknowledge", "contacted", "outcome", "note", "escalated", "opened"]
ACTIONS: Final[tuple[str, ...]] = ("acknowledge", "contacted", "outcome", "note")
_NOTE_LIMIT = 2000


def parse_amount(text: str | None) -> Decimal | None:
    """A retained amount typed by a person (``50,000.00``); None when blank."""
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation as exc:
        raise FollowUpError("the retained amount is not a number") from exc
    if not value.is_finite() or value < 0:
        raise FollowUpError("the retained amount must be zero or more")
    return value


class FollowUpStore(StaffDirectory):
    """Follow-up state and the staff directory, in the alert store's database.

    The directory's reads and writes are :class:`~churnwatch.followup.staff.StaffDirectory`'s;
    seeing an alert (``can_see``) and acting on one need both.
    """

    def resolve(self, reference: str) -> str:
        """The alert id a person means: a full id, or the six-character reference they see.

        Raises FollowUpError when no open-for-follow-up alert has that reference, or
        several do (then the full id is needed).
        """
        text = reference.strip().lstrip("#").lower()
        if not re.fullmatch(r"[0-9a-f]{6}", text):
            return reference.strip()
        with self.engine.connect() as conn:
            found = [
                str(r.alert_id)
                for r in conn.execute(
                    select(followups.c.alert_id).where(followups.c.alert_id.like(f"al-{text}%"))
                )
            ]
        if len(found) == 1:
            return found[0]
        if not found:
            raise FollowUpError(f"no alert with the reference {text}")
        raise FollowUpError(
            f"{len(found)} alerts share the reference {text}; give the full alert id"
        )

    # --- opening ---------------------------------------------------------------------
    def open(
        self,
        alert: Alert,
        customer: CustomerProfile | None,
        assignees: Sequence[tuple[str, str]],
        now: dt.datetime,
        *,
        control: bool = False,
        next_escalation_at: dt.datetime | None = None,
    ) -> bool:
        """Start following ``alert`` up (idempotent); ``assignees`` are (staff_id, audience).

        Returns False when it was already open. The alert must be in the store.
        """
        now = utc(now)
        if next_escalation_at is not None:
            next_escalation_at = utc(next_escalation_at)
        with self.engine.begin() as conn:
            exists = conn.scalar(
                select(followups.c.alert_id).where(followups.c.alert_id == alert.alert_id)
            )
            if exists:
                return False
            # a later 7-3-1 step of a case already acknowledged or closed starts that way,
            # without an escalation timer
            case = cases.case_state(conn, alert) or {}
            if case:
                next_escalation_at = None
            conn.execute(
                insert(followups).values(
                    alert_id=alert.alert_id,
                    is_control=control,
                    customer_name=customer.name if customer else "",
                    customer_tier=customer.tier if customer else str(alert.facts.get("tier", "")),
                    branch_id=customer.branch_id if customer else "",
                    manager_id=customer.manager_id if customer else "",
                    language=customer.language if customer else "zh-CN",
                    opened_at=now,
                    escalation_level=0,
                    next_escalation_at=None if control else next_escalation_at,
                    updated_at=now,
                    **{"status": "open", **case},
                )
            )
            for staff_id, audience in dict(assignees).items():
                self.assign_in(conn, alert.alert_id, staff_id, audience, "routed", now, now)
            self.log_in(conn, alert.alert_id, "opened", "system", "system", now)
        return True

    @staticmethod
    def assign_in(
        conn: Connection,
        alert_id: str,
        staff_id: str,
        audience: str,
        reason: str,
        now: dt.datetime,
        notified_at: dt.datetime | None,
    ) -> bool:
        now = utc(now)
        notified_at = utc(notified_at) if notified_at is not None else None
        key = and_(
            followup_assignees.c.alert_id == alert_id, followup_assignees.c.staff_id == staff_id
        )
        if conn.scalar(select(followup_assignees.c.staff_id).where(key)):
            return False
        conn.execute(
            insert(followup_assignees).values(
                alert_id=alert_id,
                staff_id=staff_id,
                audience=audience,
                reason=reason,
                assigned_at=now,
                notified_at=notified_at,
            )
        )
        return True

    @staticmethod
    def log_in(
        conn: Connection,
        alert_id: str,
        kind: str,
        actor: str,
        channel: str,
        now: dt.datetime,
        outcome: str | None = None,
        note: str | None = None,
    ) -> None:
        now = utc(now)
        conn.execute(
            insert(followup_events).values(
                alert_id=alert_id,
                kind=kind,
                actor=actor,
                channel=channel,
                outcome=outcome,
                note=note,
                at=now,
            )
        )

    # --- reading ---------------------------------------------------------------------
    def get(self, alert_id: str) -> FollowUp | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(followups).where(followups.c.alert_id == alert_id)).first()
        return FollowUp.from_row(row._mapping) if row else None

    def alert(self, alert_id: str) -> Alert | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).first()
        return alert_from_row(row._mapping) if row else None

    def assignees(self, alert_id: str) -> dict[str, str]:
        """staff_id -> audience of everyone the alert was routed or escalated to."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(followup_assignees.c.staff_id, followup_assignees.c.audience).where(
                    followup_assignees.c.alert_id == alert_id
                )
            ).all()
        return {r.staff_id: r.audience for r in rows}

    def can_see(self, staff_id: str, followup: FollowUp) -> bool:
        """Routed to them, or they head the customer's branch (and are active)."""
        staff = self.staff(staff_id)
        if staff is not None and not staff.active:
            return False
        if staff_id in self.assignees(followup.alert_id):
            return True
        return (
            staff is not None
            and staff.role == "branch_head"
            and bool(followup.branch_id)
            and staff.branch_id == followup.branch_id
        )

    def events(self, alert_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(followup_events)
                .where(followup_events.c.alert_id == alert_id)
                .order_by(followup_events.c.id)
            ).all()
        return [{**r._mapping, "at": utc_or_none(r.at)} for r in rows]

    def history(self, customer_id: str, before_alert: str, limit: int = 10) -> list[HistoryItem]:
        """The customer's other alerts, newest first, with their follow-up status."""
        query = (
            select(alerts, followups.c.status, followups.c.outcome)
            .select_from(alerts.outerjoin(followups, followups.c.alert_id == alerts.c.alert_id))
            .where(alerts.c.customer_id == customer_id, alerts.c.alert_id != before_alert)
            .order_by(alerts.c.occurred_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [HistoryItem(alert_from_row(r._mapping), r.status, r.outcome) for r in rows]

    def open_for_staff(self, staff: StaffRecord) -> list[str]:
        """Alert ids not yet closed that this person may act on, most recently routed first."""
        visible = followup_assignees.c.staff_id == staff.staff_id
        if staff.role == "branch_head":
            visible = or_(visible, followups.c.branch_id == staff.branch_id)
        query = (
            select(followups.c.alert_id, alerts.c.detected_at)
            .select_from(
                followups.join(alerts, alerts.c.alert_id == followups.c.alert_id).outerjoin(
                    followup_assignees,
                    and_(
                        followup_assignees.c.alert_id == followups.c.alert_id,
                        followup_assignees.c.staff_id == staff.staff_id,
                    ),
                )
            )
            .where(visible, followups.c.status != "closed", followups.c.is_control.is_(False))
            .order_by(alerts.c.detected_at.desc(), alerts.c.id.desc())
        )
        with self.engine.connect() as conn:
            return list(dict.fromkeys(r.alert_id for r in conn.execute(query)))

    # --- acting ----------------------------------------------------------------------
    def record(
        self,
        alert_id: str,
        action: str,
        actor: str,
        channel: str,
        now: dt.datetime,
        *,
        outcome: str | None = None,
        note: str | None = None,
        retained_amount: Decimal | None = None,
    ) -> FollowUp:
        """Apply one action and log it. Acting in any way also acknowledges the alert."""
        now = utc(now)
        if action not in ACTIONS:
            raise FollowUpError(f"unknown action {action!r}")
        if action == "outcome" and outcome not in OUTCOMES:
            raise FollowUpError(f"unknown outcome {outcome!r}")
        note = (note or "").strip()[:_NOTE_LIMIT] or None
        with self.engine.begin() as conn:
            row = conn.execute(select(followups).where(followups.c.alert_id == alert_id)).first()
            if row is None:
                raise FollowUpError("no follow-up is open for this alert")
            current = FollowUp.from_row(row._mapping)
            values: dict[str, Any] = {"updated_at": now, "next_escalation_at": None}
            if current.acknowledged_at is None:
                values.update(acknowledged_at=now, acknowledged_by=actor)
            status = current.status
            if action == "contacted":
                values["contacted_at"] = now
                status = "closed" if status == "closed" else "contacted"
            elif action == "outcome":
                values.update(outcome=outcome, outcome_at=now, outcome_by=actor)
                values["retained_amount"] = (
                    str(retained_amount) if retained_amount is not None else None
                )
                status = "closed"
            elif status == "open":
                status = "acknowledged"
            values["status"] = status
            conn.execute(update(followups).where(followups.c.alert_id == alert_id).values(values))
            self.log_in(conn, alert_id, action, actor, channel, now, outcome, note)
            self._spread_to_case(conn, alert_id, action, actor, channel, now, outcome)
            fresh = conn.execute(select(followups).where(followups.c.alert_id == alert_id)).one()
        return FollowUp.from_row(fresh._mapping)

    def _spread_to_case(
        self,
        conn: Connection,
        alert_id: str,
        action: str,
        actor: str,
        channel: str,
        now: dt.datetime,
        outcome: str | None,
    ) -> None:
        """The other 7-3-1 steps of the alert's case: acknowledged too, and closed with the
        outcome when one was recorded; each change is logged on that step."""
        row = conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).first()
        if row is None:
            return
        closing = outcome if action == "outcome" else None
        for sibling in cases.spread(
            conn, alert_from_row(row._mapping), actor, now, outcome=closing
        ):
            kind = "outcome" if closing else "acknowledge"
            self.log_in(conn, sibling, kind, actor, channel, now, closing)

    def case_closed(self, alert: Alert) -> bool:
        """Whether ``alert`` is a later step of a case an outcome already closed."""
        if cases.case_key(alert) is None:
            return False
        with self.engine.connect() as conn:
            state = cases.case_state(conn, alert)
        return bool(state and state.get("outcome"))
