"""One event that makes a rule raise costs that event, never the stream nor the state.

The engine changes a customer's state in place as it evaluates (that keeps it fast), so
when a rule raises half-way the state already holds part of the event: its id as seen,
the watermark moved, a window half-updated. Copying the state before every event would
cost more than evaluating it, so :class:`Isolation` keeps, per customer, a snapshot of
the state (msgpack bytes) and a journal of the steps applied since (events evaluated,
timers advanced). When a step raises, the state before it is the snapshot with the
journal applied again: the same steps through the same engine give the same state.

The snapshot is taken again after :data:`JOURNAL_STEPS` steps, so the cost is one state
encoding per that many events of a customer, and a journal belongs to one state object:
a state replaced by the driver (restored on a partition assignment, say) or a rule set
swapped by a reload starts a new one. The journal keeps each event as the bytes it came
in (about 350 bytes, and nothing for the garbage collector to walk). Memory is bounded
by :data:`BUDGET`: when the journals and their steps together pass it, the journals
started longest ago are dropped until a quarter of it is free (each of those customers'
next step takes a fresh snapshot).

Why the oldest, not all. Dropping every journal at once made every customer take a
snapshot again within the next budget's worth of steps: with 5,000 customers a journal
lived ~17 events (a snapshot is ~10 µs, most of it cache misses on the state), ~0.6 µs
of each event. The journals started longest ago hold the most steps, so they free the
most for a snapshot each; a journal then lives until it is the oldest, about twice as
long in the same memory.

Measured on a generated bank of 1,000 customers (65,000 events, the shipped pack, the
shared 2-core machine): a busy customer's state encodes in about 17 µs (its balance
window's Decimals), a quiet one's in 2-5 µs; evaluation went from 12-13 µs to 14-17 µs
per event with the journal (``Engine.evaluate`` called directly against this class).
Snapshots have since been the state's fields in plain msgpack rather than the stored
form: about 60% of the encoding time, and a decoded snapshot equals the state exactly.

Both drivers call :meth:`Isolation.evaluate` and :meth:`Isolation.advance` in place of
the engine's own, and turn a ``Status.RULE_ERROR`` outcome into a ``rule_error`` dead
letter with :func:`rule_error_reason`, which names the rule and the exception's type
and nothing of the customer.
"""

from __future__ import annotations

import datetime as dt
import logging

import msgspec

from churnwatch.rules.durations import micros
from churnwatch.rules.engine import EVALUATED, RULE_ERROR, Engine, Outcome
from churnwatch.rules.exceptions import RuleFailure
from churnwatch.rules.loader import RuleSet
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.models import Event

__all__ = ["BUDGET", "JOURNAL_STEPS", "Isolation", "rule_error_reason"]

log = logging.getLogger("churnwatch.rules")
#: the journal's messages passed decode once; the same bytes give the same event
_events: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)
#: snapshots are the state's own fields in msgpack: they live only in memory, so they
#: need none of the stored form's versioning or compaction (rules/codec.py), and this
#: encodes in C, in about 60% of the stored form's time, and decodes to an equal state
_snapshots = msgspec.msgpack.Encoder()
_restore: msgspec.msgpack.Decoder[CustomerState] = msgspec.msgpack.Decoder(CustomerState)

#: steps journaled before the state is encoded again
JOURNAL_STEPS = 64
#: journals plus journaled steps held before the oldest are dropped (a step
#: is about 0.35 KB, a snapshot 0.1-4 KB)
BUDGET = 100_000

#: an evaluated event as it arrived (bytes: small, and nothing for the garbage collector
#: to walk), or a timer advance (until, in µs)
Step = bytes | int


class _Journal:
    """A customer's state as bytes at some point, and the steps applied since."""

    __slots__ = ("ruleset", "snapshot", "state", "steps")

    def __init__(self, state: CustomerState | None, ruleset: RuleSet) -> None:
        self.state = state
        self.snapshot = _snapshots.encode(state) if state is not None else None
        self.ruleset = ruleset
        self.steps: list[Step] = []


def rule_error_reason(failure: RuleFailure, what: str = "event") -> str:
    """The dead letter's reason: the rule and the exception type, no customer data."""
    return (
        f"{failure}; this {what} was skipped and the customer's state is as it was before it. "
        "Tell the rule's owner: the rule needs a fix for such events"
    )


