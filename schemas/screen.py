"""What a bank can never send, refused at decode so that it never reaches a rule.

The typed models accept what Python's ``Decimal`` and ``datetime`` accept, and that is
far more than a core banking system ever writes: ``"1e999999999"`` (an amount that
overflows the balance tracker), ``"１２３"`` in full-width digits, ``"1_000"``, a 28-digit
amount, the year 9999 (which overflows the timers), a line nested a thousand deep
(which overflows Python's stack), a key written twice (which one did the bank mean?).
Each of these becomes a dead letter with its own reason code here, so the rules only
ever see money a ledger could hold and times a timer can schedule.

msgspec gives no hook for repeated keys nor for a number's source text, so the checks
decode the message a second time into its fields' raw JSON text and count its keys.
Counting needs the compact form (``msgspec.json.format``) only when the message has
escapes or whitespace around its tokens; compact JSON without escapes, what a bank's
producer writes, is counted as it came, which halves the key check.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from babel.numbers import get_currency_precision

from churnwatch.schemas.models import (
    CustomerEvent,
    Event,
    ProductEvent,
    StaffEvent,
    TransactionEvent,
)

__all__ = [
    "DEFAULT_LIMITS",
    "EARLIEST",
    "LATEST",
    "MAX_DEPTH",
    "Limits",
    "Problem",
    "plain_amount",
    "plain_money",
    "screen",
    "screen_depth",
]

#: the contract's deepest value is ``counterparty.*`` at depth 2; extra fields may nest
#: a little, but nothing a bank sends is deeper than this
MAX_DEPTH = 8
#: event time (``occurred_at``, the wall time it was written in) must fall in these years
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2099, 12, 31)
#: dates (``birthday``, ``maturity_date``) must fall in these years
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)

#: (reason code, reason); the codes are listed in decode's ``ReasonCode``
Problem = tuple[str, str]


class Limits(msgspec.Struct, frozen=True):
    """What decode accepts; ``max_amount`` is a setting (``max_amount`` in the config)."""

    #: the largest amount, balance or AUM accepted, in the currency's units
    max_amount: Decimal = Decimal(10) ** 15
    max_depth: int = MAX_DEPTH


DEFAULT_LIMITS = Limits()

_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])
#: money as a JSON number or string: ASCII digits, an optional sign and point, nothing else
_PLAIN = re.compile(rb'("?)-?[0-9]+(?:\.([0-9]+))?\1\Z')
_PLAIN_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z", re.ASCII)
_EXPONENT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?[eE][-+]?[0-9]+\Z", re.ASCII)
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_MONEY: dict[type[Event], tuple[str, ...]] = {
    TransactionEvent: ("amount", "balance_after"),
    ProductEvent: ("amount",),
    CustomerEvent: ("aum",),
    StaffEvent: (),
}
#: single bytes as ints: ``int in bytes`` is a memchr, several times faster than a
#: one-byte ``bytes in bytes`` on CPython 3.11. A longer one is ``raw.find(sub) < 0``:
#: ``sub in raw`` first tries ``sub`` as an int, then raises and clears a TypeError whose
#: message costs more instructions than the search itself (callgrind)
BACKSLASH, LINE_FEED, TAB, CARRIAGE_RETURN, SPACE, BRACKET = b"\\\n\t\r ["
_DATES = ("birthday", "maturity_date")
_DATED = (CustomerEvent, ProductEvent)
_precision: dict[str, int] = {}
_plain_by_currency: dict[str, Callable[[bytes], re.Match[bytes] | None]] = {}
#: EARLIEST and LATEST are whole years, so the event time's year alone says it is in range
FIRST_YEAR, LAST_YEAR = EARLIEST.year, LATEST.year


def screen_depth(raw: bytes, max_depth: int = MAX_DEPTH) -> Problem | None:
    """Refuse nesting deeper than ``max_depth`` before any parser recurses into it."""
    opened = raw.count(b"{")
    if BRACKET in raw:
        opened += raw.count(b"[")
    if opened <= max_depth:
        return None  # cannot be deeper than the number of brackets it opens
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", raw)):
        if bracket in (b"{", b"["):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > max_depth:
                    return (
                        "too_deep",
                        f"JSON nested more than {max_depth} levels deep; an event is one "
                        "object whose deepest field (counterparty) is 2 levels deep",
                    )
        else:
            depth -= 1
    return None


def screen(raw: bytes, event: Event, limits: Limits = DEFAULT_LIMITS) -> Problem | None:
    """Why a well-typed ``event`` is still not something a bank sends, or None.

    The common case (an event in range, keys written once, plain money) costs one
    decode of the fields' raw text, one count of keys, and one match per money field.
    """
    kind = type(event)
    if not FIRST_YEAR <= event.occurred_at.year <= LAST_YEAR or kind in _DATED:
        problem = _screen_times(event)
        if problem is not None:
            return problem
    fields = _fields.decode(raw)  # an object: the typed decode passed
    if _may_repeat_keys(raw, fields, kind is TransactionEvent):
        repeated = _repeated_key(raw)
        if repeated is not None:
            return (
                "duplicate_key",
                f"{_tag(event)}: key `{repeated}` appears twice in one object; "
                "send each field once",
            )
    names = _MONEY[kind]
    if names:
        currency = getattr(event, "currency", "CNY")
        plain = _plain_by_currency.get(currency) or plain_money(currency)  # one call less
        #: a plain number written in at most this many characters is below max_amount
        short = limits.max_amount.adjusted()
        for name in names:
            value = fields.get(name)
            if value is None:
                continue
            amount: Decimal | None = getattr(event, name)
            if amount is None:
                continue
            if plain(value) is None or (len(value) > short and abs(amount) > limits.max_amount):
                return _money_problem(event, name, bytes(value), limits)
    return None


def plain_money(currency: str) -> Callable[[bytes], re.Match[bytes] | None]:
    """The match of plain money with at most the currency's decimals (cached per currency).

    A text of n characters that matches spells a number below 10^n, which is how
    :func:`screen` skips comparing it with ``max_amount`` when n is small enough.
    """
    match = _plain_by_currency.get(currency)
    if match is None:
        amount = plain_amount(currency).encode()
        pattern = re.compile(rb'("?)' + amount + rb"\1\Z")
        match = _plain_by_currency[currency] = pattern.match
    return match


def plain_amount(currency: str) -> str:
    """The pattern of a plain amount in ``currency``, as its text (no quotes, no anchor).

    ASCII digits, an optional minus and point, and no more decimals than the currency
    has: what :func:`plain_money` matches, and what the one parse of a posting
    (``schemas/posting.py``) matches on the text of its money. Its quantifiers are
    possessive (they never give back what they took, which spares the matcher its
    bookkeeping, about a fifth of a match): where it is used, what follows an amount (a
    quote, a space, the end) is never a digit nor a point, so giving back could never
    lead to a match.
    """
    decimals = _decimals(currency)
    point = rf"(?:\.[0-9]{{1,{decimals}}}+)?+" if decimals else ""
    return "-?+[0-9]++" + point


def _tag(event: Event) -> str:
    tag: str = event.__struct_config__.tag  # type: ignore[assignment]
    return tag


def _screen_times(event: Event) -> Problem | None:
    """Times a timer can schedule: the wall date as written, so no offset arithmetic."""
    if not EARLIEST <= event.occurred_at.date() <= LATEST:
        return (
            "timestamp_out_of_range",
            f"{_tag(event)}: field `occurred_at` is outside {EARLIEST.year}-{LATEST.year}; "
            "send the time the event happened",
        )
    for name in _DATES:
        value = getattr(event, name, None)
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            return (
                "timestamp_out_of_range",
                f"{_tag(event)}: field `{name}` is outside {EARLIEST_DATE.year}-{LATEST_DATE.year}",
            )
    return None


def _may_repeat_keys(raw: bytes, fields: dict[str, msgspec.Raw], transaction: bool) -> bool:
    """False when no key can appear twice: ``raw`` has as many keys as were decoded.

    In compact JSON (``msgspec.json.format``; it keeps repeated keys) every ``":`` not
    preceded by a backslash closes a key, so there are at least as many of them as keys
    in all objects, and at least as many keys as the distinct keys decoded at the top
    and in a transaction's ``counterparty``. The counts are equal only when no object
    repeats a key and no other object holds one. A string that ends in an escaped
    backslash takes the exact path, as does any mismatch.
    """
    decoded = len(fields)
    if transaction:
        counterparty = fields.get("counterparty")
        if counterparty is not None:  # an object: the typed decode passed
            decoded += len(_fields.decode(counterparty))
    if (
        BACKSLASH not in raw
        and LINE_FEED not in raw
        and TAB not in raw
        and CARRIAGE_RETURN not in raw
        and (SPACE not in raw or raw.find(b'" ') < 0)
    ):
        # the common case, without compacting: with no escapes every quote delimits a
        # string and a raw tab or line break can only sit between tokens; with none of
        # them and no quote followed by a space, every key's closing quote is followed
        # by its colon. ``":`` may also open a string that starts with a colon: that
        # only counts more, which takes the exact path
        return raw.count(b'":') != decoded
    compact = msgspec.json.format(raw, indent=-1)
    closes = compact.count(b'":')
    escaped = compact.count(b'\\":')
    if escaped and b'\\\\":' in compact:
        return True
    return closes - escaped != decoded


def _repeated_key(raw: bytes) -> str | None:
    """The first key that appears twice in one object (exact; the slow path).

    ``raw`` parsed with msgspec and is UTF-8 (decode checks it before screen).
    """
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not repeated:
                repeated.append(key)
            seen.add(key)
        return dict(items)

    # numbers stay text: only keys matter here, and an integer longer than Python's
    # 4,300 digits for ``int`` (msgspec skips it in an unknown field) would raise
    json.loads(raw, object_pairs_hook=pairs, parse_int=str, parse_float=str)
    return repeated[0] if repeated else None


def _decimals(currency: str) -> int:
    """Digits after the point the currency has (ISO 4217 via CLDR: CNY 2, JPY 0, KWD 3)."""
    digits = _precision.get(currency)
    if digits is None:
        digits = _precision[currency] = get_currency_precision(currency)
    return digits


def _money_problem(event: Event, name: str, value: bytes, limits: Limits) -> Problem:
    """Why ``value``, the field's JSON text (a number, or a string with its quotes), fails."""
    field = f"{_tag(event)}: field `{name}`"
    plain = _PLAIN.match(value)
    if plain is None:
        text = msgspec.json.decode(value) if value[:1] == b'"' else value.decode()
        return _not_plain(field, str(text))
    amount: Decimal = getattr(event, name)
    if abs(amount) > limits.max_amount:
        return _too_large(field, limits)
    currency: str = getattr(event, "currency", "CNY")
    return (
        "amount_too_precise",
        f"{field} has {plain.end(2) - plain.start(2)} digits after the point; {currency} "
        f"has {_decimals(currency)}",
    )


def _too_large(field: str, limits: Limits) -> Problem:
    return (
        "amount_too_large",
        f"{field} is beyond the largest amount accepted ({limits.max_amount:,}); "
        "check the unit, or raise max_amount",
    )


def _not_plain(field: str, text: str) -> Problem:
    if _EXPONENT.match(text):
        return "amount_exponent", f"{field} has an exponent; write money as plain digits"
    if text != text.strip():
        why = "has spaces around it"
    elif "_" in text:
        why = "has underscores"
    elif any(not char.isascii() for char in text):
        why = "has characters other than ASCII digits"
    elif _PLAIN_TEXT.match(text):
        why = "is written with escapes"
    else:
        why = "is not a plain decimal"
    return "amount_not_plain", f'{field} {why}; write money as plain digits, e.g. "1234.50"'
