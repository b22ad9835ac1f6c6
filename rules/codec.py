"""A customer's state as stored: versioned, compact, and readable from every earlier version.

The worker writes every changed state to its changelog (and local RocksDB) at each
checkpoint and reads them back on a restart or a rebalance; the isolation journal keeps
snapshots in it. So the stored form is made small and cheap, and it carries a version.

Version 6 (this one) is version 5 with each rule named by a 32-bit digest of its id
(rules/rule_keys.py) in the blocks and the last alert times, where it was the id: about
a seventh of a busy customer's stored state. A string key still reads as the id itself,
so versions 2-5 read as before.

Version 5 is version 4 with the worker's input positions as a last element.

Version 4 is version 3 with the customer's churn score contributions
(rules/score.py) as a last element, after the watches, left out when there are none: as
``[time code before the watermark, rule id, weight]`` runs in one flat list. A state
without contributions is the same bytes as in version 3 but for the version number, and
a version 3 state reads as one with no contribution.

Version 3 is version 2 with the customer's open outcome watches
(rules/outcomes.py) as a last element, left out when there are none: a state without
watches is the same bytes as in version 2 but for the version number, and a version 2
state reads as one with no watch.

Version 2: a msgpack array led by the version, with the balance window in
integer minor units, its accounts named once, times as small deltas and derived figures
left out (rebuilt on decode), the activity counts as one dense run of days, the history
entries' times as deltas, and the stored rows tagged with one letter. Version 1
(before it) was the state's structs written as msgpack maps with Decimals;
:func:`decode_state` still reads it and upgrades it (rules/state_v1.py), so states already
in a changelog or a local store load after an upgrade of churnwatch, and are written as
version 2 at their next change.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args

import msgspec

from churnwatch.rules.rule_keys import IDS, KEYS, rule_id_of, rule_key
from churnwatch.rules.state import (
    ActivityState,
    BalanceState,
    BlockState,
    CustomerProfile,
    CustomerState,
    HistoryState,
    Observation,
    Watch,
)
from churnwatch.rules.state_v1 import decode_v1

__all__ = [
    "FORMAT_VERSION",
    "ActivityRow",
    "BalanceRow",
    "HistoryRow",
    "decode_state",
    "encode_state",
    "from_time_code",
    "stored_block",
    "time_code",
]

#: the version :func:`encode_state` writes
FORMAT_VERSION = 6
#: the array versions :func:`decode_state` reads as they are (version 1 is a map)
ARRAY_VERSIONS = (2, 3, 4, 5, 6)


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


#: in-memory block states stored in another form, and the way back
_TO_ROW: dict[type, Callable[[Any], Any]] = {
    BalanceState: _balance_row,
    ActivityState: _activity_row,
    HistoryState: _history_row,
}
_FROM_ROW: dict[type, Callable[[Any], Any]] = {
    BalanceRow: _balance_state,
    ActivityRow: _activity_state,
    HistoryRow: _history_state,
}

if TYPE_CHECKING:
    StoredBlock: TypeAlias = BlockState | BalanceRow | ActivityRow | HistoryRow
else:  # every block state as stored: the in-memory classes, and the rows some are stored as
    StoredBlock = Union[(*get_args(BlockState), BalanceRow, ActivityRow, HistoryRow)]


class _Stored(msgspec.Struct, array_like=True):
    version: int
    customer: CustomerProfile | None
    customer_at: int
    watermark: int
    #: remembered event ids, and their times as :func:`time_code` before the watermark
    seen: list[str]
    seen_at: list[int]
    #: by rule: its key (rules/rule_keys.py; an id string before version 6)
    blocks: dict[int | str, StoredBlock]
    last_alert_at: dict[int | str, int]
    pruned_at: int


class _StoredWatched(_Stored, array_like=True):
    """A state with open outcome watches; decodes every array version (none: no watch)."""

    watches: list[Watch] = msgspec.field(default_factory=list)


class _StoredScored(_StoredWatched, array_like=True):
    """A state with churn score contributions; decodes every array version (none: none)."""

    score: list[int | str] = msgspec.field(default_factory=list)


def _score_row(contributions: list[tuple[int, str, int]], watermark: int) -> list[int | str]:
    row: list[int | str] = []
    for at, rule_id, weight in contributions:
        row += (time_code(watermark - at), rule_id, weight)
    return row


def _score_contributions(row: list[Any], watermark: int) -> list[tuple[int, str, int]]:
    return [
        (watermark - from_time_code(code), rule_id, weight)
        for code, rule_id, weight in zip(row[0::3], row[1::3], row[2::3], strict=True)
    ]


class _StoredPlaced(_StoredScored, array_like=True):
    """A state with the worker's input positions (version 5 on); decodes every array
    version: what an older version did not write reads as none."""

    offsets: dict[int, int] = msgspec.field(default_factory=dict)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_StoredPlaced)


def stored_block(block: BlockState) -> StoredBlock:
    """A block's state as :func:`encode_state` writes it (some as their rows)."""
    to_row = _TO_ROW.get(type(block))
    return block if to_row is None else to_row(block)


