"""Local per-partition state in RocksDB (rocksdict), so a restart reads only the changelog's tail.

Why. With ``memory://`` a worker that takes a partition reads its whole changelog
partition: one record per customer, minutes for millions of customers. When the data
directory survives a restart (a StatefulSet volume, a compose named volume), the states are
already on disk; what is missing is only what was written to the changelog after them. So
each checkpoint writes the states it sent to the changelog into the partition's database as
well, together with the changelog offset they reach (the next offset after the highest
acknowledged record, in the same atomic write batch), and on assignment the worker loads
the database and reads the changelog from that offset on. The changelog stays the source
of truth: a database that is missing, unreadable, or claims an offset the changelog does
not have (a reset topic) is wiped and rebuilt from the changelog.

Layout: ``<root>/<changelog topic>/<partition>``, one database per partition, so a
partition moving to another worker is one directory left behind, never a rewrite.

Memory. RocksDB's defaults are made for one big database; a worker opens one per owned
partition, and Faust's default of a 2 GiB block cache *per partition* (DESIGN, "Known
pitfalls") is the trap. Here every database of the process shares one LRU block cache of
``worker.rocksdb_block_cache_mb`` and one write-buffer manager charged to that same cache,
so RocksDB's memory is bounded by that figure however many partitions are owned. The
worker reads each database once, at assignment (the in-memory dict is the working set), so
the cache matters little: it is small on purpose.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churnwatch.streams.config import Config

__all__ = ["LocalStates", "PartitionDB", "RocksBudget"]

log = logging.getLogger("churnwatch.worker")

#: the changelog offset the stored states reach; sorts before every state key
OFFSET_KEY = b"\x00changelog-offset"
#: states are stored under this prefix + customer_id (UTF-8), apart from the metadata key
STATE_PREFIX = b"s:"
MIB = 1024 * 1024


class RocksBudget:
    """The process-wide RocksDB memory: one block cache, memtables charged to it."""

    def __init__(self, block_cache_mb: int) -> None:
        from rocksdict import Cache, WriteBufferManager

        capacity = max(block_cache_mb, 1) * MIB
        self.block_cache_mb = block_cache_mb
        self.cache = Cache(capacity)
        # memtables of all partitions together take at most half the budget, and count
        # against the cache, so the total stays at ``block_cache_mb``
        self.write_buffers = WriteBufferManager.new_write_buffer_manager_with_cache(
            capacity // 2, False, self.cache
        )

    def options(self) -> Any:
        """Options for one partition's database, sharing this budget."""
        from rocksdict import BlockBasedOptions, DBCompressionType, Options

        options = Options(raw_mode=True)
        options.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(self.write_buffers)
        options.set_write_buffer_size(4 * MIB)
        options.set_max_write_buffer_number(2)
        options.set_max_open_files(64)
        options.set_keep_log_file_num(2)
        options.set_max_log_file_size(MIB)
        options.set_compression_type(DBCompressionType.lz4())
        return options


class PartitionDB:
    """One partition's states and the changelog offset they reach."""

    def __init__(self, path: Path, budget: RocksBudget) -> None:
        self.path = path
        self.budget = budget
        self.db: Any = self._open()

    def _open(self) -> Any:
        from rocksdict import Rdict

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return Rdict(str(self.path), self.budget.options())

    def offset(self) -> int | None:
        """The changelog offset the stored states reach, or None (never written)."""
        raw = self.db.get(OFFSET_KEY)
        return int(raw.decode()) if raw is not None else None

    def load(self) -> tuple[dict[str, bytes], int | None]:
        """Every stored state (encoded, by customer) and the offset they reach."""
        states: dict[str, bytes] = {}
        cut = len(STATE_PREFIX)
        for key, value in self.db.items(from_key=STATE_PREFIX):
            if not key.startswith(STATE_PREFIX):
                break
            states[key[cut:].decode()] = value
        return states, self.offset()

    def write(self, changes: Iterable[tuple[str, bytes | None]], offset: int) -> int:
        """Apply states (None deletes) and the offset they reach in one atomic batch.

        Returns the number of states written. Later entries for a customer win.
        """
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        count = 0
        for customer_id, value in changes:
            key = STATE_PREFIX + customer_id.encode()
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
            count += 1
        batch.put(OFFSET_KEY, str(offset).encode())
        self.db.write(batch)
        return count

    def reset(self) -> None:
        """Drop everything stored (a full restore rewrites the database from the changelog)."""
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.db = self._open()

    def close(self) -> None:
        self.db.close()


class LocalStates:
    """The open databases of the owned partitions under ``<root>/<changelog topic>/``."""

    def __init__(self, root: Path, topic: str, block_cache_mb: int = 64) -> None:
        self.root = root / topic
        self.budget = RocksBudget(block_cache_mb)
        self.open_dbs: dict[int, PartitionDB] = {}

    @classmethod
    def of(cls, config: Config) -> LocalStates | None:
        """The databases ``worker.state_store`` asks for; None for ``memory://``."""
        root = config.state_dir
        if root is None:
            return None
        return cls(root, config.changelog_topic, config.worker.rocksdb_block_cache_mb)

    def path(self, partition: int) -> Path:
        return self.root / str(partition)

    def open(self, partition: int) -> PartitionDB:
        """The partition's database, opened (and created empty) if not open yet.

        A database RocksDB cannot open (corrupt, another version) is moved aside and
        replaced by an empty one: the changelog rebuilds it.
        """
        db = self.open_dbs.get(partition)
        if db is None:
            path = self.path(partition)
            try:
                db = PartitionDB(path, self.budget)
            except Exception as exc:  # rocksdict raises plain Exception for open errors
                aside = path.with_name(f"{path.name}.unreadable")
                log.warning("local state %s unreadable (%s); moved to %s", path, exc, aside)
                shutil.rmtree(aside, ignore_errors=True)
                path.rename(aside)
                db = PartitionDB(path, self.budget)
            self.open_dbs[partition] = db
        return db

    def get(self, partition: int) -> PartitionDB | None:
        return self.open_dbs.get(partition)

    def close(self, partitions: Iterable[int]) -> None:
        """Close the partitions' databases; their files stay for the next assignment."""
        for partition in partitions:
            db = self.open_dbs.pop(partition, None)
            if db is not None:
                db.close()

    def close_all(self) -> None:
        self.close(list(self.open_dbs))
