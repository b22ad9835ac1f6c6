"""morning lists: each relationship manager's list of one business day, sent once

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "morning_lists",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("list_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("provider_message_id", sa.String(128)),
        sa.Column("last_error", sa.Text()),
        sa.Column("payload", _JSON),
        sa.Column("entries", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_morning_lists"),
        sa.UniqueConstraint("staff_id", "list_date", name="uq_morning_lists_staff_day"),
    )
    op.create_index("ix_morning_lists_status_due", "morning_lists", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_morning_lists_status_due", table_name="morning_lists")
    op.drop_table("morning_lists")
