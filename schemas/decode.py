"""Bytes in, a typed event or a dead letter out: the one decode step of every driver.

Both drivers call :func:`decode` and nothing else, so a message rejected by the worker is
rejected by the replay driver with the same reason. Reasons are written for the person
who reads the dead-letter topic: they name the field and what was expected.
"""

from __future__ import annotations

import base64
import re
from typing import Literal, TypeAlias

import msgspec

from churnwatch.schemas.models import Alert, Event, to_builtins
from churnwatch.schemas.posting import POSTING_DECODER, posting_event
from churnwatch.schemas.screen import BRACKET, DEFAULT_LIMITS, Limits, screen, screen_depth

__all__ = [
    "DEFAULT_LIMITS",
    "REASON_CODES",
    "DeadLetter",
    "DecodeResult",
    "Limits",
    "Source",
    "decode",
    "decode_exact",
    "decode_or_raise",
]

_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)
#: the first parse of every message: a posting as sent (schemas/posting.py)
_posting = POSTING_DECODER

BOM = b"\xef\xbb\xbf"

ReasonCode = Literal[
    "empty",
    "bom",
    "not_utf8",
    "bad_json",
    "not_an_object",
    "missing_type",
    "unknown_type",
    "missing_field",
    "wrong_field",
    "bad_amount",
    "bad_timestamp",
    # what a bank never sends (schemas/screen.py)
    "too_deep",
    "duplicate_key",
    "amount_exponent",
    "amount_not_plain",
    "amount_too_large",
    "amount_too_precise",
    "timestamp_out_of_range",
]
REASON_CODES: tuple[str, ...] = ReasonCode.__args__  # type: ignore[attr-defined]

