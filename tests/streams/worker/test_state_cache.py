"""The working set of decoded states over a partition's RocksDB database
(``streams/worker/state_cache.py``): what leaves memory, what never does before the
checkpoint has written it, and what a read brings back."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import pytest

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.worker.state_cache import CachedStates
from churnwatch.streams.worker.state_store import PartitionDB, RocksBudget

pytest.importorskip("rocksdict")

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@cache
def bank_states() -> tuple[tuple[str, bytes], ...]:
    """A generated bank's customers after three weeks, encoded (the stored form)."""
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), None, clock=lambda: NOW)
    driver.run(generate(DatasetSpec(customers=100, weeks=3, seed=4)))
    return tuple((c, encode_state(s)) for c, s in sorted(driver.states.items()))


def stored(tmp_path: Path) -> tuple[PartitionDB, dict[str, bytes]]:
    """A database holding the bank's states, as a checkpoint leaves it."""
    states = dict(bank_states())
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    db.write(states.items(), 100)
    return db, states


def test_a_clean_state_leaves_memory_and_reads_back_the_same(tmp_path: Path) -> None:
    """With room for three, reading every customer keeps the three read last; one read
    again comes from the database, decoded to the state that was stored."""
    db, states = stored(tmp_path)
    cached = CachedStates(db, capacity=3)
    for customer_id in states:
        assert cached.get(customer_id) is not None
    assert len(cached) == 3 and cached.misses == len(states)
    first = next(iter(states))
    again = cached.get(first)
    assert again is not None and encode_state(again) == states[first]
    assert cached.misses == len(states) + 1
    db.close()


def test_a_hit_keeps_the_state_and_counts_as_one(tmp_path: Path) -> None:
    """A state in memory is handed out as it is (the same object), without a read."""
    db, states = stored(tmp_path)
    cached = CachedStates(db, capacity=3)
    customer_id = next(iter(states))
    state = cached.get(customer_id)
    assert cached.get(customer_id) is state
    assert (cached.hits, cached.misses) == (1, 1)
    db.close()


def test_a_customer_with_no_state_is_none_and_not_kept(tmp_path: Path) -> None:
    """An unknown customer reads as None and takes no room."""
    db, _ = stored(tmp_path)
    cached = CachedStates(db, capacity=3)
    assert cached.get("nobody") is None
    assert len(cached) == 0
    db.close()


def test_a_dirty_state_is_never_evicted_before_its_checkpoint_wrote_it(tmp_path: Path) -> None:
    """A changed state pushed out by newer ones is held (encoded) through the checkpoint's
    take, and read back as changed, not as the database's older copy; once saved it
    may go, and a read then brings the database's copy, which is the changed one."""
    db, states = stored(tmp_path)
    cached = CachedStates(db, capacity=2)
    customer_id = next(iter(states))
    changed = decode_state(states[customer_id])
    changed.watermark += 1
    cached[customer_id] = changed
    cached.dirty.add(customer_id)
    others = [c for c in states if c != customer_id]
    for other in others[:5]:
        cached.get(other)
    assert customer_id in cached.held  # out of the working set, not forgotten
    assert cached.take() == [customer_id]
    for other in others[5:10]:
        cached.get(other)
    back = cached.get(customer_id)
    assert back is not None and back.watermark == changed.watermark
    for other in others[10:15]:
        cached.get(other)
    value = cached.encoded(customer_id)  # what the checkpoint sends and then saves
    assert value is not None and decode_state(value).watermark == changed.watermark
    db.write([(customer_id, value)], 101)
    cached.saved()
    assert customer_id not in cached.held and customer_id not in cached.recent
    again = cached.get(customer_id)
    assert again is not None and again.watermark == changed.watermark
    db.close()


def test_a_state_changed_again_after_the_take_stays_through_that_checkpoint(
    tmp_path: Path,
) -> None:
    """The checkpoint saving what it took does not unpin a state changed since the take:
    the next checkpoint has to write that one."""
    db, states = stored(tmp_path)
    cached = CachedStates(db, capacity=1)
    customer_id, other = list(states)[:2]
    cached[customer_id] = CustomerState(watermark=1)
    cached.dirty.add(customer_id)
    cached.take()
    cached[customer_id] = CustomerState(watermark=2)
    cached.dirty.add(customer_id)
    cached.get(other)
    cached.saved()
    assert customer_id in cached.held
    state = cached.get(customer_id)
    assert state is not None and state.watermark == 2
    db.close()


def test_every_customer_is_listed_from_the_database_and_memory(tmp_path: Path) -> None:
    """Iterating (tests and tools only) lists the stored customers and those not yet
    stored, each once."""
    db, states = stored(tmp_path)
    cached = CachedStates(db, capacity=2)
    cached["new"] = CustomerState(watermark=5)
    cached.dirty.add("new")  # as the worker marks every state it changes
    cached.get(next(iter(states)))
    assert sorted(cached) == sorted([*states, "new"])
    assert dict(cached.items())["new"].watermark == 5
    db.close()
