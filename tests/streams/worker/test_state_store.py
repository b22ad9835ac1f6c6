"""The RocksDB store wrapper (``streams/worker/state_store.py``) on a temporary directory, and the
``worker.state_store`` setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from churnwatch.streams.config import load_config
from churnwatch.streams.exceptions import ConfigError
from churnwatch.streams.worker.state_store import (
    ABSENT,
    OFFSET_KEY,
    LocalStates,
    PartitionDB,
    RocksBudget,
    Stored,
)

pytest.importorskip("rocksdict")


class CountedReads:
    """The real database, counting the point reads made through it."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.reads = 0

    def get(self, key: bytes) -> Any:
        self.reads += 1
        return self.db.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def counted(db: PartitionDB) -> CountedReads:
    """Count ``db``'s point reads from now on (its state count already read once)."""
    db.count()
    reads = CountedReads(db.db)
    db.db = reads
    return reads


def test_a_new_database_has_no_states_and_no_offset(tmp_path: Path) -> None:
    """A database never written to loads empty, with no changelog offset."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    assert db.load() == ({}, None)
    db.close()


def test_states_and_offset_survive_reopening(tmp_path: Path) -> None:
    """States and their changelog offset written in one batch are there after a reopen;
    a later entry for a customer wins and None deletes."""
    budget = RocksBudget(8)
    db = PartitionDB(tmp_path / "p0", budget)
    assert db.write([("cu1", b"one"), ("cu2", b"two"), ("cu1", b"uno")], 17) == 3
    db.write([("cu2", None), ("cu3", b"three")], 20)
    db.close()
    again = PartitionDB(tmp_path / "p0", budget)
    assert again.load() == ({"cu1": b"uno", "cu3": b"three"}, 20)
    again.close()


def test_customer_ids_cannot_collide_with_the_offset_key(tmp_path: Path) -> None:
    """A customer id that looks like metadata is stored as a state, never as the offset."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    db.write([("\x00changelog-offset", b"state"), ("", b"empty id")], 5)
    assert db.load() == ({"\x00changelog-offset": b"state", "": b"empty id"}, 5)
    db.close()


def test_reset_drops_everything(tmp_path: Path) -> None:
    """A reset database (before a full restore) has neither states nor an offset."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    db.write([("cu1", b"one")], 3)
    db.reset()
    assert db.load() == ({}, None)
    db.close()


def test_a_write_told_what_the_database_holds_reads_nothing(tmp_path: Path) -> None:
    """Customers new to the database and customers whose stored state and due time the
    caller knows are written blind: the timer keys move, the count follows, and ``after``
    says what the database now holds."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    reads = counted(db)
    first: dict[str, Stored] = {}
    known = {"cu1": ABSENT, "cu2": ABSENT}
    db.write([("cu1", b"a"), ("cu2", b"b")], 1, [("cu1", 10)], known=known, after=first)
    assert first == {"cu1": (True, 10), "cu2": (True, None)}
    second: dict[str, Stored] = {}
    changes, dues = [("cu1", b"a2"), ("cu2", b"b2")], [("cu1", 20), ("cu2", 30)]
    db.write(changes, 2, dues, known=first, after=second)
    assert second == {"cu1": (True, 20), "cu2": (True, 30)}
    assert reads.reads == 0
    assert list(db.dues()) == [(20, "cu1"), (30, "cu2")]
    db.close()
    again = PartitionDB(tmp_path / "p0", RocksBudget(8))
    assert again.count() == 2
    assert (again.read("cu1"), again.read("cu2")) == ((20, b"a2"), (30, b"b2"))
    again.close()


