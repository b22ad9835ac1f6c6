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
from churnwatch.schemas.posting import Party, Posting, posting_event
from churnwatch.streams.synthetic.bank import DatasetSpec, generate

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_parse(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> TransactionEvent | None:
    """What the one parse makes of ``raw`` (None: it leaves ``raw`` to the exact path)."""
    return posting_event(raw, msgspec.json.decode(raw, type=Posting), limits)


def same_answer(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """decode and the exact path agree: the same event, or the same code and reason."""
    assert decode(raw, limits=limits) == decode_exact(raw, limits=limits)


class TestTwin:
    def test_a_posting_has_the_models_fields_in_its_order(self) -> None:
        """A field added to the model is added to its twin, or the twin falls behind."""
        names = [field.name for field in msgspec.structs.fields(Posting)]
        assert names == [field.name for field in msgspec.structs.fields(TransactionEvent)]
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
            assert event == decode_exact(raw)

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
        assert event == decode_exact(raw)

    def test_spaces_after_colons_and_commas(self) -> None:
        """``json.dumps``'s own spacing keeps every key's colon right after its quote."""
        raw = json.dumps(transaction()).encode()
        event = one_parse(raw)
        assert event is not None and event == decode_exact(raw)

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
        assert event is not None and event == decode_exact(raw)

    def test_money_written_as_numbers(self) -> None:
        """A JSON number is read digit for digit, as the typed parse reads it."""
        raw = encode(transaction(amount=Decimal("12.30"), balance_after=Decimal("100")))
        event = one_parse(raw)
        assert event is not None and event == decode_exact(raw)
        assert str(event.amount) == "12.30"


class TestLeftToTheExactPath:
    @pytest.mark.parametrize(
        "raw",
        [
            encode(transaction(description='say "hi"')),  # an escape
            json.dumps(transaction(), separators=(", ", " : ")).encode(),  # before a colon
            encode(transaction()).replace(b'":', b'"\n:'),  # a line break before a colon
            encode(transaction()).replace(b'":', b'"\t:'),  # a tab before a colon
            encode(transaction()).replace(b'":', b'"\r\n:'),
            encode(transaction(note="vip")),  # a field the contract does not know
            encode(transaction(counterparty={"bank": "X", "swift": "ABCD"})),
            encode(transaction(meta={"amount": "1e9"})),
            encode(transaction(description=":colon first")),  # counts one ``":`` more
        ],
        ids=[
            "escape",
            "spaces",
            "line-breaks",
            "tabs",
            "carriage-returns",
            "extra",
            "extra-in-counterparty",
            "extra-object",
            "colon",
        ],
    )
    def test_what_it_cannot_vouch_for(self, raw: bytes) -> None:
        """Messages in another form are no verdict: the exact path decodes them."""
        assert one_parse(raw) is None
        assert isinstance(decode(raw), TransactionEvent)
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
        ["007", "0.00", "-0", "1.", ".5", "+1", " 1", "１", "NaN", "1E+2", "0.0000001"]
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


class TestNesting:
    @pytest.mark.parametrize("levels", [8, 500, 100_000])
    def test_an_extra_field_nested_too_deep(self, levels: int) -> None:
        """The one parse runs before the nesting is measured; too deep is still ``too_deep``."""
        raw = encode(transaction()).replace(
            b'"kind"', b'"note":' + b"[" * levels + b"1" + b"]" * levels + b',"kind"'
        )
        result = decode(raw)
        assert not isinstance(result, TransactionEvent) and result.code == "too_deep"
