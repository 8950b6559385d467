"""Comments keep the file and record they were read from; an index on position.

A reply whose parent is nowhere in the store is found over the whole store,
after its file was read: the problem names the comment's file and line from
these columns (NULL for comments stored before this revision: they are named
by their source). The index serves the last position each ingest asks for
and the order ``load()`` reads in.

Revision ID: 0006_comment_origin
Revises: 0005_desk_settings
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_comment_origin"
down_revision = "0005_desk_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("input_file", sa.Text))
        batch.add_column(sa.Column("input_record", sa.Text))
    op.create_index("comments_by_position", "comments", ["position"])


def downgrade() -> None:
    op.drop_index("comments_by_position", "comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("input_record")
        batch.drop_column("input_file")
