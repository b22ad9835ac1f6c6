"""Per-customer state: plain data that round-trips through msgpack exactly, in few bytes."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from contract_events import NOW, at, customer, engine_for, event, product, transaction
from hypothesis import given
from hypothesis import strategies as st

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.codec import FORMAT_VERSION, decode_state, encode_state
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import (
    ActivityState,
    BalanceState,
    CustomerProfile,
    CustomerState,
    HistoryState,
    Observation,
    Watch,
    WindowState,
)
from churnwatch.rules.stored_rows import ActivityDays
from churnwatch.schemas.models import CustomerEvent
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate

#: states of the 30 busiest customers of ``V1_SPEC`` after the first half of its replay,
#: written by churnwatch's version-1 codec (before the format had a version)
V1_STATES = Path(__file__).parent / "data" / "states_v1.json.gz"
V1_SPEC = DatasetSpec(customers=100, weeks=6, seed=11, shuffle_share=0.3)
NOW_FIXED = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
#: the rules shipped when those states were written (rules shipped since start empty)
V1_RULES = {
    "large-transfer-out",
    "balance-sharp-fall",
    "payroll-moved-out",
    "maturity-reminder",
    "maturity-funds-moved-out",
    "sticky-product-cancelled",
    "activity-drop",
    "tier-downgrade",
}


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
                    observations=[Observation(1, "AC1", 1000, 500, 0, 1000, 500)],
                    accounts={"AC1": 500},
                    total=500,
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


class TestStoredForm:
    def test_the_stored_form_leads_with_its_version(self) -> None:
        """What encode_state writes says which format it is in, so a later one can upgrade it."""
        data = encode_state(CustomerState())
        assert msgspec.msgpack.decode(data)[0] == FORMAT_VERSION == 6

    def test_a_newer_format_is_refused_with_a_reason(self) -> None:
        """A state from a newer churnwatch is not misread: the error says to upgrade."""
        data = bytearray(encode_state(CustomerState()))
        data[1] = FORMAT_VERSION + 1
        with pytest.raises(ValueError, match="format version 7"):
            decode_state(bytes(data))

    def test_a_version_2_state_reads_as_one_with_no_watch(self) -> None:
        """Version 3 only adds the outcome watches: a stored version 2 state loads as it was."""
        state = CustomerState(watermark=1_700_000_000_000_000, last_alert_at={"r": 5})
        data = bytearray(encode_state(state))
        data[1] = 2  # what version 2 wrote for the same state
        again = decode_state(bytes(data))
        assert again.watches == [] and again.last_alert_at == {"r": 5}
        assert again.watermark == state.watermark

    def test_a_version_4_state_reads_as_one_with_no_position(self) -> None:
        """Version 5 only adds the worker's input positions: a version 4 state loads as it was."""
        one = Watch("al-1", "r", 1, 2, Decimal("100.00"), "TD-1", None, Decimal("60.00"))
        state = CustomerState(watermark=10**15, watches=[one], score=[(10**15, "r", 700)])
        data = bytearray(encode_state(state))
        data[1] = 4  # what version 4 wrote for the same state
        again = decode_state(bytes(data))
        assert again.watches == [one] and again.score == state.score and again.offsets == {}

    def test_activity_counts_stored_as_a_day_map_read_as_todays_run(self) -> None:
        """Formats 1 to 5 stored an activity block's counts as a map of day to count."""
        old_block = ActivityDays({739_003: 1, 739_001: 2}, 10**15 + 5, 739_000, 4, 30)
        old = [5, None, 0, 10**15, [], [], {"activity-drop": old_block}, {}, 0]
        again = decode_state(msgspec.msgpack.encode(old))
        assert again.blocks == {
            "activity-drop": ActivityState(739_001, [2, 0, 1], 10**15 + 5, 739_000, 4, 30)
        }

    def test_positions_come_after_every_other_field(self) -> None:
        state = CustomerState(watermark=10**15, offsets={7: 42})
        again = decode_state(encode_state(state))
        assert again.offsets == {7: 42} and again.watches == [] and again.score == []

    def test_a_state_without_watches_costs_no_byte_more(self) -> None:
        """Watches are left out when there are none: most customers' states keep their size."""
        with_none = encode_state(CustomerState(watermark=10**15))
        one = Watch("al-1", "r", 1, 2, Decimal("100.00"), "TD-1", None, Decimal("60.00"))
        with_one = encode_state(CustomerState(watermark=10**15, watches=[one]))
        assert len(msgspec.msgpack.decode(with_none)) == 9
        assert decode_state(with_one).watches == [one]
        assert len(with_one) > len(with_none)

    def test_money_of_a_finer_currency_is_kept_exactly(self) -> None:
        """A 3-decimal posting raises the balance window's scale; every figure stays exact."""
        engine = engine_for()
        state = None
        for n, (amount, after) in enumerate([("10.00", "990.00"), ("0.125", "989.875")]):
            message = transaction(
                event_id=f"t{n}",
                occurred_at=at(hours=n),
                amount=amount,
                balance_after=after,
                currency="KWD",
            )
            state = engine.evaluate(event(message), state, NOW).state
        assert state is not None
        balance = next(b for b in state.blocks.values() if isinstance(b, BalanceState))
        assert balance.scale == 3
        assert balance.total == 989_875
        assert balance.peak == 1_000_000
        assert decode_state(encode_state(state)) == state

    def test_history_entries_round_trip_whatever_their_width(self) -> None:
        """History values come back exact, also when a reload changed how many a rule reads."""
        same = HistoryState(
            [(1_000_000, (Decimal("10.50"), None)), (1_000_001, (Decimal(2), None))]
        )
        mixed = HistoryState([(1_000_000, (Decimal("10.50"),)), (3_000_000, (None, Decimal(1)))])
        for history in (same, mixed):
            state = CustomerState(blocks={"h": history})
            assert decode_state(encode_state(state)) == state


