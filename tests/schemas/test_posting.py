"""The common posting is decoded from one parse, to the very event and dead letter the exact
path gives; whatever that parse cannot vouch for takes the exact path."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from contract_events import encode, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnwatch.schemas.decode import DEFAULT_LIMITS, Limits, decode, decode_exact
from churnwatch.schemas.models import Counterparty, TransactionEvent
from churnwatch.schemas.posting import (
    POSTING_DECODER,
    Party,
    Posting,
    _plain_money,
    _plain_one_of,
    posting_event,
)
from churnwatch.schemas.screen import BACKSLASH
from churnwatch.streams.synthetic.bank import DatasetSpec, generate

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_parse(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> TransactionEvent | None:
    """What the one parse makes of ``raw`` (None: it leaves ``raw`` to the exact path,
    as decode does when the parse itself fails)."""
    try:
        posting = POSTING_DECODER.decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    return posting_event(raw, posting, limits)


def identical(first: object, second: object) -> bool:
    """Equal, and money to its exponent and sign: ``==`` holds Decimal("1.5") and
    Decimal("1.50"), or 0 and -0, equal; their JSON does not."""
    return first == second and msgspec.json.encode(first) == msgspec.json.encode(second)


def same_answer(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """decode and the exact path agree: the same event, or the same code and reason."""
    assert identical(decode(raw, limits=limits), decode_exact(raw, limits=limits))


def with_money(amount: str, balance_after: str) -> bytes:
    """A posting whose amount and balance are written as these JSON texts."""
    raw = encode(transaction(amount="\x00a", balance_after="\x00b"))
    return raw.replace(b'"\\u0000a"', amount.encode()).replace(
        b'"\\u0000b"', balance_after.encode()
    )


class TestTwin:
    def test_a_posting_has_the_models_fields_in_its_order(self) -> None:
        """A field added to the model is added to its twin, or the twin falls behind."""
        names = [field.name for field in msgspec.structs.fields(Posting)]
        model = [field.name for field in msgspec.structs.fields(TransactionEvent)]
        assert names == ["type", *model]  # the tag first, as a required field
        party = [field.name for field in msgspec.structs.fields(Party)]
        assert party == [field.name for field in msgspec.structs.fields(Counterparty)]


class TestOneParse:
    def test_a_generated_banks_postings_all_take_it(self) -> None:
        """Every posting a generated bank writes is decoded from one parse, to the same event."""
        postings = [
            line
            for line in generate(DatasetSpec(customers=100, weeks=3))
            if b'"transaction"' in line
        ]
        assert len(postings) > 1000
        for raw in postings:
            event = one_parse(raw)
            assert event is not None, raw
            assert identical(event, decode_exact(raw))

    @pytest.mark.parametrize(
        "message",
        [
            transaction(),
            transaction(currency=..., counterparty=..., description=...),
            transaction(description=None, counterparty={}),
            transaction(currency="JPY", amount="1500", balance_after="90000"),
            transaction(amount="0.01", balance_after="-12.50"),
            transaction(amount="007.00"),
        ],
        ids=["full", "required-only", "null-and-empty", "yen", "negative-balance", "zeros"],
    )
    def test_optional_fields_written_or_not(self, message: dict[str, Any]) -> None:
        """Optional fields absent, null or empty are counted as written and read as the model."""
        raw = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        event = one_parse(raw)
        assert event is not None
        assert identical(event, decode_exact(raw))

    def test_spaces_after_colons_and_commas(self) -> None:
        """``json.dumps``'s own spacing keeps every key's colon right after its quote."""
        raw = json.dumps(transaction()).encode()
        event = one_parse(raw)
        assert event is not None and identical(event, decode_exact(raw))

    @pytest.mark.parametrize(
        "raw",
        [
            encode(transaction()) + b"\n",
            encode(transaction()) + b"\r\n",
            encode(transaction()).replace(b",", b",\n\t"),
        ],
        ids=["line", "crlf-line", "breaks-after-commas"],
    )
    def test_whitespace_that_follows_no_quote(self, raw: bytes) -> None:
        """A JSON line's own line break, or breaks after commas, leave every colon after
        its key's quote: the one parse reads them."""
        event = one_parse(raw)
        assert event is not None and identical(event, decode_exact(raw))

    def test_money_written_as_numbers(self) -> None:
        """A JSON number is read digit for digit, as the typed parse reads it."""
        raw = encode(transaction(amount=Decimal("12.30"), balance_after=Decimal("100")))
        event = one_parse(raw)
        assert event is not None and identical(event, decode_exact(raw))
        assert str(event.amount) == "12.30"

    @pytest.mark.parametrize(
        ("amount", "balance_after"),
        [
            ('"100.50"', '"-0"'),
            ('"0.01"', '"-0.00"'),
            ('"007"', '"0"'),
            ('"999999999999999.99"', '"-999999999999999.99"'),
            ("12", "-0"),
            ("12.30", "-0.0"),
            ('"7"', "100"),
            ("12.5", '"900000.00"'),
        ],
    )
    def test_money_keeps_its_exponent(self, amount: str, balance_after: str) -> None:
        """Strings, numbers, one of each: the Decimals the typed parse makes, to the
        exponent and the sign of a zero (``"100.50"`` keeps its two decimals)."""
        raw = with_money(amount, balance_after)
        event = one_parse(raw)
        assert event is not None
        assert identical(event, decode_exact(raw))
        assert str(event.amount) == str(Decimal(json.loads(amount, parse_float=str, parse_int=str)))