class Isolation:
    """The engine's ``evaluate`` and ``advance``, each undone whole when a rule raises."""

    __slots__ = ("budget", "engine", "held", "journals", "steps")

    def __init__(self, engine: Engine, *, steps: int = JOURNAL_STEPS, budget: int = BUDGET) -> None:
        self.engine = engine
        self.steps = steps
        self.budget = budget
        self.journals: dict[str, _Journal] = {}
        #: journals plus their steps, against ``budget``
        self.held = 0

    def evaluate(
        self,
        customer_id: str,
        event: Event,
        raw: bytes,
        state: CustomerState | None,
        now: dt.datetime,
        at: int,
    ) -> Outcome:
        """``Engine.evaluate``; on a rule's exception, a RULE_ERROR with the state before.

        ``raw`` is the message ``event`` was decoded from, kept in the journal.
        """
        journal = self.journals.get(customer_id)
        engine = self.engine
        if (
            journal is None
            or journal.state is not state
            or len(journal.steps) >= self.steps
            or journal.ruleset is not engine.ruleset
        ):
            journal = self._start(customer_id, state, journal)
        try:
            outcome = engine.evaluate(event, state, now, at)
        except RuleFailure as failure:
            return self._undo(customer_id, journal, failure, now)
        if outcome.status is EVALUATED:
            journal.state = outcome.state
            journal.steps.append(raw)
            held = self.held = self.held + 1  # _hold, inlined: this runs for every event
            if held > self.budget:
                self._shed()
        return outcome

    def advance(
        self, customer_id: str, state: CustomerState, until: int, now: dt.datetime
    ) -> Outcome:
        """``Engine.advance``; on a rule's exception, a RULE_ERROR with the state before."""
        journal = self.journals.get(customer_id)
        if (
            journal is None
            or journal.state is not state
            or journal.ruleset is not self.engine.ruleset
        ):
            journal = self._start(customer_id, state, journal)
        try:
            outcome = self.engine.advance(customer_id, state, until, now)
        except RuleFailure as failure:
            log.error("timers of one customer: %s; state kept as before", failure)
            return self._undo(customer_id, journal, failure, now)
        journal.steps.append(until)
        self._hold()
        return outcome

    def _hold(self) -> None:
        """Count one step more; past the budget, drop the oldest journals."""
        self.held += 1
        if self.held > self.budget:
            self._shed()

    def _shed(self) -> None:
        """Drop the journals started longest ago until a quarter of the budget is free
        (their customers' next steps take fresh snapshots)."""
        keep = self.budget * 3 // 4
        held = self.held
        dropped: list[str] = []
        for customer_id, journal in self.journals.items():  # oldest first: insertion order
            if held <= keep:
                break
            held -= len(journal.steps) + 1
            dropped.append(customer_id)
        for customer_id in dropped:
            del self.journals[customer_id]
        self.held = held

    def _start(
        self, customer_id: str, state: CustomerState | None, old: _Journal | None
    ) -> _Journal:
        """A new journal from a snapshot of ``state``, within the memory budget."""
        if old is not None:  # started again: it moves to the end of the order
            self.held -= len(old.steps) + 1
            del self.journals[customer_id]
        if self.held >= self.budget:
            self._shed()
        journal = self.journals[customer_id] = _Journal(state, self.engine.ruleset)
        self.held += 1
        return journal

    def _undo(
        self, customer_id: str, journal: _Journal, failure: RuleFailure, now: dt.datetime
    ) -> Outcome:
        """The state before the failed step: the snapshot with the journal applied again."""
        state = _restore.decode(journal.snapshot) if journal.snapshot is not None else None
        try:
            for step in journal.steps:
                if isinstance(step, int):
                    assert state is not None  # a timer only runs on an existing state
                    state = self.engine.advance(customer_id, state, step, now).state
                else:
                    event = _events.decode(step)
                    state = self.engine.evaluate(event, state, now, micros(event.occurred_at)).state
        except RuleFailure:  # pragma: no cover - the same steps passed a moment ago
            log.exception("could not rebuild a customer's state; using the last snapshot")
            state = _restore.decode(journal.snapshot) if journal.snapshot is not None else None
            journal.steps.clear()
        journal.state = state
        return Outcome(state, [], RULE_ERROR, failure=failure)
