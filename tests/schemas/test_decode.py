"""Decoding bytes into contract-v1 events, and the dead letter of every kind of bad input."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal

import pytest
from contract_events import customer, encode, product, staff, transaction

from churnwatch.exceptions import ChurnwatchError
from churnwatch.schemas.decode import REASON_CODES, DeadLetter, Source, decode, decode_or_raise
from churnwatch.schemas.exceptions import DecodeFailure
from churnwatch.schemas.models import CustomerEvent, ProductEvent, StaffEvent, TransactionEvent


def dead(raw: bytes) -> DeadLetter:
    result = decode(raw, Source(topic="churnwatch.transactions", partition=2, offset=41))
    assert isinstance(result, DeadLetter), f"expected a dead letter, got {result!r}"
    assert result.code in REASON_CODES
    return result


class TestValidInput:
    @pytest.mark.parametrize(
        ("message", "model"),
        [
            (transaction(), TransactionEvent),
            (product(), ProductEvent),
            (customer(), CustomerEvent),
            (staff(), StaffEvent),
        ],
        ids=["transaction", "product", "customer", "staff"],
    )
    def test_each_type_decodes_to_its_model(self, message: dict[str, object], model: type) -> None:
        """A valid message of each contract type becomes an instance of that type's model."""
        assert type(decode(encode(message))) is model

    def test_money_from_a_decimal_string_is_exact(self) -> None:
        """A decimal-string amount is read digit for digit as a Decimal."""
        event = decode_or_raise(encode(transaction(amount="50000.10")))
        assert isinstance(event, TransactionEvent)
        assert event.amount == Decimal("50000.10")
        assert type(event.amount) is Decimal

    def test_money_from_a_json_number_never_passes_through_float(self) -> None:
        """0.1 and 0.2 sent as JSON numbers add up to exactly 0.3."""
        first = decode_or_raise(encode(transaction()).replace(b'"100.00"', b"0.1"))
        second = decode_or_raise(encode(transaction()).replace(b'"100.00"', b"0.2"))
        assert isinstance(first, TransactionEvent)
        assert isinstance(second, TransactionEvent)
        assert first.amount == Decimal("0.1")
        assert first.amount + second.amount == Decimal("0.3")

    def test_string_and_number_spellings_agree(self) -> None:
        """``"12.34"`` and ``12.34`` decode to the same Decimal."""
        text = decode_or_raise(encode(transaction(amount="12.34")))
        number = decode_or_raise(encode(transaction()).replace(b'"100.00"', b"12.34"))
        assert isinstance(text, TransactionEvent)
        assert isinstance(number, TransactionEvent)
        assert text.amount == number.amount == Decimal("12.34")

    def test_unknown_extra_fields_are_accepted(self) -> None:
        """Fields the contract does not know are ignored, not a reason to refuse."""
        message = transaction(branch_note="vip", counterparty={"bank": "X", "swift": "ABCD"})
        assert isinstance(decode(encode(message)), TransactionEvent)

    def test_timestamps_keep_their_offset(self) -> None:
        """``occurred_at`` is timezone-aware with the offset the sender wrote."""
        event = decode_or_raise(encode(transaction(occurred_at="2026-03-02T10:00:00+08:00")))
        assert event.occurred_at.utcoffset() == dt.timedelta(hours=8)

    def test_currency_defaults_to_cny(self) -> None:
        """A transaction without ``currency`` is in CNY."""
        event = decode_or_raise(encode(transaction()))
        assert isinstance(event, TransactionEvent)
        assert event.currency == "CNY"

    def test_absent_counterparty_reads_as_unknown(self) -> None:
        """Without a counterparty, ``same_bank`` and ``same_customer`` read as false."""
        event = decode_or_raise(encode(transaction(counterparty=...)))
        assert isinstance(event, TransactionEvent)
        assert event.counterparty.same_bank is False
        assert event.counterparty.same_customer is False


