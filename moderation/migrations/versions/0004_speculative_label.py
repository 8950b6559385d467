"""Labels: moderators may also label a comment speculative (store.LABELS gains "speculative").

Revision ID: 0004_speculative_label
Revises: 0003_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_speculative_label"
down_revision = "0003_runs"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def _labels(allowed: tuple[str, ...]) -> sa.Table:
    """The labels table as this revision defines it (SQLite rebuilds the table from it)."""
    return sa.Table(
        "labels", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("comment_id", sa.Text, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("value", sa.Boolean, nullable=False),
        sa.Column("moderator", sa.Text, nullable=False),
        sa.Column("labelled_at", TIME, nullable=False),
        sa.Index("labels_by_comment", "source", "comment_id"),
        sa.CheckConstraint("label IN (" + ", ".join(f"'{a}'" for a in allowed) + ")", name="known_label"),
    )


def _allow(allowed: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":  # no ALTER of a CHECK: copy into a table with the new one
        with op.batch_alter_table("labels", copy_from=_labels(allowed), recreate="always"):
            pass
    else:
        op.drop_constraint("known_label", "labels", type_="check")
        op.create_check_constraint("known_label", "labels", "label IN (" + ", ".join(f"'{a}'" for a in allowed) + ")")


def upgrade() -> None:
    _allow(("offtopic", "speculative"))


def downgrade() -> None:
    op.execute("DELETE FROM labels WHERE label = 'speculative'")
    _allow(("offtopic",))