class TestFieldsTheContractDoesNotKnow:
    @pytest.mark.parametrize(
        "message",
        [
            transaction(branch_code="0101", teller="T0042", serial=12345, vip=True, note=None),
            transaction(trace={"trace_id": "4bf92f35", "span_id": "00f067aa", "sampled": True}),
            transaction(counterparty={"bank": "X", "swift": "ICBKCNBJ"}),
            transaction(tags=["a", "b"], empty={}, none=[], deep=[[[[[1]]]]]),
            transaction(lines=[{"id": 1, "sku": "a"}, {"id": 2}], meta={"amount": "1e9"}),
            transaction(rows=[[1], [2], [3], [4], [5], [6], [7], [8]]),  # more brackets than 8
            transaction(meta={"type": "x", "amount": "ok", "counterparty": {"bank": "Y"}}),
            transaction(note="a:b", note2="x::", 备注="中文"),
            transaction(trace={"id": "t1"}, note={"id": "t2"}),  # one name in two objects
            {**transaction(type=...), "type": "transaction", "note": "tag last"},
        ],
        ids=[
            "flat",
            "nested",
            "in-counterparty",
            "empty-and-arrays",
            "arrays-of-objects",
            "many-brackets",
            "contract-names-inside",
            "colons-and-text",
            "a-name-in-two-objects",
            "tag-last",
        ],
    )
    def test_written_once_they_take_the_one_parse(self, message: dict[str, Any]) -> None:
        """A bank's own fields, flat or nested, each key once in its object: one parse,
        and the event is the exact path's (the extra fields are ignored)."""
        raw = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        event = one_parse(raw)
        assert event is not None
        assert identical(event, decode_exact(raw))


