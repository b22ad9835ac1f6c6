"""Building the morning lists: what each relationship manager's day holds, from the store.

What a list holds, and why, is told in :mod:`churnwatch.followup.morning`; this module
reads the store and builds the lists, and records and sends nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, select

from churnwatch.followup import cases
from churnwatch.followup.morning.config import MorningConfig, list_time
from churnwatch.followup.staff import StaffRecord
from churnwatch.followup.store import FollowUpStore
from churnwatch.rules.loader import RuleSet
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import ProductEvent
from churnwatch.schemas.store import alert_from_row
from churnwatch.schemas.tables import (
    alerts,
    customer_products,
    customer_profiles,
    followup_assignees,
    followups,
    morning_lists,
)
from churnwatch.schemas.times import utc

__all__ = ["MorningList", "build_lists", "listed_rules"]

_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def listed_rules(ruleset: RuleSet) -> frozenset[str]:
    """Rules whose hits go on the morning list rather than out as alerts."""
    return frozenset(r.id for r in ruleset.rules if r.spec.delivery == "morning_list")


@dataclass
class MorningList:
    """One manager's list of one day. Items are plain data: they are stored as they are."""

    staff: StaffRecord
    day: dt.date
    steps: list[dict[str, Any]] = field(default_factory=list)
    unacknowledged: list[dict[str, Any]] = field(default_factory=list)
    due: list[dict[str, Any]] = field(default_factory=list)
    inflows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.steps or self.unacknowledged or self.due or self.inflows)

    def items(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "steps": self.steps,
            "unacknowledged": self.unacknowledged,
            "due": self.due,
            "inflows": self.inflows,
        }


def build_lists(
    engine: Engine,
    ruleset: RuleSet,
    config: MorningConfig,
    day: dt.date,
    staff_ids: Sequence[str] | None = None,
) -> list[MorningList]:
    """Every active relationship manager's list for ``day`` (empty ones included)."""
    store = FollowUpStore(engine)
    managers = [
        s
        for s in store.staff_with_role("relationship_manager")
        if staff_ids is None or s.staff_id in staff_ids
    ]
    lists = {s.staff_id: MorningList(s, day) for s in managers}
    if not lists:
        return []
    cutoff = list_time(config, day)
    first_day = config.calendar.previous_business_day(day) + dt.timedelta(days=1)
    for staff_id, item in _steps(engine, ruleset, config, first_day, day):
        if staff_id in lists:
            lists[staff_id].steps.append(item)
    _open_alerts(engine, lists, config, cutoff, listed_rules(ruleset))
    _inflows(engine, lists, config, day, cutoff, listed_rules(ruleset))
    for each in lists.values():
        each.steps.sort(key=lambda i: (i["on"], i["maturity_date"], i["customer_id"]))
        # a step on today's list is not listed again as its own unacknowledged alert
        listed_steps = {_maturity_key(i) for i in each.steps}
        each.unacknowledged = [
            i for i in each.unacknowledged if _maturity_key(i) not in listed_steps
        ]
    return [lists[s.staff_id] for s in managers]


def _when(alert: Any) -> dt.datetime:
    """When the alert's moment was: a schedule step's own time, else its event's."""
    due = alert.facts.get("due_at")
    if isinstance(due, str):
        try:
            return utc(dt.datetime.fromisoformat(due))
        except ValueError:
            pass
    return utc(alert.occurred_at)


def _maturity_key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item["rule_id"], item["customer_id"], item.get("product_id"), item.get("maturity_date"))


def _profile(row: Any) -> CustomerProfile:
    return CustomerProfile(
        customer_id=row.customer_id,
        name=row.name or "",
        phone=row.phone or "",
        language=row.language or "zh-CN",
        aum=Decimal(row.aum or 0),
        tier=row.tier or "",
        branch_id=row.branch_id or "",
        manager_id=row.manager_id or "",
        sms_opt_in=False,
    )


