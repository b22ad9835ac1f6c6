"""Which input records a customer's state already holds: a record read again is a repeat.

Why. A checkpoint notes the offsets when it starts and writes the states in slices after
it (``streams/worker/checkpoint.py``), so a state in the changelog may hold events after
the offsets committed with it; and when the group rebalances under a checkpoint whose
commit it then refuses (a broker restart does that), the states are in the changelog but
the offsets are not. Either way, the next owner restores states newer than its start
offsets and reads again events they already hold. The engine knows a repeat by its
``event_id`` — but only while the event is within the allowed lateness of the customer's
newest one (``seen`` is pruned beyond it). A customer record read again after its
customer's transactions of the next five days was taken for an event arriving five days
late and dead-lettered as ``too_late`` (seen in the fault matrix's broker restart).

What. Each state keeps, per input partition, the offset after the last record applied
to it (``CustomerState.offsets``, a few bytes: the key is a CRC-32 of topic and
partition, not the names). Within a partition records are processed in offset order, so
a record below that offset was processed before, by this state's own history. The engine
still judges every event first; only an event it refuses as too late and that lies below
the state's offset counts as a repeat instead. An input topic deleted and created again
under the same name (its offsets start again at 0) cannot make the worker skip an event
that is in time: at worst, a late event of such a topic is counted as a repeat rather
than dead-lettered.
"""

from __future__ import annotations

import zlib

from aiokafka import TopicPartition

from churnwatch.rules.state import CustomerState

__all__ = ["Positions"]


class Positions:
    """The keys of the input partitions in ``CustomerState.offsets``, computed once each."""

    def __init__(self) -> None:
        self._keys: dict[TopicPartition, int] = {}

    def key(self, tp: TopicPartition) -> int:
        key = self._keys.get(tp)
        if key is None:
            key = self._keys[tp] = zlib.crc32(f"{tp.topic}:{tp.partition}".encode())
        return key

    def applied(self, state: CustomerState, tp: TopicPartition, offset: int) -> None:
        """``state`` now holds the record at ``offset`` of ``tp``."""
        state.offsets[self.key(tp)] = offset + 1

    def holds(self, state: CustomerState | None, tp: TopicPartition, offset: int) -> bool:
        """Was the record at ``offset`` of ``tp`` processed into ``state`` before?"""
        return state is not None and offset < state.offsets.get(self.key(tp), 0)
