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

Beside each state the database keeps the customer's next timer, written in the same batch
(:meth:`PartitionDB.write`): ``t:`` + the due time (8 bytes, big-endian, so keys sort by
time) + the customer. A restart reads the earliest ``t:`` keys (:meth:`PartitionDB.dues`),
never every state, to know which customer is due next. The state's own value starts with
that due time too (:func:`stored_value`), so one read of a customer gives both, and a
count of the states is kept under a key of its own, so the restore line can say how many
the database holds without reading them.

Blind writes. Moving a timer deletes its old ``t:`` key, and the count moves only for a
customer new to the database, so a write has to know what the database held before:
whether the customer had a state, and the due time stored with it. Reading that back for
every key made building a large store slow down as it grew (each read a miss through
every level). The worker knows it already for nearly every customer it writes: it read the
state (and its due time) when the customer's first event came, or found none, or wrote it
itself since (``streams/worker/state_cache.py`` keeps that beside the working set). So
:meth:`PartitionDB.write` takes what the caller knows (``known``), reads only for the
customers it does not, and reports what the database holds after the batch (``after``).
A database written by the layout before this one (``n:`` keys, no due time in the value)
reaches no offset: the changelog rebuilds it.

Memory. RocksDB's defaults are made for one big database; a worker opens one per owned
partition, and Faust's default of a 2 GiB block cache *per partition* (DESIGN, "Known
pitfalls") is the trap. Here every database of the process shares one LRU block cache of
``worker.rocksdb_block_cache_mb`` and one write-buffer manager charged to that same cache,
so RocksDB's memory is bounded by that figure however many partitions are owned. A state
not in the worker's working set (``streams/worker/state_cache.py``) is one point read, so
the index and bloom filter are partitioned, their top levels pinned: a read costs one index
partition and one data block, not a whole file's index evicted and read again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churnwatch.streams.config import Config

__all__ = ["ABSENT", "LocalStates", "PartitionDB", "RocksBudget", "Stored"]

log = logging.getLogger("churnwatch.worker")

#: the changelog offset the stored states reach; sorts before every state key
OFFSET_KEY = b"\x00changelog-offset"
#: how many states the database holds
COUNT_KEY = b"\x00state-count"
#: which layout the database is written in; another (or none) is rebuilt from the changelog
LAYOUT_KEY = b"\x00layout"
LAYOUT = b"2"
#: states are stored under this prefix + customer_id (UTF-8), apart from the metadata key
STATE_PREFIX = b"s:"
#: ``t:`` + due (8 bytes, big-endian) + customer_id: each customer's next timer, by time
DUE_PREFIX = b"t:"
MIB = 1024 * 1024
#: due times are µs since the epoch; shifted so that a negative one still sorts in order
_DUE_BIAS = 1 << 63
#: the first byte of a stored value: the state has no timer / a due time (8 bytes) follows
_NO_TIMER = 0
_TIMER = 1