def _in_memory(block: StoredBlock) -> BlockState:
    back = _FROM_ROW.get(type(block))
    return block if back is None else back(block)  # type: ignore[return-value]


def encode_state(state: CustomerState) -> bytes:
    """The state in the current stored form (:data:`FORMAT_VERSION`)."""
    watermark = state.watermark
    keys = KEYS
    blocks: dict[int | str, StoredBlock] = {
        keys.get(rule_id) or rule_key(rule_id): stored_block(block)
        for rule_id, block in state.blocks.items()
    }
    last_alert_at: dict[int | str, int] = {
        keys.get(rule_id) or rule_key(rule_id): at for rule_id, at in state.last_alert_at.items()
    }
    common = (
        FORMAT_VERSION,
        state.customer,
        state.customer_at,
        watermark,
        list(state.seen),
        [time_code(watermark - at) for at in state.seen.values()],
        blocks,
        last_alert_at,
        state.pruned_at,
    )
    # the optional fields trail; a state without them costs no byte for them
    if state.offsets:
        scored = _score_row(state.score, watermark)
        return _encoder.encode(_StoredPlaced(*common, state.watches, scored, state.offsets))
    if state.score:
        scored = _score_row(state.score, watermark)
        return _encoder.encode(_StoredScored(*common, state.watches, scored))
    if state.watches:
        return _encoder.encode(_StoredWatched(*common, state.watches))
    return _encoder.encode(_Stored(*common))


def decode_state(data: bytes) -> CustomerState:
    """A stored state of any version this churnwatch knows, as the current model."""
    if (data[:1] and 0x80 <= data[0] <= 0x8F) or data[:1] in (b"\xde", b"\xdf"):
        return decode_v1(data)  # a map: version 1, from before versions
    if len(data) > 1 and 0x90 <= data[0] <= 0x9F and data[1] not in ARRAY_VERSIONS:
        raise ValueError(
            f"customer state in format version {data[1]}; this churnwatch reads versions 1 "
            f"to {FORMAT_VERSION} (a newer churnwatch wrote it: upgrade this one)"
        )
    stored = _decoder.decode(data)
    watermark = stored.watermark
    ids: dict[Any, str] = IDS  # a string key (before version 6) is not in it
    return CustomerState(
        customer=stored.customer,
        customer_at=stored.customer_at,
        watermark=watermark,
        seen={
            eid: watermark - from_time_code(code)
            for eid, code in zip(stored.seen, stored.seen_at, strict=True)
        },
        blocks={
            ids.get(key) or rule_id_of(key): _in_memory(block)
            for key, block in stored.blocks.items()
        },
        last_alert_at={
            ids.get(key) or rule_id_of(key): at for key, at in stored.last_alert_at.items()
        },
        pruned_at=stored.pruned_at,
        watches=stored.watches,
        score=_score_contributions(stored.score, watermark),
        offsets=stored.offsets,
    )