class TestUpgradeFromVersion1:
    def stored_v1(self) -> dict[str, bytes]:
        text = gzip.decompress(V1_STATES.read_bytes())
        return {who: base64.b64decode(value) for who, value in json.loads(text).items()}

    def test_version_1_states_load_as_the_state_the_engine_keeps_now(self) -> None:
        """Old states decode to today's model: balance figures in cents, equal to a fresh run's."""
        lines = list(generate(V1_SPEC))
        driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), None, clock=lambda: NOW_FIXED)
        driver.run(lines[: len(lines) // 2])
        for who, data in self.stored_v1().items():
            assert data[:1] != encode_state(CustomerState())[:1]  # a map, not today's array
            upgraded, native = decode_state(data), driver.states[who]
            assert upgraded.seen == native.seen
            assert upgraded.customer == native.customer
            assert upgraded.last_alert_at == {
                rule: at for rule, at in native.last_alert_at.items() if rule in V1_RULES
            }
            # the blocks of the rules there were then (a rule shipped since starts empty)
            for rule_id, old in upgraded.blocks.items():
                block = native.blocks[rule_id]
                if not isinstance(block, BalanceState):
                    assert old == block
                    continue
                assert isinstance(old, BalanceState)
                assert (old.accounts, old.total, old.parked) == (
                    block.accounts,
                    block.total,
                    block.parked,
                )
                assert (old.peak, old.peak_at, old.base_accounts) == (
                    block.peak,
                    block.peak_at,
                    block.base_accounts,
                )
                assert [(o.at, o.total_before, o.total_after) for o in old.observations] == [
                    (o.at, o.total_before, o.total_after) for o in block.observations
                ]

    def test_a_replay_resumed_from_version_1_states_gives_the_same_alerts(self) -> None:
        """Half a replay, the busiest states then swapped for their version-1 bytes: same alerts."""
        lines = list(generate(V1_SPEC))
        half = len(lines) // 2
        whole = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), None, clock=lambda: NOW_FIXED)
        whole.run(lines)
        resumed = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), None, clock=lambda: NOW_FIXED)
        resumed.run(lines[:half])
        stored = self.stored_v1()
        for who, data in stored.items():
            resumed.states[who] = decode_state(data)
        resumed.run(lines[half:])
        assert Counter(a.rule_id for a in resumed.stored)["balance-sharp-fall"] >= 1
        assert [(a.alert_id, a.facts) for a in resumed.stored if a.rule_id in V1_RULES] == [
            (a.alert_id, a.facts) for a in whole.stored if a.rule_id in V1_RULES
        ]
        again = {who: encode_state(resumed.states[who]) for who in stored}
        assert all(len(again[who]) < len(stored[who]) for who in stored)


DAYS = st.integers(739_000, 739_060)


@given(st.lists(st.tuples(st.sampled_from(["add", "take"]), DAYS), max_size=120))
def test_activity_counts_are_a_dict_of_days_kept_as_one_trimmed_run(
    steps: list[tuple[str, int]],
) -> None:
    """Counting and forgetting days in any order reads as a dict day -> count would
    (late days below the run, gaps, the run emptied and started again), and the run
    never holds a zero at either end, so "no counts" is an empty list."""
    state, model = ActivityState(), Counter[int]()
    for step, day in steps:
        if step == "add":
            state.add(day)
            model[day] += 1
        else:
            assert state.take(day) == model.pop(day, 0)
        assert [state.count(d) for d in range(738_990, 739_070)] == [
            model[d] for d in range(738_990, 739_070)
        ]
        assert bool(state.counts) == bool(model)
        if state.counts:
            assert state.counts[0] and state.counts[-1]
            assert state.first == min(model)
            assert state.first + len(state.counts) - 1 == max(model)
