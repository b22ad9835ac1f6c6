"""The replay driver: contract-v1 JSON lines in, alerts out, no broker.

It is the embedded default, compliance's backtest tool and the fastest path in tests.
It runs the very engine the worker runs, with state in a dict instead of a Faust
table, so for the same input both give the same alerts (a test holds them to it).

Bad lines never stop a replay: each becomes a dead letter with the file and line it
came from and a reason, and the summary counts them by reason. So does an event on
which a rule raises (``rule_error``): :class:`~churnwatch.rules.isolation.Isolation`
puts the customer's state back as it was before the event, and the replay goes on.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Protocol

import msgspec

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules.engine import (
    DUPLICATE,
    EVALUATED,
    RULE_ERROR,
    TOO_LATE,
    Engine,
    event_micros,
)
from churnwatch.rules.isolation import Isolation, rule_error_reason
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.decode import DEFAULT_LIMITS, DeadLetter, Limits, Source, decode
from churnwatch.schemas.models import (
    Alert,
    CustomerEvent,
    DerivedOutcome,
    StaffEvent,
    TransactionEvent,
)
from churnwatch.streams.collector import fewer_young_collections
from churnwatch.streams.future import (
    DEFAULT_MAX_AHEAD,
    IN_THE_FUTURE,
    NO_HORIZON,
    in_the_future_reason,
)
from churnwatch.streams.timers import TimerIndex

if TYPE_CHECKING:
    from churnwatch.schemas.profiles import ProfileBook
    from churnwatch.schemas.store import AlertStore

__all__ = ["AlertSink", "ReplayDriver", "ReplaySummary", "wall_clock"]

FLUSH_EVERY = 2000


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AlertSink(Protocol):
    """Something that takes newly stored alerts: a file, a notifier dispatcher, a topic."""

    def __call__(self, alerts: Sequence[Alert], directory: InMemoryDirectory) -> None: ...


@dataclass
class ReplaySummary:
    """What a replay did, for the closing summary and for tests."""

    lines: int = 0
    events: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    too_late: int = 0
    #: timer steps on which a rule raised (logged; the customer's state kept as before)
    timer_errors: int = 0
    alerts_by_rule: Counter[str] = field(default_factory=Counter)
    new_alerts: int = 0
    #: alerts' outcomes derived from the customers' later events, by outcome
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    @property
    def alerts(self) -> int:
        return sum(self.alerts_by_rule.values())


class ReplayDriver:
    """Runs lines through decode → engine → store → sinks, one customer state per customer."""

    def __init__(
        self,
        engine: Engine,
        store: AlertStore | None = None,
        *,
        sinks: Sequence[AlertSink] = (),
        dead_letters: IO[bytes] | None = None,
        clock: Callable[[], dt.datetime] = wall_clock,
        route: Callable[[Alert, InMemoryDirectory], Alert] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        keep: bool = True,
        present: dt.datetime | None = None,
        max_ahead: int = DEFAULT_MAX_AHEAD,
    ) -> None:
        """``keep=False`` when nothing reads :attr:`stored` and :attr:`derived` after the
        run (``churnwatch replay`` with a store): a backtest of years of events then holds
        its customers' states, not every alert and outcome it found. With ``present``, an
        event dated more than ``max_ahead`` seconds after it is a dead letter
        (streams/future.py); without, a replay takes every date as it comes."""
        self.engine = engine
        self.keep = keep
        self.isolation = Isolation(engine)
        self.store = store
        self.sinks = list(sinks)
        self.dead_letter_file = dead_letters
        self.clock = clock
        self.route = route
        self.limits = limits
        self.present = event_micros(present) if present is not None else None
        self.max_ahead = max_ahead * 1_000_000
        #: µs: an event later than this is refused; past every date without ``present``
        self.horizon = self.present + self.max_ahead if self.present is not None else NO_HORIZON
        self.states: dict[str, CustomerState] = {}
        self.directory = InMemoryDirectory()
        self.pending: list[Alert] = []
        self.stored: list[Alert] = []
        #: the customer profiles (schemas/profiles.py), kept in the store beside the alerts;
        #: imported here: a driver without a store (``rules check``'s cases) needs no SQL
        self.profiles: ProfileBook | None = None
        if store is not None:
            from churnwatch.schemas.profiles import ProfileBook

            self.profiles = ProfileBook(self._tier_of)
        #: derived outcomes not yet stored, and every one derived (rule tests read it)
        self.pending_outcomes: list[DerivedOutcome] = []
        self.derived: list[DerivedOutcome] = []
        #: event-time clock (µs): the latest occurred_at seen; timers fire as it passes them
        self.clock_at = 0
        self.timers = TimerIndex()

    def run(
        self,
        lines: Iterable[bytes],
        source: str = "-",
        progress: Callable[[int], None] | None = None,
    ) -> ReplaySummary:
        """Replay every line; return the summary. Never raises for bad input."""
        with fewer_young_collections():
            return self._run(lines, source, progress)

    def _run(
        self,
        lines: Iterable[bytes],
        source: str,
        progress: Callable[[int], None] | None,
    ) -> ReplaySummary:
        summary = ReplaySummary()
        started = time.perf_counter()
        states = self.states
        evaluate = self.isolation.evaluate
        clock = self.clock
        limits = self.limits
        timer_heap = self.timers.heap  # its head is the earliest timer (TimerIndex)
        by_class: dict[type, int] = {}  # events per type, counted cheaply
        postings = 0  # the most common type, counted in a local: no dict work per posting
        profiles = self.profiles
        now = clock()
        number = 0
        clock_at = self.clock_at  # kept in a local, written back as it moves
        for number, raw in enumerate(lines, start=1):
            if progress is not None and number % 10_000 == 0:
                progress(number)
            if not number & 0xFFF and profiles:  # every 4,096 lines, the profiles noted
                self.write_profiles()
            message = raw.rstrip(b"\r\n")
            event = decode(message, None, limits)
            if isinstance(event, DeadLetter):
                if not raw.strip():
                    continue  # a blank line is not a message
                self.dead_letter(raw, event.reason, event.code, source, number, summary)
                continue
            kind = type(event)
            if kind is TransactionEvent:
                postings += 1
            else:
                by_class[kind] = by_class.get(kind, 0) + 1
            if isinstance(event, StaffEvent):
                self.directory.put_staff(event)
                continue
            customer_id = event.customer_id
            at = event_micros(event.occurred_at)
            if at > clock_at:  # and at most the horizon, or the event is from the future
                if at > self.horizon:
                    self.in_the_future(raw, at, source, number, summary)
                    continue
                clock_at = self.clock_at = at
                if timer_heap and timer_heap[0][0] <= at:
                    self.fire_timers(at, summary)
                    timer_heap = self.timers.heap
                    if self.route is not None or self.sinks or len(self.pending) >= FLUSH_EVERY:
                        # routing and sinks read the directory as it stands at the alerts;
                        # without them, timer alerts wait for the next flush in their order
                        self.flush(summary)
            if not number & 0xFF:  # read the clock every 256 lines: it stamps detected_at only
                now = clock()
            state = states.get(customer_id)
            outcome = evaluate(customer_id, event, message, state, now, at)
            status = outcome.status
            if status is EVALUATED:
                if outcome.next_due is not None:
                    self.timers.set(customer_id, outcome.next_due)
                if outcome.state is not state:  # a new customer (evaluation works in place)
                    state = outcome.state
                    if state is not None:
                        states[customer_id] = state
                if kind is CustomerEvent and state is not None and state.customer is not None:
                    self.directory.put_customer(state.customer)
                if profiles is not None:
                    if kind is not TransactionEvent:
                        if kind is CustomerEvent and self.pending and self.route is not None:
                            # the alerts so far are routed with the ranks before this record
                            self.flush(summary)
                        profiles.note(event)
                    elif event.kind == "payroll" and event.direction == "credit":  # type: ignore[union-attr]
                        profiles.note_payroll(event)  # type: ignore[arg-type]
                if outcome.outcomes:
                    self.pending_outcomes.extend(outcome.outcomes)
                if outcome.alerts:
                    self.pending.extend(outcome.alerts)
                    if len(self.pending) >= FLUSH_EVERY:
                        self.flush(summary)
            elif status is DUPLICATE:
                summary.duplicates += 1
            elif status is TOO_LATE:
                late = outcome.late_by or dt.timedelta(0)
                hours = late.total_seconds() / 3600
                reason = (
                    f"arrived {hours:.1f} h after newer events of customer {customer_id}, "
                    f"beyond the allowed lateness of {self.engine.lateness // 3_600_000_000} h; "
                    "replay it in order or raise the lateness"
                )
                summary.too_late += 1
                self.dead_letter(raw, reason, "too_late", source, number, summary)
            elif status is RULE_ERROR:
                self.put_state(customer_id, outcome.state)
                assert outcome.failure is not None
                reason = rule_error_reason(outcome.failure)
                self.dead_letter(raw, reason, "rule_error", source, number, summary)
        self.flush(summary)
        self.write_profiles()
        if postings:
            by_class[TransactionEvent] = postings
        for kind, count in by_class.items():
            summary.events_by_type[str(kind.__struct_config__.tag)] += count
        summary.events = sum(by_class.values())
        summary.lines = number
        summary.seconds = time.perf_counter() - started
        return summary

    def fire_timers(self, until: int, summary: ReplaySummary) -> None:
        """Fire every customer timer due at or before ``until`` (event time, µs), in due order."""
        timers = self.timers
        for due, customer_id in timers.pop_due(until):
            state = self.states.get(customer_id)
            if state is None:
                continue
            outcome = self.isolation.advance(customer_id, state, due, self.clock())
            if outcome.status is RULE_ERROR:
                self.put_state(customer_id, outcome.state)
                summary.timer_errors += 1
                continue
            self.pending.extend(outcome.alerts)
            if outcome.outcomes:
                self.pending_outcomes.extend(outcome.outcomes)
            if outcome.next_due is not None:
                timers.set(customer_id, outcome.next_due)

    def put_state(self, customer_id: str, state: CustomerState | None) -> None:
        """Put back a customer's state as it was before a step that failed."""
        if state is None:
            self.states.pop(customer_id, None)
        else:
            self.states[customer_id] = state

    def advance_to(self, until: dt.datetime) -> ReplaySummary:
        """Move the event-time clock to ``until`` with no new event, firing what falls due.

        A replay ends at its last event; this lets a backtest or a test ask "and what
        would have happened by the end of the quarter?".
        """
        summary = ReplaySummary()
        target = event_micros(until)
        if target > self.clock_at:
            self.clock_at = target
            self.fire_timers(target, summary)
            self.flush(summary)
        return summary

    def in_the_future(
        self, raw: bytes, at: int, source: str, line: int, summary: ReplaySummary
    ) -> None:
        """Dead-letter an event dated past the horizon (streams/future.py)."""
        assert self.present is not None  # no horizon without a present
        clock = "the wall clock at the replay's start"
        reason = in_the_future_reason(at, self.present, self.max_ahead, clock)
        self.dead_letter(raw, reason, IN_THE_FUTURE, source, line, summary)

    def dead_letter(
        self, raw: bytes, reason: str, code: str, source: str, line: int, summary: ReplaySummary
    ) -> None:
        summary.dead_letters[code] += 1
        if self.dead_letter_file is not None:
            letter = DeadLetter.of(
                raw.rstrip(b"\r\n"), reason, code, Source(file=source, line=line)
            )
            self.dead_letter_file.write(msgspec.json.encode(letter) + b"\n")

    def _tier_of(self, aum: Decimal) -> str:
        return self.engine.tiers.tier_of(aum)

    def write_profiles(self) -> None:
        """Write the customer profiles noted since the last write (one transaction)."""
        if self.profiles and self.store is not None:
            self.profiles.write(self.store.engine)

    def flush(self, summary: ReplaySummary) -> None:
        """Store pending alerts, pass the new ones to every sink, then store outcomes.

        The profiles noted so far are written first, so routing reads them as they
        stand at these alerts (a branch's top customers by assets).
        """
        if self.pending:
            self.write_profiles()
            self.flush_alerts(summary)
        if self.pending_outcomes:
            decided, self.pending_outcomes = self.pending_outcomes, []
            if self.store is not None:
                self.store.add_outcomes(decided)
            summary.outcomes.update(o.outcome for o in decided)
            if self.keep:
                self.derived.extend(decided)

    def flush_alerts(self, summary: ReplaySummary) -> None:
        batch, self.pending = self.pending, []
        if self.route is not None:
            batch = [self.route(alert, self.directory) for alert in batch]
        fresh = self.store.add_alerts(batch) if self.store is not None else batch
        for alert in batch:
            summary.alerts_by_rule[alert.rule_id] += 1
        summary.new_alerts += len(fresh)
        if self.keep:
            self.stored.extend(fresh)
        for sink in self.sinks:
            sink(fresh, self.directory)


class JsonLinesAlertSink:
    """Writes each new alert as one contract-v1 JSON line."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.encoder = msgspec.json.Encoder()

    def __call__(self, alerts: Sequence[Alert], directory: InMemoryDirectory) -> None:
        for alert in alerts:
            self.handle.write(self.encoder.encode(alert) + b"\n")
        self.handle.flush()


__all__ += ["JsonLinesAlertSink"]
