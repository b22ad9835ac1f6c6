"""The rule engine: ``evaluate(event, state, now) -> Outcome``. Pure: no I/O, no clock.

Both drivers call :meth:`Engine.evaluate` for every decoded event of a customer, in
the order they arrive for that customer, with that customer's state. The same events
in the same order give the same alerts with the same ids, which is what lets the
worker and the replay driver be held to each other and makes restarts idempotent.

Order of work for one event:
1. ignore a repeated ``event_id``; refuse an event older than the allowed lateness
   (the driver dead-letters it with a reason);
2. a customer record updates the profile conditions read (``customer.tier`` …);
3. each enabled rule for the event's type evaluates its ``match`` and its block (a
   state read lazily has its block decoded now, :meth:`Engine.thaw`);
4. a firing becomes an alert unless the rule fired for this customer within its
   ``cooldown`` (event time);
5. the alerts move the customer's churn score (rules/scoring.py): each carries the
   score, and a ``score`` rule fires when it crosses its threshold;
6. the customer's open outcome watches measure the event; a new alert of a rule with
   an ``outcome:`` opens one (rules/outcomes.py);
7. now and then, history older than any rule needs is pruned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import Enum
from itertools import compress
from typing import cast

import msgspec

from churnwatch.rules.alerts import alert_of
from churnwatch.rules.blocks import TimedBlock
from churnwatch.rules.codec import read_block
from churnwatch.rules.durations import micros as event_micros
from churnwatch.rules.exceptions import RuleFailure
from churnwatch.rules.loader import CompiledRule, RuleSet
from churnwatch.rules.outcomes import expire_watches, open_watches, watch_events
from churnwatch.rules.plans import Fired
from churnwatch.rules.score import prune_contributions
from churnwatch.rules.scoring import score_alerts
from churnwatch.rules.state import BlockState, CustomerProfile, CustomerState, Unread
from churnwatch.rules.tiers import TierScale
from churnwatch.schemas.models import (
    Alert,
    CustomerEvent,
    DerivedOutcome,
    Event,
    StaffEvent,
)

__all__ = [
    "DIRECTORY",
    "DUPLICATE",
    "EVALUATED",
    "NO_ALERTS",
    "RULE_ERROR",
    "TOO_LATE",
    "Engine",
    "Outcome",
    "Status",
    "event_micros",
]

PRUNE_EVERY = 86400 * 1_000_000
DEFAULT_LATENESS = 2 * 86400
MAX_SEEN = 50_000


class Status(Enum):
    """What happened to an event, for counting and dead-lettering."""

    EVALUATED = "evaluated"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"
    DIRECTORY = "directory"
    #: a rule raised on the event; the state is the one before it (rules/isolation.py)
    RULE_ERROR = "rule_error"


#: the members as plain globals for the hot paths (engine, isolation, the drivers): on
#: CPython 3.11 ``Status.EVALUATED`` goes through EnumType's ``__getattr__`` slot hook,
#: about eight times the cost of reading a global, and each event read it three times
EVALUATED = Status.EVALUATED
DUPLICATE = Status.DUPLICATE
TOO_LATE = Status.TOO_LATE
DIRECTORY = Status.DIRECTORY
RULE_ERROR = Status.RULE_ERROR


class Outcome(msgspec.Struct, frozen=True, gc=False):
    """What one step did. A Struct: built for every event, it costs a tenth of a dataclass."""

    state: CustomerState | None
    #: read-only: most outcomes share :data:`NO_ALERTS`
    alerts: Sequence[Alert]
    status: Status
    #: ids of the rules whose condition held (fired or held back by cooldown)
    matched: tuple[str, ...] = ()
    late_by: dt.timedelta | None = None
    #: the customer's earliest timer after this step (µs since the epoch), if any
    next_due: int | None = None
    #: what failed, when ``status`` is RULE_ERROR
    failure: RuleFailure | None = None
    #: alerts' outcomes this step derived from the customer's events (rules/outcomes.py)
    outcomes: list[DerivedOutcome] | None = None


#: the alerts of an outcome without any: one shared empty tuple, not a list per event
NO_ALERTS: tuple[Alert, ...] = ()


class Engine:
    """Holds the active rule set (swapped whole on reload) and evaluates events."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        lateness: int = DEFAULT_LATENESS,
        tiers: TierScale | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.lateness = lateness * 1_000_000
        #: tiers given here win; otherwise the rule set's (from routing.yaml beside the rules)
        self.fixed_tiers = tiers
        self.tiers = tiers or ruleset.tiers
        self.prune_every = self._prune_interval(ruleset)

    def _prune_interval(self, ruleset: RuleSet) -> int:
        """Prune every twice ``lateness`` of event time (at least daily).

        Remembered event ids then never span more than three times the lateness, and
        windowed entries their window plus that; pruning more often only costs time.
        """
        return max(PRUNE_EVERY, 2 * self.lateness)

    def swap(self, ruleset: RuleSet) -> None:
        """Make ``ruleset`` active for every event from now on (atomic: one assignment)."""
        self.ruleset = ruleset
        self.tiers = self.fixed_tiers or ruleset.tiers
        self.prune_every = self._prune_interval(ruleset)

    def evaluate(
        self,
        event: Event,
        state: CustomerState | None,
        now: dt.datetime,
        at: int | None = None,
    ) -> Outcome:
        """Apply the active rules to ``event`` given the customer's ``state``.

        ``at`` is ``event.occurred_at`` in µs when the caller has it already.
        ``Outcome.next_due`` is set when a timer block saw the event (the customer's
        earliest timer may have moved); None means no change to report.
        """
        if isinstance(event, StaffEvent):
            return Outcome(state, NO_ALERTS, DIRECTORY)
        kind = type(event)  # exact: the rule set's steps are keyed by the event's class
        if state is None:
            state = CustomerState()
        if at is None:
            at = event_micros(event.occurred_at)
        event_id = event.event_id
        seen = state.seen
        if event_id in seen:
            return Outcome(state, NO_ALERTS, DUPLICATE)
        watermark = state.watermark
        if at < watermark - self.lateness:
            late_by = dt.timedelta(microseconds=watermark - at)
            return Outcome(state, NO_ALERTS, TOO_LATE, late_by=late_by)
        stage: str | None = None
        try:
            seen[event_id] = at
            if at > watermark:
                state.watermark = watermark = at
            ruleset = self.ruleset
            if kind is CustomerEvent:
                if at < state.customer_at:  # an older upsert: the newer record stands
                    return Outcome(state, NO_ALERTS, EVALUATED, next_due=self.next_due(state))
                record = cast(CustomerEvent, event)
                state.customer = CustomerProfile.from_event(record, self.tiers.tier_of(record.aum))
                state.customer_at = at
            customer = state.customer
            blocks = state.blocks
            fired: Fired = []
            timers_touched = ruleset.steps[kind](event, customer, at, blocks, fired, self.thaw)
            alerts: Sequence[Alert] = NO_ALERTS
            matched: tuple[str, ...] = ()
            if fired:  # most events fire nothing: no lists and no tuple for them
                fresh, matched_ids = self.alerts_for(state, fired, event, customer, at, now)
                if fresh and ruleset.score is not None:
                    stage = "score"
                    fresh = self.score(state, fresh, now, matched_ids)
                    stage = None
                alerts = fresh
                matched = tuple(matched_ids)
            outcomes: list[DerivedOutcome] | None = None
            watches = state.watches
            if watches:
                stage = "outcome"
                watched = len(watches)
                outcomes = watch_events(
                    watches,
                    ruleset.outcomes.get,
                    event,
                    customer,
                    at,
                    lambda rule_id: self.block(state, rule_id),
                    event.customer_id,
                )
                timers_touched = timers_touched or len(watches) != watched
            if alerts and ruleset.outcomes:
                stage = "outcome"
                closed = open_watches(watches, ruleset.outcomes.get, alerts, at)
                outcomes = (outcomes or []) + closed
                timers_touched = True
            stage = None
            if watermark - state.pruned_at >= self.prune_every:
                self.prune(state)
            earliest = self.next_due(state) if timers_touched else None
            # positional: a Struct takes keyword arguments at a higher cost than fields
            outcomes = outcomes or None
            return Outcome(state, alerts, EVALUATED, matched, None, earliest, None, outcomes)
        except RuleFailure:  # a rule's block or match, named by the rules' step
            raise
        except Exception as exc:  # one handler for every rule: the event fails, not the stream
            raise RuleFailure(stage, exc) from exc

    def alerts_for(
        self,
        state: CustomerState,
        fired: Fired,
        event: Event,
        customer: CustomerProfile | None,
        at: int,
        now: dt.datetime,
    ) -> tuple[list[Alert], list[str]]:
        """The alerts of the rules that fired on an event, less those held back by their
        cooldown, and the ids of every rule that fired (its ``matched``)."""
        alerts: list[Alert] = []
        matched_ids: list[str] = []
        last_alert_at = state.last_alert_at
        for rule, firing in fired:
            rule_id = rule.id
            matched_ids.append(rule_id)
            last = last_alert_at.get(rule_id)
            if last is not None and rule.cooldown and abs(at - last) < rule.cooldown:
                continue
            last_alert_at[rule_id] = at
            try:
                alerts.append(alert_of(rule, event, customer, firing, now))
            except Exception as exc:  # named after the rule, as its step names its failures
                raise RuleFailure(rule_id, exc) from exc
        return alerts, matched_ids

    def thaw(self, rule: CompiledRule, found: BlockState | None) -> BlockState | None:
        """The rules' step's way to a block state it did not find ready: an
        :class:`Unread` one decoded and pruned (:meth:`_read`), else a fresh one (there
        was none, or one of another kind: a reload changed the rule)."""
        if type(found) is Unread:
            found = self._read(rule.id, found)
            if type(found) is rule.state_type:
                return found
        new: BlockState | None = rule.block.new_state()
        return new

    def block(self, state: CustomerState, rule_id: str) -> BlockState | None:
        """The block state kept for a rule, decoded if the state was read lazily."""
        found = state.blocks.get(rule_id)
        if type(found) is Unread:
            found = state.blocks[rule_id] = self._read(rule_id, found)
        return found

    def _read(self, rule_id: str, unread: Unread) -> BlockState:
        """An unread block decoded, and pruned as of the state's last prune (the prune
        :meth:`prune` left to it)."""
        block = read_block(unread)
        prune = self.ruleset.pruners.get(rule_id)
        rule = self.ruleset.get(rule_id)
        if prune is not None and unread.pruned_at and rule and type(block) is rule.state_type:
            prune(block, unread.pruned_at - self.lateness)
        return block

    def next_due(self, state: CustomerState) -> int | None:
        """The earliest timer of this customer (µs since the epoch), if any: a timed
        rule's, or the end of an open outcome watch."""
        earliest: int | None = min((w.end for w in state.watches), default=None)
        for rule in self.ruleset.timed_rules:
            block_state = self.block(state, rule.id)
            if type(block_state) is not rule.state_type or block_state is None:
                continue
            due = cast(TimedBlock, rule.block).next_due(block_state)
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        return earliest

    def advance(
        self, customer_id: str, state: CustomerState, until: int, now: dt.datetime
    ) -> Outcome:
        """Fire this customer's timers due at or before ``until`` (µs); ``now`` stamps alerts.

        The caller's clock decides ``until``: event time in the replay driver, event
        time or the wall clock in the worker. Calling it again with the same
        ``until`` fires nothing more: fired timers leave the state.
        """
        alerts: list[Alert] = []
        matched_ids: list[str] = []
        customer = state.customer
        stage: str | None = None
        try:
            for rule in self.ruleset.timed_rules:
                stage = rule.id
                block_state = self.block(state, rule.id)
                if type(block_state) is not rule.state_type or block_state is None:
                    continue
                for firing in cast(TimedBlock, rule.block).on_clock(block_state, until, customer):
                    matched_ids.append(rule.id)
                    at = firing.occurred_at if firing.occurred_at is not None else until
                    last = state.last_alert_at.get(rule.id)
                    if last is not None and rule.cooldown and abs(at - last) < rule.cooldown:
                        continue
                    state.last_alert_at[rule.id] = at
                    alerts.append(alert_of(rule, None, customer, firing, now, customer_id))
            if alerts and self.ruleset.score is not None:
                stage = "score"
                alerts = self.score(state, alerts, now, matched_ids)
            stage = "outcome"
            outcomes: list[DerivedOutcome] = []
            if state.watches:
                outcomes = expire_watches(
                    state.watches, self.ruleset.outcomes.get, until, customer_id
                )
            if alerts and self.ruleset.outcomes:
                outcomes += open_watches(state.watches, self.ruleset.outcomes.get, alerts, until)
            stage = None
            next_due = self.next_due(state)
        except Exception as exc:  # the timer fails, not the stream (rules/isolation.py)
            raise RuleFailure(stage, exc) from exc
        return Outcome(
            state,
            alerts,
            EVALUATED,
            tuple(matched_ids),
            next_due=next_due,
            outcomes=outcomes or None,
        )

    def score(
        self, state: CustomerState, alerts: list[Alert], now: dt.datetime, matched: list[str]
    ) -> list[Alert]:
        """The alerts with the customer's churn score on each, and any score rule's alerts."""
        ruleset = self.ruleset
        assert ruleset.score is not None
        customer = state.customer
        scored, crossed = score_alerts(
            ruleset.score,
            ruleset.score_rules,
            state,
            alerts,
            lambda rule, firing: alert_of(rule, None, customer, firing, now),
        )
        matched += crossed
        return scored

    def prune(self, state: CustomerState) -> None:
        """Drop history no rule needs any more; keeps state bounded."""
        cutoff = state.watermark - self.lateness
        seen = state.seen
        # the ids still needed, picked in C (compress over a map of ``cutoff <= at``):
        # no bytecode per id, where a comprehension ran a loop body for each
        state.seen = dict(compress(seen.items(), map(cutoff.__le__, seen.values())))
        if len(state.seen) > MAX_SEEN:
            newest = sorted(state.seen.items(), key=lambda item: item[1])[-MAX_SEEN:]
            state.seen = dict(newest)
        ruleset = self.ruleset
        blocks = state.blocks
        pruners = ruleset.pruners
        for rule_id, block_state in list(blocks.items()):
            prune = pruners.get(rule_id)
            if prune is None:
                if rule_id not in ruleset.rule_ids:  # a reload took the rule away
                    del blocks[rule_id]
            elif type(block_state) is Unread:  # pruned as of now when it is read (thaw)
                block_state.pruned_at = state.watermark
            else:
                prune(block_state, cutoff)
        if state.last_alert_at:
            since = cutoff - max(ruleset.horizon * 1_000_000, ruleset.longest_cooldown)
            state.last_alert_at = {
                rid: at for rid, at in state.last_alert_at.items() if at >= since
            }
        if state.score:  # contributions worth nothing any more, or no score after a reload
            if ruleset.score is None:
                state.score = []
            else:
                prune_contributions(state.score, state.watermark, ruleset.score.half_life)
        if state.watches:  # a reload may have taken a rule's outcome away
            state.watches = [w for w in state.watches if w.rule_id in ruleset.outcomes]
        state.pruned_at = state.watermark
