"""The rule engine: ``evaluate(event, state, now) -> Outcome``. Pure: no I/O, no clock.

Both drivers call :meth:`Engine.evaluate` for every decoded event of a customer, in
the order they arrive for that customer, with that customer's state. The same events
in the same order give the same alerts with the same ids, which is what lets the
worker and the replay driver be held to each other and makes restarts idempotent.

Order of work for one event:
1. ignore a repeated ``event_id``; refuse an event older than the allowed lateness
   (the driver dead-letters it with a reason);
2. a customer record updates the profile conditions read (``customer.tier`` …);
3. each enabled rule for the event's type evaluates its ``match`` and its block;
4. a firing becomes an alert unless the rule fired for this customer within its
   ``cooldown`` (event time);
5. now and then, history older than any rule needs is pruned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rules.blocks import Firing
from rules.loader import CompiledRule, RuleSet
from rules.state import CustomerProfile, CustomerState
from rules.tiers import DEFAULT_TIERS, TierScale
from schemas.models import Alert, CustomerEvent, Event, Recipient, StaffEvent

__all__ = ["Engine", "Outcome", "Status", "alert_id_for", "event_micros"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROS = dt.timedelta(microseconds=1)
PRUNE_EVERY = 86400 * 1_000_000
DEFAULT_LATENESS = 2 * 86400
MAX_SEEN = 50_000


class Status(Enum):
    """What happened to an event, for counting and dead-lettering."""

    EVALUATED = "evaluated"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"
    DIRECTORY = "directory"


@dataclass(frozen=True, slots=True)
class Outcome:
    state: CustomerState | None
    alerts: list[Alert]
    status: Status
    #: ids of the rules whose condition held (fired or held back by cooldown)
    matched: tuple[str, ...] = ()
    late_by: dt.timedelta | None = None


def event_micros(when: dt.datetime) -> int:
    """Microseconds since the epoch, exactly (no float)."""
    return (when - EPOCH) // MICROS


def alert_id_for(rule_id: str, version: int, customer_id: str, trigger_ids: tuple[str, ...]) -> str:
    """The deterministic id of an alert: same rule, version, customer and trigger -> same id."""
    text = "\x1f".join((rule_id, str(version), customer_id, *trigger_ids))
    return "al-" + hashlib.sha256(text.encode()).hexdigest()[:24]


class Engine:
    """Holds the active rule set (swapped whole on reload) and evaluates events."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        lateness: int = DEFAULT_LATENESS,
        tiers: TierScale = DEFAULT_TIERS,
    ) -> None:
        self.ruleset = ruleset
        self.lateness = lateness * 1_000_000
        self.tiers = tiers
        self.prune_every = self._prune_interval(ruleset)

    def _prune_interval(self, ruleset: RuleSet) -> int:
        """Prune at most every half horizon (and at least daily): state stays within 1.5x."""
        return max(PRUNE_EVERY, ruleset.horizon * 1_000_000 // 2)

    def swap(self, ruleset: RuleSet) -> None:
        """Make ``ruleset`` active for every event from now on (atomic: one assignment)."""
        self.ruleset = ruleset
        self.prune_every = self._prune_interval(ruleset)

    def evaluate(self, event: Event, state: CustomerState | None, now: dt.datetime) -> Outcome:
        """Apply the active rules to ``event`` given the customer's ``state``."""
        if isinstance(event, StaffEvent):
            return Outcome(state, [], Status.DIRECTORY)
        if state is None:
            state = CustomerState()
        at = event_micros(event.occurred_at)
        if event.event_id in state.seen:
            return Outcome(state, [], Status.DUPLICATE)
        if at < state.watermark - self.lateness:
            late_by = dt.timedelta(microseconds=state.watermark - at)
            return Outcome(state, [], Status.TOO_LATE, late_by=late_by)
        state.seen[event.event_id] = at
        if at > state.watermark:
            state.watermark = at
        if isinstance(event, CustomerEvent):
            state.customer = CustomerProfile.from_event(event, self.tiers.tier_of(event.aum))
        ruleset = self.ruleset
        alerts: list[Alert] = []
        matched_ids: list[str] = []
        customer = state.customer
        for rule in ruleset.by_class[type(event)]:
            matched = bool(rule.match(event, customer))
            block = rule.block
            if not matched and not block.sees_unmatched:
                continue
            block_state = state.blocks.get(rule.id)
            if type(block_state) is not rule.state_type:
                block_state = block.new_state()
                if block_state is not None:
                    state.blocks[rule.id] = block_state
            firing = block.on_event(event, customer, at, matched, block_state)
            if firing is None:
                continue
            matched_ids.append(rule.id)
            last = state.last_alert_at.get(rule.id)
            if last is not None and rule.cooldown and abs(at - last) < rule.cooldown:
                continue
            state.last_alert_at[rule.id] = at
            alerts.append(self.alert(rule, event, customer, firing, now))
        if state.watermark - state.pruned_at >= self.prune_every:
            self.prune(state)
        return Outcome(state, alerts, Status.EVALUATED, tuple(matched_ids))

    def alert(
        self,
        rule: CompiledRule,
        event: Any,
        customer: CustomerProfile | None,
        firing: Firing,
        now: dt.datetime,
    ) -> Alert:
        spec = rule.spec
        facts = dict(firing.facts)
        if customer is not None:
            facts.setdefault("tier", customer.tier)
        return Alert(
            alert_id=alert_id_for(
                spec.id, spec.version, event.customer_id, firing.trigger_event_ids
            ),
            rule_id=spec.id,
            rule_version=spec.version,
            severity=spec.severity,
            customer_id=event.customer_id,
            account_id=getattr(event, "account_id", None),
            occurred_at=event.occurred_at,
            detected_at=now,
            facts=facts,
            trigger_event_ids=list(firing.trigger_event_ids),
            recipients=[Recipient(audience=audience) for audience in spec.audience],
            title=spec.title,
        )

    def prune(self, state: CustomerState) -> None:
        """Drop history no rule needs any more; keeps state bounded."""
        cutoff = state.watermark - self.lateness
        state.seen = {eid: at for eid, at in state.seen.items() if at >= cutoff}
        if len(state.seen) > MAX_SEEN:
            newest = sorted(state.seen.items(), key=lambda item: item[1])[-MAX_SEEN:]
            state.seen = dict(newest)
        ruleset = self.ruleset
        for rule_id in list(state.blocks):
            rule = ruleset.get(rule_id)
            if rule is None:
                del state.blocks[rule_id]
                continue
            rule.block.prune(state.blocks[rule_id], cutoff)
        horizon = max(
            ruleset.horizon * 1_000_000, max((r.cooldown for r in ruleset.rules), default=0)
        )
        state.last_alert_at = {
            rid: at for rid, at in state.last_alert_at.items() if at >= cutoff - horizon
        }
        state.pruned_at = state.watermark
