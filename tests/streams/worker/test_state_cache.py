"""The working set of decoded states over a partition's RocksDB database
(``streams/worker/state_cache.py``): what leaves memory, what never does before the
checkpoint has written it, and what a read brings back."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import pytest

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.codec import decode_state, encode_state, thaw_all
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.rules.state import CustomerState, Unread
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.worker.state_cache import CachedStates
from churnwatch.streams.worker.state_store import PartitionDB, RocksBudget, Stored
from churnwatch.streams.worker.stored_timers import StoredTimers

from .test_state_store import counted

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


def test_a_state_read_from_the_database_keeps_its_blocks_as_bytes(tmp_path: Path) -> None:
    """A read decodes the state's own fields; each block stays as it was stored until a
    rule reads it (rules/codec.py, "Reading lazily"), and reads as the stored one then."""
    db, states = stored(tmp_path)
    cached = CachedStates(db, capacity=3)
    for customer_id, data in states.items():
        state = cached.get(customer_id)
        assert state is not None and state.blocks
        assert all(type(block) is Unread for block in state.blocks.values())
        assert thaw_all(state) == decode_state(data)
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


def checkpoint(db: PartitionDB, cached: CachedStates, timers: StoredTimers, offset: int) -> None:
    """What the worker's checkpoint does with the working set, the broker left out: take
    the dirty states, write them with their changed timers and what the working set knows
    the database holds, then tell both what the database holds now."""
    taken = cached.take()
    changes = [(c, cached.encoded(c)) for c in taken]
    dues = [(c, due) for c in taken for changed, due in [timers.due_of(c)] if changed]
    after: dict[str, Stored] = {}
    db.write(changes, offset, dues, known=cached.known(taken), after=after)
    cached.saved(after)
    timers.saved(dues)


def test_a_due_time_moved_at_each_checkpoint_leaves_one_timer_key_and_no_reads(
    tmp_path: Path,
) -> None:
    """A new customer whose due time moves at two later checkpoints leaves exactly one
    ``t:`` key, the latest, and the checkpoints read nothing from the database: the read
    that found no state, and then the writes, told the working set what it holds."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    cached, timers = CachedStates(db, capacity=10), StoredTimers(db)
    assert cached.get("cu1") is None  # the event's read: no state yet
    reads = counted(db)
    for offset, due in ((1, 100), (2, 200), (3, 300)):
        cached["cu1"] = CustomerState(watermark=offset)
        cached.dirty.add("cu1")
        timers.set("cu1", due)
        checkpoint(db, cached, timers, offset)
    assert reads.reads == 0
    assert list(db.dues()) == [(300, "cu1")] and db.count() == 1
    assert list(timers.pop_due(1000)) == [(300, "cu1")]
    db.close()


def test_a_customer_read_back_after_eviction_is_written_without_another_read(
    tmp_path: Path,
) -> None:
    """A stored customer who left the working set is read once when they come back; that
    read brings the due time stored with the state, so moving it at the next checkpoint
    deletes the old ``t:`` key without reading again."""
    db, states = stored(tmp_path)
    cached, timers = CachedStates(db, capacity=1), StoredTimers(db)
    customer_id, other = list(states)[:2]
    state = cached.get(customer_id)
    assert state is not None
    cached[customer_id] = state
    cached.dirty.add(customer_id)
    timers.set(customer_id, 500)
    checkpoint(db, cached, timers, 101)
    assert cached.get(other) is not None  # pushes the customer out of the working set
    reads = counted(db)
    state = cached.get(customer_id)
    assert state is not None and reads.reads == 1
    state.watermark += 1
    cached[customer_id] = state
    cached.dirty.add(customer_id)
    timers.set(customer_id, 700)
    checkpoint(db, cached, timers, 102)
    assert reads.reads == 1
    assert [d for d in db.dues() if d[1] == customer_id] == [(700, customer_id)]
    assert db.count() == len(states)
    db.close()


def test_a_batch_s_customers_not_in_memory_are_read_in_one_multi_get(tmp_path: Path) -> None:
    """The worker prefetches a task's batch: one read for every customer not in memory
    (those in memory and an unknown one among them), after which each customer's ``get``
    reads nothing and gives the state stored, or None for the unknown customer."""
    db, states = stored(tmp_path)
    cached = CachedStates(db, capacity=len(states) + 1)
    batch = list(states)[:6]
    warm = cached.get(batch[0])
    reads = counted(db)
    cached.prefetch([*batch, batch[1], "nobody"])
    assert reads.reads == 1 and sorted(cached.fetched) == sorted([*batch[1:], "nobody"])
    assert cached.get(batch[0]) is warm
    for customer_id in batch[1:]:
        state = cached.get(customer_id)
        assert state is not None and encode_state(state) == states[customer_id]
    assert cached.get("nobody") is None
    assert reads.reads == 1 and not cached.fetched
    db.close()


def test_a_prefetched_value_never_outlives_a_state_set_since(tmp_path: Path) -> None:
    """A state set after the prefetch (a timer's, say) is newer than what the prefetch
    read: once a checkpoint wrote it and it left memory, a read brings the written state,
    not the one prefetched."""
    db, states = stored(tmp_path)
    cached, timers = CachedStates(db, capacity=1), StoredTimers(db)
    customer_id, other = list(states)[:2]
    cached.prefetch([customer_id])
    changed = decode_state(states[customer_id])
    changed.watermark += 1
    cached[customer_id] = changed
    cached.dirty.add(customer_id)
    checkpoint(db, cached, timers, 101)
    assert cached.get(other) is not None  # pushes the customer out of the working set
    back = cached.get(customer_id)
    assert back is not None and back.watermark == changed.watermark
    db.close()


def test_a_new_customer_found_absent_by_a_prefetch_is_counted_once(tmp_path: Path) -> None:
    """A customer the prefetch found no state for is new to the database when first
    set: the checkpoint counts them without reading anything back."""
    db, states = stored(tmp_path)
    cached, timers = CachedStates(db, capacity=4), StoredTimers(db)
    cached.prefetch(["new"])
    reads = counted(db)
    assert cached.get("new") is None
    cached["new"] = CustomerState(watermark=1)
    cached.dirty.add("new")
    checkpoint(db, cached, timers, 101)
    assert reads.reads == 0 and db.count() == len(states) + 1
    db.close()