#: what the database holds for a customer: (has a state, the due time stored with it)
Stored = tuple[bool, int | None]
#: no state stored (a customer new to the database)
ABSENT: Stored = (False, None)


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
        from rocksdict import BlockBasedIndexType, BlockBasedOptions, DBCompressionType, Options

        options = Options(raw_mode=True)
        options.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        # one point read per cold customer: a partitioned index and bloom filter, the top
        # levels pinned, so a read never has to bring a whole file's index back
        table.set_index_type(BlockBasedIndexType.two_level_index_search())
        table.set_bloom_filter(10, False)
        table.set_partition_filters(True)
        table.set_pin_top_level_index_and_filter(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
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
        self._count: int | None = None

    def _open(self) -> Any:
        from rocksdict import Rdict

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return Rdict(str(self.path), self.budget.options())

    def offset(self) -> int | None:
        """The changelog offset the stored states reach, or None (never written, or written
        in another layout: a full restore rewrites it)."""
        raw = self.db.get(OFFSET_KEY)
        if raw is None:
            return None
        if self.db.get(LAYOUT_KEY) != LAYOUT:
            log.warning("local state %s: an older layout, rebuilt from the changelog", self.path)
            return None
        return int(raw.decode())

    def load(self) -> tuple[dict[str, bytes], int | None]:
        """Every stored state (encoded, by customer) and the offset they reach."""
        states: dict[str, bytes] = {}
        cut = len(STATE_PREFIX)
        for key, value in self.db.items(from_key=STATE_PREFIX):
            if not key.startswith(STATE_PREFIX):
                break
            states[key[cut:].decode()] = split_value(value)[1]
        return states, self.offset()

    def get(self, customer_id: str) -> bytes | None:
        """One customer's stored state, or None."""
        found = self.read(customer_id)
        return found[1] if found is not None else None

    def read(self, customer_id: str) -> tuple[int | None, bytes] | None:
        """One customer's stored (due time, state), in one point read; None: no state."""
        raw: bytes | None = self.db.get(STATE_PREFIX + customer_id.encode())
        return split_value(raw) if raw is not None else None

    def read_many(self, customer_ids: list[str]) -> list[tuple[int | None, bytes] | None]:
        """Each customer's stored (due time, state), or None, in one multi-get.

        Why: RocksDB's MultiGet looks a batch's keys up together (one pass per file,
        sorted), which on a ten-million-customer store cost ~18% less per key than as many
        point reads (bench/store_bench.py's batches).
        """
        raws: list[bytes | None] = self.db.get([STATE_PREFIX + c.encode() for c in customer_ids])
        return [split_value(raw) if raw is not None else None for raw in raws]

    def count(self) -> int:
        """How many states are stored (read once, then kept up to date by :meth:`write`)."""
        if self._count is None:
            raw = self.db.get(COUNT_KEY)
            self._count = int(raw.decode()) if raw is not None else 0
        return self._count

    def _state_keys(self) -> Iterator[bytes]:
        for key in self.db.keys(from_key=STATE_PREFIX):
            if not key.startswith(STATE_PREFIX):
                break
            yield key

    def dues(self, after: tuple[int, str] | None = None) -> Iterator[tuple[int, str]]:
        """Stored timers as (due, customer), earliest first; from just after ``after``."""
        start = DUE_PREFIX if after is None else _due_key(*after) + b"\x00"
        cut = len(DUE_PREFIX)
        for key in self.db.keys(from_key=start):
            if not key.startswith(DUE_PREFIX):
                break
            yield (
                int.from_bytes(key[cut : cut + 8]) - _DUE_BIAS,
                key[cut + 8 :].decode(),
            )

    def write(
        self,
        changes: Iterable[tuple[str, bytes | None]],
        offset: int,
        dues: Iterable[tuple[str, int | None]] = (),
        *,
        known: Mapping[str, Stored] | None = None,
        after: dict[str, Stored] | None = None,
    ) -> int:
        """Apply states (None deletes), timers (None: none) and the offset they reach in
        one atomic batch.

        Returns the number of states written. Later entries for a customer win. ``dues``
        are the timers that changed, each for a customer in ``changes``; a state written
        without one keeps the due time it had. ``known`` is what the database holds for
        some of these customers (see the module's "Blind writes"); the others are read,
        one point read each. ``after``, when given, receives what the database holds for
        every customer written.
        """
        from rocksdict import WriteBatch

        final: dict[str, bytes | None] = {}
        count = 0
        for customer_id, value in changes:
            final[customer_id] = value
            count += 1
        moved = dict(dues)
        if not moved.keys() <= final.keys():
            raise ValueError(f"timers without a state: {sorted(moved.keys() - final.keys())}")
        known = known if known is not None else {}
        batch = WriteBatch(raw_mode=True)
        stored = self.count()
        for customer_id, value in final.items():
            key = STATE_PREFIX + customer_id.encode()
            before = known.get(customer_id)
            if before is None:
                found = self.db.get(key)
                before = (True, split_value(found)[0]) if found is not None else ABSENT
            existed, old_due = before
            due = moved.get(customer_id, old_due) if value is not None else None
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, stored_value(due, value))
            if due != old_due:
                if old_due is not None:
                    batch.delete(_due_key(old_due, customer_id))
                if due is not None:
                    batch.put(_due_key(due, customer_id), b"")
            stored += (value is not None) - existed
            if after is not None:
                after[customer_id] = (value is not None, due)
        batch.put(COUNT_KEY, str(stored).encode())
        batch.put(OFFSET_KEY, str(offset).encode())
        batch.put(LAYOUT_KEY, LAYOUT)
        self.db.write(batch)
        self._count = stored
        return count

    def reset(self) -> None:
        """Drop everything stored (a full restore rewrites the database from the changelog)."""
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.db = self._open()
        self._count = None

    def close(self) -> None:
        self.db.close()


def _due_key(due: int, customer_id: str) -> bytes:
    return DUE_PREFIX + (due + _DUE_BIAS).to_bytes(8) + customer_id.encode()


def stored_value(due: int | None, state: bytes) -> bytes:
    """A state's value in the database: its due time first (one byte when it has none)."""
    if due is None:
        return bytes((_NO_TIMER,)) + state
    return bytes((_TIMER,)) + (due + _DUE_BIAS).to_bytes(8) + state


def split_value(value: bytes) -> tuple[int | None, bytes]:
    """(due time, encoded state) of a stored value."""
    if value[0] == _TIMER:
        return int.from_bytes(value[1:9]) - _DUE_BIAS, value[9:]
    return None, value[1:]


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
