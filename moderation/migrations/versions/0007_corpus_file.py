"""The corpus (articles, comments, vote events) moves out of SQL into its DuckDB file.

Every stored row is copied, as it was stored (positions, vote event rows,
pass-through columns, reactions, times), into the store's corpus file
(``moderation.store.corpus_path``: next to an SQLite file, else
``--corpus PATH`` / ``$MODERATION_CORPUS``), and then the SQL tables are
dropped. The copy commits before the SQL tables go: an upgrade killed in
between leaves the store at the previous revision with its rows, and running
it again copies nothing twice (keys already in the file are left as they are).

Revision ID: 0007_corpus_file
Revises: 0006_comment_origin
"""

import pandas as pd
import sqlalchemy as sa
from alembic import context, op

from moderation import schema

revision = "0007_corpus_file"
down_revision = "0006_comment_origin"
branch_labels = None
depends_on = None

TABLES = ("articles", "comments", "vote_events")
_PIECE = 50_000  # rows copied at a time


def upgrade() -> None:
    from moderation.corpus import ORDER, CorpusStore
    from moderation.store import _NO_CORPUS, DEFAULT_BUSY_WAIT

    connection = op.get_bind()
    stored = {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() for table in TABLES}
    if any(stored.values()):
        corpus = context.config.attributes.get("corpus")
        if corpus is None:
            raise ValueError(_NO_CORPUS.format(url=connection.engine.url.render_as_string(hide_password=True))
                             + f" to move its {stored['comments']} comments into")
        order = {table: ", ".join(f'"{c.strip()}"' for c in ORDER[table].split(",")) for table in TABLES}
        CorpusStore(corpus, DEFAULT_BUSY_WAIT).copy_in({
            table: (_typed(piece) for piece in pd.read_sql(
                sa.text(f"SELECT * FROM {table} ORDER BY {order[table]}"), connection, chunksize=_PIECE))
            for table in TABLES
        })
    op.drop_index("comments_by_position", "comments")
    for table in TABLES:
        op.drop_table(table)


def _typed(piece: pd.DataFrame) -> pd.DataFrame:
    """SQL rows in the corpus file's types: SQLite keeps times as text and may hand back a value as it was given."""
    piece = piece.copy()
    for name in piece.columns:
        if name in ("published_at", "created_at", "voted_at"):
            piece[name] = schema.to_utc(piece[name]).set_axis(piece.index)
        elif name in ("upvotes", "downvotes", "score", "depth", "position", "row"):
            piece[name] = schema.to_int(piece[name]).set_axis(piece.index)
        elif name == "masked_share":
            piece[name] = pd.to_numeric(piece[name], errors="coerce").astype("float64")
        elif name == "parent_inferred":
            piece[name] = piece[name].astype("boolean")
        else:
            piece[name] = piece[name].astype("str").where(piece[name].notna(), None).astype("str")
    return piece


def downgrade() -> None:
    raise NotImplementedError("the corpus lives in its DuckDB file from 0007_corpus_file on; an earlier version "
                              "cannot read it")