def _steps(
    engine: Engine, ruleset: RuleSet, config: MorningConfig, first: dt.date, last: dt.date
) -> Iterable[tuple[str, dict[str, Any]]]:
    """(manager, step) for each 7-3-1 step from ``first`` to ``last`` of a held product."""
    zone = config.zone
    for rule in ruleset.rules:
        block = rule.block
        if rule.spec.mode != "live" or getattr(block, "date_field", None) != "maturity_date":
            continue
        match = rule.match_by_type.get("product", rule.match)
        wanted: dict[dt.date, list[tuple[str, dt.date]]] = {}
        for step in block.steps:  # type: ignore[attr-defined]
            day = first
            while day <= last:
                at = dt.datetime.combine(day, step.at, zone) + dt.timedelta(seconds=step.before)
                wanted.setdefault(at.date(), []).append((step.name, day))
                day += dt.timedelta(days=1)
        p, h = customer_profiles.c, customer_products.c
        query = (
            select(customer_products, p.name, p.phone, p.language, p.aum, p.tier, p.branch_id)
            .add_columns(p.manager_id)
            .select_from(customer_products.join(customer_profiles, p.customer_id == h.customer_id))
            .where(h.held.is_(True), h.maturity_date.in_(sorted(wanted)))
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
            closed = _closed_cases(conn, rule.id, {r.customer_id for r in rows})
        for row in rows:
            event = ProductEvent(
                event_id="morning-list",
                occurred_at=dt.datetime.now(dt.UTC),
                customer_id=row.customer_id,
                account_id=row.account_id or "-",
                product_id=row.product_id,
                product_kind=row.kind,
                action=row.last_action,
                amount=Decimal(row.amount) if row.amount else None,
                maturity_date=row.maturity_date,
                currency=row.currency,
            )
            if not match(event, _profile(row)):
                continue
            if (row.customer_id, row.product_id, row.maturity_date.isoformat()) in closed:
                continue
            for step_name, on in wanted.get(row.maturity_date, []):
                yield (
                    row.manager_id or "",
                    {
                        "rule_id": rule.id,
                        "step": step_name,
                        "on": on.isoformat(),
                        "customer_id": row.customer_id,
                        "customer_name": row.name or row.customer_id,
                        "product_id": row.product_id,
                        "product_kind": row.kind,
                        "amount": row.amount,
                        "maturity_date": row.maturity_date.isoformat(),
                    },
                )


def _closed_cases(conn: Any, rule_id: str, customers: set[str]) -> set[tuple[str, str, str]]:
    """(customer, product, maturity date) of this rule's cases closed with an outcome."""
    if not customers:
        return set()
    rows = conn.execute(
        select(alerts.c.customer_id, alerts.c.facts)
        .select_from(alerts.join(followups, followups.c.alert_id == alerts.c.alert_id))
        .where(
            alerts.c.rule_id == rule_id,
            alerts.c.customer_id.in_(sorted(customers)),
            followups.c.outcome.is_not(None),
        )
    ).all()
    return {
        (r.customer_id, str(r.facts.get("product_id")), str(r.facts.get("maturity_date")))
        for r in rows
    }


def _open_alerts(
    engine: Engine,
    lists: dict[str, MorningList],
    config: MorningConfig,
    cutoff: dt.datetime,
    listed: frozenset[str],
) -> None:
    """Unacknowledged alerts and follow-ups due, of events before ``cutoff``, routed to
    each manager."""
    f, a = followups.c, followup_assignees.c
    query = (
        select(alerts, a.staff_id, f.customer_name, f.acknowledged_at)
        .select_from(
            alerts.join(followups, f.alert_id == alerts.c.alert_id).join(
                followup_assignees, a.alert_id == alerts.c.alert_id
            )
        )
        .where(
            a.staff_id.in_(sorted(lists)),
            f.status != "closed",
            f.is_control.is_(False),
            alerts.c.occurred_at < cutoff,
        )
        .order_by(alerts.c.occurred_at, alerts.c.id)
    )
    if listed:
        query = query.where(alerts.c.rule_id.not_in(sorted(listed)))
    seen: dict[tuple[str, Any], dict[str, Any]] = {}
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        alert = alert_from_row(row._mapping)
        acknowledged = row.acknowledged_at
        if acknowledged is not None and utc(acknowledged) + config.outcome_due > cutoff:
            continue  # being worked on, the outcome not yet due
        kind = "unacknowledged" if acknowledged is None else "due"
        item = {
            "alert_id": alert.alert_id,
            "rule_id": alert.rule_id,
            "severity": alert.severity,
            "customer_id": alert.customer_id,
            "customer_name": row.customer_name or alert.customer_id,
            "occurred_at": _when(alert).isoformat(),
            "step": alert.facts.get("step"),
            "product_id": alert.facts.get("product_id"),
            "maturity_date": alert.facts.get("maturity_date"),
            "kind": kind,
        }
        # the 7-3-1 steps of one maturity are one case: its latest step stands for it
        seen[(row.staff_id, cases.case_key(alert) or alert.alert_id)] = item
    for (staff_id, _), item in seen.items():
        section = (
            lists[staff_id].unacknowledged
            if item["kind"] == "unacknowledged"
            else lists[staff_id].due
        )
        section.append(item)
    for each in lists.values():
        each.unacknowledged.sort(
            key=lambda i: (_SEVERITY_ORDER.get(i["severity"], 9), i["occurred_at"])
        )
        each.due.sort(key=lambda i: i["occurred_at"])


def _inflows(
    engine: Engine,
    lists: dict[str, MorningList],
    config: MorningConfig,
    day: dt.date,
    cutoff: dt.datetime,
    listed: frozenset[str],
) -> None:
    """Hits of the morning-list rules on each manager's customers, not listed before."""
    if not listed:
        return
    since = cutoff - config.inflow_lookback
    p = customer_profiles.c
    query = (
        select(alerts, p.manager_id, p.name.label("customer_name"))
        .select_from(alerts.join(customer_profiles, p.customer_id == alerts.c.customer_id))
        .where(
            alerts.c.rule_id.in_(sorted(listed)),
            alerts.c.occurred_at >= since,
            alerts.c.occurred_at < cutoff,
            p.manager_id.in_(sorted(lists)),
        )
        .order_by(alerts.c.occurred_at, alerts.c.id)
    )
    earlier = select(morning_lists.c.staff_id, morning_lists.c.entries).where(
        and_(
            morning_lists.c.staff_id.in_(sorted(lists)),
            morning_lists.c.list_date < day,
            morning_lists.c.list_date >= (since - dt.timedelta(days=1)).date(),
        )
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        before = conn.execute(earlier).all()
    named = {
        (r.staff_id, i["alert_id"]) for r in before for i in (r.entries or {}).get("inflows", [])
    }
    had_lists = {r.staff_id for r in before}
    # a manager's first list reaches back to the previous business day's list time only
    first_since = list_time(config, config.calendar.previous_business_day(day))
    for row in rows:
        alert = alert_from_row(row._mapping)
        if (row.manager_id, alert.alert_id) in named:
            continue
        if row.manager_id not in had_lists and utc(alert.occurred_at) < first_since:
            continue
        lists[row.manager_id].inflows.append(
            {
                "alert_id": alert.alert_id,
                "rule_id": alert.rule_id,
                "customer_id": alert.customer_id,
                "customer_name": row.customer_name or alert.customer_id,
                "amount": alert.facts.get("amount"),
                "counterparty_bank": alert.facts.get("counterparty_bank"),
                "occurred_at": utc(alert.occurred_at).isoformat(),
            }
        )
