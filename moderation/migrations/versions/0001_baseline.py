"""Baseline: the store as every version before migrations made it.

Revision ID: 0001_baseline
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "articles",
        *[sa.Column(name, sa.Text, primary_key=name in ("article_id", "source"))
          for name in ("article_id", "source", "title", "text")],
        sa.Column("published_at", TIME),
        *[sa.Column(name, sa.Text) for name in ("url", "author", "section")],
        sa.Column("masked_share", sa.Float),
        sa.Column("extra", sa.Text),
    )
    op.create_table(
        "comments",
        *[sa.Column(name, sa.Text, primary_key=name == "comment_id")
          for name in ("comment_id", "article_id", "parent_id", "author")],
        sa.Column("created_at", TIME),
        sa.Column("text", sa.Text),
        *[sa.Column(name, sa.BigInteger) for name in ("upvotes", "downvotes", "score")],
        sa.Column("reactions", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("parent_inferred", sa.Boolean),
        sa.Column("thread_id", sa.Text),
        sa.Column("depth", sa.Integer),
        sa.Column("position", sa.BigInteger),
        sa.Column("extra", sa.Text),
    )
    op.create_table(
        "vote_events",
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
        *[sa.Column(name, sa.Text) for name in ("source", "event_id", "article_id", "comment_id", "vote")],
        sa.Column("voted_at", TIME),
        sa.Column("extra", sa.Text),
        sa.UniqueConstraint("source", "event_id"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch", sa.String(36), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("comment_id", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("moderator", sa.Text, nullable=False),
        sa.Column("decided_at", TIME, nullable=False),
        sa.Column("undone_at", TIME),
        sa.Column("undone_by", sa.Text),
        sa.CheckConstraint("action IN ('approve', 'remove', 'flag', 'escalate')", name="known_action"),
    )
    op.create_index("ix_decisions_batch", "decisions", ["batch"])
    op.create_index("decisions_by_comment", "decisions", ["source", "comment_id"])
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("comment_id", sa.Text, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("value", sa.Boolean, nullable=False),
        sa.Column("moderator", sa.Text, nullable=False),
        sa.Column("labelled_at", TIME, nullable=False),
        sa.CheckConstraint("label IN ('offtopic')", name="known_label"),
    )
    op.create_index("labels_by_comment", "labels", ["source", "comment_id"])


def downgrade() -> None:
    for table in ("labels", "decisions", "vote_events", "comments", "articles"):
        op.drop_table(table)
