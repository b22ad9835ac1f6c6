"""The common posting decoded in one parse: what screen reads, taken from that same parse.

The exact path of :func:`~churnwatch.schemas.decode.decode` parses a message twice: once
into its typed event, once into its fields' raw JSON text, which screen needs for the
money's spelling and the count of keys (``schemas/screen.py``). That second parse, and the
model's currency pattern (msgspec calls Python's ``re`` for it on every event), cost more
than the typed parse itself.

Nearly every message is a posting written by a bank's producer in compact JSON without
escapes. For that message one parse into :class:`Posting` is enough: a twin of
:class:`~churnwatch.schemas.models.TransactionEvent` whose money is the JSON value the bank
wrote, read untyped so that its spelling survives (a string's text; an integer; any other
number's text, as :class:`Number`), whose currency is any string (the model's pattern is
checked once per currency seen), and whose optional fields say whether they were sent at
all (``UNSET``). From it :func:`posting_event` proves what screen would prove:

- no key appears twice in any object: the message's keys, counted as ``":`` in its text,
  are exactly the keys the parse found at the top and in ``counterparty`` (the argument is
  in :func:`posting_event`);
- the event time is in range; the money is plain, within ``max_amount`` and has no more
  decimals than its currency (screen's own pattern, ``plain_amount``, on the text between
  the quotes, and screen's test);

and then builds the very ``TransactionEvent`` the typed parse would have built, with the
same values. The typed parse hands money to ``Decimal``: a string's text or a number's
text, or an integer as an ``int`` (one too long for 64 bits as its text, the same
value). The one parse hands ``Decimal`` the same text or the same integer, so each amount
keeps its value and its exponent (``"100.50"`` keeps its two decimals). Whatever it
cannot vouch for, it hands back as None, and decode takes the exact path, which alone
writes dead letters: every refusal keeps its code and its reason, whichever path saw the
message first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType
from msgspec.structs import fields

from churnwatch.schemas.models import (
    CURRENCY_PATTERN,
    NO_COUNTERPARTY,
    AwareDatetime,
    Channel,
    Counterparty,
    Direction,
    NonEmpty,
    TransactionEvent,
    TransactionKind,
)
from churnwatch.schemas.screen import (
    BACKSLASH,
    BRACKET,
    CARRIAGE_RETURN,
    FIRST_YEAR,
    LAST_YEAR,
    LINE_FEED,
    SPACE,
    TAB,
    Limits,
    plain_amount,
    screen_depth,
)

__all__ = ["POSTING_DECODER", "REQUIRED_KEYS", "Number", "Party", "Posting", "posting_event"]


class Number(str):
    """A JSON number with a point or an exponent, as the text the bank wrote.

    The posting's decoder hands every such number in an untyped field (the money) to
    this class, so its spelling can be checked as a string's is, and told from a string
    by its type. An integer comes as an ``int``: JSON spells it only as plain digits.
    """

    __slots__ = ()


class Party(msgspec.Struct, frozen=True):
    """``counterparty`` as sent: Counterparty's fields, each UNSET when not written."""

    name: str | UnsetType | None = UNSET
    account: str | UnsetType | None = UNSET
    bank: str | UnsetType | None = UNSET
    same_bank: bool | UnsetType = UNSET
    same_customer: bool | UnsetType = UNSET


class Posting(msgspec.Struct, frozen=True):
    """A transaction as sent: TransactionEvent's fields and types, but for three.

    The money is any JSON value, read untyped by :data:`POSTING_DECODER` (a string as
    its text, an integer as an ``int``, another number as a :class:`Number`), to be
    checked for plain digits before it becomes a Decimal; the currency is any string; an
    optional field is UNSET when it was not written, which is how its key is counted.
    Each is looser than the model's, so a message this refuses, the model refuses too.
    The tag is a required field: as a struct's tag, msgspec would read a posting without
    it (the exact path refuses it as ``missing_type``, and the key count could not tell
    its absence from an extra field).
    """

    type: Literal["transaction"]
    event_id: NonEmpty
    occurred_at: AwareDatetime
    account_id: NonEmpty
    customer_id: NonEmpty
    direction: Direction
    amount: object
    balance_after: object
    kind: TransactionKind
    channel: Channel
    currency: str | UnsetType = UNSET
    counterparty: Party | UnsetType = UNSET
    description: str | UnsetType | None = UNSET


