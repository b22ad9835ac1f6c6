"""Kafka clients built from the config: security settings, topic layout, partitioning.

kafka-python serves the operator commands (``topics create``, ``produce``): its admin
client and producer work on every broker we test against, and they are synchronous,
which suits a CLI. aiokafka serves the worker (consumer groups, async producer).
Both hash keys with murmur2 exactly as the Java client does, so a message keyed by
``customer_id`` lands on the partition :func:`partition_for` names.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from kafka.partitioner.default import murmur2

from churnwatch.streams.config import Config

__all__ = [
    "TopicSpec",
    "aiokafka_options",
    "client_options",
    "kafka_python_options",
    "partition_for",
    "topic_specs",
]

#: Directory topics hold the latest record per key: compacted, kept forever.
COMPACTED = {"cleanup.policy": "compact"}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic ``topics create`` makes: name, partitions and configs."""

    name: str
    partitions: int
    configs: dict[str, str]


def topic_specs(config: Config, partitions: int | None = None) -> list[TopicSpec]:
    """Every topic churnwatch uses, input and worker-internal ones alike.

    The input topics, the repartition topic and the state changelog share one partition
    count: the worker keeps a customer's state in the partition its events arrive on.
    """
    count = partitions or config.topics.partitions
    topics = config.topics
    return [
        TopicSpec(topics.transactions, count, {}),
        TopicSpec(topics.products, count, {}),
        TopicSpec(topics.customers, count, dict(COMPACTED)),
        TopicSpec(topics.staff, count, dict(COMPACTED)),
        TopicSpec(topics.alerts, count, {}),
        TopicSpec(topics.dead_letter, count, {}),
        TopicSpec(config.repartition_topic, count, {}),
        TopicSpec(config.changelog_topic, count, dict(COMPACTED)),
    ]


def partition_for(key: bytes, partitions: int) -> int:
    """The partition the default (murmur2) partitioner picks for ``key``."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    security = config.broker.security
    if "SSL" not in security.protocol:
        return None
    context = ssl.create_default_context(cafile=security.ssl_cafile)
    context.check_hostname = security.ssl_check_hostname
    if security.ssl_certfile:
        context.load_cert_chain(
            security.ssl_certfile, security.ssl_keyfile, config.secret("ssl_password")
        )
    return context


def client_options(config: Config) -> dict[str, Any]:
    """Connection settings every Kafka client here takes under the same names.

    kafka-python (admin, producer) and aiokafka (the worker) agree on these keyword
    names, so one function serves both and the two can never drift apart.
    """
    security = config.broker.security
    options: dict[str, Any] = {
        "bootstrap_servers": config.bootstrap_servers,
        "client_id": config.broker.client_id,
        "security_protocol": security.protocol,
    }
    context = _ssl_context(config)
    if context is not None:
        options["ssl_context"] = context
    if security.protocol.startswith("SASL"):
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = config.secret("sasl_password")
    return options


kafka_python_options = client_options
aiokafka_options = client_options
