"""Creating churnwatch's topics (kafka-python admin client); safe to run again.

Directory topics (customers, staff) and the worker's state changelog are compacted:
only the latest record per key matters. A topic that already exists is left alone and
reported with its partition count, so an operator sees a mismatch instead of a surprise.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from churnwatch.streams.config import Config
from churnwatch.streams.exceptions import BrokerError
from churnwatch.streams.kafka import TopicSpec, kafka_python_options, topic_specs

__all__ = ["TopicResult", "create_topics", "partition_counts"]


@dataclass(frozen=True, slots=True)
class TopicResult:
    name: str
    partitions: int
    created: bool
    compacted: bool


def _admin(config: Config) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(request_timeout_ms=10_000, **kafka_python_options(config))
    except KafkaError as exc:
        raise BrokerError(f"cannot reach the broker at {config.broker.url}: {exc}") from exc


def partition_counts(config: Config, names: list[str]) -> dict[str, int]:
    """Partition counts of the topics in ``names`` that exist."""
    admin = _admin(config)
    try:
        described = admin.describe_topics(names)
    except KafkaError as exc:
        raise BrokerError(f"cannot describe topics: {exc}") from exc
    finally:
        admin.close()
    return {
        (topic.get("name") or topic.get("topic")): len(topic["partitions"])
        for topic in described
        if not topic.get("error_code") and topic.get("partitions")
    }


def create_topics(
    config: Config, partitions: int | None = None, specs: list[TopicSpec] | None = None
) -> list[TopicResult]:
    """Create every missing topic of ``specs`` (all of churnwatch's by default)."""
    wanted = specs if specs is not None else topic_specs(config, partitions)
    admin = _admin(config)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in wanted if spec.name not in existing]
        if missing:
            new = [
                NewTopic(
                    spec.name,
                    spec.partitions,
                    config.topics.replication_factor,
                    topic_configs=spec.configs,
                )
                for spec in missing
            ]
            # another worker may create one between our list and create: that is fine
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, timeout_ms=10_000)
    except KafkaError as exc:
        raise BrokerError(f"cannot create topics on {config.broker.url}: {exc}") from exc
    finally:
        admin.close()
    counts = partition_counts(config, [spec.name for spec in wanted])
    created = {spec.name for spec in missing}
    return [
        TopicResult(
            spec.name,
            counts.get(spec.name, spec.partitions),
            spec.name in created,
            spec.configs.get("cleanup.policy") == "compact",
        )
        for spec in wanted
    ]