class TestLeftToTheExactPath:
    @pytest.mark.parametrize(
        "raw",
        [
            encode(transaction(description='say "hi"')),  # an escape
            json.dumps(transaction(), separators=(", ", " : ")).encode(),  # before a colon
            encode(transaction()).replace(b'":', b'"\n:'),  # a line break before a colon
            encode(transaction()).replace(b'":', b'"\t:'),  # a tab before a colon
            encode(transaction()).replace(b'":', b'"\r\n:'),
            encode(transaction(description=":colon first")),  # counts one ``":`` more
            encode(transaction(note=":colon first")),
            encode(transaction(note="vip", trace={"ids": ["a", "b"]})).replace(b'"vip"', b'"\xe9"'),
            encode(transaction(trace={"id": 1}, serial=0)).replace(
                b":0}", b":" + b"7" * 4400 + b"}"
            ),
            encode(transaction(amount={"value": "100.00"})),
            with_money('"1 "', '"2"'),
            with_money('"1"', '" 2"'),
            with_money('"1 2"', '"3"'),
            with_money('"1"', '"2 3"'),
            with_money('"1.2.3"', '"4"'),
            with_money('"1"', '"-"'),
            with_money('""', '"1"'),
            with_money("1e2", '"1"'),
            with_money('"1"', "1.5E2"),
            with_money("1.005", '"1"'),
            with_money("true", '"1"'),
            with_money('"1"', "null"),
            with_money('"1"', "[1]"),
            with_money('"１"', '"1"'),
        ],
        ids=[
            "escape",
            "spaces",
            "line-breaks",
            "tabs",
            "carriage-returns",
            "colon",
            "colon-in-extra",
            "extra-not-utf8",
            "extra-long-integer",
            "money-an-object",
            "space-after-amount",
            "space-before-balance",
            "space-inside-amount",
            "space-inside-balance",
            "two-points",
            "a-minus-alone",
            "empty",
            "number-exponent",
            "number-exponent-balance",
            "number-too-precise",
            "money-a-boolean",
            "money-null",
            "money-an-array",
            "fullwidth-digit",
        ],
    )
    def test_what_it_cannot_vouch_for(self, raw: bytes) -> None:
        """Messages in another form are no verdict: the exact path decodes (or refuses) them."""
        assert one_parse(raw) is None
        same_answer(raw)

    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            (encode(transaction()).replace(b'"kind"', b'"kind":"card","kind"'), "duplicate_key"),
            (encode(transaction()).replace(b'"bank":', b'"bank":"x","bank":'), "duplicate_key"),
            (encode(transaction(amount="1e3")), "amount_exponent"),
            (encode(transaction(amount="1.001")), "amount_too_precise"),
            (encode(transaction(balance_after="1_000")), "amount_not_plain"),
            (encode(transaction(amount="5000000000000000.00")), "amount_too_large"),
            (encode(transaction(amount="-5")), "bad_amount"),
            (encode(transaction(type=..., note="x")), "missing_type"),  # as many keys
            (encode(transaction(note={"id": 1})).replace(b'"id"', b'"id":0,"id"'), "duplicate_key"),
            (encode(transaction(note="x")).replace(b'"note"', b'"note":0,"note"'), "duplicate_key"),
            (encode(transaction(note="x")).replace(b'"x"', b'"\xe9"'), "not_utf8"),
            (
                encode(transaction(note="N")).replace(b'"N"', b"[" * 8 + b"1" + b"]" * 8),
                "too_deep",
            ),
            (encode(transaction(currency="cny")), "wrong_field"),
            (
                encode(transaction(occurred_at="2100-01-01T00:00:00+08:00")),
                "timestamp_out_of_range",
            ),
        ],
    )
    def test_what_the_exact_path_refuses(self, raw: bytes, code: str) -> None:
        """What screen or the model refuses is refused, with the exact path's code and reason."""
        assert one_parse(raw) is None
        result = decode(raw)
        assert not isinstance(result, TransactionEvent) and result.code == code
        same_answer(raw)

    def test_the_maximum_is_the_limits(self) -> None:
        """``max_amount`` is read from the limits decode was given."""
        raw = encode(transaction(amount="60000.00"))
        assert one_parse(raw, Limits(max_amount=Decimal(1000))) is None
        same_answer(raw, Limits(max_amount=Decimal(1000)))


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=4),
        st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)
money_texts = st.one_of(
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,4})?([eE][-+]?[0-9])?", fullmatch=True),
    st.sampled_from(
        [
            *("007", "0.00", "-0", "1.", ".5", "+1", " 1", "１", "NaN", "1E+2", "0.0000001"),
            *("1 ", "1 1", "", "-", "1.5 2", "0.5e1", "-0.00", "100.50", "1 -2.5", "12.3 "),
        ]
    ),
)


