"""Deriving each alert's outcome from the customer's own later events.

Recorded outcomes come from managers, and nobody records one for a customer in a control
group, whom no manager was told about: the uplift then has nothing to compare. So each
rule may say, in the pack (``outcome:``, owned by compliance), what the customer's later
events mean: the maturing amount renewed or reinvested here within 7 days of maturity is
*retained* (with the share kept), the money moved out is *left*, a balance back to half
its peak within 30 days is *retained*.

When an alert is raised, the engine opens a :class:`~churnwatch.rules.state.Watch` in the
customer's state — for treated and control customers alike, since the engine does not
know who will be told. Every later event of the customer within the watch is measured
against the rule's definition (:meth:`OutcomeRule.observe`); the first decision closes
the watch. A watch nothing decided closes at its end, an event-time timer like any
other (:meth:`OutcomeRule.expire`). Both drivers run this through the engine, so replay
and the worker derive the same outcomes, and the store keeps an alert's first.

State stays bounded: a watch lasts at most :data:`MAX_WITHIN` and a customer holds at
most :data:`MAX_WATCHES` (past that the oldest closes as *unknown*).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from churnwatch.rules.durations import EPOCH, MICROS_PER_SECOND, micros
from churnwatch.rules.expressions import CompiledCondition
from churnwatch.rules.state import BalanceState, Watch
from churnwatch.schemas.models import Alert, DerivedOutcome, ProductEvent

__all__ = ["MAX_WATCHES", "MAX_WITHIN", "OutcomeRule", "settle"]

#: the longest watch a definition may ask for (seconds): half a year
MAX_WITHIN = 183 * 86400
#: open watches one customer may hold; past it the oldest closes as unknown
MAX_WATCHES = 64

SHARE = Decimal("0.0001")
ZERO = Decimal(0)
ONE = Decimal(1)
DAY = 86400 * MICROS_PER_SECOND

#: (outcome, share of the money kept or None, the deciding event's id or None)
Decision = tuple[str, Decimal | None, str | None]


def _money(value: object) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount > 0 else None


def settle(watch: Watch, decision: Decision, at: int, customer_id: str) -> DerivedOutcome:
    """The stored record of a watch closed by ``decision`` at event time ``at`` (µs)."""
    outcome, share, evidence = decision
    return DerivedOutcome(
        alert_id=watch.alert_id,
        rule_id=watch.rule_id,
        customer_id=customer_id,
        outcome=outcome,
        decided_at=EPOCH + dt.timedelta(microseconds=at),
        share=share,
        evidence_event_id=evidence,
    )


class OutcomeRule:
    """One rule's ``outcome:`` definition, compiled: conditions per event class, µs."""

    __slots__ = (
        "after",
        "at_stake",
        "balance_back_to",
        "kept",
        "key",
        "left_at_least",
        "lost",
        "otherwise",
        "retained_at_least",
        "rule_id",
        "span",
        "zone",
    )

    def __init__(
        self,
        rule_id: str,
        within: int,
        kept: dict[type, CompiledCondition],
        lost: dict[type, CompiledCondition],
        *,
        zone: ZoneInfo,
        after: str | None = None,
        at_stake: str | None = None,
        retained_at_least: Decimal = ONE,
        left_at_least: Decimal = ONE,
        key: str | None = None,
        balance_back_to: Decimal | None = None,
        otherwise: str = "unknown",
    ) -> None:
        self.rule_id = rule_id
        self.span = within * MICROS_PER_SECOND
        self.kept = kept
        self.lost = lost
        self.zone = zone
        self.after = after
        self.at_stake = at_stake
        self.retained_at_least = retained_at_least
        self.left_at_least = left_at_least
        self.key = key
        self.balance_back_to = balance_back_to
        self.otherwise = otherwise

    def open(self, alert: Alert, start: int) -> Watch | None:
        """The watch of a new alert, or None when its facts lack what the definition reads."""
        facts = alert.facts
        end = start + self.span
        if self.after is not None:
            try:
                day = dt.date.fromisoformat(str(facts.get(self.after)))
            except ValueError:
                return None
            # the whole named day, then ``within``: "within 7 days of maturity" ends with day 7
            midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone)
            end = max(end, micros(midnight) + self.span)
        at_stake = None
        if self.at_stake is not None:
            at_stake = _money(facts.get(self.at_stake))
            if at_stake is None:
                return None
        target = None
        if self.balance_back_to is not None:
            peak = _money(facts.get("peak_balance"))
            if peak is None:
                return None
            target = peak * self.balance_back_to
        key = None
        if self.key is not None:
            value = facts.get(self.key)
            key = None if value is None else str(value)
        return Watch(alert.alert_id, self.rule_id, start, end, at_stake, key, target)

    def observe(
        self, watch: Watch, event: Any, customer: Any, block_of: Callable[[str], Any]
    ) -> Decision | None:
        """Count one event of the customer within ``watch``; a decision closes it.

        ``block_of`` gives a rule's block state (``Engine.block``: it may have to decode it).
        """
        kind = type(event)
        if watch.key is not None and kind is ProductEvent and event.product_id != watch.key:
            return None
        at_stake = watch.at_stake
        kept = self.kept.get(kind)
        if kept is not None and kept(event, customer):
            watch.kept += self._amount(event, at_stake)
            if at_stake is None:
                if watch.kept >= self.retained_at_least:
                    return "retained", None, event.event_id
            elif watch.kept >= at_stake * self.retained_at_least:
                return "retained", self._share(watch), event.event_id
        lost = self.lost.get(kind)
        if lost is not None and lost(event, customer):
            watch.lost += self._amount(event, at_stake)
            threshold = self.left_at_least if at_stake is None else at_stake * self.left_at_least
            if watch.lost >= threshold:
                return "left", self._share(watch), event.event_id
        if watch.target is not None:
            balance = block_of(self.rule_id)
            if isinstance(balance, BalanceState):
                # total / 10**scale >= target, in integers (no Decimal built per event)
                numerator, denominator = watch.target.as_integer_ratio()
                if balance.total * denominator >= numerator * 10**balance.scale:
                    return "retained", None, event.event_id
        return None

    def expire(self, watch: Watch) -> Decision:
        """The decision of a watch that ran out: partly retained, else ``otherwise``."""
        if watch.at_stake is not None and watch.kept > 0:
            return "partly_retained", self._share(watch), None
        share = ZERO.quantize(SHARE) if watch.at_stake is not None else None
        return self.otherwise, share if self.otherwise == "left" else None, None

    @staticmethod
    def _amount(event: Any, at_stake: Decimal | None) -> Decimal:
        """What one counted event adds: its amount (all of it at stake when it has none),
        or one event when the definition counts events."""
        if at_stake is None:
            return ONE
        amount = getattr(event, "amount", None)
        return amount if isinstance(amount, Decimal) else at_stake

    @staticmethod
    def _share(watch: Watch) -> Decimal | None:
        if watch.at_stake is None:
            return None
        return min(ONE, watch.kept / watch.at_stake).quantize(SHARE)


