"""Block states stored in another form than they are held: smaller, and cheap to rebuild.

The stored form (rules/codec.py) writes most block states as they are; a few are
written as a row instead: integer money, accounts and names written once, times as
small deltas, and the figures that follow from the rest left out (rebuilt on reading).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args

import msgspec

from churnwatch.rules.state import (
    ActivityState,
    BalanceState,
    BlockState,
    HistoryState,
    Observation,
    OverdueState,
)

__all__ = [
    "ActivityRow",
    "BalanceRow",
    "HistoryRow",
    "OverdueRow",
    "StoredBlock",
    "from_time_code",
    "in_memory",
    "stored_block",
    "time_code",
]


class BalanceRow(msgspec.Struct, tag="b", array_like=True):
    """A :class:`BalanceState` as stored: what the running figures are rebuilt from.

    ``base`` holds, per account before the window, its index in ``accounts``, the time
    and the balance; ``postings`` holds, per observation, five values: the time (as a
    :func:`time_code` delta from the previous posting), the account's index, the
    balance after, the money parked, and the balance before (None when not kept).
    """

    scale: int
    accounts: list[str]
    base: list[int]
    base_parked: int
    postings: list[int | None]
    peak: int
    peak_at: int


def time_code(micros: int) -> int:
    """A time difference small on the wire: whole seconds doubled, else µs doubled plus one."""
    if micros % 1_000_000 == 0:
        return micros // 500_000
    return micros * 2 + 1


def from_time_code(code: int) -> int:
    return (code - 1) // 2 if code & 1 else code * 500_000


def _balance_row(state: BalanceState) -> BalanceRow:
    index: dict[str, int] = {}
    base: list[int] = []
    for account, (at, balance) in state.base_accounts.items():
        base += (index.setdefault(account, len(index)), at, balance)
    postings: list[int | None] = []
    previous = 0
    for obs in state.observations:  # time_code inlined: this runs for every posting kept
        at = obs.at
        delta = at - previous
        previous = at
        number = index.get(obs.account_id)
        if number is None:
            number = index[obs.account_id] = len(index)
        postings += (
            delta // 500_000 if delta % 1_000_000 == 0 else delta * 2 + 1,
            number,
            obs.balance_after,
            obs.parked_delta,
            obs.balance_before,
        )
    return BalanceRow(
        state.scale, list(index), base, state.base_parked, postings, state.peak, state.peak_at
    )


def _balance_state(row: BalanceRow) -> BalanceState:
    names = row.accounts
    base = row.base
    accounts = {names[base[i]]: base[i + 2] for i in range(0, len(base), 3)}
    parked = row.base_parked
    total = sum(accounts.values()) + parked
    state = BalanceState(
        row.scale,
        {names[base[i]]: (base[i + 1], base[i + 2]) for i in range(0, len(base), 3)},
        parked,
        peak=row.peak,
        peak_at=row.peak_at,
    )
    at = 0
    p: list[Any] = row.postings
    observations = state.observations
    # the postings again, their running totals rebuilt as they come (post_balance inlined)
    for code, index, after, moved, before in zip(
        p[0::5], p[1::5], p[2::5], p[3::5], p[4::5], strict=True
    ):
        at += (code - 1) // 2 if code & 1 else code * 500_000
        account = names[index]
        previous = accounts.get(account)
        if previous is None:
            previous = before
            total += previous
        total_before = total
        delta = -parked if parked + moved < 0 else moved
        total += after - previous + delta
        parked += delta
        accounts[account] = after
        observations.append(Observation(at, account, before, after, moved, total_before, total))
    state.accounts = accounts
    state.total = total
    state.parked = parked
    return state


class ActivityRow(msgspec.Struct, tag="a", array_like=True):
    """An :class:`ActivityState` as stored: the per-day counts as one dense run from ``first``."""

    first: int
    counts: list[int]
    next_check: int | None
    through: int
    recent: int
    baseline: int


def _activity_row(state: ActivityState) -> ActivityRow:
    days = state.days
    first = min(days, default=0)
    counts = [0] * (max(days) - first + 1) if days else []
    for day, count in days.items():
        counts[day - first] = count
    return ActivityRow(first, counts, state.next_check, state.through, state.recent, state.baseline)


def _activity_state(row: ActivityRow) -> ActivityState:
    first = row.first
    return ActivityState(
        {first + offset: count for offset, count in enumerate(row.counts) if count},
        row.next_check,
        row.through,
        row.recent,
        row.baseline,
    )


class HistoryRow(msgspec.Struct, tag="h", array_like=True):
    """A :class:`HistoryState` as stored: times as deltas, the values in one flat run."""

    width: int
    times: list[int]
    values: list[Decimal | None]


def _history_row(state: HistoryState) -> HistoryRow | HistoryState:
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
    return HistoryRow(width, times, values)


def _history_state(row: HistoryRow) -> HistoryState:
    width, values = row.width, row.values
    entries: list[tuple[int, tuple[Decimal | None, ...]]] = []
    at = 0
    for i, code in enumerate(row.times):
        at += (code - 1) // 2 if code & 1 else code * 500_000
        entries.append((at, tuple(values[i * width : i * width + width])))
    return HistoryState(entries)


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
    BalanceState: _balance_row,
    ActivityState: _activity_row,
    HistoryState: _history_row,
    OverdueState: _overdue_row,
}
_FROM_ROW: dict[type, Callable[[Any], Any]] = {
    BalanceRow: _balance_state,
    ActivityRow: _activity_state,
    HistoryRow: _history_state,
    OverdueRow: _overdue_state,
}

if TYPE_CHECKING:
    StoredBlock: TypeAlias = BlockState | BalanceRow | ActivityRow | HistoryRow | OverdueRow
else:  # every block state as stored: the in-memory classes, and the rows some are stored as
    StoredBlock = Union[(*get_args(BlockState), BalanceRow, ActivityRow, HistoryRow, OverdueRow)]


def stored_block(block: BlockState) -> StoredBlock:
    """A block's state as :func:`encode_state` writes it (some as their rows)."""
    to_row = _TO_ROW.get(type(block))
    return block if to_row is None else to_row(block)


def in_memory(block: StoredBlock) -> BlockState:
    back = _FROM_ROW.get(type(block))
    return block if back is None else back(block)  # type: ignore[return-value]
