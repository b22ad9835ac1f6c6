"""The JSON Schema files: generated from the models, never stale, and agreeing with decode."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from contract_events import NOW, customer, encode, engine_for, event, product, staff, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from churnwatch.schemas import jsonschema as generator
from churnwatch.schemas.decode import DeadLetter, Source, decode
from churnwatch.schemas.models import Alert, Recipient

VALIDATORS = {
    name: Draft202012Validator(
        json.loads((generator.OUTPUT_DIR / f"{name}.schema.json").read_text(encoding="utf-8")),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    for name in generator.MODELS
}


def schema_accepts(raw: bytes) -> bool:
    instance = json.loads(raw, parse_float=Decimal)
    return VALIDATORS[instance["type"]].is_valid(instance)


def decode_accepts(raw: bytes) -> bool:
    return not isinstance(decode(raw), DeadLetter)


class TestFiles:
    def test_files_on_disk_equal_the_generator_output(self) -> None:
        """``schemas/json/`` is exactly what ``python -m churnwatch.schemas.jsonschema`` writes."""
        on_disk = {p.name: p.read_text(encoding="utf-8") for p in generator.OUTPUT_DIR.glob("*")}
        assert on_disk == generator.generate(), "stale: run python -m churnwatch.schemas.jsonschema"

    def test_one_file_per_contract_type(self) -> None:
        """There is a schema for every input type, the alert and the dead letter."""
        assert set(generator.generate()) == {
            f"{name}.schema.json"
            for name in ("transaction", "product", "customer", "staff", "alert", "dead-letter")
        }

    @pytest.mark.parametrize("name", sorted(generator.MODELS))
    def test_each_file_is_a_valid_draft_2020_12_schema(self, name: str) -> None:
        """Each file declares Draft 2020-12 and passes that draft's metaschema."""
        schema = VALIDATORS[name].schema
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)

    def test_check_mode_reports_fresh_files(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--check`` exits 0 and prints nothing when the files are current."""
        assert generator.main(["--check"]) == 0
        assert capsys.readouterr().out == ""

    def test_write_rewrites_only_what_changed(self, tmp_path: Any) -> None:
        """Writing into a directory twice changes every file the first time, none the second."""
        assert len(generator.write(tmp_path)) == len(generator.MODELS)
        assert generator.write(tmp_path) == []


class TestPostProcessing:
    def test_money_accepts_a_decimal_string_or_a_number(self) -> None:
        """An amount may be ``"50000.00"`` or ``50000.00`` but not a float-looking word."""
        validator = VALIDATORS["transaction"]
        assert validator.is_valid(transaction(amount="50000.00"))
        assert validator.is_valid(transaction(amount=Decimal("50000.00")))
        assert validator.is_valid(transaction(amount=50000))
        assert not validator.is_valid(transaction(amount="5O000.00"))

    def test_amount_must_be_positive_in_either_spelling(self) -> None:
        """Zero and negative amounts are refused as text and as numbers."""
        validator = VALIDATORS["transaction"]
        for bad in ("0", "0.00", "-1", "0e5", 0, -1, Decimal("-0.01")):
            assert not validator.is_valid(transaction(amount=bad)), bad

    def test_other_money_may_be_negative(self) -> None:
        """``balance_after`` is finite but may be below zero (an overdraft)."""
        assert VALIDATORS["transaction"].is_valid(transaction(balance_after="-10.50"))
        assert not VALIDATORS["transaction"].is_valid(transaction(balance_after="NaN"))

    def test_optional_money_may_be_null(self) -> None:
        """A product's amount is optional: absent or null is allowed."""
        assert VALIDATORS["product"].is_valid(product(amount=None))
        assert VALIDATORS["product"].is_valid(product(amount=...))

    def test_timestamps_need_an_offset(self) -> None:
        """``occurred_at`` without a UTC offset is refused."""
        validator = VALIDATORS["staff"]
        assert validator.is_valid(staff(occurred_at="2026-03-02T10:00:00Z"))
        assert not validator.is_valid(staff(occurred_at="2026-03-02T10:00:00"))

    def test_unknown_extra_fields_are_allowed(self) -> None:
        """The schemas, like the decoder, accept fields they do not know."""
        assert VALIDATORS["customer"].is_valid(customer(segment="retail"))


class TestOutputsMatchTheirSchemas:
    def test_an_engine_alert_validates(self) -> None:
        """An alert as the engine makes it and the replay writes it fits the alert schema."""
        engine = engine_for()
        outcome = engine.evaluate(event(transaction(amount="60000.00", event_id="big")), None, NOW)
        assert outcome.alerts
        for alert in outcome.alerts:
            VALIDATORS["alert"].validate(json.loads(encode_alert(alert)))

    def test_a_hand_made_alert_with_recipients_validates(self) -> None:
        """Facts of every allowed kind and routed recipients fit the alert schema."""
        alert = Alert(
            alert_id="al-1",
            rule_id="r",
            rule_version=1,
            severity="high",
            customer_id="C1",
            account_id=None,
            occurred_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
            detected_at=NOW,
            facts={"amount": "1.00", "events": 3, "fired": True, "none": None},
            trigger_event_ids=["e1"],
            recipients=[Recipient(audience="customer", channel="sms")],
        )
        VALIDATORS["alert"].validate(json.loads(encode_alert(alert)))

    @pytest.mark.parametrize("raw", [b"[]", b"\xff\xfe", b""])
    def test_dead_letters_validate(self, raw: bytes) -> None:
        """Every dead letter, text or base64, fits the dead-letter schema."""
        letter = decode(raw, Source(file="events.jsonl", line=3))
        assert isinstance(letter, DeadLetter)
        VALIDATORS["dead-letter"].validate(json.loads(letter.to_json()))


def encode_alert(alert: Alert) -> bytes:
    from churnwatch.schemas.decode import encode_event

    return encode_event(alert)


# --- property: the schema files and churnwatch.schemas.decode give the same verdict -------------

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
timestamps = st.builds(
    lambda when, zone: when.replace(tzinfo=zone).isoformat(),
    st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2099, 12, 30)),
    offsets,
)
decimals = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=2
)
positive_decimals = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("1e9"), allow_nan=False, places=2
)
identifiers = st.text(alphabet="ABCDEFGHJK0123456789-", min_size=1, max_size=12)


