"""Per-customer engine state: small, bounded and serialisable.

The worker keeps one :class:`CustomerState` per customer in a Faust table; the replay
driver keeps them in a dict. Everything here is plain data (msgspec Structs, lists of
tuples), and every list is pruned by event time, so state stays bounded however long a
customer lives. How a state is stored (versioned, compact) is rules/codec.py's business.

The leaves of a state (a posting the balance keeps, a trigger, a watch, a profile, the
small block states) are ``gc=False`` Structs: they hold only numbers, strings, dates and,
for a pending step, a dict of those, so no reference cycle can pass through them, and
the collector's 16-byte header per object is saved. At thousands of customers the
replay waits on memory more than it computes (bench/replay_bench.py prints the bytes a
state takes in the process): a customer with a full balance window keeps ~30 postings.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TypeAlias

import msgspec

from churnwatch.schemas.models import CustomerEvent

__all__ = [
    "ActivityState",
    "BalanceState",
    "BlockState",
    "CalendarState",
    "ChangeState",
    "CustomerProfile",
    "CustomerState",
    "Entry",
    "FollowUpState",
    "HistoryState",
    "OverdueState",
    "PendingStep",
    "ScheduleState",
    "Trigger",
    "Unread",
    "Watch",
    "WindowState",
    "post_balance",
    "rebuild_balance",
]

# (event time in µs since the epoch, value, event id)
Entry: TypeAlias = tuple[int, Decimal, str]


class CustomerProfile(msgspec.Struct, frozen=True, omit_defaults=True, array_like=True, gc=False):
    """The customer's directory record as conditions and routing see it (tier resolved)."""

    customer_id: str
    name: str
    phone: str
    language: str
    aum: Decimal
    tier: str
    branch_id: str
    manager_id: str
    sms_opt_in: bool
    birthday: dt.date | None = None
    tier_overridden: bool = False
    known: bool = True

    @classmethod
    def from_event(cls, event: CustomerEvent, tier: str) -> CustomerProfile:
        return cls(
            customer_id=event.customer_id,
            name=event.name,
            phone=event.phone,
            language=event.language,
            aum=event.aum,
            tier=event.tier or tier,
            branch_id=event.branch_id,
            manager_id=event.manager_id,
            sms_opt_in=event.sms_opt_in,
            birthday=event.birthday,
            tier_overridden=event.tier is not None,
        )


class WindowState(msgspec.Struct, tag="window", array_like=True):
    entries: list[Entry] = msgspec.field(default_factory=list)


class Trigger(msgspec.Struct, array_like=True, gc=False):
    at: int
    amount: Decimal
    event_id: str
    account_id: str | None
    fired: bool = False


class FollowUpState(msgspec.Struct, tag="follow_up", array_like=True):
    triggers: list[Trigger] = msgspec.field(default_factory=list)
    entries: list[Entry] = msgspec.field(default_factory=list)


class Observation(msgspec.Struct, array_like=True, gc=False):
    """One posting as the balance tracker needs it, with the running totals around it.

    Money is in integer minor units of the block's ``scale`` (cents at scale 2).
    ``balance_before`` is only kept when it may be needed: for a posting that may be the
    first seen of its account (an account already known, in order, never needs it).
    """

    at: int
    account_id: str
    balance_before: int | None
    balance_after: int
    parked_delta: int
    total_before: int = 0
    total_after: int = 0


class BalanceState(msgspec.Struct, tag="balance", array_like=True):
    """The customer's balance at the bank, as postings in the window and what came before.

    Money is exact integer minor units: ``scale`` decimal places (2 to start; more when
    a posting brings more, e.g. a 3-decimal currency, and every figure is rescaled).
    ``base_accounts`` maps account -> (time, balance) of the last posting before the
    window and ``base_parked`` is money moved into the bank's own products by then;
    together they let a late posting be placed and the totals recomputed. ``accounts``
    and ``total`` are the balances now, kept up to date as postings arrive in order.
    ``accounts``, ``total``, ``parked`` and the observations' totals follow from the
    rest (:func:`rebuild_balance`), so the stored form leaves them out.

    A balance read back for the engine (rules/balance_row.py's ``read_balance``) keeps
    the postings it read as the stored row holds them, in ``unread`` (five values each,
    the account as its index in ``unread_accounts``; ``unread_last`` the time of the
    last), before the ``observations`` added since: a posting in order needs only the
    running balances, computed on reading, so the observations are made only when a
    late posting, a new peak search or a rescale reads them (``read_postings``).
    """

    scale: int = 2
    base_accounts: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    base_parked: int = 0
    observations: list[Observation] = msgspec.field(default_factory=list)
    accounts: dict[str, int] = msgspec.field(default_factory=dict)
    total: int = 0
    parked: int = 0
    peak: int = 0
    peak_at: int = 0
    unread: list[int | None] | None = None
    unread_accounts: list[str] | None = None
    unread_last: int = 0


