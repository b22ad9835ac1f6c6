"""What retention work achieved: per rule, per branch and per manager, from the store.

Definitions (the report and its tests use exactly these):

- *alerts*: alerts detected in the period that were opened for follow-up and told
  someone; control-group alerts are counted apart (nobody was told, so nobody could act).
- *acknowledged*: share of alerts with an acknowledgement (any action acknowledges).
- *median time to acknowledge*: from detection to the first action, over acknowledged alerts.
- *precision*: alerts with an outcome other than false alarm / alerts with an outcome.
- *retention rate*: (retained + partly retained) / (retained + partly retained + left).
- *uplift*: retention rate of acted-on alerts minus that of the control group, for rules
  with a ``control_share``; control outcomes are recorded by the back office after the
  observation period (``churnwatch followup outcome``).
- *product cross-holding*: per branch and per relationship manager, the customers the
  bank has a customer record of, and the share of them holding at least 2, 3 and 5
  products now (held: the product's latest event opened, scheduled or renewed it), from
  the customer profiles the drivers keep; a branch head's report counts their branch.
- *derived outcomes*: each alert's outcome as the customer's own later events show it
  (the rule's ``outcome:`` in the pack, ``derived_outcomes`` in the store), for treated
  and control customers alike; the 7-3-1 steps of one maturity count once (one case).
- *derived retention*: (retained + partly retained) / (retained + partly retained + left)
  of the derived outcomes (``unknown`` is left out); the *derived uplift* is the treated
  group's minus the control group's, with Newcombe's 95% interval
  (:func:`churnwatch.followup.uplift.newcombe_interval`) and the two group sizes (the
  cases with a decided outcome in each).
- *outcomes by churn score band*: per band of the customer's churn score at the alert
  (each alert carries it when the pack has a ``score:``), one per case, treated and
  control together, the recorded and the derived outcomes and the share that left, with
  the score's concordance with leaving (:mod:`churnwatch.followup.score.bands`).
- *maturing funds retained* (``maturity-reminder``): per product (its reminders are one
  case), the amount retained (all of it for *retained*, the recorded amount for *partly
  retained*, none for *left*) over the maturing amount of products with such an outcome.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from churnwatch.followup import OUTCOMES
from churnwatch.followup.score.bands import ScoreBands, score_bands
from churnwatch.followup.uplift import Interval, newcombe_interval
from churnwatch.rules import DEFAULT_TIMEZONE
from churnwatch.schemas.profile_views import HoldingCounts, holding_counts
from churnwatch.schemas.tables import alerts, derived_outcomes, followups
from churnwatch.schemas.times import utc_or_none

__all__ = [
    "MAX_REPORT_DAYS",
    "Case",
    "GroupStats",
    "MaturityStats",
    "Report",
    "build_report",
    "load_cases",
]

#: the longest period a report covers, a link's ``?days=`` or ``report --since``: ten years
MAX_REPORT_DAYS = 3660

MATURITY_RULE = "maturity-reminder"
KEPT = ("retained", "partly_retained")
#: what a derived outcome may be (``unknown``: the watch ended undecided)
DERIVED = ("retained", "partly_retained", "left", "unknown")


@dataclass(frozen=True, slots=True)
class Case:
    """One alert and how its follow-up went."""

    alert_id: str
    rule_id: str
    detected_at: dt.datetime
    branch_id: str
    manager_id: str
    is_control: bool
    acknowledged_at: dt.datetime | None
    outcome: str | None
    retained_amount: Decimal | None
    facts: dict[str, object]
    #: the outcome derived from the customer's later events, if decided yet
    derived: str | None = None
    derived_share: Decimal | None = None
    #: the follow-up case it belongs to: the 7-3-1 steps of one maturity are one
    case: str = ""
    customer_id: str = ""
    #: the customer's churn score at the alert, and its band (from, below), if it has one
    score: Decimal | None = None
    band: tuple[Decimal, Decimal | None] | None = None


@dataclass
class GroupStats:
    key: str
    alerts: int = 0
    acknowledged: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    control_alerts: int = 0
    control_outcomes: Counter[str] = field(default_factory=Counter)
    #: derived outcomes, one per case, of the treated and of the control group
    derived: Counter[str] = field(default_factory=Counter)
    control_derived: Counter[str] = field(default_factory=Counter)
    cases: set[str] = field(default_factory=set)

    @property
    def ack_share(self) -> float | None:
        return self.acknowledged / self.alerts if self.alerts else None

    @property
    def median_ack(self) -> dt.timedelta | None:
        if not self.ack_seconds:
            return None
        return dt.timedelta(seconds=statistics.median(self.ack_seconds))

    @property
    def with_outcome(self) -> int:
        return sum(self.outcomes.values())

    @property
    def precision(self) -> float | None:
        total = self.with_outcome
        return (total - self.outcomes["false_alarm"]) / total if total else None

    @staticmethod
    def _retention(outcomes: Counter[str]) -> float | None:
        kept, decided = GroupStats._kept_decided(outcomes)
        return kept / decided if decided else None

    @property
    def retention(self) -> float | None:
        return self._retention(self.outcomes)

    @property
    def control_retention(self) -> float | None:
        return self._retention(self.control_outcomes)

    @property
    def uplift(self) -> float | None:
        acted, control = self.retention, self.control_retention
        return acted - control if acted is not None and control is not None else None

    @staticmethod
    def _kept_decided(outcomes: Counter[str]) -> tuple[int, int]:
        kept = sum(outcomes[o] for o in KEPT)
        return kept, kept + outcomes["left"]

    @property
    def treated_n(self) -> int:
        """Treated cases with a decided derived outcome: the uplift's first group."""
        return self._kept_decided(self.derived)[1]

    @property
    def control_n(self) -> int:
        """Control cases with a decided derived outcome: the uplift's second group."""
        return self._kept_decided(self.control_derived)[1]

    @property
    def derived_retention(self) -> float | None:
        return self._retention(self.derived)

    @property
    def control_derived_retention(self) -> float | None:
        return self._retention(self.control_derived)

    @property
    def derived_uplift(self) -> float | None:
        acted, control = self.derived_retention, self.control_derived_retention
        return acted - control if acted is not None and control is not None else None

    @property
    def derived_interval(self) -> Interval | None:
        """Newcombe's 95% interval of :attr:`derived_uplift` (None without both groups)."""
        kept, decided = self._kept_decided(self.derived)
        control_kept, control_decided = self._kept_decided(self.control_derived)
        if not decided or not control_decided:
            return None
        return newcombe_interval(kept, decided, control_kept, control_decided)

    def add(self, case: Case) -> None:
        if case.derived is not None and case.case not in self.cases:
            self.cases.add(case.case)
            (self.control_derived if case.is_control else self.derived)[case.derived] += 1
        if case.is_control:
            self.control_alerts += 1
            if case.outcome:
                self.control_outcomes[case.outcome] += 1
            return
        self.alerts += 1
        if case.acknowledged_at is not None:
            self.acknowledged += 1
            self.ack_seconds.append((case.acknowledged_at - case.detected_at).total_seconds())
        if case.outcome:
            self.outcomes[case.outcome] += 1