_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`(?: - at `(?P<at>[^`]+)`)?")
_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`")
_MONEY_FIELDS = ("amount", "balance_after", "aum")


class Source(msgspec.Struct, frozen=True, omit_defaults=True):
    """Where a message came from: a Kafka position, or a file and line for replay."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    file: str | None = None
    line: int | None = None


class DeadLetter(msgspec.Struct, frozen=True, omit_defaults=True):
    """A message churnwatch could not use, kept whole with a reason a person can act on.

    ``original`` is the message text when it is valid UTF-8, else ``original_base64``
    carries the exact bytes, so nothing is lost either way.
    """

    reason: str
    code: str
    source: Source
    original: str | None = None
    original_base64: str | None = None

    @classmethod
    def of(cls, raw: bytes, reason: str, code: str, source: Source) -> DeadLetter:
        try:
            return cls(reason=reason, code=code, source=source, original=raw.decode("utf-8"))
        except UnicodeDecodeError:
            return cls(
                reason=reason,
                code=code,
                source=source,
                original_base64=base64.b64encode(raw).decode("ascii"),
            )

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)


DecodeResult: TypeAlias = Event | DeadLetter
NO_SOURCE = Source()


def decode(
    raw: bytes, source: Source | None = None, limits: Limits = DEFAULT_LIMITS
) -> DecodeResult:
    """Decode one contract-v1 message; never raises for bad input.

    A posting as producers write it is decoded and screened from one parse
    (:func:`~churnwatch.schemas.posting.posting_event`); any other message, and any
    posting that one cannot vouch for, takes the exact path (:func:`decode_exact`).
    The one parse runs before the nesting is measured: msgspec guards its own recursion
    (a RecursionError, caught here), and a posting it vouches for is two objects deep.
    """
    try:
        posting = _posting.decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):  # invalid UTF-8: ValueError
        pass  # not a posting, or not one that parses: the exact path says what it is
    else:
        event = posting_event(raw, posting, limits)
        if event is not None:
            return event
    return decode_exact(raw, source, limits)


def decode_exact(
    raw: bytes, source: Source | None = None, limits: Limits = DEFAULT_LIMITS
) -> DecodeResult:
    """Any message: its nesting measured, then the typed parse, then screen's own parse.

    The nesting is measured before any parser recurses, and a well-typed event is
    still screened for what no bank sends (:func:`~churnwatch.schemas.screen.screen`).
    :func:`decode` gives the same answer for every message, the common posting from one
    parse (tests hold the two to that).
    """
    # screen_depth's first test, inlined: a message that opens no more brackets than the
    # limit cannot nest deeper than it
    opened = raw.count(b"{")
    if BRACKET in raw:
        opened += raw.count(b"[")
    problem = None if opened <= limits.max_depth else screen_depth(raw, limits.max_depth)
    if problem is None:
        try:
            event = _decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, ArithmeticError, ValueError):
            problem = explain(raw)
        else:
            # the typed parse skips unknown fields without reading their text as UTF-8
            problem = screen(raw, event, limits) if _utf8(raw) else explain(raw)
            if problem is None:
                return event
    code, reason = problem
    return DeadLetter.of(raw, reason, code, source or NO_SOURCE)


def decode_or_raise(raw: bytes) -> Event:
    """Decode or raise :class:`~churnwatch.schemas.exceptions.DecodeFailure` (tests, tools)."""
    from churnwatch.schemas.exceptions import DecodeFailure

    result = decode(raw)
    if isinstance(result, DeadLetter):
        raise DecodeFailure(result.reason, result.code)
    return result


def _utf8(raw: bytes) -> bool:
    """Whether ``raw`` is UTF-8 throughout, unknown fields included.

    msgspec checks the text of every string it reads (strictly, as ``bytes.decode``
    does) but skips an unknown field's value unread, so a message may parse with bytes
    that are not UTF-8 there. Such a message is not what the contract sends and is
    ``not_utf8`` wherever its bad byte sits; screen's own parses (keys decoded as text,
    ``json.loads``) would otherwise raise on it.
    """
    if raw.isascii():
        return True
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def explain(raw: bytes) -> tuple[str, str]:
    """Work out, on the slow path only, why ``raw`` is not a valid event."""
    stripped = raw.strip()
    if not stripped:
        return "empty", "empty message: expected one JSON object"
    if raw.startswith(BOM):
        return "bom", "message starts with a UTF-8 byte order mark (BOM); send plain UTF-8 JSON"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "not_utf8", f"message is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON"
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return "bad_json", f"not valid JSON: {exc}"
    if not isinstance(obj, dict):
        return "not_an_object", f"expected a JSON object, got {_json_kind(obj)}"
    if "type" not in obj:
        return (
            "missing_type",
            "missing required field `type` (transaction, product, customer, staff)",
        )
    event_type = obj["type"]
    if event_type not in ("transaction", "product", "customer", "staff"):
        return (
            "unknown_type",
            f"unknown event type {event_type!r}: expected transaction, product, customer or staff",
        )
    try:
        _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return _classify_validation(str(exc), event_type)
    except (ArithmeticError, ValueError) as exc:
        return "wrong_field", f"{event_type}: {exc}"
    return "wrong_field", f"{event_type}: could not be decoded"  # pragma: no cover


def _classify_validation(message: str, event_type: str) -> tuple[str, str]:
    missing = _MISSING.search(message)
    if missing:
        field = missing.group("field")
        where = missing.group("at")
        if where and where != "$":
            field = f"{where.removeprefix('$.')}.{field}"
        return "missing_field", f"{event_type}: missing required field `{field}`"
    at = _AT.search(message)
    path = at.group("path") if at else ""
    text = _AT.sub("", message)
    leaf = path.rsplit(".", 1)[-1]
    if leaf in _MONEY_FIELDS or leaf == "amount":
        return "bad_amount", f"{event_type}: field `{path}`: {text}"
    if leaf == "occurred_at" or "datetime" in text:
        return "bad_timestamp", (
            f"{event_type}: field `{path}`: {text} (use ISO 8601 with a UTC offset, "
            "e.g. 2026-03-01T09:30:00+08:00)"
        )
    if "must be positive" in text or "finite number" in text:
        return "bad_amount", f"{event_type}: {text}"
    return (
        "wrong_field",
        f"{event_type}: field `{path}`: {text}" if path else f"{event_type}: {text}",
    )


def _json_kind(obj: object) -> str:
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, str):
        return "a string"
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    return "a number"


def encode_event(event: Event | Alert) -> bytes:
    """Contract-v1 JSON for an event or alert (Decimals as strings)."""
    return msgspec.json.encode(event)


def event_to_dict(event: Event | Alert) -> dict[str, object]:
    result: dict[str, object] = to_builtins(event)
    return result
