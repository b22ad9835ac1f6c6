"""History aggregates: a threshold relative to the customer's own past, not one bank-wide number.

``threshold.history`` names aggregates of the customer's past matching events over a
period (``largest: max(amount)``, ``outflows: count``, ``usual: avg(amount)``,
``total: sum(amount)``); the threshold's ``at_least`` and ``require`` expressions read
them as ``history.<name>``. The seeds' practice is to judge an outflow against what this
customer usually moves, and this is the primitive for it.

State stays bounded: one entry per past matching event (its time and the fields the
aggregates read), pruned to the period and capped at :data:`MAX_ENTRIES` per customer and
rule — beyond that the oldest are dropped, so a customer with thousands of postings in the
period is judged on the latest of them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from churnwatch.rules.blocks import CENT, Firing, money, prune_entries, transaction_facts
from churnwatch.rules.durations import MICROS_PER_SECOND, format_duration
from churnwatch.rules.state import BlockState, HistoryState
from churnwatch.schemas.models import FactValue

__all__ = [
    "AGGREGATES",
    "MAX_ENTRIES",
    "MAX_VALUES",
    "HistoryAggregate",
    "HistoryThresholdBlock",
    "HistoryValues",
    "parse_aggregate",
]

#: past events kept per customer and rule; a real customer has tens in a quarter
MAX_ENTRIES = 1000
#: named aggregates per rule
MAX_VALUES = 10
AGGREGATES = ("max", "sum", "avg", "count")
_FORM = re.compile(r"^\s*(?:(count)(?:\(\s*\))?|(max|sum|avg)\(\s*([a-z_][a-z0-9_.]*)\s*\))\s*$")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class HistoryAggregate:
    """One named aggregate: ``kind`` over the field at ``slot`` of each entry (None: count)."""

    name: str
    kind: str
    field_name: str | None
    slot: int | None


def parse_aggregate(text: str) -> tuple[str, str | None]:
    """``"max(amount)"`` -> ("max", "amount"); ``"count"`` -> ("count", None).

    Raises ValueError with the forms allowed, for the loader to locate.
    """
    found = _FORM.match(text)
    if found is None:
        raise ValueError(
            f"{text!r} is not an aggregate: write max(field), sum(field), avg(field) or count"
        )
    if found[1]:
        return "count", None
    return found[2], found[3]


class HistoryValues:
    """What ``history.<name>`` reads in the threshold's expressions."""

    def __init__(self, values: dict[str, Decimal | None]) -> None:
        self.__dict__.update(values)


def _aggregate(kind: str, values: list[Decimal]) -> Decimal | None:
    """The aggregate of known values; max and avg of nothing are unknown (None)."""
    if kind == "count":
        return Decimal(len(values))
    if kind == "sum":
        return sum(values, ZERO)
    if not values:
        return None
    if kind == "max":
        return max(values)
    return (sum(values, ZERO) / len(values)).quantize(CENT)


class HistoryThresholdBlock:
    """One event's field reaches a fixed floor and a value derived from the customer's past.

    The past is the rule's matching events in the ``over`` period before this one (the
    event itself is not in it); the event then joins the history of the events after it.
    """

    sees_unmatched = False
    timed = False

    def __init__(
        self,
        field_name: str,
        at_least: Decimal,
        read: Callable[[Any], Any],
        over: int,
        aggregates: tuple[HistoryAggregate, ...],
        readers: tuple[Callable[[Any], Any], ...],
        relative: Callable[[Any, Any], Any] | None,
        require: Callable[[Any, Any], Any],
    ) -> None:
        self.field_name = field_name
        self.at_least = at_least
        self.read = read
        self.horizon = over
        self.span = over * MICROS_PER_SECOND
        self.aggregates = aggregates
        #: one reader per distinct field the aggregates use, in slot order
        self.readers = readers
        self.relative = relative
        self.require = require

    def new_state(self) -> HistoryState:
        return HistoryState()

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        assert isinstance(state, HistoryState)
        entries = state.entries
        start = bisect.bisect_left(entries, at - self.span, key=lambda entry: entry[0])
        end = bisect.bisect_right(entries, at, key=lambda entry: entry[0])
        value = self.read(event)
        # the history before this event, copied only for an event that reaches the threshold
        past = entries[start:end] if value is not None and value >= self.at_least else []
        fields = tuple(read(event) for read in self.readers)
        entries.insert(end, (at, fields))
        if len(entries) > MAX_ENTRIES:
            del entries[: len(entries) - MAX_ENTRIES]
        if value is None or value < self.at_least:
            return None
        values: dict[str, Decimal | None] = {}
        for aggregate in self.aggregates:
            slot = aggregate.slot
            if slot is None:
                known = [ZERO] * len(past)
            else:
                known = [e[1][slot] for e in past if e[1][slot] is not None]  # type: ignore[misc]
            values[aggregate.name] = _aggregate(aggregate.kind, known)
        seen = HistoryValues(values)
        if not self.require(event, seen):
            return None
        facts: dict[str, FactValue] = {
            self.field_name: money(value),
            "threshold": money(self.at_least),
            "history_over": format_duration(self.horizon),
            "history_events": len(past),
        }
        if self.relative is not None:
            relative = self.relative(event, seen)
            if not isinstance(relative, Decimal) or value < relative:
                return None
            facts["history_at_least"] = money(relative.quantize(CENT))
        for aggregate in self.aggregates:
            shown = values[aggregate.name]
            if shown is None:
                continue
            facts[f"history_{aggregate.name}"] = (
                int(shown) if aggregate.kind == "count" else money(shown)
            )
        return Firing((event.event_id,), {**facts, **transaction_facts(event)})

    def prune(self, state: BlockState, cutoff: int) -> None:
        assert isinstance(state, HistoryState)
        prune_entries(state.entries, cutoff - self.span)
