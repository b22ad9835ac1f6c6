"""What a bank never sends is a dead letter with its own reason, and decode never raises."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from contract_events import customer, encode, product, staff, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnwatch.schemas import screen
from churnwatch.schemas.decode import REASON_CODES, DeadLetter, Limits, decode
from churnwatch.schemas.models import EVENT_TYPES
from churnwatch.schemas.screen import MAX_DEPTH

MESSAGES = {"transaction": transaction, "product": product, "customer": customer}
MONEY_FIELD = {"transaction": "amount", "product": "amount", "customer": "aum"}
EVENT_MODELS = tuple(EVENT_TYPES.values())
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def code_of(raw: bytes, limits: Limits | None = None) -> str | None:
    """The dead letter's code, or None when ``raw`` decoded to an event."""
    result = decode(raw) if limits is None else decode(raw, limits=limits)
    if isinstance(result, DeadLetter):
        assert result.code in REASON_CODES
        return result.code
    return None


def with_text(message: dict[str, Any], field: str, text: str) -> bytes:
    """``message`` as JSON with ``field``'s value written as the literal ``text``."""
    raw = json.dumps({**message, field: "\x00marker"}, ensure_ascii=False)
    return raw.replace('"\\u0000marker"', text).encode()


plain_money = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal(10) ** 15, allow_nan=False, places=2
)
kinds = st.sampled_from(sorted(MESSAGES))


