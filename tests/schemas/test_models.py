"""The contract-v1 models: names, defaults, immutability and how they serialise."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import msgspec
import pytest
from contract_events import event, transaction

from churnwatch.schemas.decode import encode_event, event_to_dict
from churnwatch.schemas.models import (
    EVENT_TYPES,
    TOPIC_OF_TYPE,
    Alert,
    Recipient,
    TransactionEvent,
    event_type_name,
)

CONTRACT_ALERT_FIELDS = {
    "alert_id",
    "rule_id",
    "rule_version",
    "severity",
    "customer_id",
    "account_id",
    "occurred_at",
    "detected_at",
    "facts",
    "trigger_event_ids",
    "recipients",
}


def make_alert(**overrides: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": "al-1",
        "rule_id": "large-transfer-out",
        "rule_version": 1,
        "severity": "high",
        "customer_id": "C1",
        "account_id": "AC1",
        "occurred_at": dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        "detected_at": dt.datetime(2026, 3, 2, 2, 0, 1, tzinfo=dt.UTC),
        "facts": {"amount": "60000.00"},
        "trigger_event_ids": ["tx-1"],
        "recipients": [Recipient(audience="relationship_manager")],
    }
    fields.update(overrides)
    return Alert(**fields)  # type: ignore[arg-type]


class TestEventTypes:
    def test_every_type_has_a_topic(self) -> None:
        """Each input type maps to its ``churnwatch.*`` topic from CONTRACT.md."""
        assert (
            set(EVENT_TYPES)
            == set(TOPIC_OF_TYPE)
            == {
                "transaction",
                "product",
                "customer",
                "staff",
            }
        )
        assert TOPIC_OF_TYPE["transaction"] == "churnwatch.transactions"

    @pytest.mark.parametrize("name", sorted(EVENT_TYPES))
    def test_type_name_is_the_models_tag(self, name: str) -> None:
        """``event_type_name`` gives back the contract ``type`` a model was decoded from."""
        assert EVENT_TYPES[name].__struct_config__.tag == name

    def test_event_type_name_of_an_instance(self) -> None:
        """A decoded transaction reports ``transaction``."""
        assert event_type_name(event(transaction())) == "transaction"

    def test_events_are_immutable(self) -> None:
        """An event cannot be changed after decoding: rules all see the same facts."""
        decoded = event(transaction())
        with pytest.raises(AttributeError):
            decoded.amount = Decimal(1)  # type: ignore[misc]


class TestSerialisation:
    def test_event_round_trips_through_encode_event(self) -> None:
        """Encoding a decoded event and decoding it again gives an equal event."""
        original = event(transaction(amount="1234.56", description="rent"))
        again = msgspec.json.decode(encode_event(original), type=TransactionEvent)
        assert again == original

    def test_money_is_written_as_a_decimal_string(self) -> None:
        """Encoded money is a JSON string, so no reader turns it into a float."""
        written = json.loads(encode_event(event(transaction(amount="0.10"))))
        assert written["amount"] == "0.10"

    def test_event_to_dict_is_json_ready(self) -> None:
        """``event_to_dict`` gives plain data with the contract's ``type``."""
        data = event_to_dict(event(transaction()))
        assert data["type"] == "transaction"
        json.dumps(data)

    def test_alert_carries_the_contract_fields(self) -> None:
        """An encoded alert has every field CONTRACT.md lists, under those names."""
        written = json.loads(encode_event(make_alert()))
        assert set(written) >= CONTRACT_ALERT_FIELDS
        assert written["type"] == "alert"

    def test_alert_keeps_a_null_account(self) -> None:
        """``account_id`` is written even when null: it is a contract field."""
        written = json.loads(encode_event(make_alert(account_id=None)))
        assert written["account_id"] is None

    def test_alerts_compare_by_value(self) -> None:
        """Two alerts built from the same values are equal (tests compare alerts directly)."""
        assert make_alert() == make_alert()
        assert make_alert() != make_alert(alert_id="al-2")

    def test_alert_is_not_a_dataclass(self) -> None:
        """Alerts are msgspec Structs, so the replay's JSON lines encode at C speed."""
        assert not dataclasses.is_dataclass(make_alert())
        assert isinstance(make_alert(), msgspec.Struct)