class TestBadInput:
    def test_bad_json(self) -> None:
        """Truncated JSON is ``bad_json``."""
        letter = dead(b'{"type": "transaction", "amount": ')
        assert letter.code == "bad_json"
        assert "not valid JSON" in letter.reason

    def test_trailing_garbage_is_bad_json(self) -> None:
        """Text after the object makes the message ``bad_json``."""
        assert dead(encode(transaction()) + b" trailing").code == "bad_json"

    @pytest.mark.parametrize(
        ("raw", "kind"),
        [(b"[1, 2]", "an array"), (b'"text"', "a string"), (b"42", "a number"), (b"null", "null")],
    )
    def test_not_an_object(self, raw: bytes, kind: str) -> None:
        """Valid JSON that is not an object is ``not_an_object`` and says what it was."""
        letter = dead(raw)
        assert letter.code == "not_an_object"
        assert kind in letter.reason

    def test_unknown_type(self) -> None:
        """A ``type`` outside the contract is ``unknown_type`` and names the value."""
        letter = dead(encode(transaction(type="loan_application")))
        assert letter.code == "unknown_type"
        assert "'loan_application'" in letter.reason

    def test_missing_type(self) -> None:
        """An object without ``type`` is ``missing_type``."""
        letter = dead(encode(transaction(type=...)))
        assert letter.code == "missing_type"
        assert "`type`" in letter.reason

    @pytest.mark.parametrize("field", ["event_id", "occurred_at", "account_id", "amount", "kind"])
    def test_missing_field(self, field: str) -> None:
        """A missing required field is ``missing_field`` and the reason names it."""
        letter = dead(encode(transaction(**{field: ...})))
        assert letter.code == "missing_field"
        assert f"`{field}`" in letter.reason
        assert letter.reason.startswith("transaction:")

    def test_missing_field_of_another_type(self) -> None:
        """The reason names the event type whose field is missing."""
        letter = dead(encode(customer(phone=...)))
        assert letter.code == "missing_field"
        assert letter.reason == "customer: missing required field `phone`"

    def test_wrong_field_type(self) -> None:
        """A field of the wrong JSON type is ``wrong_field`` naming the field and the type."""
        letter = dead(encode(transaction(account_id=12345)))
        assert letter.code == "wrong_field"
        assert "`account_id`" in letter.reason
        assert "str" in letter.reason

    def test_wrong_enum_value(self) -> None:
        """A value outside an enum is ``wrong_field`` naming the field and the value."""
        letter = dead(encode(transaction(direction="outgoing")))
        assert letter.code == "wrong_field"
        assert "`direction`" in letter.reason
        assert "'outgoing'" in letter.reason

    def test_wrong_nested_field_names_its_path(self) -> None:
        """A bad field inside ``counterparty`` is reported with its dotted path."""
        letter = dead(encode(transaction(counterparty={"same_bank": "yes"})))
        assert letter.code == "wrong_field"
        assert "`counterparty.same_bank`" in letter.reason

    def test_empty_identifier(self) -> None:
        """An empty ``event_id`` is refused: it is the idempotency key."""
        letter = dead(encode(transaction(event_id="")))
        assert letter.code == "wrong_field"
        assert "`event_id`" in letter.reason

    def test_bad_phone(self) -> None:
        """A phone number that is not E.164 is ``wrong_field``."""
        letter = dead(encode(customer(phone="13800001234")))
        assert letter.code == "wrong_field"
        assert "`phone`" in letter.reason

    @pytest.mark.parametrize("amount", ["-1.00", -5])
    def test_negative_amount(self, amount: object) -> None:
        """A negative amount is ``bad_amount``: direction says which way money moved."""
        letter = dead(encode(transaction(amount=amount)))
        assert letter.code == "bad_amount"
        assert "`amount`" in letter.reason
        assert "positive" in letter.reason

    @pytest.mark.parametrize("amount", ["0", "0.00", 0])
    def test_zero_amount(self, amount: object) -> None:
        """A zero amount is ``bad_amount``."""
        letter = dead(encode(transaction(amount=amount)))
        assert letter.code == "bad_amount"
        assert "positive" in letter.reason

    @pytest.mark.parametrize("amount", ["fifty", "12,50", "", True, None, [1]])
    def test_non_numeric_amount(self, amount: object) -> None:
        """An amount that is not a number is ``bad_amount`` naming the field."""
        letter = dead(encode(transaction(amount=amount)))
        assert letter.code == "bad_amount"
        assert "`amount`" in letter.reason

    @pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "sNaN"])
    def test_not_finite_amount(self, amount: str) -> None:
        """NaN and infinities are ``bad_amount``: money is finite."""
        letter = dead(encode(transaction(amount=amount)))
        assert letter.code == "bad_amount"
        assert "`amount`" in letter.reason

    def test_nan_literal_is_not_json(self) -> None:
        """A bare ``NaN`` token is not JSON at all."""
        raw = encode(transaction()).replace(b'"100.00"', b"NaN")
        assert dead(raw).code == "bad_json"

    @pytest.mark.parametrize(
        ("field", "message"),
        [
            ("balance_after", transaction(balance_after="NaN")),
            ("aum", customer(aum="lots")),
            ("amount", product(amount="-3")),
        ],
    )
    def test_bad_money_in_other_fields(self, field: str, message: dict[str, object]) -> None:
        """Every money field is checked, and the reason names which one."""
        letter = dead(encode(message))
        assert letter.code == "bad_amount"
        assert f"`{field}`" in letter.reason

    def test_negative_balance_is_allowed(self) -> None:
        """An overdrawn account has a negative ``balance_after``; that is not an error."""
        assert isinstance(decode(encode(transaction(balance_after="-20.00"))), TransactionEvent)

    @pytest.mark.parametrize(
        "value", ["yesterday", "2026-03-02", "2026-02-30T10:00:00+08:00", "2026-03-02T10:00+08:00"]
    )
    def test_bad_timestamp(self, value: str) -> None:
        """A timestamp that is not RFC 3339 is ``bad_timestamp`` with an example of the format."""
        letter = dead(encode(transaction(occurred_at=value)))
        assert letter.code == "bad_timestamp"
        assert "`occurred_at`" in letter.reason
        assert "2026-03-01T09:30:00+08:00" in letter.reason

    def test_naive_timestamp(self) -> None:
        """A timestamp without a UTC offset is ``bad_timestamp``: event time must be absolute."""
        letter = dead(encode(transaction(occurred_at="2026-03-02T10:00:00")))
        assert letter.code == "bad_timestamp"
        assert "timezone" in letter.reason

    def test_byte_order_mark(self) -> None:
        """A UTF-8 BOM before otherwise valid JSON is ``bom``."""
        letter = dead(b"\xef\xbb\xbf" + encode(transaction()))
        assert letter.code == "bom"
        assert "BOM" in letter.reason

    def test_not_utf8(self) -> None:
        """Latin-1 text is ``not_utf8`` and the reason gives the byte position."""
        raw = encode(transaction(description="CAFE")).replace(b"CAFE", b"caf\xe9")
        position = raw.index(b"\xe9")
        letter = dead(raw)
        assert letter.code == "not_utf8"
        assert f"byte {position}" in letter.reason

    @pytest.mark.parametrize(
        "extra",
        [
            b'"note":"caf\xe9"',
            b'"trace":{"id":"caf\xe9"}',
            b'"caf\xe9":1',
            b'"trace":{"caf\xe9":1}',
            b'"note":"\xed\xa0\x80"',  # a surrogate, which UTF-8 never encodes
        ],
        ids=["value", "nested-value", "key", "nested-key", "surrogate"],
    )
    def test_not_utf8_in_a_field_the_contract_does_not_know(self, extra: bytes) -> None:
        """The typed parse skips unknown fields unread; their bytes are still checked."""
        raw = encode(transaction())[:-1] + b"," + extra + b"}"
        assert dead(raw).code == "not_utf8"

    def test_a_long_integer_beside_nested_keys(self) -> None:
        """An integer longer than Python's ``int`` reads (4,300 digits) in an unknown field
        is accepted where its neighbours' keys are checked for repeats."""
        extra = b',"trace":{"id":1},"serial":' + b"7" * 5000 + b"}"
        assert isinstance(decode(encode(transaction())[:-1] + extra), TransactionEvent)

    @pytest.mark.parametrize("raw", [b"", b"   ", b"\n"])
    def test_empty(self, raw: bytes) -> None:
        """An empty or blank message is ``empty``."""
        assert dead(raw).code == "empty"


