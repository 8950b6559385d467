"""Team: users, sessions, claims, the activity log, and which decision a decision replaced.

Revision ID: 0002_team
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_team"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("decisions", sa.Column("replaces", sa.Integer))
    op.create_table(
        "users",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'moderator', 'admin')", name="known_role"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("last_seen", TIME, nullable=False),
    )
    op.create_index("ix_sessions_name", "sessions", ["name"])
    op.create_table(
        "claims",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("comment_id", sa.Text, primary_key=True),
        sa.Column("moderator", sa.Text, nullable=False),
        sa.Column("claimed_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("events_by_kind", "events", ["event", "subject", "at"])


def downgrade() -> None:
    for table in ("events", "claims", "sessions", "users"):
        op.drop_table(table)
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("replaces")
