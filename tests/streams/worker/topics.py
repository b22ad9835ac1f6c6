"""A fresh topic on the test broker, for tests that talk to it with aiokafka directly."""

from __future__ import annotations

import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def new_topic(servers: str, prefix: str, partitions: int) -> str:
    """Create ``<prefix>-<random>`` with ``partitions`` partitions; return its name."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    return topic
