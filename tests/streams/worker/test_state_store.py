"""The RocksDB store wrapper (``streams/worker/state_store.py``) on a temporary directory, and the
``worker.state_store`` setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnwatch.streams.config import load_config
from churnwatch.streams.exceptions import ConfigError
from churnwatch.streams.worker.state_store import LocalStates, PartitionDB, RocksBudget

pytest.importorskip("rocksdict")


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
