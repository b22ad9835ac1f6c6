"""A customer's state as stored: versioned, compact, and readable from every earlier version.

The worker writes every changed state to its changelog (and local RocksDB) at each
checkpoint and reads them back on a restart or a rebalance; the isolation journal keeps
snapshots in it. So the stored form is made small and cheap, and it carries a version.

Version 2 (this one): a msgpack array led by the version, with the balance window in
integer minor units, its accounts named once, times as small deltas and derived figures
left out (rebuilt on decode). Version 1 (before it) was the state's structs written as
msgpack maps with Decimals; :func:`decode_state` still reads it and upgrades it
(rules/state_v1.py), so states already in a changelog or a local store load after an
upgrade of churnwatch, and are written as version 2 at their next change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args

import msgspec

from churnwatch.rules.state import (
    BalanceState,
    BlockState,
    CustomerProfile,
    CustomerState,
    Observation,
    rebuild_balance,
)
from churnwatch.rules.state_v1 import decode_v1

__all__ = [
    "FORMAT_VERSION",
    "BalanceRow",
    "decode_state",
    "encode_state",
    "from_time_code",
    "stored_block",
    "time_code",
]

#: the version :func:`encode_state` writes
FORMAT_VERSION = 2


class BalanceRow(msgspec.Struct, tag="balance", array_like=True):
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
    for obs in state.observations:
        postings += (
            time_code(obs.at - previous),
            index.setdefault(obs.account_id, len(index)),
            obs.balance_after,
            obs.parked_delta,
            obs.balance_before,
        )
        previous = obs.at
    return BalanceRow(
        state.scale, list(index), base, state.base_parked, postings, state.peak, state.peak_at
    )


def _balance_state(row: BalanceRow) -> BalanceState:
    names = row.accounts
    base = row.base
    state = BalanceState(
        scale=row.scale,
        base_accounts={names[base[i]]: (base[i + 1], base[i + 2]) for i in range(0, len(base), 3)},
        base_parked=row.base_parked,
        peak=row.peak,
        peak_at=row.peak_at,
    )
    at = 0
    postings: list[Any] = row.postings
    observations = state.observations
    for i in range(0, len(postings), 5):
        code, account, after, parked, before = postings[i : i + 5]
        at += from_time_code(code)
        observations.append(Observation(at, names[account], before, after, parked))
    rebuild_balance(state)
    return state


if TYPE_CHECKING:
    StoredBlock: TypeAlias = BlockState | BalanceRow
else:  # every block state as stored: the in-memory classes, the balance as its row
    StoredBlock = Union[  # noqa: UP007 (built from a tuple, so a block added later is in)
        tuple(BalanceRow if t is BalanceState else t for t in get_args(BlockState))
    ]


class _Stored(msgspec.Struct, array_like=True):
    version: int
    customer: CustomerProfile | None
    customer_at: int
    watermark: int
    #: remembered event ids, and their times as :func:`time_code` before the watermark
    seen: list[str]
    seen_at: list[int]
    blocks: dict[str, StoredBlock]
    last_alert_at: dict[str, int]
    pruned_at: int


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Stored)


def stored_block(block: BlockState) -> StoredBlock:
    """A block's state as :func:`encode_state` writes it (the balance as its row)."""
    return _balance_row(block) if type(block) is BalanceState else block


def encode_state(state: CustomerState) -> bytes:
    """The state in the current stored form (:data:`FORMAT_VERSION`)."""
    watermark = state.watermark
    blocks = {
        rule_id: _balance_row(block) if type(block) is BalanceState else block
        for rule_id, block in state.blocks.items()
    }
    return _encoder.encode(
        _Stored(
            FORMAT_VERSION,
            state.customer,
            state.customer_at,
            watermark,
            list(state.seen),
            [time_code(watermark - at) for at in state.seen.values()],
            blocks,
            state.last_alert_at,
            state.pruned_at,
        )
    )


def decode_state(data: bytes) -> CustomerState:
    """A stored state of any version this churnwatch knows, as the current model."""
    if (data[:1] and 0x80 <= data[0] <= 0x8F) or data[:1] in (b"\xde", b"\xdf"):
        return decode_v1(data)  # a map: version 1, from before versions
    if len(data) > 1 and 0x90 <= data[0] <= 0x9F and data[1] != FORMAT_VERSION:
        raise ValueError(
            f"customer state in format version {data[1]}; this churnwatch reads versions 1 "
            f"to {FORMAT_VERSION} (a newer churnwatch wrote it: upgrade this one)"
        )
    stored = _decoder.decode(data)
    watermark = stored.watermark
    return CustomerState(
        customer=stored.customer,
        customer_at=stored.customer_at,
        watermark=watermark,
        seen={
            eid: watermark - from_time_code(code)
            for eid, code in zip(stored.seen, stored.seen_at, strict=True)
        },
        blocks={
            rule_id: _balance_state(block) if isinstance(block, BalanceRow) else block
            for rule_id, block in stored.blocks.items()
        },
        last_alert_at=stored.last_alert_at,
        pruned_at=stored.pruned_at,
    )
