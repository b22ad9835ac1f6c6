"""Escalation: an alert nobody acknowledged goes to the branch head, then to an executive.

The timer is a column in the store (``followups.next_escalation_at``), never memory, so a
restart loses nothing and repeats nothing. A run does two steps:

1. *claim*: for each due, unacknowledged follow-up, one conditional UPDATE moves it to
   the next level (``WHERE escalation_level = <seen level> AND acknowledged_at IS NULL``)
   and records the new assignees with ``notified_at`` empty, in one transaction. Two
   runners, or a run racing an acknowledgement, cannot both win.
2. *notify*: every escalation assignee not yet notified is handed to ``notify`` and then
   marked notified. A crash between the two re-notifies on the next run; the outbox's
   unique (alert, audience, recipient, channel) key makes that a no-op, so a message goes
   out once as far as the store can know.

Configuration is the ``escalation:`` section of ``rules/pack/routing.yaml`` (defaults when
absent)::

    escalation:
      severities: [high, critical]
      steps:
        - {audience: branch_head, after: 4h}
        - {audience: executive, after: 4h}     # counted from the previous step
      business_hours: {timezone: Asia/Shanghai, start: "09:00", end: "18:00",
                       weekdays: [mon, tue, wed, thu, fri], holidays: [2026-10-01],
                       workdays: [2026-10-10]}      # 调休: a Saturday worked
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import and_, func, select, update

from churnwatch.exceptions import ChurnwatchError
from churnwatch.followup.businesstime import BusinessHours
from churnwatch.followup.exceptions import FollowUpError
from churnwatch.followup.staff import StaffRecord
from churnwatch.followup.store import FollowUpStore
from churnwatch.rules.durations import parse_duration
from churnwatch.rules.state import CustomerProfile
from churnwatch.rules.yamlfile import YamlSyntaxError, load_yaml, plain
from churnwatch.schemas.models import Alert
from churnwatch.schemas.tables import followup_assignees, followups
from churnwatch.schemas.times import utc

__all__ = [
    "EscalationPolicy",
    "EscalationStep",
    "Escalator",
    "Notify",
    "load_policy",
]

log = logging.getLogger("churnwatch.followup")
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class Notify(Protocol):
    """Hands one message about ``alert`` to the dispatcher (the lead wires the outbox)."""

    def __call__(self, alert: Alert, audience: str, staff_id: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class EscalationStep:
    audience: str
    after: dt.timedelta


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    severities: frozenset[str] = frozenset({"high", "critical"})
    steps: tuple[EscalationStep, ...] = (
        EscalationStep("branch_head", dt.timedelta(hours=4)),
        EscalationStep("executive", dt.timedelta(hours=4)),
    )
    hours: BusinessHours = field(default_factory=BusinessHours)

    def first_due(self, alert: Alert, opened_at: dt.datetime) -> dt.datetime | None:
        if alert.severity not in self.severities or not self.steps:
            return None
        return self.hours.add(opened_at, self.steps[0].after)


def _time(text: Any) -> dt.time:
    return dt.time.fromisoformat(str(text))


def _duration(value: Any) -> dt.timedelta:
    return dt.timedelta(seconds=parse_duration(value))


def policy_from_data(data: dict[str, Any] | None) -> EscalationPolicy:
    """A policy from the ``escalation:`` mapping; anything left out keeps its default."""
    if not data:
        return EscalationPolicy()
    default = EscalationPolicy()
    hours_data = data.get("business_hours") or {}
    hours = BusinessHours(
        timezone=str(hours_data.get("timezone", default.hours.timezone)),
        start=_time(hours_data.get("start", default.hours.start)),
        end=_time(hours_data.get("end", default.hours.end)),
        weekdays=frozenset(_DAYS[str(d).lower()[:3]] for d in hours_data.get("weekdays", []))
        or default.hours.weekdays,
        holidays=frozenset(dt.date.fromisoformat(str(d)) for d in hours_data.get("holidays", [])),
        workdays=frozenset(dt.date.fromisoformat(str(d)) for d in hours_data.get("workdays", [])),
    )
    steps = (
        tuple(
            EscalationStep(str(s["audience"]), _duration(s["after"])) for s in data.get("steps", [])
        )
        or default.steps
    )
    severities = frozenset(str(s) for s in data.get("severities", default.severities))
    return EscalationPolicy(severities=severities, steps=steps, hours=hours)


def load_policy(routing_file: Path) -> EscalationPolicy:
    """The policy in ``routing_file``'s ``escalation:`` section; defaults when either is absent."""
    if not routing_file.exists():
        return EscalationPolicy()
    try:
        data = plain(load_yaml(routing_file).data) or {}
        return policy_from_data(data.get("escalation"))
    except (ChurnwatchError, YamlSyntaxError, KeyError, TypeError, ValueError) as exc:
        raise FollowUpError(f"{routing_file}: bad escalation section: {exc}") from exc


