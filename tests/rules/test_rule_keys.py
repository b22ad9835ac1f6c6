"""A stored state names each rule by a short digest of its id, and reads it back as the id."""

from __future__ import annotations

import msgspec
import pytest

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.rule_keys import (
    IDS,
    KEYS,
    RuleKeyClash,
    digest_of,
    rule_id_of,
    rule_key,
)
from churnwatch.rules.state import ChangeState, CustomerState


def test_a_stored_state_holds_no_rule_id() -> None:
    state = CustomerState(
        blocks={"large-transfer-out-relative": ChangeState("C", 5)},
        last_alert_at={"large-transfer-out-relative": 5},
    )
    data = encode_state(state)
    assert b"large-transfer-out-relative" not in data
    assert decode_state(data) == state


def test_the_digest_is_the_same_in_every_process() -> None:
    """A fixed function of the id: a restarted worker reads what the last one wrote."""
    assert digest_of("balance-sharp-fall") == 0x3815D4B0
    assert 0 <= digest_of("x") < 2**32


def test_a_rule_this_process_never_met_keeps_its_block_through_a_round_trip() -> None:
    """A block of a rule since removed from the pack is kept as it came, under its digest."""
    gone = digest_of("a-rule-no-pack-here-has")
    assert gone not in IDS
    stored = msgspec.msgpack.decode(encode_state(CustomerState(blocks={"w": ChangeState("B", 1)})))
    key_of_w = next(iter(stored[6]))
    stored[6] = {gone: stored[6][key_of_w]}
    data = msgspec.msgpack.encode(stored)
    state = decode_state(data)
    assert list(state.blocks) == [f"#{gone:08x}"]
    assert encode_state(state) == data


def test_an_older_state_names_its_rules_by_id() -> None:
    """Versions before 6 keyed blocks by the id: a string key reads as itself."""
    stored = msgspec.msgpack.decode(encode_state(CustomerState(blocks={"w": ChangeState("B", 1)})))
    stored[0] = 5
    stored[6] = {"old-rule": stored[6][next(iter(stored[6]))]}
    stored[7] = {"old-rule": 9}
    state = decode_state(msgspec.msgpack.encode(stored))
    assert state.blocks == {"old-rule": ChangeState("B", 1)}
    assert state.last_alert_at == {"old-rule": 9}


def test_two_ids_with_one_digest_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second id of a clash gets no key: the loader reports it on the rule's id line."""
    monkeypatch.setitem(IDS, digest_of("second-rule"), "first-rule")
    monkeypatch.delitem(KEYS, "second-rule", raising=False)
    with pytest.raises(RuleKeyClash, match="'first-rule' and 'second-rule'"):
        rule_key("second-rule")
    assert rule_id_of(digest_of("second-rule")) == "first-rule"