class TestMoney:
    @PROPERTY
    @given(kinds, plain_money, st.booleans())
    def test_plain_money_up_to_the_maximum_is_exact(
        self, kind: str, value: Decimal, quoted: bool
    ) -> None:
        """Plain digits up to 10^15, as a string or a number, decode to that exact Decimal."""
        text = f'"{value}"' if quoted else str(value)
        field = MONEY_FIELD[kind]
        result = decode(with_text(MESSAGES[kind](), field, text))
        assert not isinstance(result, DeadLetter), result
        assert getattr(result, field) == value

    @PROPERTY
    @given(kinds, plain_money, st.integers(-20, 20), st.sampled_from("eE"), st.booleans())
    def test_an_exponent_is_refused(
        self, kind: str, value: Decimal, exponent: int, e: str, quoted: bool
    ) -> None:
        """Money written with an exponent is ``amount_exponent``, whatever value it spells."""
        text = f"{value}{e}{exponent}"
        raw = with_text(MESSAGES[kind](), MONEY_FIELD[kind], f'"{text}"' if quoted else text)
        assert code_of(raw) == "amount_exponent"

    @PROPERTY
    @given(
        kinds,
        plain_money,
        st.sampled_from(["underscore", "space", "arabic", "fullwidth", "plus", "point"]),
    )
    def test_digits_not_written_plainly_are_refused(
        self, kind: str, value: Decimal, how: str
    ) -> None:
        """Underscores, spaces around, other scripts' digits, a plus or a bare point."""
        text = str(value)
        spelled = {
            "underscore": text[:1] + "_" + text[1:] if len(text) > 1 else text + "_0",
            "space": f" {text} ",
            "arabic": text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
            "fullwidth": text.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            "plus": f"+{text}",
            "point": f"{text.split('.')[0]}.",
        }[how]
        raw = with_text(MESSAGES[kind](), MONEY_FIELD[kind], json.dumps(spelled))
        assert code_of(raw) in ("amount_not_plain", "bad_amount")

    @PROPERTY
    @given(kinds, st.integers(1, 40), st.booleans())
    def test_beyond_the_maximum_is_refused(self, kind: str, extra: int, quoted: bool) -> None:
        """Anything above 10^15 is ``amount_too_large``, 28 digits and more included."""
        text = str(10**15 + extra) if extra < 20 else "9" * extra
        raw = with_text(MESSAGES[kind](), MONEY_FIELD[kind], f'"{text}"' if quoted else text)
        assert code_of(raw) == "amount_too_large"

    def test_the_maximum_is_a_setting(self) -> None:
        """A bank with larger sums raises ``max_amount``; a lower one refuses sooner."""
        raw = encode(transaction(amount="5000000000000000.00"))
        assert code_of(raw) == "amount_too_large"
        assert code_of(raw, Limits(max_amount=Decimal(10) ** 18)) is None
        lower = Limits(max_amount=Decimal(1000))
        assert code_of(encode(transaction(amount="60000.00")), lower) == "amount_too_large"

    @pytest.mark.parametrize(
        ("currency", "amount", "code"),
        [
            ("CNY", "10.001", "amount_too_precise"),
            ("CNY", "10.00", None),
            ("JPY", "10.5", "amount_too_precise"),
            ("JPY", "10", None),
            ("KWD", "10.125", None),
            ("KWD", "10.1255", "amount_too_precise"),
        ],
    )
    def test_no_more_decimals_than_the_currency_has(
        self, currency: str, amount: str, code: str | None
    ) -> None:
        """CNY has two decimals, JPY none, KWD three (ISO 4217, from CLDR)."""
        balance = "100" if currency == "JPY" else "100.00"
        message = transaction(currency=currency, amount=amount, balance_after=balance)
        assert code_of(encode(message)) == code

    @PROPERTY
    @given(
        st.sampled_from([("CNY", 2), ("JPY", 0), ("KWD", 3)]),
        st.text(st.sampled_from('0123456789.-+eE "１'), max_size=8),
    )
    def test_the_plain_pattern_is_the_plain_grammar(
        self, currency: tuple[str, int], text: str
    ) -> None:
        """The plain-money match (possessive, which a matcher runs faster) takes exactly
        what the grammar spells: digits, a minus, a point and at most the currency's
        decimals, quoted or not."""
        code, decimals = currency
        point = rf"(?:\.[0-9]{{1,{decimals}}})?" if decimals else ""
        grammar = re.compile(rf'("?)-?[0-9]+{point}\1\Z'.encode())
        raw = text.encode()
        assert (screen.plain_money(code)(raw) is None) == (grammar.match(raw) is None)

    def test_an_extra_field_named_like_money_is_ignored(self) -> None:
        """Only the contract's money fields are screened: unknown fields are kept, unread."""
        assert code_of(encode(customer(amount="1e999999999"))) is None

    def test_the_reason_names_the_field(self) -> None:
        """The reason says which field and what to send instead."""
        letter = decode(encode(transaction(balance_after="-1e3")))
        assert isinstance(letter, DeadLetter)
        assert "`balance_after`" in letter.reason and "plain digits" in letter.reason


class TestTimes:
    @PROPERTY
    @given(
        st.one_of(st.integers(1, 1999), st.integers(2100, 9999)),
        st.sampled_from(["+14:00", "-12:00", "Z", "+08:00"]),
    )
    def test_event_time_outside_the_years_is_refused(self, year: int, offset: str) -> None:
        """``occurred_at`` before 2000 or after 2099 is ``timestamp_out_of_range``."""
        when = f"{year:04d}-06-15T12:00:00{offset}"
        for message in (transaction(), product(), customer(), staff()):
            assert code_of(encode({**message, "occurred_at": when})) == "timestamp_out_of_range"

    @pytest.mark.parametrize(
        ("message", "field", "value"),
        [
            (product(), "maturity_date", "9999-12-31"),
            (product(), "maturity_date", "0001-01-01"),
            (customer(), "birthday", "1850-01-01"),
        ],
    )
    def test_dates_outside_the_years_are_refused(
        self, message: dict[str, Any], field: str, value: str
    ) -> None:
        """A maturity date or birthday no timer could schedule is refused too."""
        assert code_of(encode({**message, field: value})) == "timestamp_out_of_range"

    def test_the_edges_are_accepted(self) -> None:
        """The first and last moment of the range, in any offset, are events."""
        for when in ("2000-01-01T00:00:00+14:00", "2099-12-31T23:59:59-12:00"):
            assert code_of(encode(transaction(occurred_at=when))) is None


