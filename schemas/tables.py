"""The alert store's tables (SQLAlchemy 2.x Core), shared by both drivers and the notifiers.

``alerts.alert_id`` is unique: writing the same alert twice is a no-op, which is how a
restart, a rebalance or a replay never alerts twice. ``deliveries`` is the outbox:
one row per (alert, recipient, channel), written before anything is sent.
Migrations live in ``schemas/migrations`` (Alembic); these definitions are the target.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["alerts", "deliveries", "metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False, unique=True),
    Column("rule_id", String(64), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("account_id", String(64)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("facts", Json, nullable=False),
    Column("trigger_event_ids", Json, nullable=False),
    Column("recipients", Json, nullable=False),
    Index("ix_alerts_customer_occurred", "customer_id", "occurred_at"),
    Index("ix_alerts_rule_detected", "rule_id", "detected_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), nullable=False),
    Column("audience", String(32), nullable=False),
    Column("recipient_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("provider_message_id", String(128)),
    Column("last_error", Text),
    Column("payload", Json),
    UniqueConstraint(
        "alert_id", "audience", "recipient_id", "channel", name="uq_deliveries_target"
    ),
    Index("ix_deliveries_status_due", "status", "due_at"),
)
