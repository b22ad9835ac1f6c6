"""Shadow rules against the rules in force, from the alert store (``churnwatch rules compare``).

A rule in ``mode: shadow`` runs on live events (worker) and in replay beside the rule it
``shadows``; its alerts are stored, marked as shadow, and told to nobody. Before
promoting it (changing ``mode`` to ``live``), compliance read, for a period:

- how many alerts and customers each side caught, and how many customers both did;
- the customers only one of them caught (what promotion would add and drop);
- precision against the outcomes managers recorded, per customer: the latest outcome
  recorded on any follow-up of the customer in the period. A shadow alert has no
  follow-up of its own, so both sides are judged by the same customer outcomes, and a
  side's precision counts only its customers with an outcome (``judged``).

Shadow alerts are told apart by their rule (a rule in shadow mode in the pack given);
the ``shadow`` mark they carry is on the alert itself (alerts topic, ``--alerts-out``),
not yet a column of the store.

The period selects alerts by ``occurred_at`` (the triggering event's time), so a replay
of past events compares the days it covers, not the day it ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, select

from churnwatch.schemas.tables import alerts, followups

__all__ = ["Comparison", "Side", "compare_shadows", "customer_outcomes", "render_comparisons"]

#: outcomes that say the alert was right to warn (the customer was at risk)
CHURN_RISK = ("retained", "partly_retained", "left")
FALSE_ALARM = "false_alarm"
#: customers listed per "only one caught" line, at most
LISTED = 10


@dataclass(frozen=True, slots=True)
class Side:
    """One rule's alerts in the period, and how they fared against recorded outcomes."""

    rule_id: str
    alerts: int
    customers: frozenset[str]
    #: customers of this side with a recorded outcome
    judged: int
    #: share of judged customers whose outcome was not a false alarm
    precision: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """A shadow rule beside the rule it shadows (None when it names none)."""

    shadow: Side
    in_force: Side | None

    @property
    def both(self) -> frozenset[str]:
        return self.shadow.customers & (self.in_force.customers if self.in_force else frozenset())

    @property
    def only_shadow(self) -> frozenset[str]:
        return self.shadow.customers - self.both

    @property
    def only_in_force(self) -> frozenset[str]:
        return self.in_force.customers - self.both if self.in_force else frozenset()


def compare_shadows(
    engine: Engine,
    pairs: Mapping[str, str | None],
    since: dt.datetime,
    until: dt.datetime,
) -> list[Comparison]:
    """One comparison per shadow rule id in ``pairs`` (shadow id -> the id it shadows)."""
    wanted = set(pairs) | {rid for rid in pairs.values() if rid is not None}
    query = select(alerts.c.rule_id, alerts.c.customer_id).where(
        alerts.c.rule_id.in_(sorted(wanted)),
        alerts.c.occurred_at >= since.astimezone(dt.UTC),
        alerts.c.occurred_at < until.astimezone(dt.UTC),
    )
    counts: dict[tuple[str, bool], int] = {}
    customers: dict[tuple[str, bool], set[str]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            key = (row.rule_id, row.rule_id in pairs)
            counts[key] = counts.get(key, 0) + 1
            customers.setdefault(key, set()).add(row.customer_id)
    outcomes = customer_outcomes(engine, since, until)

    def side(rule_id: str, shadow: bool) -> Side:
        who = frozenset(customers.get((rule_id, shadow), ()))
        return _judge(rule_id, counts.get((rule_id, shadow), 0), who, outcomes)

    return [
        Comparison(side(rid, True), side(target, False) if target is not None else None)
        for rid, target in sorted(pairs.items())
    ]


def customer_outcomes(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[str, str]:
    """Each customer's latest recorded outcome on a follow-up of an alert in the period."""
    query = (
        select(alerts.c.customer_id, followups.c.outcome)
        .select_from(alerts.join(followups, followups.c.alert_id == alerts.c.alert_id))
        .where(
            followups.c.outcome.is_not(None),
            alerts.c.occurred_at >= since.astimezone(dt.UTC),
            alerts.c.occurred_at < until.astimezone(dt.UTC),
        )
        .order_by(followups.c.outcome_at, alerts.c.id)
    )
    with engine.connect() as conn:
        return {row.customer_id: row.outcome for row in conn.execute(query)}


def _judge(rule_id: str, count: int, who: frozenset[str], outcomes: Mapping[str, str]) -> Side:
    known = [outcomes[c] for c in who if c in outcomes]
    right = sum(o in CHURN_RISK for o in known)
    decided = right + sum(o == FALSE_ALARM for o in known)
    return Side(rule_id, count, who, decided, right / decided if decided else None)


def render_comparisons(comparisons: Iterable[Comparison], since: dt.date, until: dt.date) -> str:
    """The comparison as text lines, for the terminal or a change request."""
    out = [f"Shadow rules against the rules in force, alerts of {since} .. {until}"]
    listed = list(comparisons)
    if not listed:
        out.append("No rule in shadow mode.")
    for c in listed:
        out.append("")
        in_force = c.in_force
        out.append(f"{c.shadow.rule_id} (shadow) vs {in_force.rule_id if in_force else '-'}")
        out.append(f"  {'':<22}{'shadow':>10}{'in force':>10}")
        rows = [
            ("alerts", c.shadow.alerts, in_force.alerts if in_force else None),
            ("customers", len(c.shadow.customers), len(in_force.customers) if in_force else None),
            ("with an outcome", c.shadow.judged, in_force.judged if in_force else None),
        ]
        for label, a, b in rows:
            out.append(f"  {label:<22}{a:>10}{'-' if b is None else b:>10}")
        out.append(
            f"  {'precision':<22}{_share(c.shadow.precision):>10}"
            f"{_share(in_force.precision) if in_force else '-':>10}"
        )
        out.append(f"  customers both caught: {len(c.both)}")
        out.append(f"  only the shadow caught: {len(c.only_shadow)}{_names(c.only_shadow)}")
        out.append(
            f"  only the rule in force caught: {len(c.only_in_force)}{_names(c.only_in_force)}"
        )
    return "\n".join(out) + "\n"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _names(customers: frozenset[str]) -> str:
    if not customers:
        return ""
    shown = sorted(customers)[:LISTED]
    more = f" and {len(customers) - LISTED} more" if len(customers) > LISTED else ""
    return " (" + ", ".join(shown) + more + ")"