#: the first parse of every message (decode's): a posting as sent, its money untyped
POSTING_DECODER = msgspec.json.Decoder(Posting, float_hook=Number)
#: the keys every posting has: its tag ``type`` and the model's required fields
REQUIRED_KEYS = sum(field.required for field in fields(Posting))

#: the top-level names the posting's parse reads as a value that holds no key when the
#: posting is vouched for (money must be plain): all but counterparty
_TYPED_NAMES = frozenset(field.name for field in fields(Posting)) - {"counterparty"}
#: any JSON value, every string and key read as UTF-8
_any_json = msgspec.json.Decoder()
#: the model's currency pattern, applied as msgspec applies it (``re.search``)
_currency_pattern = re.compile(CURRENCY_PATTERN)
#: screen's plain amount in each currency seen that matches the pattern (at most 26^3 of
#: them), matched on the texts of a posting's two amounts at once, joined by a space; and
#: on one text. The pattern runs once per currency, not once per posting
_plain_pair_of: dict[str, Callable[[str], re.Match[str] | None]] = {}
_plain_one_of: dict[str, Callable[[str], re.Match[str] | None]] = {}


def posting_event(raw: bytes, posting: Posting, limits: Limits) -> TransactionEvent | None:
    """The event the exact path would give for ``raw``, or None to take the exact path.

    None is no verdict: the message may be fine in a form this does not read (escapes,
    whitespace before a colon, extra fields) or refused for a reason the exact path words.

    Keys: without a backslash, every quote in ``raw`` delimits a string, and when no quote
    is followed by whitespace (a space, tab, line feed or carriage return; the line break
    that ends a JSON line follows none), every key's closing quote is followed by its
    colon: so ``raw`` holds at least as many ``":`` as keys, in all its objects. Each key
    counted here (the tag, the required fields, each optional field and counterparty
    field that is not UNSET) is a key of its own object, under a name that object has at
    least once. The two counts are equal only when every one of those keys is
    written once and the message has no other key: then no object repeats one, and the
    message is two objects deep (no contract field but counterparty holds an object or
    an array), which is why decode measures the nesting only here and on the exact path.
    A posting with fields the contract does not know is vouched for by
    :func:`_extras_vouched`, or left to the exact path.
    """
    if (
        BACKSLASH in raw
        or (SPACE in raw and raw.find(b'" ') >= 0)
        or (LINE_FEED in raw and raw.find(b'"\n') >= 0)
        or (TAB in raw and raw.find(b'"\t') >= 0)
        or (CARRIAGE_RETURN in raw and raw.find(b'"\r') >= 0)
    ):
        return None  # (each whitespace byte sought first, alone: that is a memchr)
    occurred_at = posting.occurred_at
    if not FIRST_YEAR <= occurred_at.year <= LAST_YEAR:
        return None
    keys = REQUIRED_KEYS
    currency = posting.currency
    if currency is UNSET:
        currency = "CNY"
    else:
        keys += 1
    plain_pair = _plain_pair_of.get(currency) or _plain_money(currency)
    if plain_pair is None:
        return None
    party = posting.counterparty
    if party is UNSET:
        counterparty, written = NO_COUNTERPARTY, 0
    else:
        # the model's counterparty (what was written, its defaults for the rest), and how
        # many of its keys were written (inline: a call costs more than the counting)
        name, account, bank = party.name, party.account, party.bank
        same_bank, same_customer = party.same_bank, party.same_customer
        written = (
            (name is not UNSET)
            + (account is not UNSET)
            + (bank is not UNSET)
            + (same_bank is not UNSET)
            + (same_customer is not UNSET)
        )
        counterparty = Counterparty(
            None if name is UNSET else name,
            None if account is UNSET else account,
            None if bank is UNSET else bank,
            False if same_bank is UNSET else same_bank,
            False if same_customer is UNSET else same_customer,
        )
        keys += 1 + written
    description = posting.description
    if description is UNSET:
        description = None
    else:
        keys += 1
    colons = raw.count(b'":')
    if colons != keys and not _extras_vouched(raw, colons, written, limits.max_depth):
        return None
    amount_text, balance_text = posting.amount, posting.balance_after
    if type(amount_text) is str and type(balance_text) is str:
        # two strings, as banks write money: one match for both (a plain text holds no
        # space, so the match splits the two where they were joined)
        if plain_pair(f"{amount_text} {balance_text}") is None:
            return None
        amount = Decimal(amount_text)
        balance_after = Decimal(balance_text)
        #: as in screen: a plain text no longer than this is below max_amount
        short = limits.max_amount.adjusted()
        if (len(amount_text) > short and abs(amount) > limits.max_amount) or (
            len(balance_text) > short and abs(balance_after) > limits.max_amount
        ):
            return None
    else:
        plain_one = _plain_one_of[currency]
        number = _plain_number(amount_text, plain_one)
        balance = _plain_number(balance_text, plain_one)
        if number is None or balance is None:
            return None
        amount, balance_after = number, balance
        if abs(amount) > limits.max_amount or abs(balance_after) > limits.max_amount:
            return None
    try:
        return TransactionEvent(
            posting.event_id,
            occurred_at,
            posting.account_id,
            posting.customer_id,
            posting.direction,
            amount,
            balance_after,
            posting.kind,
            posting.channel,
            currency,
            counterparty,
            description,
        )
    except ValueError:  # not positive: the exact path says so
        return None