def test_a_customer_the_caller_does_not_know_is_read_once(tmp_path: Path) -> None:
    """Without ``known`` each customer costs one point read, which gives both whether the
    state is new and the due time stored with it: the old timer key goes, a state written
    without a new timer keeps its own, a deleted state takes its timer with it."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    reads = counted(db)
    db.write([("cu1", b"a")], 1, [("cu1", 10)])
    db.write([("cu1", b"b")], 2, [("cu1", 20)])
    assert reads.reads == 2
    assert list(db.dues()) == [(20, "cu1")] and db.count() == 1
    db.write([("cu1", b"c")], 3)
    assert db.read("cu1") == (20, b"c") and list(db.dues()) == [(20, "cu1")]
    db.write([("cu1", None)], 4)
    assert db.read("cu1") is None and list(db.dues()) == [] and db.count() == 0
    db.close()


def test_a_timer_without_its_state_is_refused(tmp_path: Path) -> None:
    """The due time is stored with the state, so a timer for a customer not written in
    the same batch is an error, and nothing is written."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    with pytest.raises(ValueError, match="cu2"):
        db.write([("cu1", b"a")], 1, [("cu2", 10)])
    assert db.load() == ({}, None)
    db.close()


def test_a_database_in_the_older_layout_reaches_no_offset(tmp_path: Path) -> None:
    """A database an earlier churnwatch wrote (an offset but no layout mark, raw values)
    claims no offset, so the worker rebuilds it from the changelog."""
    db = PartitionDB(tmp_path / "p0", RocksBudget(8))
    db.db.put(OFFSET_KEY, b"42")
    db.db.put(b"s:cu1", b"a state without its due time")
    assert db.offset() is None
    db.reset()
    db.write([("cu1", b"a")], 42)
    assert db.offset() == 42
    db.close()


def test_local_states_keeps_one_database_per_partition_under_the_topic(tmp_path: Path) -> None:
    """Each partition's database lives at ``<root>/<topic>/<partition>``; closing keeps
    the files, and reopening finds the states."""
    local = LocalStates(tmp_path, "g-state-changelog", block_cache_mb=8)
    local.open(0).write([("cu1", b"a")], 1)
    local.open(3).write([("cu9", b"b")], 4)
    assert (tmp_path / "g-state-changelog" / "0").is_dir()
    assert (tmp_path / "g-state-changelog" / "3").is_dir()
    local.close([0])
    assert local.get(0) is None
    assert local.open(0).load() == ({"cu1": b"a"}, 1)
    local.close_all()
    assert local.open_dbs == {}


def test_an_unreadable_database_is_moved_aside_and_replaced(tmp_path: Path) -> None:
    """A partition directory RocksDB cannot open is set aside and an empty database
    takes its place (the changelog rebuilds it)."""
    broken = tmp_path / "t" / "0"
    broken.mkdir(parents=True)
    (broken / "CURRENT").write_text("MANIFEST-999999\n")
    local = LocalStates(tmp_path, "t", block_cache_mb=8)
    assert local.open(0).load() == ({}, None)
    assert (tmp_path / "t" / "0.unreadable" / "CURRENT").exists()
    local.close_all()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("redis://localhost", "unknown state store 'redis://localhost'"),
        ("rocksdb://", "unknown state store 'rocksdb://'"),
        ("rocksdb://var/lib/state", "is relative; use an absolute path"),
    ],
)
def test_a_bad_state_store_is_refused_with_the_fix(value: str, message: str) -> None:
    """``worker.state_store`` other than memory:// or rocksdb:///absolute/path fails
    validation with a message saying what to use."""
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"CHURNWATCH_WORKER_STATE_STORE": value})
    assert message in str(caught.value)
    assert "worker.state_store" in str(caught.value)


def test_rocksdb_state_store_is_accepted_from_the_environment(tmp_path: Path) -> None:
    """``rocksdb:///dir`` and the cache size can be set from the environment."""
    config = load_config(
        environ={
            "CHURNWATCH_WORKER_STATE_STORE": f"rocksdb://{tmp_path}",
            "CHURNWATCH_WORKER_ROCKSDB_BLOCK_CACHE_MB": "16",
        }
    )
    assert config.state_dir == tmp_path
    assert config.worker.rocksdb_block_cache_mb == 16
    assert load_config(environ={}).state_dir is None


def test_a_block_cache_below_one_mib_is_refused() -> None:
    """``worker.rocksdb_block_cache_mb`` must be at least 1."""
    with pytest.raises(ConfigError, match="rocksdb_block_cache_mb"):
        load_config(environ={"CHURNWATCH_WORKER_ROCKSDB_BLOCK_CACHE_MB": "0"})
