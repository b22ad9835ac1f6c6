"""The timer index over a partition's RocksDB due keys (``streams/worker/stored_timers.py``):
the same firing order as the in-memory index, and a restart that reads no state."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from churnwatch.streams.timers import TimerIndex
from churnwatch.streams.worker.state_store import PartitionDB, RocksBudget
from churnwatch.streams.worker.stored_timers import StoredTimers

pytest.importorskip("rocksdict")


def database(tmp_path: Path, dues: dict[str, int]) -> PartitionDB:
    """A database whose states cannot be decoded (so nothing may try) and these timers."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    db.write([(c, b"not a state") for c in dues], 10, dues.items())
    return db


def test_a_restart_reads_the_due_keys_in_time_order_and_no_state(tmp_path: Path) -> None:
    """Timers written beside the states come back earliest first, ties by customer, from
    the due keys alone."""
    db = database(tmp_path, {"cu3": 30, "cu1": 50, "cu2": 30, "cu4": 10})
    db.close()
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    timers = StoredTimers(db)
    assert timers.next_due() == 10
    assert list(timers.pop_due(30)) == [(10, "cu4"), (30, "cu2"), (30, "cu3")]
    assert timers.next_due() == 50
    assert list(timers.pop_due(100)) == [(50, "cu1")]
    assert timers.next_due() is None
    db.close()


def test_a_timer_moved_in_memory_wins_over_the_stored_one(tmp_path: Path) -> None:
    """A due time set since the last save replaces the database's for that customer."""
    db = database(tmp_path, {"cu1": 10, "cu2": 20})
    timers = StoredTimers(db)
    timers.set("cu1", 40)
    assert list(timers.pop_due(30)) == [(20, "cu2")]
    assert list(timers.pop_due(40)) == [(40, "cu1")]
    db.close()


def test_saving_moves_the_due_key_and_forgets_the_memory_copy(tmp_path: Path) -> None:
    """After a checkpoint writes a fired timer's new due time, the database holds it and
    the index reads it from there (none left in memory); a timer fired with no new one
    is gone from the database."""
    db = database(tmp_path, {"cu1": 10, "cu2": 20})
    timers = StoredTimers(db)
    assert list(timers.pop_due(20)) == [(10, "cu1"), (20, "cu2")]
    timers.set("cu1", 70)
    written = [("cu1", timers.due_of("cu1")[1]), ("cu2", timers.due_of("cu2")[1])]
    assert written == [("cu1", 70), ("cu2", None)]
    db.write([("cu1", b"x"), ("cu2", b"y")], 11, written)
    timers.saved(written)
    assert len(timers) == 0
    assert list(db.dues()) == [(70, "cu1")]
    assert list(timers.pop_due(100)) == [(70, "cu1")]
    db.close()


def test_a_timer_set_while_firing_fires_in_turn(tmp_path: Path) -> None:
    """As with the in-memory index, a timer set during the firing that is due at or before
    the limit is yielded in its turn."""
    db = database(tmp_path, {"cu1": 10})
    timers = StoredTimers(db)
    fired = []
    for due, customer_id in timers.pop_due(50):
        fired.append((due, customer_id))
        if due < 30:
            timers.set(customer_id, due + 15)
    assert fired == [(10, "cu1"), (25, "cu1"), (40, "cu1")]
    db.close()


def test_it_fires_in_the_order_of_the_in_memory_index(tmp_path: Path) -> None:
    """Random sets, firings and saves give the same (due, customer) sequence as
    :class:`TimerIndex` given the same calls, whatever part the database holds."""
    rng = random.Random(16)
    customers = [f"cu{n}" for n in range(40)]
    start = {c: rng.randrange(0, 1000) for c in customers}
    db = database(tmp_path, start)
    stored, memory = StoredTimers(db), TimerIndex()
    for customer_id, due in start.items():
        memory.set(customer_id, due)
    clock, offset = 0, 11
    for _ in range(60):
        for _ in range(rng.randrange(0, 6)):
            customer_id, due = rng.choice(customers), clock + rng.randrange(0, 400)
            stored.set(customer_id, due)
            memory.set(customer_id, due)
        clock += rng.randrange(0, 80)
        got, want = [], []
        for index, fired in ((stored, got), (memory, want)):
            for due, customer_id in index.pop_due(clock):
                fired.append((due, customer_id))
                if (due + int(customer_id[2:])) % 3 == 0:  # re-armed, the same in both
                    index.set(customer_id, due + 100)
        assert got == want
        if rng.random() < 0.3:  # a checkpoint: everything changed goes to the database
            written = [(c, d) for c, d in stored.changed.items()]
            db.write([(c, b"s") for c, _ in written], offset, written)
            offset += 1
            stored.saved(written)
    db.close()