class TestSameAnswer:
    @settings(PROPERTY)
    @given(st.data())
    def test_any_value_in_any_field(self, data: st.DataObject) -> None:
        """Any JSON value in any field, the contract's or not: decode answers as the exact path."""
        message = transaction(counterparty={"name": "x", "same_bank": False})
        field = data.draw(st.sampled_from([*sorted(message), "note", "counterparty.bank"]))
        value = data.draw(json_values)
        if field == "counterparty.bank":
            message["counterparty"] = {**message["counterparty"], "bank": value}
        else:
            message[field] = value
        same_answer(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())

    @settings(PROPERTY)
    @given(money_texts, st.booleans(), st.sampled_from(["amount", "balance_after"]))
    def test_any_money_spelling(self, text: str, quoted: bool, field: str) -> None:
        """However money is spelled, as a string or a number, the answers agree."""
        raw = encode(transaction(**{field: "\x00"})).replace(
            b'"\\u0000"', (json.dumps(text) if quoted else text).encode()
        )
        same_answer(raw)

    @settings(PROPERTY)
    @given(money_texts, st.booleans(), money_texts, st.booleans())
    def test_both_amounts_spelled_anyhow(
        self, amount: str, amount_quoted: bool, balance: str, balance_quoted: bool
    ) -> None:
        """The amount and the balance spelled each their own way (strings, numbers, one of
        each, spaces inside or around): the answers agree, to the exponent."""
        same_answer(
            with_money(
                json.dumps(amount) if amount_quoted else amount,
                json.dumps(balance) if balance_quoted else balance,
            )
        )

    @settings(PROPERTY)
    @given(st.data())
    def test_a_key_written_twice(self, data: st.DataObject) -> None:
        """A key repeated at the top or in counterparty is refused as by the exact path."""
        message = transaction(counterparty={"name": "x", "bank": "y"})
        where = data.draw(st.sampled_from(["top", "counterparty"]))
        target = message if where == "top" else message["counterparty"]
        key = data.draw(st.sampled_from(sorted(target)))
        body = json.dumps(target, separators=(",", ":"), ensure_ascii=False)
        twice = body[:-1] + "," + json.dumps(key) + ":" + json.dumps(target[key]) + "}"
        if where == "top":
            raw = twice
        else:
            top = json.dumps({**message, "counterparty": "\x00"}, separators=(",", ":"))
            raw = top.replace('"\\u0000"', twice)
        same_answer(raw.encode())
        assert decode(raw.encode()).code == "duplicate_key"  # type: ignore[union-attr]


#: keys for extra fields: the contract's own names (at the top, in counterparty, in a
#: nested object), and any text with quotes, colons, backslashes or non-ASCII letters
extra_keys = st.one_of(
    st.sampled_from(
        [*transaction(currency="CNY", description="d"), "name", "bank", "", ":", '"', '":', "a\\"]
    ),
    st.text(st.characters(codec="utf-8"), max_size=4),
)
#: names no contract object uses
extra_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=6).map("x-".__add__)
scalar_texts = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(st.characters(codec="utf-8"), max_size=5),
    st.sampled_from([":", '":', ":x", "\\", '"', "}", "[", "中", "😀"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
).map(lambda value: json.dumps(value, ensure_ascii=False, default=str))


def _object_text(pairs: list[tuple[str, str]]) -> str:
    """A JSON object written from its pairs, so a key may be written twice."""
    written = (f"{json.dumps(key, ensure_ascii=False)}:{value}" for key, value in pairs)
    return "{" + ",".join(written) + "}"


#: any JSON text, keys repeated or not at any depth
json_texts = st.recursive(
    scalar_texts,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(extra_keys, inner), max_size=3).map(_object_text),
    ),
    max_leaves=8,
)
extra_fields = st.lists(st.tuples(extra_keys, json_texts), min_size=1, max_size=4)


def _with_extras(
    message: dict[str, Any], top: list[tuple[str, str]], party: list[tuple[str, str]], at: int
) -> bytes:
    """``message`` written compactly, ``top`` inserted among its fields at ``at`` and
    ``party`` appended to its counterparty."""
    pairs = [(key, json.dumps(value, ensure_ascii=False)) for key, value in message.items()]
    party_pairs = [(key, json.dumps(value)) for key, value in message["counterparty"].items()]
    pairs[pairs.index(("counterparty", json.dumps(message["counterparty"])))] = (
        "counterparty",
        _object_text(party_pairs + party),
    )
    at %= len(pairs) + 1
    return _object_text(pairs[:at] + top + pairs[at:]).encode()


