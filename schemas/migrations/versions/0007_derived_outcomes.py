"""derived outcomes: each alert's outcome as the customer's own later events show it

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "derived_outcomes",
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("share", sa.String(32)),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_event_id", sa.String(128)),
        sa.PrimaryKeyConstraint("alert_id", name="pk_derived_outcomes"),
    )
    op.create_index("ix_derived_outcomes_rule", "derived_outcomes", ["rule_id"])


def downgrade() -> None:
    op.drop_index("ix_derived_outcomes_rule", table_name="derived_outcomes")
    op.drop_table("derived_outcomes")
