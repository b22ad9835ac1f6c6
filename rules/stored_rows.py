"""Block states stored in another form than they are held: smaller, and cheap to rebuild.

The stored form (rules/codec.py) writes most block states as they are; a few are
written as a row instead: integer money, accounts and names written once, times as
small deltas (rules/time_codes.py), and the figures that follow from the rest left out
(rebuilt on reading). The balance's row, which the engine reads back in two ways, is in
rules/balance_row.py; the tables here map every row to its block and back.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args

import msgspec

from churnwatch.rules.balance_row import BalanceRow, balance_row, balance_state, read_balance
from churnwatch.rules.state import (
    ActivityState,
    BalanceState,
    BlockState,
    FollowUpState,
    HistoryState,
    OverdueState,
    Trigger,
    Unread,
)
from churnwatch.rules.time_codes import from_time_code, time_code

__all__ = [
    "ActivityRow",
    "FollowUpRow",
    "HistoryRow",
    "OverdueRow",
    "ScaledHistoryRow",
    "StoredBlock",
    "from_scale",
    "in_memory",
    "read_back",
    "stored_block",
    "to_scale",
]


class ActivityRow(msgspec.Struct, tag="a", array_like=True):
    """An :class:`ActivityState` as stored: the per-day counts as one dense run from ``first``."""

    first: int
    counts: list[int]
    next_check: int | None
    through: int
    recent: int
    baseline: int


def _activity_row(state: ActivityState) -> ActivityRow:
    counts = state.counts
    first = state.first if counts else 0
    return ActivityRow(
        first, list(counts), state.next_check, state.through, state.recent, state.baseline
    )


def _activity_state(row: ActivityRow) -> ActivityState:
    state = ActivityState(
        row.first, list(row.counts), row.next_check, row.through, row.recent, row.baseline
    )
    state.trim()  # a stored run is trimmed; trimmed again all the same
    return state


class ActivityDays(msgspec.Struct, tag="activity", array_like=True):
    """An :class:`ActivityState` as formats 1 to 5 stored it, the counts a map of day to
    count; read as today's dense run (nothing writes this form any more)."""

    days: dict[int, int] = msgspec.field(default_factory=dict)
    next_check: int | None = None
    through: int = 0
    recent: int = 0
    baseline: int = 0


def _activity_from_days(old: ActivityDays) -> ActivityState:
    days = old.days
    first = min(days, default=0)
    counts = [0] * (max(days) - first + 1) if days else []
    for day, count in days.items():
        counts[day - first] = count
    row = ActivityRow(first, counts, old.next_check, old.through, old.recent, old.baseline)
    return _activity_state(row)


class HistoryRow(msgspec.Struct, tag="h", array_like=True):
    """A :class:`HistoryState` as stored: times as deltas, the values in one flat run."""

    width: int
    times: list[int]
    values: list[Decimal | None]