nested = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=2), inner, max_size=2)
    ),
    max_leaves=6,
)


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


class TestStructure:
    @PROPERTY
    @given(st.integers(MAX_DEPTH, 100_000), st.sampled_from(["[", '{"a":']))
    def test_nesting_beyond_the_limit_is_refused_without_recursing(
        self, levels: int, opener: str
    ) -> None:
        """Deep nesting in an extra field is ``too_deep``, even a hundred thousand levels."""
        closer = "]" if opener == "[" else "}"
        extra = opener * levels + "1" + closer * levels
        assert code_of(with_text(transaction(), "note", extra)) == "too_deep"

    @PROPERTY
    @given(nested)
    def test_shallow_extra_fields_are_kept(self, extra: object) -> None:
        """An extra field nested within the limit leaves the event valid."""
        raw = encode(transaction(note=extra))
        if 1 + depth(extra) <= MAX_DEPTH:
            assert code_of(raw) is None

    def test_brackets_inside_strings_do_not_count(self) -> None:
        """A description full of brackets is text, not nesting."""
        assert code_of(encode(transaction(description="[[[[{{{{" * 10))) is None

    @PROPERTY
    @given(st.data(), kinds, st.sampled_from(["", " ", "\n", "\t "]), st.booleans())
    def test_a_repeated_key_is_refused(
        self, data: st.DataObject, kind: str, space: str, escape: bool
    ) -> None:
        """Any key written twice in one object, however spaced or escaped, is ``duplicate_key``."""
        message = MESSAGES[kind]()
        key = data.draw(st.sampled_from(sorted(message)))
        spelled = "".join(f"\\u{ord(c):04x}" for c in key) if escape else key
        value = json.dumps(message[key])
        where = data.draw(st.sampled_from(["first", "last"]))
        body = json.dumps(message)[1:-1]
        pair = f'"{spelled}"{space}:{space}{value}'
        raw = "{" + (f"{pair}, {body}" if where == "first" else f"{body}, {pair}") + "}"
        assert code_of(raw.encode()) == "duplicate_key"

    def test_a_key_repeated_inside_counterparty_is_refused(self) -> None:
        """The nested counterparty object is checked as well."""
        raw = encode(transaction()).replace(b'"counterparty":{', b'"counterparty":{"bank":"x",')
        assert code_of(raw) == "duplicate_key"

    def test_the_same_key_in_two_objects_is_not_a_repeat(self) -> None:
        """``name`` at the top and in an extra object are two different keys."""
        assert code_of(encode(transaction(meta={"name": 1}, other={"name": 2}))) is None


class TestNeverRaises:
    def test_an_extra_counterparty_that_is_not_an_object(self) -> None:
        """A product's unknown ``counterparty`` field holding text is kept unread, not a crash."""
        raw = encode(product(counterparty="x", meta={"a": 1}))
        assert code_of(raw) is None

    @PROPERTY
    @given(st.binary(max_size=200))
    def test_any_bytes(self, raw: bytes) -> None:
        """Arbitrary bytes give an event or a dead letter with a known code."""
        result = decode(raw)
        if isinstance(result, DeadLetter):
            assert result.code in REASON_CODES and result.reason
        else:
            assert isinstance(result, EVENT_MODELS)

    @PROPERTY
    @given(kinds, st.data())
    def test_any_value_in_any_field(self, kind: str, data: st.DataObject) -> None:
        """Any JSON value in any field of a valid event is accepted or dead-lettered."""
        message = MESSAGES[kind]()
        field = data.draw(st.sampled_from(sorted(message)))
        value = data.draw(st.one_of(nested, st.decimals(allow_nan=True).map(str)))
        result = decode(encode({**message, field: value}))
        if isinstance(result, DeadLetter):
            assert result.code in REASON_CODES and result.reason