class TestExtraFieldsSameAnswer:
    @settings(PROPERTY)
    @given(
        extra_fields,
        st.lists(st.tuples(extra_keys, json_texts), max_size=2),
        st.integers(),
        st.sampled_from(["type", "event_id", "description", "currency", "counterparty"]),
    )
    def test_any_extra_fields_anywhere(
        self, top: list[tuple[str, str]], party: list[tuple[str, str]], at: int, drop: str
    ) -> None:
        """Extra fields of any JSON value, at the top and in counterparty, with any key
        (the contract's, repeated, quoted, with colons), a contract field left out (an
        extra may take its place in the count): decode answers as the exact path."""
        message = transaction(description="d", currency="CNY")
        if drop != "counterparty":  # _with_extras writes into it
            del message[drop]
        same_answer(_with_extras(message, top, party, at))

    @settings(PROPERTY)
    @given(st.dictionaries(extra_names, json_texts, min_size=1, max_size=4), st.integers())
    def test_distinct_extra_names(self, extras: dict[str, str], at: int) -> None:
        """Extra names the contract does not use, each once: the answers agree, and the one
        parse vouches for the message whenever the key count can: no escapes, no key
        repeated in an object, no string that starts with a colon or a space, within the
        nesting."""
        raw = _with_extras(transaction(), list(extras.items()), [], at)
        same_answer(raw)
        written, repeats, depth = _keys_written(raw)
        plain = (
            BACKSLASH not in raw and raw.find(b'" ') < 0
        )  # no escape, no string opens with a space
        if plain and not repeats and raw.count(b'":') == written and depth <= 8:
            assert one_parse(raw) is not None


def _keys_written(raw: bytes) -> tuple[int, bool, int]:
    """The keys written in all of ``raw``'s objects, whether an object repeats one, and
    how deep it nests."""
    written = 0
    repeats = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal written, repeats
        written += len(items)
        repeats = repeats or len({key for key, _ in items}) < len(items)
        return dict(items)

    def depth(value: object) -> int:
        if isinstance(value, dict):
            return 1 + max(map(depth, value.values()), default=0)
        if isinstance(value, list):
            return 1 + max(map(depth, value), default=0)
        return 0

    deepest = depth(json.loads(raw, object_pairs_hook=pairs))
    return written, repeats, deepest


money_alphabet = st.text(st.sampled_from('0123456789.-+eE _"１'), max_size=7)


class TestOneMatchForBoth:
    @settings(PROPERTY)
    @given(st.sampled_from(["CNY", "JPY", "KWD"]), money_alphabet, money_alphabet)
    def test_both_at_once_is_each_alone(self, currency: str, amount: str, balance: str) -> None:
        """The match of the two amounts joined by a space says what the match of each
        says (a plain amount holds no space, so the join cannot be split elsewhere)."""
        both = _plain_money(currency)
        assert both is not None
        one = _plain_one_of[currency]
        alone = one(amount) is not None and one(balance) is not None
        assert (both(f"{amount} {balance}") is not None) == alone


class TestNesting:
    @pytest.mark.parametrize("levels", [8, 500, 100_000])
    def test_an_extra_field_nested_too_deep(self, levels: int) -> None:
        """The one parse runs before the nesting is measured; too deep is still ``too_deep``."""
        raw = encode(transaction()).replace(
            b'"kind"', b'"note":' + b"[" * levels + b"1" + b"]" * levels + b',"kind"'
        )
        result = decode(raw)
        assert not isinstance(result, TransactionEvent) and result.code == "too_deep"

    @pytest.mark.parametrize("levels", [8, 500, 100_000])
    def test_money_nested_too_deep(self, levels: int) -> None:
        """Money is read untyped, so the one parse reads a nested value in it (its own
        recursion guard stops a deep one): too deep is still ``too_deep``."""
        raw = with_money("[" * levels + "1" + "]" * levels, '"1.00"')
        result = decode(raw)
        assert not isinstance(result, TransactionEvent) and result.code == "too_deep"
        same_answer(raw)

    @pytest.mark.parametrize("digits", [30, 4300, 5000])
    def test_money_a_long_integer(self, digits: int) -> None:
        """An integer longer than Python reads from text (4,300 digits) fails the one
        parse; any long one is ``amount_too_large``, as on the exact path."""
        raw = with_money("7" * digits, '"1.00"')
        result = decode(raw)
        assert not isinstance(result, TransactionEvent) and result.code == "amount_too_large"
        same_answer(raw)
