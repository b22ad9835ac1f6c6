"""Per-customer state: plain data that round-trips through msgpack exactly."""

from __future__ import annotations

from decimal import Decimal

from contract_events import NOW, at, customer, engine_for, event, product, transaction

from churnwatch.rules.state import (
    BalanceState,
    CustomerProfile,
    CustomerState,
    Observation,
    WindowState,
    decode_state,
    encode_state,
)
from churnwatch.schemas.models import CustomerEvent


class TestEncoding:
    def test_an_empty_state_round_trips(self) -> None:
        """A fresh state decodes back equal."""
        assert decode_state(encode_state(CustomerState())) == CustomerState()

    def test_money_keeps_its_exact_digits(self) -> None:
        """Decimals in block entries come back as the same Decimals, trailing zeros included."""
        state = CustomerState(blocks={"w": WindowState(entries=[(1, Decimal("0.10"), "e1")])})
        restored = decode_state(encode_state(state))
        block = restored.blocks["w"]
        assert isinstance(block, WindowState)
        (_, value, _) = block.entries[0]
        assert type(value) is Decimal
        assert str(value) == "0.10"

    def test_block_states_keep_their_types(self) -> None:
        """Each block's state decodes back as its own class (the union is tagged)."""
        state = CustomerState(
            blocks={
                "w": WindowState(),
                "b": BalanceState(
                    observations=[
                        Observation(1, "AC1", Decimal("10"), Decimal("5"), Decimal("0"), "e1")
                    ]
                ),
            }
        )
        restored = decode_state(encode_state(state))
        assert type(restored.blocks["w"]) is WindowState
        assert type(restored.blocks["b"]) is BalanceState
        assert restored == state

    def test_the_state_of_every_shipped_rule_round_trips(self) -> None:
        """After events touching every shipped rule, the whole state decodes back equal."""
        engine = engine_for()
        state = None
        for message in [
            customer(aum="600000.00"),
            product(event_id="p1", action="maturity_scheduled", maturity_date="2026-03-20"),
            transaction(
                event_id="t1",
                occurred_at=at(hours=1),
                direction="credit",
                kind="payroll",
                amount="20000.00",
            ),
            transaction(event_id="t2", occurred_at=at(hours=2), amount="60000.00"),
            customer(event_id="cu-2", occurred_at=at(hours=3), aum="100000.00"),
        ]:
            state = engine.evaluate(event(message), state, NOW).state
        assert state is not None
        assert len(state.blocks) >= 4
        assert decode_state(encode_state(state)) == state

    def test_encoded_state_is_small(self) -> None:
        """A customer with a handful of events encodes to a few kilobytes at most."""
        engine = engine_for()
        state = None
        for n in range(20):
            message = transaction(event_id=f"t{n}", occurred_at=at(hours=n), amount="10.00")
            state = engine.evaluate(event(message), state, NOW).state
        assert state is not None
        assert len(encode_state(state)) < 8192


class TestCustomerProfile:
    def test_tier_comes_from_aum_unless_overridden(self) -> None:
        """The derived tier is used unless the record sets its own."""
        plain = event(customer())
        overridden = event(customer(tier="private"))
        assert isinstance(plain, CustomerEvent)
        assert isinstance(overridden, CustomerEvent)
        assert CustomerProfile.from_event(plain, "B").tier == "B"
        chosen = CustomerProfile.from_event(overridden, "B")
        assert chosen.tier == "private"
        assert chosen.tier_overridden is True
