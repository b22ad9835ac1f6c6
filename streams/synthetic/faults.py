"""What a real event bus does to clean lines: close events out of order, and bad lines.

A consumer must give the same alerts when a customer's events arrive a few minutes out of
order, and must dead-letter every malformed or hostile line without stopping. These draw
from their own random streams, so the valid lines stay the same bytes whatever share of
disorder and damage a spec asks for.
"""

from __future__ import annotations

import random

import msgspec

from churnwatch.streams.synthetic.world import Item

__all__ = ["BOM", "SHUFFLE_WINDOW", "corrupt", "shuffle"]

SHUFFLE_WINDOW = 900  # seconds: "a few minutes apart"
BOM = b"\xef\xbb\xbf"


def shuffle(items: list[Item], share: float, rng: random.Random) -> list[Item]:
    """Swap some same-customer pairs at most a few minutes apart, as a real bus does."""
    order = list(range(len(items)))
    last: dict[int, int] = {}
    for pos, (sec, index, _) in enumerate(items):
        prev, last[index] = last.get(index), pos
        close = index >= 0 and prev is not None and sec - items[prev][0] <= SHUFFLE_WINDOW
        if close and prev is not None and rng.random() < share:
            order[prev], order[pos] = pos, prev
            del last[index]  # no chains: each event moves at most once
    return [items[i] for i in order]


def _hostile(bad: dict[str, object], rng: random.Random) -> bytes:
    """A line that parses and types, with a value no bank sends (decode must refuse it)."""
    raw = msgspec.json.encode(bad)
    amount = str(bad["amount"])
    kind = rng.randrange(9)
    if kind == 0:
        bad["amount"] = rng.choice(("1e999999999", "5E3", "1.5e2"))
    elif kind == 1:
        bad["amount"] = "1234567890123456789012345678"  # 28 digits
    elif kind == 2:
        bad["amount"] = amount.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    elif kind == 3:
        bad["amount"] = amount[:1] + "_" + amount[1:]
    elif kind == 4:
        bad["amount"] = f" {amount} "
    elif kind == 5:
        bad["amount"] = amount + "7"  # one decimal more than the currency has
    elif kind == 6:
        bad["occurred_at"] = "9999" + str(bad["occurred_at"])[4:]
    elif kind == 7:  # nested a thousand deep in an extra field
        return raw[:-1] + b',"note":' + b"[" * 1000 + b"]" * 1000 + b"}"
    else:  # the amount written twice
        return raw[:-1] + b',"amount":"1.00"}'
    return msgspec.json.encode(bad)


def corrupt(rec: dict[str, object], rng: random.Random, n: int) -> bytes:
    """One bad line derived from a good transaction, of a kind the decoder must catch."""
    bad = {**rec, "event_id": f"bad-{n:07d}"}
    kind = rng.randrange(8)
    if kind == 0:  # truncated JSON, cut on an ASCII byte so it stays valid UTF-8
        raw = msgspec.json.encode(bad)
        cut = len(raw) // 2
        while raw[cut] >= 0x80:
            cut -= 1
        return raw[:cut]
    if kind == 1:
        del bad[rng.choice(("customer_id", "account_id", "amount", "direction"))]
    elif kind == 2:
        bad["amount"] = f"-{rec['amount']}"
    elif kind == 3:  # no UTC offset, or not ISO 8601 at all
        stamp = str(rec["occurred_at"])
        bad["occurred_at"] = stamp[:19] if n % 2 else stamp[:10].replace("-", "/") + stamp[10:16]
    elif kind == 4:
        return BOM + msgspec.json.encode(bad)
    elif kind == 5:
        bad["type"] = "transfer_request"
    else:
        return _hostile(bad, rng)
    return msgspec.json.encode(bad)
