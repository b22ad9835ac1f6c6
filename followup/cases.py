"""Follow-up cases: the 7-3-1 steps of one maturity are one case, not three alerts.

A scheduled rule (``schedule:`` in the rule pack, e.g. ``maturity-reminder``) fires one
alert per step: T-7 the customer's SMS, T-3 the manager's call, T-1 the confirmation.
For the manager they are one piece of work about one maturity: acknowledging any step
acknowledges the whole case, and a recorded outcome (retained, left, ...) closes it, so
a step that fires afterwards is recorded but neither delivered nor escalated.

The steps of one case share their rule, their customer and the event that scheduled
them (``trigger_event_ids[0]``; every step's facts carry ``step``). No column is needed:
a customer has few alerts of one rule, so the case is found by reading them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, select, update

from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import alert_from_row
from churnwatch.schemas.tables import alerts, followups
from churnwatch.schemas.times import utc

__all__ = ["case_key", "sibling_ids", "spread"]


def case_key(alert: Alert) -> tuple[str, str, str] | None:
    """(rule, customer, scheduling event) for a step of a schedule; None for other alerts."""
    if "step" not in alert.facts or not alert.trigger_event_ids:
        return None
    return (alert.rule_id, alert.customer_id, alert.trigger_event_ids[0])


def sibling_ids(conn: Connection, alert: Alert) -> list[str]:
    """The other stored alerts of ``alert``'s case, oldest first (empty for a lone alert)."""
    key = case_key(alert)
    if key is None:
        return []
    rows = conn.execute(
        select(alerts)
        .where(alerts.c.rule_id == alert.rule_id, alerts.c.customer_id == alert.customer_id)
        .order_by(alerts.c.occurred_at, alerts.c.id)
    ).all()
    found = (alert_from_row(r._mapping) for r in rows)
    return [a.alert_id for a in found if a.alert_id != alert.alert_id and case_key(a) == key]


def case_state(conn: Connection, alert: Alert) -> dict[str, Any] | None:
    """What the case already knows when a new step opens: its first acknowledgement and
    its outcome, from the sibling steps' follow-ups; None when nothing was done yet."""
    ids = sibling_ids(conn, alert)
    if not ids:
        return None
    rows = conn.execute(select(followups).where(followups.c.alert_id.in_(ids))).all()
    acked = [r for r in rows if r.acknowledged_at is not None]
    closed = [r for r in rows if r.outcome is not None]
    if not acked and not closed:
        return None
    state: dict[str, Any] = {}
    if acked:
        first = min(acked, key=lambda r: utc(r.acknowledged_at))
        state.update(acknowledged_at=first.acknowledged_at, acknowledged_by=first.acknowledged_by)
    if closed:
        done = closed[0]
        state.update(
            status="closed",
            outcome=done.outcome,
            outcome_at=done.outcome_at,
            outcome_by=done.outcome_by,
        )
    elif acked:
        state["status"] = "acknowledged"
    return state


def spread(
    conn: Connection,
    alert: Alert,
    actor: str,
    now: dt.datetime,
    *,
    outcome: str | None = None,
) -> list[str]:
    """After an action on ``alert``: its case's other steps are acknowledged (and closed
    with the outcome, when one was recorded); their escalation timers stop. Returns the
    ids of the follow-ups changed, for the caller to log."""
    changed: list[str] = []
    for sibling in sibling_ids(conn, alert):
        row = conn.execute(select(followups).where(followups.c.alert_id == sibling)).first()
        if row is None:
            continue
        values: dict[str, Any] = {"next_escalation_at": None, "updated_at": now}
        if row.acknowledged_at is None:
            values.update(acknowledged_at=now, acknowledged_by=actor)
            if row.status == "open":
                values["status"] = "acknowledged"
        if outcome is not None and row.outcome is None:
            values.update(status="closed", outcome=outcome, outcome_at=now, outcome_by=actor)
        if len(values) > 2 or row.next_escalation_at is not None:
            conn.execute(update(followups).where(followups.c.alert_id == sibling).values(values))
            changed.append(sibling)
    return changed
