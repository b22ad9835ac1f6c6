"""staff directory: each person's language, their branch's name, their messenger id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("directory_staff") as batch:
        batch.add_column(sa.Column("language", sa.String(16)))
        batch.add_column(sa.Column("branch_name", sa.Text))
        batch.add_column(sa.Column("im_user_id", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("directory_staff") as batch:
        batch.drop_column("im_user_id")
        batch.drop_column("branch_name")
        batch.drop_column("language")
