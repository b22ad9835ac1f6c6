"""The Kafka worker: partitions in, state in changelogs, alerts to the store and outbox."""