def _history_row(state: HistoryState) -> ScaledHistoryRow | HistoryRow | HistoryState:
    entries = state.entries
    width = len(entries[0][1]) if entries else 0
    times: list[int] = []
    values: list[Decimal | None] = []
    previous = 0
    for at, fields in entries:
        if len(fields) != width:  # a reload changed what the rule reads: stored as it is
            return state
        delta = at - previous
        previous = at
        times.append(delta // 500_000 if delta % 1_000_000 == 0 else delta * 2 + 1)
        values += fields
    scaled = to_scale(values)
    if scaled is not None:
        return ScaledHistoryRow(width, times, *scaled)
    return HistoryRow(width, times, values)


def _history_state(row: HistoryRow) -> HistoryState:
    width, values = row.width, row.values
    entries: list[tuple[int, tuple[Decimal | None, ...]]] = []
    at = 0
    for i, code in enumerate(row.times):
        at += (code - 1) // 2 if code & 1 else code * 500_000
        entries.append((at, tuple(values[i * width : i * width + width])))
    return HistoryState(entries)


class ScaledHistoryRow(msgspec.Struct, tag="s", array_like=True):
    """A :class:`HistoryRow` whose values all have ``scale`` decimals: stored as integers."""

    width: int
    times: list[int]
    scale: int
    values: list[int | None]


def _scaled_history_state(row: ScaledHistoryRow) -> HistoryState:
    values = from_scale(row.scale, row.values)
    return _history_state(HistoryRow(row.width, row.times, values))


class FollowUpRow(msgspec.Struct, tag="f", array_like=True):
    """A :class:`FollowUpState` as stored: ``entries`` holds three values per entry, its
    time (a :func:`time_code` delta from the previous one), its amount as an integer of
    ``scale`` decimals, and its event id; the triggers as they are."""

    triggers: list[Trigger]
    scale: int
    entries: list[int | str]


def _follow_up_row(state: FollowUpState) -> FollowUpRow | FollowUpState:
    scaled = to_scale([amount for _, amount, _ in state.entries])
    if scaled is None:  # amounts of different precisions: stored as they are
        return state
    scale, amounts = scaled
    entries: list[Any] = []
    previous = 0
    for (at, _, event_id), amount in zip(state.entries, amounts, strict=True):
        entries += (time_code(at - previous), amount, event_id)
        previous = at
    return FollowUpRow(state.triggers, scale, entries)


def _follow_up_state(row: FollowUpRow) -> FollowUpState:
    e: list[Any] = row.entries
    amounts = from_scale(row.scale, e[1::3])
    entries: list[tuple[int, Decimal, str]] = []
    at = 0
    for code, amount, event_id in zip(e[0::3], amounts, e[2::3], strict=True):
        at += from_time_code(code)
        entries.append((at, amount, event_id))  # type: ignore[arg-type]
    return FollowUpState(row.triggers, entries)


def to_scale(values: list[Decimal | None]) -> tuple[int, list[int | None]] | None:
    """``values`` as integers of one scale, when each has exactly that many decimals.

    Exact both ways, trailing zeros included (``1100.00`` is 110000 at scale 2 and comes
    back as ``1100.00``); None when the decimals differ, a value has an exponent above
    zero (``1E+3``), is not finite or is a negative zero: those are stored as they are.
    """
    scale: int | None = None
    out: list[int | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or exponent > 0 or (value == 0 and value.is_signed()):
            return None
        if scale is None:
            scale = -exponent
        elif scale != -exponent:
            return None
        numerator, denominator = value.as_integer_ratio()
        out.append(numerator * 10**scale // denominator)  # exact: an integer at this scale
    return scale or 0, out


#: scaleb in a context that cannot round: the digits stay as they were stored
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def from_scale(scale: int, values: list[Any]) -> list[Decimal | None]:
    """The Decimals :func:`to_scale` was given."""
    return [None if v is None else Decimal(v).scaleb(-scale, _EXACT) for v in values]


class OverdueRow(msgspec.Struct, tag="o", array_like=True):
    """An :class:`OverdueState` as stored: each account named once, times as deltas.

    ``events`` holds three values per regular event kept: its time (a :func:`time_code`
    delta from the previous one), its id, and its account's index in ``accounts`` (-1
    for none); ``amounts`` holds their amounts in the same order.
    """

    accounts: list[str]
    events: list[int | str]
    amounts: list[Decimal | None]
    next_check: int | None
    fired_for: str | None


def _overdue_row(state: OverdueState) -> OverdueRow:
    index: dict[str, int] = {}
    events: list[int | str] = []
    previous = 0
    for at, event_id, account, _ in state.seen:  # in time order: the deltas are >= 0
        number = -1 if account is None else index.setdefault(account, len(index))
        events += (time_code(at - previous), event_id, number)
        previous = at
    amounts = [amount for *_, amount in state.seen]
    return OverdueRow(list(index), events, amounts, state.next_check, state.fired_for)


def _overdue_state(row: OverdueRow) -> OverdueState:
    names = row.accounts
    e: list[Any] = row.events
    seen: list[tuple[int, str, str | None, Decimal | None]] = []
    at = 0
    for code, event_id, number, amount in zip(e[0::3], e[1::3], e[2::3], row.amounts, strict=True):
        at += from_time_code(code)
        seen.append((at, event_id, None if number < 0 else names[number], amount))
    return OverdueState(seen, row.next_check, row.fired_for)


#: in-memory block states stored in another form, and the way back
_TO_ROW: dict[type, Callable[[Any], Any]] = {
    BalanceState: balance_row,
    ActivityState: _activity_row,
    HistoryState: _history_row,
    OverdueState: _overdue_row,
    FollowUpState: _follow_up_row,
}
_FROM_ROW: dict[type, Callable[[Any], Any]] = {
    BalanceRow: balance_state,
    ActivityRow: _activity_state,
    ActivityDays: _activity_from_days,
    HistoryRow: _history_state,
    OverdueRow: _overdue_state,
    ScaledHistoryRow: _scaled_history_state,
    FollowUpRow: _follow_up_state,
}

if TYPE_CHECKING:
    StoredBlock: TypeAlias = (
        BlockState
        | BalanceRow
        | ActivityRow
        | ActivityDays
        | HistoryRow
        | OverdueRow
        | ScaledHistoryRow
        | FollowUpRow
    )
else:  # every block state as stored: the in-memory classes (the activity counts in their
    # earlier form), and the rows some are stored as
    StoredBlock = Union[
        (
            *(
                ActivityDays if t is ActivityState else t
                for t in get_args(BlockState)
                if t is not Unread  # written as the bytes it holds (stored_block)
            ),
            BalanceRow,
            ActivityRow,
            HistoryRow,
            OverdueRow,
            ScaledHistoryRow,
            FollowUpRow,
        )
    ]


def stored_block(block: BlockState) -> StoredBlock | msgspec.Raw:
    """A block's state as :func:`encode_state` writes it (some as their rows; a block
    never decoded as the bytes it was read from)."""
    if type(block) is Unread:
        return block.data
    to_row = _TO_ROW.get(type(block))
    return block if to_row is None else to_row(block)


def in_memory(block: StoredBlock) -> BlockState:
    back = _FROM_ROW.get(type(block))
    return block if back is None else back(block)  # type: ignore[return-value]


#: the engine's reading of a block back: a balance with its postings left as stored
_READ_BACK: dict[type, Callable[[Any], Any]] = {**_FROM_ROW, BalanceRow: read_balance}


def read_back(block: StoredBlock) -> BlockState:
    """The block as the engine reads it back (:func:`in_memory` but for the balance,
    whose postings stay as stored until a rule reads them: rules/balance_row.py)."""
    back = _READ_BACK.get(type(block))
    return block if back is None else back(block)  # type: ignore[return-value]