def watch_events(
    watches: list[Watch],
    rules: Callable[[str], OutcomeRule | None],
    event: Any,
    customer: Any,
    at: int,
    block_of: Callable[[str], Any],
    customer_id: str,
) -> list[DerivedOutcome]:
    """Measure one event against every open watch of its customer; return those it closed.

    A watch whose rule no longer defines an outcome (a reload) closes silently.
    """
    decided: list[DerivedOutcome] = []
    keep: list[Watch] = []
    for watch in watches:
        rule = rules(watch.rule_id)
        if rule is None:
            continue
        if not watch.start < at < watch.end:
            keep.append(watch)
            continue
        decision = rule.observe(watch, event, customer, block_of)
        if decision is None:
            keep.append(watch)
        else:
            decided.append(settle(watch, decision, at, customer_id))
    watches[:] = keep
    return decided


def expire_watches(
    watches: list[Watch],
    rules: Callable[[str], OutcomeRule | None],
    until: int,
    customer_id: str,
) -> list[DerivedOutcome]:
    """Close every watch that ended at or before ``until`` (µs), in the order they end."""
    decided: list[DerivedOutcome] = []
    keep: list[Watch] = []
    for watch in sorted(watches, key=lambda w: w.end):
        rule = rules(watch.rule_id)
        if rule is None:
            continue
        if watch.end <= until:
            decided.append(settle(watch, rule.expire(watch), watch.end, customer_id))
        else:
            keep.append(watch)
    watches[:] = keep
    return decided


def open_watches(
    watches: list[Watch],
    rules: Callable[[str], OutcomeRule | None],
    alerts: Sequence[Alert],
    at: int,
) -> list[DerivedOutcome]:
    """Open a watch for each new alert whose rule defines an outcome (shadow rules: none).

    Returns the outcomes of watches closed early to keep within :data:`MAX_WATCHES`.
    """
    closed: list[DerivedOutcome] = []
    for alert in alerts:
        rule = None if alert.shadow else rules(alert.rule_id)
        if rule is None:
            continue
        start = micros(alert.occurred_at)
        watch = rule.open(alert, start)
        if watch is None:
            continue
        watches.append(watch)
        if len(watches) > MAX_WATCHES:
            oldest = watches.pop(0)
            closed.append(settle(oldest, ("unknown", None, None), at, alert.customer_id))
    return closed


__all__ += ["Decision", "expire_watches", "open_watches", "watch_events"]
