"""Desk settings: who is staff (names, patterns, source columns), append-only with who changed them.

Revision ID: 0005_desk_settings
Revises: 0004_speculative_label
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_desk_settings"
down_revision = "0004_speculative_label"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_settings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_desk_settings_key", "desk_settings", ["key"])


def downgrade() -> None:
    op.drop_table("desk_settings")
