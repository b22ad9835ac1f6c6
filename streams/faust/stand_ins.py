"""What the worker's shared code finds in place of its own parts when Faust drives it.

:class:`~churnwatch.streams.faust.runtime.FaustWorker` runs the default runtime's batch
code as it is (``streams/worker/batch.py``); that code reads the states, notes offsets
and sends through attributes the default runtime fills with its changelog, checkpointer
and Kafka producer. Under Faust those are these small stand-ins, shaped like the parts
they replace, and the table store's writes at a checkpoint are told their partition by
a :class:`PartitionMark`.
"""

from __future__ import annotations

from typing import Any

import faust

from churnwatch.rules.state import CustomerState

__all__ = ["PartitionMark", "Progress", "Sender", "States"]


class States:
    """Decoded states of the owned partitions and who changed since the last checkpoint
    (the attributes the worker's per-event code reads: ``partitions`` and ``dirty``)."""

    def __init__(self) -> None:
        self.partitions: dict[int, dict[str, CustomerState]] = {}
        self.dirty: dict[int, set[str]] = {}


class Progress:
    """What ``Worker.process`` records: offsets processed, sends in flight."""

    def __init__(self) -> None:
        self.offsets: dict[Any, int] = {}
        self.pending: list[Any] = []
        self.completed = 0


class Sender:
    """``producer.send`` for the worker's code, through the Faust app's producer."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.topics: dict[str, Any] = {}

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        channel = self.topics.get(topic)
        if channel is None:
            channel = self.topics[topic] = self.app.topic(
                topic, key_serializer="raw", value_serializer="raw"
            )
        return await channel.send(key=key, value=value)


class PartitionMark:
    """Stands for an event of one partition while a table store writes to it.

    A Faust store asks the current event which partition a key is written to (RocksDB
    keeps a database per partition); a checkpoint writes outside any one event.
    """

    __slots__ = ("__weakref__", "message")

    def __init__(self, partition: int) -> None:
        self.message = _PartitionOnly(partition)


class _PartitionOnly:
    __slots__ = ("partition",)

    def __init__(self, partition: int) -> None:
        self.partition = partition
