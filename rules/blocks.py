"""The building blocks that decide when a rule fires, one small class each.

A block sees every event of its rule's types, told whether the rule's ``match``
condition held, and its own slice of the customer's state. It returns a
:class:`Firing` (the trigger events and the facts) or ``None``. Blocks do no I/O
and never look at the clock: time is the events' ``occurred_at`` in microseconds.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Any, Protocol, TypeVar

from churnwatch.rules.durations import EPOCH, MICROS_PER_SECOND, format_duration
from churnwatch.rules.state import (
    BlockState,
    Entry,
    FollowUpState,
    Trigger,
    WindowState,
)
from churnwatch.schemas.models import FactValue

__all__ = [
    "Block",
    "Firing",
    "FollowUpBlock",
    "MatchBlock",
    "ThresholdBlock",
    "TimedBlock",
    "WindowBlock",
    "prune_entries",
    "transaction_facts",
]

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule's condition held: which events made it so, and the numbers it used."""

    trigger_event_ids: tuple[str, ...]
    facts: dict[str, FactValue] = field(default_factory=dict)
    #: who hears of it, when not the rule's audience (a schedule step names its own)
    audience: tuple[str, ...] | None = None
    #: the message template, when not the rule's
    template: str | None = None
    #: for firings without a triggering event at hand (timers)
    customer_id: str | None = None
    account_id: str | None = None
    occurred_at: int | None = None


class Block(Protocol):
    """What every building block offers the engine."""

    #: seconds of event history the block keeps (0: none)
    horizon: int
    #: whether events that fail ``match`` must still be shown to the block
    sees_unmatched: bool
    #: whether the block keeps timers (then it also has ``next_due`` and ``on_clock``)
    timed: bool

    def new_state(self) -> BlockState | None: ...

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None: ...

    def prune(self, state: BlockState, cutoff: int) -> None: ...


class TimedBlock(Block, Protocol):
    """A block with timers kept in the customer's state."""

    def next_due(self, state: BlockState) -> int | None: ...

    def on_clock(self, state: BlockState, until: int, customer: Any) -> list[Firing]: ...


def money(value: Decimal) -> str:
    """Money for facts: an exact decimal string with at least two decimal places."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return str(value.quantize(CENT))
    return str(value)


_FACT_FIELDS = ("product_id", "product_kind", "action", "kind", "direction", "channel")


def event_facts(event: Any) -> dict[str, FactValue]:
    """What a rule with no block tells about its event: the product or posting, and money."""
    facts: dict[str, FactValue] = {}
    for name in _FACT_FIELDS:
        value = getattr(event, name, None)
        if isinstance(value, str):
            facts[name] = value
    amount = getattr(event, "amount", None)
    if isinstance(amount, Decimal):
        facts["amount"] = money(amount)
    return facts


def transaction_facts(event: Any) -> dict[str, FactValue]:
    """What a message about a posting must state truly: its kind and where the money went.

    ``kind`` tells a cash withdrawal from a transfer; ``counterparty_bank`` names the
    other bank when there is one; ``own_account`` is true when the money went to the
    customer's own account elsewhere, false for a third party.
    """
    counterparty = getattr(event, "counterparty", None)
    if counterparty is None or not isinstance(getattr(event, "kind", None), str):
        return {}
    facts: dict[str, FactValue] = {"kind": event.kind}
    if event.kind != "cash" and counterparty.bank and not counterparty.same_bank:
        facts["counterparty_bank"] = counterparty.bank
    if event.kind != "cash" and (counterparty.bank or counterparty.account):
        facts["own_account"] = counterparty.same_customer
    return facts


def _insert(entries: list[Entry], entry: Entry) -> None:
    if not entries or entry[0] >= entries[-1][0]:
        entries.append(entry)
    else:
        bisect.insort(entries, entry, key=lambda item: item[0])


#: an entry of a block's window: its event time (µs) first
TimedEntry = TypeVar("TimedEntry", bound=tuple[Any, ...])


def prune_entries(entries: list[TimedEntry], cutoff: int) -> None:
    """Drop the entries (in event-time order, the time first) older than ``cutoff``."""
    if not entries or entries[0][0] >= cutoff:  # nothing old: most prunes of most blocks
        return
    # a walk from the oldest, not a bisect: the entries dropped are a handful, and a
    # bisect calls its key function on about as many more
    index = 1
    for entry in islice(entries, 1, None):
        if entry[0] >= cutoff:
            break
        index += 1
    del entries[:index]


def aggregate(kind: str, values: list[Decimal]) -> Decimal:
    if kind == "count":
        return Decimal(len(values))
    if kind == "max":
        return max(values, default=ZERO)
    return sum(values, ZERO)


class MatchBlock:
    """No block: the ``match`` condition alone fires the rule."""

    horizon = 0
    sees_unmatched = False
    timed = False

    def new_state(self) -> None:
        return None

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing:
        return Firing((event.event_id,), event_facts(event))

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None


class ThresholdBlock:
    """One event's field reaches a value, e.g. a single outflow of at least 50,000.00."""

    horizon = 0
    sees_unmatched = False
    timed = False

    def __init__(self, field_name: str, at_least: Decimal, read: Callable[[Any], Any]) -> None:
        self.field_name = field_name
        self.at_least = at_least
        self.read = read

    def new_state(self) -> None:
        return None

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        value = self.read(event)
        if value is None or value < self.at_least:
            return None
        return Firing(
            (event.event_id,),
            {
                self.field_name: money(value),
                "threshold": money(self.at_least),
                **transaction_facts(event),
            },
        )

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None