class Escalator:
    """Opens follow-ups with their first timer, and fires the timers that are due."""

    def __init__(
        self,
        store: FollowUpStore,
        policy: EscalationPolicy,
        notify: Notify,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.policy = policy
        self.notify = notify
        self.clock = clock

    def open(
        self,
        alert: Alert,
        customer: CustomerProfile | None,
        assignees: Sequence[tuple[str, str]],
        *,
        control: bool = False,
    ) -> bool:
        """Open the follow-up of a routed alert, with its escalation timer when it has one."""
        now = self.clock()
        return self.store.open(
            alert,
            customer,
            assignees,
            now,
            control=control,
            next_escalation_at=self.policy.first_due(alert, now),
        )

    def _targets(self, audience: str, branch_id: str) -> list[StaffRecord]:
        if audience == "branch_head":
            return self.store.staff_with_role("branch_head", branch_id)
        if audience == "executive":
            return self.store.staff_with_role("executive", branch_id) or self.store.staff_with_role(
                "executive"
            )
        return []

    def run_due(self) -> int:
        """Claim every due escalation, then notify; returns how many levels were claimed."""
        now = utc(self.clock())
        with self.store.engine.connect() as conn:
            due = conn.execute(
                select(
                    followups.c.alert_id, followups.c.escalation_level, followups.c.branch_id
                ).where(
                    followups.c.acknowledged_at.is_(None),
                    followups.c.next_escalation_at.is_not(None),
                    followups.c.next_escalation_at <= now,
                )
            ).all()
        claimed = sum(self._claim(r.alert_id, r.escalation_level, r.branch_id, now) for r in due)
        self.notify_pending()
        return claimed

    def oldest_due(self) -> dt.datetime | None:
        """When the longest-waiting due escalation fell due; None when none is due. The
        worker reports its age, so escalations that stop running raise an alert."""
        now = utc(self.clock())
        with self.store.engine.connect() as conn:
            value = conn.execute(
                select(func.min(followups.c.next_escalation_at)).where(
                    followups.c.acknowledged_at.is_(None),
                    followups.c.next_escalation_at <= now,
                )
            ).scalar()
        return utc(value) if value is not None else None

    def _claim(self, alert_id: str, level: int, branch_id: str, now: dt.datetime) -> bool:
        if level >= len(self.policy.steps):
            return False
        step = self.policy.steps[level]
        following = level + 1
        next_at = (
            utc(self.policy.hours.add(now, self.policy.steps[following].after))
            if following < len(self.policy.steps)
            else None
        )
        targets = self._targets(step.audience, branch_id)
        with self.store.engine.begin() as conn:
            won = conn.execute(
                update(followups)
                .where(
                    followups.c.alert_id == alert_id,
                    followups.c.escalation_level == level,
                    followups.c.acknowledged_at.is_(None),
                )
                .values(escalation_level=following, next_escalation_at=next_at, updated_at=now)
            ).rowcount
            if not won:
                return False
            for staff in targets:
                self.store.assign_in(
                    conn, alert_id, staff.staff_id, step.audience, "escalated", now, None
                )
            note = ", ".join(s.staff_id for s in targets) or f"no active {step.audience} found"
            self.store.log_in(conn, alert_id, "escalated", "system", "system", now, note=note)
        if not targets:
            log.warning("escalation of %s: no active %s to tell", alert_id, step.audience)
        return True

    def notify_pending(self) -> int:
        """Hand every escalation not yet notified to ``notify``; mark each one after."""
        with self.store.engine.connect() as conn:
            pending = conn.execute(
                select(followup_assignees)
                .where(
                    followup_assignees.c.reason == "escalated",
                    followup_assignees.c.notified_at.is_(None),
                )
                .order_by(followup_assignees.c.assigned_at)
            ).all()
        sent = 0
        for row in pending:
            alert = self.store.alert(row.alert_id)
            if alert is None:
                continue
            self.notify(alert, row.audience, row.staff_id, "escalated: not acknowledged")
            with self.store.engine.begin() as conn:
                conn.execute(
                    update(followup_assignees)
                    .where(
                        and_(
                            followup_assignees.c.alert_id == row.alert_id,
                            followup_assignees.c.staff_id == row.staff_id,
                        )
                    )
                    .values(notified_at=utc(self.clock()))
                )
            sent += 1
        return sent
