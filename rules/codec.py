"""A customer's state as stored: versioned, compact, and readable from every earlier version.

The worker writes every changed state to its changelog (and local RocksDB) at each
checkpoint and reads them back on a restart or a rebalance; the isolation journal keeps
snapshots in it. So the stored form is made small and cheap, and it carries a version.

Reading lazily. The worker's cold reads (a customer not in its working set, read from
RocksDB: streams/worker/state_cache.py) ask for ``decode_state(data, lazy=True)``: the
state's own fields are decoded, each block is kept as its bytes (rules/state.py's
``Unread``) and decoded the first time a rule reads it (``Engine.thaw``); a block no rule
read is written back as the same bytes. A posting reads two of the shipped pack's ten
blocks, so this halves the decoding of a cold read (bench/store_bench.py). Only the
current version is read so; an older one is decoded whole and upgraded.

Version 6 (this one) is version 5 with each rule named by a 32-bit digest of its id
(rules/rule_keys.py) in the blocks and the last alert times, where it was the id: about
a seventh of a busy customer's stored state; and overdue and follow-up blocks as rows
(rules/stored_rows.py), with times as deltas, accounts named once and amounts of one
precision as integers, as are a history's values. A string key still reads as the id
itself, so versions 2-5 read as before.

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
entries' times as deltas, and the stored rows (rules/stored_rows.py) tagged with one
letter. Version 1
(before it) was the state's structs written as msgpack maps with Decimals;
:func:`decode_state` still reads it and upgrades it (rules/state_v1.py), so states already
in a changelog or a local store load after an upgrade of churnwatch, and are written as
version 2 at their next change.
"""

from __future__ import annotations

from typing import Any

import msgspec

from churnwatch.rules.rule_keys import IDS, KEYS, rule_id_of, rule_key
from churnwatch.rules.state import BlockState, CustomerProfile, CustomerState, Unread, Watch
from churnwatch.rules.state_v1 import decode_v1
from churnwatch.rules.stored_rows import StoredBlock, in_memory, read_back, stored_block
from churnwatch.rules.time_codes import from_time_code, time_code

__all__ = [
    "FORMAT_VERSION",
    "decode_state",
    "encode_state",
    "read_block",
    "stored_block",
    "thaw_all",
]

#: the version :func:`encode_state` writes
FORMAT_VERSION = 6
#: the array versions :func:`decode_state` reads as they are (version 1 is a map)
ARRAY_VERSIONS = (2, 3, 4, 5, 6)


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


class _StoredUnread(_StoredPlaced, array_like=True):
    """A state of the current version with its blocks left as their bytes (lazy decoding)."""

    blocks: dict[int, msgspec.Raw]  # type: ignore[assignment]  # the same field, undecoded


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_StoredPlaced)
_unread_decoder = msgspec.msgpack.Decoder(_StoredUnread)
_block_decoder: msgspec.msgpack.Decoder[StoredBlock] = msgspec.msgpack.Decoder(StoredBlock)


def encode_state(state: CustomerState) -> bytes:
    """The state in the current stored form (:data:`FORMAT_VERSION`)."""
    watermark = state.watermark
    keys = KEYS
    # a block never decoded is written as its bytes (a msgspec.Raw): no StoredBlock
    blocks: dict[int | str, Any] = {
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


def decode_state(data: bytes, *, lazy: bool = False) -> CustomerState:
    """A stored state of any version this churnwatch knows, as the current model.

    ``lazy``: a state of the current version keeps each block as its stored bytes
    (:class:`Unread`) until a rule reads it (``Engine.thaw``, :func:`read_block`); the
    worker reads its cold customers so.
    """
    if lazy and data[1:2] == _CURRENT:
        return _decode_unread(data)
    if (data[:1] and 0x80 <= data[0] <= 0x8F) or data[:1] in (b"\xde", b"\xdf"):
        return decode_v1(data)  # a map: version 1, from before versions
    if len(data) > 1 and 0x90 <= data[0] <= 0x9F and data[1] not in ARRAY_VERSIONS:
        raise ValueError(
            f"customer state in format version {data[1]}; this churnwatch reads versions 1 "
            f"to {FORMAT_VERSION} (a newer churnwatch wrote it: upgrade this one)"
        )
    stored = _decoder.decode(data)
    ids: dict[Any, str] = IDS  # a string key (before version 6) is not in it
    blocks = {ids.get(key) or rule_id_of(key): in_memory(b) for key, b in stored.blocks.items()}
    return _state(stored, blocks)


_CURRENT = bytes((FORMAT_VERSION,))


def _decode_unread(data: bytes) -> CustomerState:
    stored = _unread_decoder.decode(data)
    pruned_at = stored.pruned_at
    ids = IDS
    unread: dict[str, BlockState] = {
        ids.get(key) or rule_id_of(key): Unread(block, pruned_at)
        for key, block in stored.blocks.items()
    }
    return _state(stored, unread)


def _state(stored: _StoredPlaced | _StoredUnread, blocks: dict[str, BlockState]) -> CustomerState:
    """The state of its stored fields, with its blocks as the caller read them."""
    watermark = stored.watermark
    ids: dict[Any, str] = IDS
    return CustomerState(
        customer=stored.customer,
        customer_at=stored.customer_at,
        watermark=watermark,
        seen={
            eid: watermark - from_time_code(code)
            for eid, code in zip(stored.seen, stored.seen_at, strict=True)
        },
        blocks=blocks,
        last_alert_at={
            ids.get(key) or rule_id_of(key): at for key, at in stored.last_alert_at.items()
        },
        pruned_at=stored.pruned_at,
        watches=stored.watches,
        score=_score_contributions(stored.score, watermark),
        offsets=stored.offsets,
    )


def read_block(block: Unread, *, whole: bool = False) -> BlockState:
    """The block a lazily decoded state holds as its stored bytes, decoded (not pruned).

    A balance keeps its postings as stored until a rule reads them (rules/state.py's
    BalanceState), unless ``whole``: then it is the block :func:`decode_state` gives.
    """
    stored = _block_decoder.decode(block.data)
    return in_memory(stored) if whole else read_back(stored)


def thaw_all(state: CustomerState) -> CustomerState:
    """The state with every block decoded, as :func:`decode_state` without ``lazy`` gives
    it (for tools and tests that read every block; the engine decodes one as it needs it)."""
    for rule_id, block in state.blocks.items():
        if type(block) is Unread:
            state.blocks[rule_id] = read_block(block, whole=True)
    return state