class TestDeadLetter:
    def test_keeps_the_original_text_and_source(self) -> None:
        """A dead letter carries the message as sent and where it came from."""
        raw = encode(transaction(amount="-1"))
        letter = dead(raw)
        assert letter.original == raw.decode()
        assert letter.original_base64 is None
        assert letter.source == Source(topic="churnwatch.transactions", partition=2, offset=41)

    def test_non_utf8_original_is_kept_as_base64(self) -> None:
        """Bytes that are not UTF-8 survive exactly, base64-encoded."""
        raw = b'{"type": "transaction", "description": "\xff\xfe"}'
        letter = dead(raw)
        assert letter.original is None
        assert letter.original_base64 is not None
        assert base64.b64decode(letter.original_base64) == raw

    def test_serialises_to_json_without_empty_fields(self) -> None:
        """``to_json`` writes the reason, code, source and original, and no null fields."""
        letter = dead(b"[]")
        written = json.loads(letter.to_json())
        assert written == {
            "reason": letter.reason,
            "code": "not_an_object",
            "source": {"topic": "churnwatch.transactions", "partition": 2, "offset": 41},
            "original": "[]",
        }

    def test_decode_without_source_has_an_empty_source(self) -> None:
        """Decoding with no source gives a dead letter whose source is empty, not missing."""
        result = decode(b"{")
        assert isinstance(result, DeadLetter)
        assert result.source == Source()


class TestDecodeOrRaise:
    def test_raises_decode_failure_with_reason_and_code(self) -> None:
        """``decode_or_raise`` turns a dead letter into a DecodeFailure carrying its reason."""
        with pytest.raises(DecodeFailure) as caught:
            decode_or_raise(b"[]")
        assert caught.value.code == "not_an_object"
        assert "array" in caught.value.reason

    def test_decode_failure_is_a_churnwatch_error(self) -> None:
        """DecodeFailure sits under the project's one exception root."""
        with pytest.raises(ChurnwatchError):
            decode_or_raise(b"")
