"""Runs: every run, ingest and dashboard import, and the problems each met.

Revision ID: 0003_runs
Revises: 0002_team
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_runs"
down_revision = "0002_team"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(40), primary_key=True),
        sa.Column("command", sa.String(16), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("records", sa.BigInteger),
        sa.Column("problems", sa.BigInteger),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name="known_status"),
    )
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.run_id"), nullable=False),
        sa.Column("input", sa.Text),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
    )
    op.create_index("ix_problems_run_id", "problems", ["run_id"])


def downgrade() -> None:
    op.drop_table("problems")
    op.drop_table("runs")