@dataclass(frozen=True, slots=True)
class MaturityStats:
    products: int
    products_with_outcome: int
    maturing_amount: Decimal
    retained_amount: Decimal

    @property
    def share(self) -> float | None:
        return float(self.retained_amount / self.maturing_amount) if self.maturing_amount else None


@dataclass(frozen=True, slots=True)
class Report:
    since: dt.datetime
    until: dt.datetime
    timezone: str
    by_rule: list[GroupStats]
    by_branch: list[GroupStats]
    by_manager: list[GroupStats]
    maturity: MaturityStats
    #: local day -> rule -> (alerts, acknowledged), acted-on alerts only
    per_day: dict[dt.date, dict[str, tuple[int, int]]]
    #: "branch" / "manager" -> product cross-holding now (not over the period)
    holdings: dict[str, list[HoldingCounts]] = field(default_factory=dict)
    #: outcomes by churn score band
    score_bands: ScoreBands = field(default_factory=lambda: ScoreBands([]))


def load_cases(engine: Engine, since: dt.datetime, until: dt.datetime) -> list[Case]:
    query = (
        select(
            alerts.c.alert_id,
            alerts.c.rule_id,
            alerts.c.detected_at,
            alerts.c.facts,
            followups.c.branch_id,
            followups.c.manager_id,
            followups.c.is_control,
            followups.c.acknowledged_at,
            followups.c.outcome,
            followups.c.retained_amount,
            alerts.c.customer_id,
            alerts.c.trigger_event_ids,
            alerts.c.score,
            derived_outcomes.c.outcome.label("derived"),
            derived_outcomes.c.share.label("derived_share"),
        )
        .select_from(
            alerts.join(followups, followups.c.alert_id == alerts.c.alert_id).outerjoin(
                derived_outcomes, derived_outcomes.c.alert_id == alerts.c.alert_id
            )
        )
        .where(
            alerts.c.detected_at >= since.astimezone(dt.UTC),
            alerts.c.detected_at < until.astimezone(dt.UTC),
        )
        .order_by(alerts.c.detected_at, alerts.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        Case(
            alert_id=r.alert_id,
            rule_id=r.rule_id,
            detected_at=utc_or_none(r.detected_at),  # type: ignore[arg-type]
            branch_id=r.branch_id or "-",
            manager_id=r.manager_id or "-",
            is_control=bool(r.is_control),
            acknowledged_at=utc_or_none(r.acknowledged_at),
            outcome=r.outcome if r.outcome in OUTCOMES else None,
            retained_amount=Decimal(r.retained_amount) if r.retained_amount else None,
            facts=dict(r.facts),
            derived=r.derived if r.derived in DERIVED else None,
            derived_share=Decimal(r.derived_share) if r.derived_share else None,
            case=_case_of(r.alert_id, r.rule_id, r.customer_id, r.facts, r.trigger_event_ids),
            customer_id=r.customer_id,
            **_score_of(r.score),
        )
        for r in rows
    ]


def _score_of(stored: Any) -> dict[str, Any]:
    """The score and band of an alert's stored score (JSON), when it has a readable one."""
    if not isinstance(stored, dict):
        return {}
    try:
        high = stored.get("band_to")
        return {
            "score": Decimal(str(stored["points"])),
            "band": (
                Decimal(str(stored["band_from"])),
                None if high is None else Decimal(str(high)),
            ),
        }
    except (KeyError, ArithmeticError, ValueError):
        return {}


def _case_of(
    alert_id: str, rule_id: str, customer_id: str, facts: dict[str, object], triggers: list[str]
) -> str:
    """A schedule's steps share their case (rule, customer, scheduling event), as
    churnwatch.followup.cases has it; any other alert is a case of its own."""
    if "step" in facts and triggers:
        return "\x1f".join((rule_id, customer_id, triggers[0]))
    return alert_id


def _group(cases: Iterable[Case], key: str) -> list[GroupStats]:
    groups: dict[str, GroupStats] = {}
    for case in cases:
        name = str(getattr(case, key))
        groups.setdefault(name, GroupStats(name)).add(case)
    return [groups[k] for k in sorted(groups)]


def _maturity(cases: Iterable[Case]) -> MaturityStats:
    """One case per product: the latest decided outcome among its reminders wins."""
    amounts: dict[str, Decimal] = {}
    decided: dict[str, Case] = {}
    for case in cases:
        if case.rule_id != MATURITY_RULE or case.is_control:
            continue
        product = str(case.facts.get("product_id") or case.alert_id)
        amount = case.facts.get("amount")
        if amount is not None:
            amounts[product] = Decimal(str(amount))
        if case.outcome in (*KEPT, "left"):
            decided[product] = case
    maturing = retained = Decimal(0)
    for product, case in decided.items():
        amount = amounts.get(product)
        if amount is None:
            continue
        maturing += amount
        if case.outcome == "retained":
            retained += amount
        elif case.outcome == "partly_retained":
            retained += min(case.retained_amount or Decimal(0), amount)
    return MaturityStats(len(amounts), len(decided), maturing, retained)


def build_report(
    engine: Engine,
    since: dt.datetime,
    until: dt.datetime,
    timezone: str = DEFAULT_TIMEZONE,
    *,
    branch_id: str | None = None,
) -> Report:
    """The report over the whole bank, or over one branch's alerts (a branch head's)."""
    cases = load_cases(engine, since, until)
    if branch_id is not None:
        cases = [c for c in cases if c.branch_id == branch_id]
    zone = ZoneInfo(timezone)
    per_day: dict[dt.date, dict[str, tuple[int, int]]] = defaultdict(dict)
    for case in cases:
        if case.is_control:
            continue
        day = case.detected_at.astimezone(zone).date()
        count, acked = per_day[day].get(case.rule_id, (0, 0))
        per_day[day][case.rule_id] = (count + 1, acked + (case.acknowledged_at is not None))
    return Report(
        since=since,
        until=until,
        timezone=timezone,
        by_rule=_group(cases, "rule_id"),
        by_branch=_group(cases, "branch_id"),
        by_manager=_group(cases, "manager_id"),
        maturity=_maturity(cases),
        per_day=dict(sorted(per_day.items())),
        holdings={
            "branch": holding_counts(engine, "branch_id", branch_id=branch_id),
            "manager": holding_counts(engine, "manager_id", branch_id=branch_id),
        },
        score_bands=score_bands(cases),
    )
