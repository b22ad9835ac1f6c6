"""How a stored state names rules: a 32-bit digest of the rule id, not the id itself.

Why. Every customer's state keeps one block per rule it has met, keyed by rule id, and
the ids (``large-transfer-out-relative``) were the largest single part of a stored state:
about 170 of its 1,230 bytes on a generated bank after half a year. A digest takes 5
bytes in msgpack. The worker writes every changed state to its changelog and its local
store, so bytes saved here are saved on the broker, on disk and in the working set.

A digest is turned back into the id through the ids this process has met: the loader
registers every rule of a pack it loads (before a worker restores any state), and
encoding registers the ids it writes. A digest no rule of this process has (a rule
since removed from the pack) reads as ``#`` and the digest in hex, and is written back
as the same digest, so nothing is lost; the engine drops such a block at its next prune,
as it drops the block of any rule a reload took away. Two ids of one pack with the same
digest (about one pack in a million, at a hundred rules) are refused when the pack
loads: renaming either rule fixes it. Older stored versions keep their ids as strings,
and a string key reads as itself.
"""

from __future__ import annotations

import hashlib

__all__ = ["IDS", "KEYS", "RuleKeyClash", "digest_of", "rule_id_of", "rule_key"]

#: rule id -> the key it is stored under, and each digest -> the id it stands for; the
#: codec reads them directly (one dict lookup per block instead of a call); only
#: :func:`rule_key` writes them
KEYS: dict[str, int] = {}
IDS: dict[int, str] = {}
UNKNOWN = "#"


class RuleKeyClash(ValueError):
    """Two rule ids have the same stored key: one of the rules needs another id."""


def digest_of(rule_id: str) -> int:
    """The 32-bit digest a rule id is stored under (the same in every process)."""
    return int.from_bytes(hashlib.blake2b(rule_id.encode(), digest_size=4).digest(), "big")


def rule_key(rule_id: str) -> int:
    """The key ``rule_id`` is stored under (a block of an unknown rule: its own digest)."""
    key = KEYS.get(rule_id)
    if key is not None:
        return key
    if rule_id.startswith(UNKNOWN):
        return int(rule_id[len(UNKNOWN) :], 16)
    key = digest_of(rule_id)
    owner = IDS.setdefault(key, rule_id)
    if owner != rule_id:
        raise RuleKeyClash(
            f"rules {owner!r} and {rule_id!r} have the same stored key; rename one of them"
        )
    KEYS[rule_id] = key
    return key


def rule_id_of(key: int | str) -> str:
    """The rule id a stored key stands for (a string key, from an older version: itself)."""
    if isinstance(key, str):
        return key
    rule_id = IDS.get(key)
    return rule_id if rule_id is not None else f"{UNKNOWN}{key:08x}"