def post_balance(
    obs: Observation, accounts: dict[str, int], total: int, parked: int
) -> tuple[int, int]:
    """Apply one posting to the running balances; return the new total and parked money.

    Money parked in the bank's own products never goes below zero: redeeming a product
    bought before the data began brings money we had not counted, which is new to the
    balance, not a transfer out of ``parked``.
    """
    previous = accounts.get(obs.account_id)
    if previous is None:  # first sight of the account: it held its balance before this posting
        previous = obs.balance_before
        assert previous is not None  # kept for every posting that may be a first sight
        total += previous
    obs.total_before = total
    delta = obs.parked_delta
    if parked + delta < 0:
        delta = -parked
    total += obs.balance_after - previous + delta
    obs.total_after = total
    accounts[obs.account_id] = obs.balance_after
    return total, parked + delta


def rebuild_balance(state: BalanceState) -> None:
    """Recompute the running balances and each posting's totals from the base on."""
    accounts = {account: balance for account, (_, balance) in state.base_accounts.items()}
    parked = state.base_parked
    total = sum(accounts.values()) + parked
    for obs in state.observations:
        total, parked = post_balance(obs, accounts, total, parked)
    state.accounts = accounts
    state.total = total
    state.parked = parked


class PendingStep(msgspec.Struct, array_like=True, gc=False):
    """A scheduled step not yet sent."""

    due: int
    step: str
    key: str
    trigger_event_id: str
    trigger_at: int
    account_id: str | None
    facts: dict[str, str | int | bool | None]


class ScheduleState(msgspec.Struct, tag="schedule", array_like=True):
    pending: list[PendingStep] = msgspec.field(default_factory=list)


class ActivityState(msgspec.Struct, tag="activity", array_like=True):
    """Matching events per local day and running counts, so a daily check costs O(1).

    ``through`` is the last local day (ordinal) the counts ``recent`` and ``baseline``
    cover; events on later days wait in the counts until the checks reach them.

    The counts per day are one dense run, ``counts[i]`` for day ``first + i``, kept
    without zeros at either end (no count held: ``counts`` is empty): a list of small
    integers costs a tenth of a dict keyed by day, and this is read for every posting.
    It is also the stored form's shape (rules/stored_rows.py).
    """

    first: int = 0
    counts: list[int] = msgspec.field(default_factory=list)
    next_check: int | None = None
    through: int = 0
    recent: int = 0
    baseline: int = 0

    def count(self, day: int) -> int:
        """Events counted on ``day`` (0 for a day outside the run)."""
        index = day - self.first
        counts = self.counts
        return counts[index] if 0 <= index < len(counts) else 0

    def days(self, start: int, length: int) -> list[int]:
        """The counts of ``length`` days from ``start`` (0 for a day outside the run):
        :meth:`count` of each, in one slice."""
        counts = self.counts
        offset = start - self.first
        days = [0] * length
        low, high = max(offset, 0), min(offset + length, len(counts))
        if low < high:
            days[low - offset : high - offset] = counts[low:high]
        return days

    def add(self, day: int) -> None:
        """Count one event on ``day``, widening the run to reach it."""
        counts = self.counts
        index = day - self.first
        if 0 <= index < len(counts):
            counts[index] += 1
        elif not counts:
            self.first = day
            counts.append(1)
        elif index < 0:
            counts[0:0] = [1] + [0] * (-index - 1)
            self.first = day
        else:
            counts.extend([0] * (index - len(counts)))
            counts.append(1)

    def take(self, day: int) -> int:
        """Forget ``day``'s count and return it (a dict's ``pop``); the run stays trimmed."""
        counts = self.counts
        index = day - self.first
        if not 0 <= index < len(counts):
            return 0
        taken = counts[index]
        counts[index] = 0
        if index == 0 or index == len(counts) - 1:
            self.trim()
        return taken

    def trim(self) -> None:
        """Drop the zero counts at either end of the run (none left: an empty run at 0)."""
        counts = self.counts
        start, end = 0, len(counts)
        while start < end and not counts[start]:
            start += 1
        while end > start and not counts[end - 1]:
            end -= 1
        del counts[end:]
        del counts[:start]
        self.first = self.first + start if counts else 0