def money(values: st.SearchStrategy[Decimal]) -> st.SearchStrategy[object]:
    """Money as the contract allows it: a decimal string, or a JSON number."""
    return st.one_of(values.map(str), values.map(lambda d: d), values.map(int))


def _positive_int(value: Decimal) -> object:
    return int(value) if int(value) > 0 else value


def positive_money() -> st.SearchStrategy[object]:
    return st.one_of(
        positive_decimals.map(str), positive_decimals, positive_decimals.map(_positive_int)
    )


valid_transactions = st.builds(
    transaction,
    event_id=identifiers,
    occurred_at=timestamps,
    customer_id=identifiers,
    direction=st.sampled_from(["debit", "credit"]),
    amount=positive_money(),
    balance_after=money(decimals),
    kind=st.sampled_from(["transfer", "payroll", "card", "cash", "product", "other"]),
    channel=st.sampled_from(["mobile", "online", "counter", "atm", "pos", "batch"]),
    counterparty=st.fixed_dictionaries(
        {}, optional={"same_bank": st.booleans(), "name": st.text(max_size=5)}
    ),
)
valid_products = st.builds(
    product,
    occurred_at=timestamps,
    action=st.sampled_from(["opened", "matured", "renewed", "cancelled"]),
    amount=st.one_of(st.none(), positive_money()),
    maturity_date=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2199, 12, 31)).map(str),
)
valid_customers = st.builds(
    customer,
    occurred_at=timestamps,
    aum=money(decimals),
    language=st.sampled_from(["zh-CN", "en"]),
    tier=st.one_of(st.none(), st.sampled_from(["A", "private"])),
)
valid_staff = st.builds(staff, occurred_at=timestamps, active=st.booleans())
valid_events = st.one_of(valid_transactions, valid_products, valid_customers, valid_staff)

GENERIC_BAD: list[object] = [12345, "", "text", True, None, [], {}]
BAD_BY_FIELD: dict[str, list[object]] = {
    "amount": [
        "-1.00",
        "0",
        "0.00",
        0,
        -1,
        "NaN",
        "Infinity",
        "1,000",
        "abc",
        "1e3",
        "1_000",
        " 5.00",
        "+5",
        "\u0661\u0662",
        "1e999999999",
        "1000000000000000.01",
        10**16,
    ],
    "balance_after": ["NaN", "-Infinity", "abc", "-5", -5, "1e3", "-1E+2", "-10000000000000001"],
    "aum": ["NaN", "abc", "0", -1, "2.5e6", "１０"],
    "occurred_at": [
        "2026-03-02T10:00:00",
        "2026-03-02",
        "2026-03-02T10:00+08:00",
        "yesterday",
        "2026-03-02T10:00:00.5Z",
        "9999-12-31T23:59:59-10:00",
        "1999-12-31T23:59:59+08:00",
    ],
    "maturity_date": ["2026-03-02T10:00:00Z", "tomorrow", "9999-12-31", "0001-01-01"],
    "currency": ["cny", "USD", "EURO"],
    "phone": ["13800001234", "+0123456789", "+8613800001234"],
    "direction": ["out", "DEBIT"],
    "language": ["zh", "en"],
}


@st.composite
def variants(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event, or one with a field dropped, replaced by a bad value, or added."""
    message = dict(draw(valid_events))
    how = draw(st.sampled_from(["as is", "drop", "generic", "specific", "specific", "extra"]))
    fields = sorted(k for k in message if k != "type")
    specific = sorted(k for k in message if k in BAD_BY_FIELD)
    if how == "drop":
        message.pop(draw(st.sampled_from(fields)))
    elif how == "generic":
        message[draw(st.sampled_from(fields))] = draw(st.sampled_from(GENERIC_BAD))
    elif how == "specific":
        field = draw(st.sampled_from(specific))
        message[field] = draw(st.sampled_from(BAD_BY_FIELD[field]))
    elif how == "extra":
        message[draw(st.sampled_from(["note", "x_trace", "schema_version"]))] = draw(
            st.sampled_from(GENERIC_BAD)
        )
    return message


class TestSchemaAgreesWithDecode:
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(valid_events)
    def test_valid_events_pass_both(self, message: dict[str, Any]) -> None:
        """A generated valid event is accepted by the decoder and by its JSON Schema."""
        raw = encode(message)
        assert decode_accepts(raw), decode(raw)
        assert schema_accepts(raw)

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(variants())
    def test_variants_get_the_same_verdict(self, message: dict[str, Any]) -> None:
        """For valid and broken events alike, decode accepts exactly what the schema accepts."""
        raw = encode(message)
        assert decode_accepts(raw) == schema_accepts(raw), decode(raw)
