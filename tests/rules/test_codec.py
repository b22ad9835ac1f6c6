"""Reading a stored state lazily: blocks decoded as rules read them, the rest kept as bytes."""

from __future__ import annotations

import datetime as dt

import pytest

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.codec import decode_state, encode_state, thaw_all
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState, Unread
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
#: long enough for every block to be pruned many times, also while it sits unread
BANK = DatasetSpec(customers=300, weeks=10, seed=23)


class ReadBackEveryTime(dict[str, CustomerState]):
    """A replay's states, each stored and read back lazily whenever the driver takes it:
    every event and every timer meets a state as a worker's cold read gives it."""

    def get(self, customer_id: str, default: None = None) -> CustomerState | None:  # type: ignore[override]
        state = super().get(customer_id)
        if state is None:
            return None
        again = decode_state(encode_state(state), lazy=True)
        self[customer_id] = again
        return again


def replay(states: dict[str, CustomerState] | None = None) -> ReplayDriver:
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), None, clock=lambda: NOW)
    if states is not None:
        driver.states = states
    driver.run(generate(BANK))
    return driver


@pytest.fixture(scope="module")
def eager() -> ReplayDriver:
    return replay()


def test_states_read_back_lazily_before_every_event_give_the_same_alerts_and_states(
    eager: ReplayDriver,
) -> None:
    """The alerts, their facts and outcomes are the same; so is every state once each of
    its blocks is read as a rule reads it (decoded and pruned as of the last prune)."""
    lazy = replay(ReadBackEveryTime())
    assert len(eager.stored) > 100 and len({a.rule_id for a in eager.stored}) >= 6
    assert [(a.alert_id, a.facts) for a in lazy.stored] == [
        (a.alert_id, a.facts) for a in eager.stored
    ]
    assert lazy.derived == eager.derived
    engine = lazy.engine
    unread = 0
    for customer_id, state in dict.items(lazy.states):
        unread += sum(type(b) is Unread for b in state.blocks.values())
        for rule_id in list(state.blocks):
            engine.block(state, rule_id)
        assert encode_state(state) == encode_state(eager.states[customer_id]), customer_id
    assert unread > len(eager.states)  # most blocks were never read after the last event


def test_a_block_no_rule_read_is_written_back_as_the_same_bytes(eager: ReplayDriver) -> None:
    for state in eager.states.values():
        data = encode_state(state)
        lazy = decode_state(data, lazy=True)
        assert all(type(b) is Unread for b in lazy.blocks.values())
        assert encode_state(lazy) == data
        assert thaw_all(lazy) == decode_state(data)


def test_an_older_version_is_read_whole_even_when_asked_lazily(eager: ReplayDriver) -> None:
    """Only today's form keeps blocks as bytes: an older one is upgraded on reading."""
    state = next(iter(eager.states.values()))
    data = bytearray(encode_state(state))
    data[1] = 5  # the array's version; version 5's blocks read as today's
    lazy = decode_state(bytes(data), lazy=True)
    assert not any(type(b) is Unread for b in lazy.blocks.values())
    assert lazy == decode_state(encode_state(state))
