"""managers' follow-up: followups, followup_events, followup_assignees, directory_staff

Revision ID: 0003
Revises: 0001 (the lead re-chains it after the notifier branch's 0002 at merge)
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24)),
        sa.Column("retained_amount", sa.String(32)),
        sa.Column("is_control", sa.Boolean, nullable=False),
        sa.Column("customer_name", sa.Text, nullable=False),
        sa.Column("customer_tier", sa.String(16), nullable=False),
        sa.Column("branch_id", sa.String(64), nullable=False),
        sa.Column("manager_id", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("contacted_at", sa.DateTime(timezone=True)),
        sa.Column("outcome_at", sa.DateTime(timezone=True)),
        sa.Column("outcome_by", sa.String(64)),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_followups"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name="fk_followups_alert_id_alerts"
        ),
    )
    op.create_index("ix_followups_status_escalation", "followups", ["status", "next_escalation_at"])
    op.create_index("ix_followups_branch", "followups", ["branch_id"])
    op.create_table(
        "followup_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24)),
        sa.Column("note", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_followup_events"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name="fk_followup_events_alert_id_alerts"
        ),
    )
    op.create_index("ix_followup_events_alert", "followup_events", ["alert_id", "id"])
    op.create_table(
        "followup_assignees",
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("audience", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("alert_id", "staff_id", name="pk_followup_assignees"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name="fk_followup_assignees_alert_id_alerts"
        ),
    )
    op.create_index(
        "ix_followup_assignees_staff", "followup_assignees", ["staff_id", "assigned_at"]
    )
    op.create_table(
        "directory_staff",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("branch_id", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("staff_id", name="pk_directory_staff"),
    )
    op.create_index("ix_directory_staff_phone", "directory_staff", ["phone"])
    op.create_index("ix_directory_staff_branch_role", "directory_staff", ["branch_id", "role"])


def downgrade() -> None:
    op.drop_index("ix_directory_staff_branch_role", table_name="directory_staff")
    op.drop_index("ix_directory_staff_phone", table_name="directory_staff")
    op.drop_table("directory_staff")
    op.drop_index("ix_followup_assignees_staff", table_name="followup_assignees")
    op.drop_table("followup_assignees")
    op.drop_index("ix_followup_events_alert", table_name="followup_events")
    op.drop_table("followup_events")
    op.drop_index("ix_followups_branch", table_name="followups")
    op.drop_index("ix_followups_status_escalation", table_name="followups")
    op.drop_table("followups")