def _extras_vouched(raw: bytes, colons: int, party_keys: int, max_depth: int) -> bool:
    """Whether a posting with more ``":`` than its contract keys is one the exact path
    takes as it is: fields the contract does not know, each written once, nested no
    deeper than ``max_depth``, UTF-8 throughout.

    The reasoning of :func:`posting_event` holds for every object of the message: each
    key written anywhere puts its own ``":`` in ``raw``, and an object has no more
    distinct names than keys written. So ``colons`` is at least the number of keys
    written, which is at least the sum of distinct names over any set of its objects;
    equal, the objects left out hold no key and no object repeats one. The sum taken
    first is the top's names (a parse of the whole message) and counterparty's known
    fields, which covers flat extra fields; if that is short, every object inside an
    extra field and counterparty is counted as well (a nested object, an unknown field
    of counterparty). What stays short (a key written twice, a string that begins with
    a colon, an object inside a money field) is left to the exact path.

    The nesting is measured by the exact path's own test before the message is parsed
    again; that parse reads every string and key as UTF-8 (the exact path refuses a
    message that is not, and the typed parse skips unknown fields unread), and it
    refuses what the exact path's ``json.loads`` could not read (a number Python cannot
    hold), which is then no verdict either.
    """
    opened = raw.count(b"{")
    if BRACKET in raw:
        opened += raw.count(b"[")
    if opened > max_depth and screen_depth(raw, max_depth) is not None:
        return False
    try:
        message: dict[str, object] = _any_json.decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return False
    names = len(message)
    if colons == names + party_keys:
        return True
    stack = [message[name] for name in message.keys() - _TYPED_NAMES]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            names += len(value)
            stack.extend(value.values())
        elif type(value) is list:
            stack.extend(value)
    return colons == names


def _plain_money(currency: str) -> Callable[[str], re.Match[str] | None] | None:
    """The match of two plain amounts in ``currency``, joined by a space (kept, with the
    match of one); None: it is not a currency code."""
    if _currency_pattern.search(currency) is None:
        return None
    amount = plain_amount(currency)
    _plain_one_of[currency] = re.compile(amount).fullmatch
    plain_pair = _plain_pair_of[currency] = re.compile(f"{amount} {amount}").fullmatch
    return plain_pair


def _plain_number(
    value: object, plain_one: Callable[[str], re.Match[str] | None]
) -> Decimal | None:
    """Money as the typed parse converts it, when it is plain; None: not plain, or not
    money (the exact path says which).

    A string or a number's text is matched as screen matches it; an integer is plain
    (JSON spells it as digits and an optional minus, which screen's pattern matches
    in every currency).
    """
    if type(value) is int:
        return Decimal(value)
    if (type(value) is str or type(value) is Number) and plain_one(value) is not None:
        return Decimal(value)
    return None
