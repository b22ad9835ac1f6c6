"""customer profiles, the products they hold, and the audit of phone numbers revealed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("phone", sa.String(32)),
        sa.Column("language", sa.String(8)),
        sa.Column("tier", sa.String(32)),
        sa.Column("aum", sa.String(48)),
        sa.Column("aum_cents", sa.BigInteger),
        sa.Column("branch_id", sa.String(64)),
        sa.Column("manager_id", sa.String(64)),
        sa.Column("customer_at", sa.BigInteger),
        sa.Column("customer_event", sa.Text),
        sa.Column("payroll_last_at", sa.DateTime(timezone=True)),
        sa.Column("payroll_account", sa.String(64)),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_profiles"),
    )
    op.create_index(
        "ix_customer_profiles_branch_aum", "customer_profiles", ["branch_id", "aum_cents"]
    )
    op.create_index("ix_customer_profiles_manager", "customer_profiles", ["manager_id"])
    op.create_table(
        "customer_products",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("amount", sa.String(48)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("maturity_date", sa.Date),
        sa.Column("amount_at", sa.BigInteger),
        sa.Column("amount_event", sa.Text),
        sa.Column("maturity_at", sa.BigInteger),
        sa.Column("maturity_event", sa.Text),
        sa.Column("held", sa.Boolean, nullable=False),
        sa.Column("last_action", sa.String(24), nullable=False),
        sa.Column("version_at", sa.BigInteger, nullable=False),
        sa.Column("version_event", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "product_id", name="pk_customer_products"),
    )
    op.create_table(
        "phone_reveals",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name="fk_phone_reveals_alert_id_alerts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_phone_reveals"),
    )
    op.create_index("ix_phone_reveals_alert_staff", "phone_reveals", ["alert_id", "staff_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_phone_reveals_alert_staff", table_name="phone_reveals")
    op.drop_table("phone_reveals")
    op.drop_table("customer_products")
    op.drop_index("ix_customer_profiles_manager", table_name="customer_profiles")
    op.drop_index("ix_customer_profiles_branch_aum", table_name="customer_profiles")
    op.drop_table("customer_profiles")
