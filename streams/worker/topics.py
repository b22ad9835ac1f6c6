"""The topics a worker needs, made before it joins its group, and their partition check.

A customer's state lives in one partition number across every input topic, the
repartition topic and the changelog, so they must all have the same partition count;
a mismatch is refused at start rather than discovered as missing state later.
"""

from __future__ import annotations

import asyncio

from churnwatch.streams.config import Config
from churnwatch.streams.exceptions import WorkerError
from churnwatch.streams.kafka import TopicSpec

__all__ = ["input_topics", "prepare_topics", "topic_specs_for"]


def input_topics(config: Config) -> list[str]:
    """The topics the worker's consumer group reads, the repartition topic last."""
    topics = config.topics
    return [topics.transactions, topics.products, topics.customers, config.repartition_topic]


async def prepare_topics(config: Config) -> int:
    """Create what is missing; return the common partition count, or refuse a mismatch."""
    from churnwatch.streams.topics import create_topics

    inputs = topic_specs_for(config, input_topics(config)[:3])
    results = await asyncio.to_thread(create_topics, config, None, inputs)
    counts = {result.name: result.partitions for result in results}
    if len(set(counts.values())) != 1:
        raise WorkerError(
            "the input topics must have the same number of partitions, since a "
            f"customer's state lives in one partition of each: {counts}"
        )
    partitions = next(iter(counts.values()))
    internal = [
        TopicSpec(config.repartition_topic, partitions, {}),
        TopicSpec(config.changelog_topic, partitions, {"cleanup.policy": "compact"}),
        TopicSpec(config.topics.alerts, partitions, {}),
        TopicSpec(config.topics.dead_letter, partitions, {}),
        TopicSpec(config.topics.staff, partitions, {"cleanup.policy": "compact"}),
    ]
    results = await asyncio.to_thread(create_topics, config, None, internal)
    for result in results[:2]:
        if result.partitions != partitions:
            raise WorkerError(
                f"topic {result.name} has {result.partitions} partitions, the input "
                f"topics {partitions}: delete it or use another worker.group_id"
            )
    return partitions


def topic_specs_for(config: Config, names: list[str]) -> list[TopicSpec]:
    compacted = {config.topics.customers, config.topics.staff}
    return [
        TopicSpec(
            name,
            config.topics.partitions,
            {"cleanup.policy": "compact"} if name in compacted else {},
        )
        for name in names
    ]