class ChangeState(msgspec.Struct, tag="change", array_like=True, gc=False):
    value: str | None = None
    at: int = 0


class HistoryState(msgspec.Struct, tag="history", array_like=True):
    """Past matching events as a relative threshold reads them: (time in µs, field values).

    Kept in time order, pruned to the history period and capped in number (rules/history.py).
    """

    entries: list[tuple[int, tuple[Decimal | None, ...]]] = msgspec.field(default_factory=list)


class OverdueState(msgspec.Struct, tag="overdue", array_like=True):
    """The customer's regular events in the history period, and the one check that can fire.

    ``seen`` holds (time in µs, event id, account, amount) in time order; ``fired_for`` is
    the latest event an alert was raised after, so each expected event alerts once.
    """

    seen: list[tuple[int, str, str | None, Decimal | None]] = msgspec.field(default_factory=list)
    next_check: int | None = None
    fired_for: str | None = None


class CalendarState(msgspec.Struct, tag="calendar", array_like=True, gc=False):
    """The next reminder of a calendar rule: when, for which date, and the last one sent."""

    next_due: int | None = None
    on: str | None = None
    occasion: str | None = None
    last: str | None = None
    #: event time of the customer record the timer was planned from
    record_at: int = 0


class Unread(msgspec.Struct, tag="unread", array_like=True, gc=False):
    """A block as it was stored, not decoded yet (rules/codec.py's ``decode_state(lazy=True)``).

    Why. A customer read back from the worker's store meets one event before the working
    set lets it go again, and a posting reads two of its ten blocks (the balance and the
    activity); decoding the other eight was half of a cold read's decoding. So a lazily
    decoded state holds each block as its stored bytes, and the engine decodes one the
    first time a rule reads it (``Engine.thaw``); a block no rule read is written back as
    the same bytes. ``pruned_at`` is the watermark at the state's last prune: the engine
    does not decode a block to prune it, so the block is pruned as of then when it is
    decoded (a prune drops only what no rule reads again, and pruning twice at one cutoff
    is pruning once).
    """

    data: msgspec.Raw
    pruned_at: int = 0


BlockState: TypeAlias = (
    WindowState
    | FollowUpState
    | BalanceState
    | ScheduleState
    | ActivityState
    | ChangeState
    | HistoryState
    | OverdueState
    | CalendarState
    | Unread
)


class Watch(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """An alert whose outcome is still being derived from the customer's later events.

    Events after ``start`` and before ``end`` (µs) count; ``kept`` and ``lost`` are
    amounts when the rule measures money at stake, else numbers of events
    (rules/outcomes.py).
    """

    alert_id: str
    rule_id: str
    start: int
    end: int
    at_stake: Decimal | None = None
    key: str | None = None
    #: the balance that counts as recovered (``balance_back_to``), in money
    target: Decimal | None = None
    kept: Decimal = Decimal(0)
    lost: Decimal = Decimal(0)


class CustomerState(msgspec.Struct):
    """Everything the engine remembers about one customer."""

    customer: CustomerProfile | None = None
    #: event time of the customer record in ``customer`` (an older upsert never wins)
    customer_at: int = 0
    watermark: int = 0
    seen: dict[str, int] = msgspec.field(default_factory=dict)
    blocks: dict[str, BlockState] = msgspec.field(default_factory=dict)
    last_alert_at: dict[str, int] = msgspec.field(default_factory=dict)
    pruned_at: int = 0
    #: alerts whose outcome is still open, oldest first (at most rules/outcomes.MAX_WATCHES)
    watches: list[Watch] = msgspec.field(default_factory=list)
    #: the churn score's contributions: (event time in µs, rule id, weight in units), in
    #: time order, at most rules/score.MAX_CONTRIBUTIONS (rules/score.py)
    score: list[tuple[int, str, int]] = msgspec.field(default_factory=list)
    #: the Kafka worker's input positions in this state: per input partition (the key is
    #: ``streams/worker/positions.py``'s), the offset after the last record applied. A
    #: record read again below it was applied already (see that module); replay keeps none
    offsets: dict[int, int] = msgspec.field(default_factory=dict)