class WindowBlock:
    """sum / count / max of a field over matching events in the last ``over`` seconds."""

    sees_unmatched = False
    timed = False

    def __init__(
        self, over: int, kind: str, field_name: str, at_least: Decimal, read: Callable[[Any], Any]
    ) -> None:
        self.horizon = over
        self.span = over * MICROS_PER_SECOND
        self.kind = kind
        self.field_name = field_name
        self.at_least = at_least
        self.read = read

    def new_state(self) -> WindowState:
        return WindowState()

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, WindowState)
        value = self.read(event) if self.kind != "count" else Decimal(1)
        _insert(state.entries, (at, value if value is not None else ZERO, event.event_id))
        start = at - self.span
        inside = [e for e in state.entries if start <= e[0] <= at]
        total = aggregate(self.kind, [e[1] for e in inside])
        if total < self.at_least:
            return None
        label = f"{self.kind}_{self.field_name}" if self.kind != "count" else "count"
        shown = str(int(total)) if self.kind == "count" else money(total)
        return Firing(
            (event.event_id,),
            {
                label: shown,
                "threshold": money(self.at_least) if self.kind != "count" else str(self.at_least),
                "window": format_duration(self.horizon),
                "events": len(inside),
            },
        )

    def prune(self, state: BlockState, cutoff: int) -> None:
        assert isinstance(state, WindowState)
        prune_entries(state.entries, cutoff - self.span)


class FollowUpBlock:
    """A trigger event, then matching events within ``within`` reaching a share of it.

    Fires at most once per trigger. Works whichever arrives first: a late trigger is
    checked against the matching events already seen.
    """

    sees_unmatched = True
    timed = False

    def __init__(
        self,
        trigger: dict[type, Callable[[Any, Any], Any]],
        within: int,
        share: Decimal,
        kind: str,
        field_name: str,
        read: Callable[[Any], Any],
        read_trigger: Callable[[Any], Any],
    ) -> None:
        #: the trigger condition compiled per event class (see loader.compile_per_type)
        self.trigger = trigger
        self.horizon = within
        self.span = within * MICROS_PER_SECOND
        self.share = share
        self.kind = kind
        self.field_name = field_name
        self.read = read
        self.read_trigger = read_trigger

    def new_state(self) -> FollowUpState:
        return FollowUpState()

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, FollowUpState)
        checked: list[Trigger]
        if self.trigger[type(event)](event, customer):
            amount = self.read_trigger(event)
            if amount is None or amount <= 0:
                return None
            new = Trigger(at, amount, event.event_id, getattr(event, "account_id", None))
            state.triggers.append(new)
            checked = [new]
        elif matched:
            value = self.read(event) if self.kind != "count" else Decimal(1)
            _insert(state.entries, (at, value if value is not None else ZERO, event.event_id))
            checked = [t for t in state.triggers if not t.fired and t.at <= at <= t.at + self.span]
        else:
            return None
        for trigger in checked:
            firing = self._check(trigger, state.entries)
            if firing is not None:
                trigger.fired = True
                return firing
        return None

    def _check(self, trigger: Trigger, entries: list[Entry]) -> Firing | None:
        end = trigger.at + self.span
        inside = [e for e in entries if trigger.at <= e[0] <= end]
        if not inside:
            return None
        total = aggregate(self.kind, [e[1] for e in inside])
        needed = trigger.amount * self.share
        if total < needed:
            return None
        crossing = _crossing_event(inside, needed, self.kind)
        return Firing(
            (trigger.event_id, crossing),
            {
                "trigger_amount": money(trigger.amount),
                f"{self.kind}_{self.field_name}": money(total),
                "share": str((total / trigger.amount).quantize(Decimal("0.0001"))),
                "required_share": str(self.share),
                "within": format_duration(self.horizon),
                "events": len(inside),
            },
        )

    def prune(self, state: BlockState, cutoff: int) -> None:
        assert isinstance(state, FollowUpState)
        if state.triggers:
            state.triggers = [t for t in state.triggers if t.at + self.span >= cutoff]
        prune_entries(state.entries, cutoff - self.span)


def iso_time(micros: int) -> str:
    return (EPOCH + dt.timedelta(microseconds=micros)).isoformat()


def _crossing_event(inside: list[Entry], needed: Decimal, kind: str) -> str:
    """The event at which the running aggregate first reached ``needed``."""
    running: list[Decimal] = []
    for entry in inside:
        running.append(entry[1])
        if aggregate(kind, running) >= needed:
            return entry[2]
    return inside[-1][2]
