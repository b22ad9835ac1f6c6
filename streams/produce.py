"""Publishing contract-v1 JSON lines onto the bus: demos, backfills and load tests.

Each line goes, byte for byte, onto the topic of its ``type``, keyed by ``customer_id``
(staff records by ``staff_id``), so the default partitioner puts a customer's events of
every type on the same partition number, which is where the worker keeps their state.
A line that is not a valid event is never dropped: it goes to the dead-letter topic
with the file, line and reason, and is counted in the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError

from churnwatch.schemas.decode import DeadLetter, Source, decode
from churnwatch.schemas.models import StaffEvent
from churnwatch.streams.config import Config
from churnwatch.streams.exceptions import BrokerError
from churnwatch.streams.kafka import kafka_python_options

__all__ = ["ProduceSummary", "produce_lines", "topic_of"]


@dataclass
class ProduceSummary:
    lines: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())


def topic_of(config: Config, event_type: str) -> str:
    topics = config.topics
    return {
        "transaction": topics.transactions,
        "product": topics.products,
        "customer": topics.customers,
        "staff": topics.staff,
    }[event_type]


def produce_lines(config: Config, lines: Iterable[bytes], source: str = "-") -> ProduceSummary:
    """Send every line; wait until the broker has acknowledged all of them."""
    summary = ProduceSummary()
    try:
        producer = KafkaProducer(
            acks="all", linger_ms=20, batch_size=256 * 1024, **kafka_python_options(config)
        )
    except KafkaError as exc:
        raise BrokerError(f"cannot reach the broker at {config.broker.url}: {exc}") from exc
    try:
        for number, line in enumerate(lines, start=1):
            summary.lines = number
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            event = decode(raw, limits=config.limits)
            if isinstance(event, DeadLetter):
                letter = DeadLetter.of(
                    raw, event.reason, event.code, Source(file=source, line=number)
                )
                producer.send(config.topics.dead_letter, letter.to_json())
                summary.dead_letters[event.code] += 1
                continue
            event_type = event.__struct_config__.tag
            assert isinstance(event_type, str)
            key = event.staff_id if isinstance(event, StaffEvent) else event.customer_id
            producer.send(topic_of(config, event_type), raw, key=key.encode())
            summary.sent[event_type] += 1
        producer.flush(timeout=60)
    except KafkaError as exc:
        raise BrokerError(f"sending to {config.broker.url} failed: {exc}") from exc
    finally:
        producer.close(timeout=10)
    return summary
