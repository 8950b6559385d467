"""The embedded store: ingested comments and moderators' decisions (SQLAlchemy Core).

SQLite by default (``sqlite:///data/moderation.db``), PostgreSQL for teams
(``postgresql+psycopg://user@host/db``). Keys are source + ids, so ingesting a
file twice adds nothing. Decisions are an append-only log: several moderators
may decide at once, the latest decision on a comment wins, and undo marks a
decision as undone rather than deleting it, so the audit trail is complete.

Every write checks the writer's role (:mod:`moderation.auth`) inside the
transaction, and takes the comments' write lock first (SQLite ``BEGIN
IMMEDIATE``; PostgreSQL advisory locks per comment), so a check and the write
it guards see the same state. A decision may carry the state its moderator saw
(``seen``); when another decision landed in between, or someone else holds the
comment's claim, nothing is written and :class:`DecisionConflict` says what
happened. Writers wait and retry while another writer (an ingest) holds the
store, up to ``busy_wait`` seconds.

The schema is versioned with Alembic (``moderation/migrations``): a new store
is created at the newest revision, an older one is refused until
``python -m moderation store upgrade --store URL`` upgrades it, and a store
made by a newer version is refused (:class:`SchemaMismatch`).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from moderation import auth, engagement, schema

ACTIONS = ("approve", "remove", "flag", "escalate")
# what moderators can label a comment as (yes or no), for the stages that learn from them
LABELS = ("offtopic", "speculative")
DEFAULT_URL = "sqlite:///data/moderation.db"
DEFAULT_BUSY_WAIT = 300.0  # seconds a writer keeps retrying while another writer holds the store
# events of the activity log (decisions have their own log, the decisions table)
EVENTS = ("sign_in", "sign_in_failed", "sign_out", "user_added", "user_removed", "role_changed",
          "password_changed", "claim", "release", "undo")
# the activity a viewer or moderator sees; admins also see sign-ins and user management
TEAM_EVENTS = ("claim", "release", "undo")
Key = tuple[str, str]

_TREE_PIECE = 100_000  # stored comments read at a time by reply_tree
_LOAD_PIECE = 50_000  # rows turned into typed columns at a time by load
# the pandas types of the Arrow columns load reads (schema.conform leaves them as they are)
_PANDAS_TYPES = {pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan), pa.int64(): pd.Int64Dtype(),
                 pa.bool_(): pd.BooleanDtype(), pa.float64(): pd.Float64Dtype()}
metadata = sa.MetaData()


def _canonical_table(name: str, key: list[str], *more: sa.Column | sa.Index) -> sa.Table:
    types = {
        "published_at": sa.DateTime(timezone=True), "created_at": sa.DateTime(timezone=True),
        "voted_at": sa.DateTime(timezone=True), "upvotes": sa.BigInteger, "downvotes": sa.BigInteger,
        "score": sa.BigInteger, "depth": sa.Integer, "position": sa.BigInteger, "masked_share": sa.Float,
        "parent_inferred": sa.Boolean,
    }
    cols = [sa.Column(c, types.get(c, sa.Text), primary_key=c in key) for c in schema.columns(name)]
    # columns a source has beyond the canonical ones, as one JSON object per row
    return sa.Table(name, metadata, *cols, sa.Column("extra", sa.Text), *more)


articles_table = _canonical_table("articles", schema.ARTICLE_KEY)
comments_table = _canonical_table(
    "comments", schema.COMMENT_KEY,
    # the file and record each comment was read from (NULL for comments stored before revision 0006)
    sa.Column(schema.INPUT_FILE, sa.Text), sa.Column(schema.INPUT_RECORD, sa.Text),
    # each ingest asks for the last position, and load() reads in position order
    sa.Index("comments_by_position", "position"),
)
vote_events_table = sa.Table(
    "vote_events", metadata,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
    *[sa.Column(c, sa.DateTime(timezone=True) if c == "voted_at" else sa.Text) for c in schema.columns("vote_events")],
    sa.Column("extra", sa.Text),
    sa.UniqueConstraint("source", "event_id"),
)
decisions_table = sa.Table(
    "decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.String(36), nullable=False, index=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("comment_id", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("moderator", sa.Text, nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("undone_at", sa.DateTime(timezone=True)),
    sa.Column("undone_by", sa.Text),
    # the decision that was current on the comment when this one was recorded (NULL: none)
    sa.Column("replaces", sa.Integer),
    sa.Index("decisions_by_comment", "source", "comment_id"),
    sa.CheckConstraint(f"action IN {ACTIONS}", name="known_action"),
)

# moderators' yes/no judgements ("is this off topic?"), append-only like decisions: the latest per comment counts
labels_table = sa.Table(
    "labels", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("comment_id", sa.Text, nullable=False),
    sa.Column("label", sa.String(32), nullable=False),
    sa.Column("value", sa.Boolean, nullable=False),
    sa.Column("moderator", sa.Text, nullable=False),
    sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("labels_by_comment", "source", "comment_id"),
    sa.CheckConstraint("label IN (" + ", ".join(f"'{label}'" for label in LABELS) + ")", name="known_label"),
)

users_table = sa.Table(
    "users", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN (" + ", ".join(f"'{role}'" for role in auth.ROLES) + ")", name="known_role"),
)
# signed-in browser tabs: only the SHA-256 of each session token is kept
sessions_table = sa.Table(
    "sessions", metadata,
    sa.Column("token_digest", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, index=True),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
)
# who is working on a comment now; a claim lapses at expires_at
claims_table = sa.Table(
    "claims", metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("comment_id", sa.Text, primary_key=True),
    sa.Column("moderator", sa.Text, nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
# the activity log: sign-ins, failed sign-ins, user and role changes, claims, undos
events_table = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Index("events_by_kind", "event", "subject", "at"),
)


class SchemaMismatch(RuntimeError):
    """The store's schema revision is not the one this version of moderation uses."""


class DecisionConflict(RuntimeError):
    """Nothing was recorded: comments changed since the moderator saw them, or someone else claims them.

    ``conflicts`` has one row per such comment: source, comment_id, seen (the
    decision id the moderator saw, NA for none), current (the decision id now
    current, NA for none), action, moderator, decided_at (of the current
    decision) and claimed_by (another moderator's live claim, NA for none).
    """

    def __init__(self, conflicts: pd.DataFrame):
        self.conflicts = conflicts
        first = conflicts.iloc[0]
        if pd.notna(first["claimed_by"]):
            what = f"claimed by {first['claimed_by']}"
        elif pd.notna(first["action"]):
            what = f"{first['moderator']} recorded {first['action']} at {first['decided_at']:%H:%M:%S} UTC"
        else:
            what = "its decision was undone"
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        super().__init__(f"nothing recorded: comment {first['source']}/{first['comment_id']} changed since "
                         f"you saw it: {what}{more}")


@dataclass(frozen=True)
class Claim:
    """Who holds a comment's claim until when; ``mine`` when it is the asker's."""

    source: str
    comment_id: str
    moderator: str
    expires_at: datetime
    mine: bool


# the desk's settings (who is staff, ...), append-only: the latest row per key is in force, earlier ones are history
desk_settings_table = sa.Table(
    "desk_settings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, index=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON list of strings
    sa.Column("changed_by", sa.Text, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)
# what a desk can set, and what each is: every value is a list of strings
DESK_SETTINGS = {
    "staff_names": "handles of staff (compared case-insensitively)",
    "staff_patterns": "regular expressions matching staff handles (case-insensitive search)",
    "staff_columns": "columns of a source that mark staff comments (true/false), e.g. is_staff",
    "decision_reasons": "reasons offered when deciding, in this order (a typed reason is always possible)",
}
# the reasons offered until the desk saves its own list
DEFAULT_DECISION_REASONS = ("off topic", "speculation/rumour", "abuse", "spam", "other")
MAX_REASON_LENGTH = 100  # a reason is a few words in a picker, not a note


def check_reasons(reasons: Iterable[str]) -> list[str]:
    """``reasons`` without blanks and repeats (compared in any case; the first spelling is kept), in their order.

    Raises ValueError naming a reason longer than :data:`MAX_REASON_LENGTH` characters or holding a line break.
    """
    kept, seen = [], set()
    for reason in (str(r).strip() for r in reasons):
        if not reason or reason.casefold() in seen:
            continue
        if len(reason) > MAX_REASON_LENGTH or any(c in reason for c in "\r\n"):
            shown = reason.splitlines()[0][:40] + ("…" if len(reason) > 40 else "")
            raise ValueError(f"reason {shown!r}: a reason is one line of at most {MAX_REASON_LENGTH} characters")
        seen.add(reason.casefold())
        kept.append(reason)
    return kept


# every `run`/`ingest` (and dashboard import) and the problems it met: a later run never erases an earlier one's report
RUN_STATUSES = ("running", "done", "failed")  # a run killed before it finished stays "running"
runs_table = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("command", sa.String(16), nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),  # JSON list of the paths as given
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text),  # why a failed run failed
    sa.Column("records", sa.BigInteger),  # articles, comments and vote events read from the inputs
    sa.Column("problems", sa.BigInteger),
    sa.CheckConstraint(f"status IN {RUN_STATUSES}", name="known_status"),
)
problems_table = sa.Table(
    "problems", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("input", sa.Text),  # the path given to the run that found it; NULL for reply-tree problems
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("problem", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
)
PROBLEM_COLUMNS = ["run_id", "file", "record", "problem", "action"]


@dataclass(frozen=True)
class IngestSummary:
    """How many rows an ingest added, and how many were already in the store."""

    added: dict[str, int]
    known: dict[str, int]

    def __str__(self) -> str:
        return ", ".join(f"{t}: {self.added[t]} new, {self.known[t]} known" for t in self.added)


class Store:
    """Comments, articles, vote events and decisions in one SQL database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL; a SQLite file's folder is created when missing.
    busy_wait : float
        Seconds a decision, label, claim or undo keeps retrying while another
        writer (an ingest) holds the store, before it fails.

    Raises
    ------
    SchemaMismatch
        The store was made by an older version (run ``store upgrade``) or a newer one.
    """

    def __init__(self, url: str = DEFAULT_URL, busy_wait: float = DEFAULT_BUSY_WAIT):
        from moderation import migrations

        self.url = url
        self.busy_wait = busy_wait
        self.engine = _engine(url)
        self._writer = self.engine.execution_options(write=True)
        with self.engine.connect() as connection:
            empty = migrations.check(connection)
        if empty:  # created under the write lock, so two processes never both create it
            self._write(migrations.check)

    # ---- ingested data -------------------------------------------------

    def ingest(self, parsed) -> IngestSummary:
        """Add the parsed rows not yet in the store; known keys are left as they are.

        New comments get positions after every comment already stored, in the
        order the source lists them, so output order stays the source's order.
        """
        added, known = {}, {}
        with self._writer.begin() as connection:
            for table, frame, key in (
                (articles_table, parsed.articles, schema.ARTICLE_KEY),
                (comments_table, parsed.comments, schema.COMMENT_KEY),
                (vote_events_table, parsed.vote_events, ["source", "event_id"]),
            ):
                new = self._unknown_rows(connection, table, frame, key)
                if table is comments_table and len(new):
                    last = connection.execute(sa.select(sa.func.max(table.c.position))).scalar()
                    first = 0 if last is None else last + 1
                    if not new["position"].is_monotonic_increasing:  # sorting copies every column: only if needed
                        new = new.sort_values("position", kind="stable")
                    new = new.assign(position=range(first, first + len(new)))
                self._insert(connection, table, new)
                added[table.name], known[table.name] = len(new), len(frame) - len(new)
        return IngestSummary(added, known)

    def _unknown_rows(self, connection, table: sa.Table, frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
        """The rows of ``frame`` whose key is not stored yet: one lookup per source against the key's index."""
        frame = frame.dropna(subset=key) if "event_id" in key else frame
        if frame.empty:
            return frame
        sources, ids = frame["source"].astype("str"), frame[key[1]].astype("str")
        known = np.zeros(len(frame), dtype=bool)
        for source in sources.unique():
            mine = (sources == source).to_numpy()
            stored = self._stored_ids(connection, table, key[1], source, ids[mine].unique().tolist())
            if stored:
                known[mine] = ids[mine].isin(stored).to_numpy()
        return frame[~known] if known.any() else frame  # a copy of every column only when some rows are known

    def _stored_ids(self, connection, table: sa.Table, id_column: str, source: str, ids: list[str]) -> list[str]:
        """Which of ``ids`` (of one source) the store has, in one query whatever their number.

        The ids travel as one parameter (a PostgreSQL array, a JSON array that
        SQLite's ``json_each`` unpacks), so no statement grows with them.
        """
        column = table.c[id_column]
        if self.engine.dialect.name == "postgresql":
            wanted = column == sa.any_(sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.Text)))
        else:
            listed = sa.func.json_each(sa.bindparam("ids", json.dumps(ids))).table_valued("value")
            wanted = column.in_(sa.select(listed.c.value))
        return connection.execute(sa.select(column).where(table.c.source == source, wanted)).scalars().all()

    def _insert(self, connection, table: sa.Table, frame: pd.DataFrame) -> None:
        """One driver-level executemany of plain Python values, made column by column.

        SQLAlchemy's per-row parameter handling would take longer than the
        database; the values are what each column type's bind processor would
        pass (SQLite keeps times as text in SQLAlchemy's format).
        """
        if frame.empty:
            return
        dialect = self.engine.dialect
        canonical = [c.name for c in table.columns if c.name in frame.columns]
        extra = [c for c in frame.columns if c not in canonical]
        # a column empty throughout is left out: the database fills NULL itself, faster than binding each one
        values = {name: _driver_values(frame[name], table.c[name].type, dialect) for name in canonical
                  if frame[name].notna().any()}
        if extra:
            values["extra"] = frame[extra].to_json(orient="records", lines=True, date_format="iso").splitlines()
        insert = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(table).on_conflict_do_nothing()
        compiled = insert.compile(dialect=dialect, column_keys=list(values))
        if compiled.positional:
            rows = zip(*(values[name] for name in compiled.positiontup))
        else:
            rows = (dict(zip(values, row)) for row in zip(*values.values()))
        connection.exec_driver_sql(str(compiled), list(rows))

    def reply_tree(self) -> pd.DataFrame:
        """Only what reply trees need of every stored comment, in position order: source, comment_id, parent_id,
        article_id and where each was read from (``schema.INPUT_FILE``, ``schema.INPUT_RECORD``); a fraction of
        :meth:`load`'s memory on a large store."""
        table = comments_table
        names = ["source", "comment_id", "parent_id", "article_id", schema.INPUT_FILE, schema.INPUT_RECORD]
        query = sa.select(*[table.c[n] for n in names]).order_by(table.c.position)
        # read in pieces, each made Arrow text at once: Python strings of every row at a time would be the peak
        with self.engine.connect() as connection:
            pieces = [piece.astype("str") for piece in pd.read_sql(query, connection, chunksize=_TREE_PIECE)]
        return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=names, dtype="str")

    def counts(self) -> dict[str, int]:
        """Rows stored per table: articles, comments, vote_events."""
        with self.engine.connect() as connection:
            return {table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                    for table in (articles_table, comments_table, vote_events_table)}

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """All stored (articles, comments, vote_events), comments in position order, canonical dtypes."""
        return self._load()

    # ---- the articles an incremental run scores again ------------------------

    def changed_since(self, position: int | None, row: int | None) -> tuple[pd.DataFrame, int | None, int | None]:
        """The articles (source, article_id) with comments after ``position`` or vote events after ``row``, and
        the last comment position and vote event row now (None when there are none).

        An incremental run (:mod:`moderation.incremental`) records the last ones it scored and asks again next time.
        """
        c, v = comments_table.c, vote_events_table.c
        with self.engine.connect() as connection:
            last_position = connection.execute(sa.select(sa.func.max(c.position))).scalar()
            last_row = connection.execute(sa.select(sa.func.max(v.row))).scalar()
            keys = connection.execute(sa.union(
                sa.select(c.source, c.article_id).where(c.position > (-1 if position is None else position)),
                sa.select(v.source, v.article_id).where(v.row > (0 if row is None else row)),
            )).all()
        return pd.DataFrame(keys, columns=schema.ARTICLE_KEY, dtype="str"), last_position, last_row

    def articles(self) -> pd.DataFrame:
        """Every stored article (canonical dtypes), without their comments."""
        with self.engine.connect() as connection:
            frame = pd.read_sql(sa.select(articles_table).order_by(articles_table.c.source, articles_table.c.article_id),
                                connection)
        return _with_extra(frame, "articles")

    def load_articles(self, keys: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(articles, comments, vote_events) of the articles ``keys`` (source, article_id), as :meth:`load` gives them."""
        pairs = list(keys[schema.ARTICLE_KEY].astype("str").drop_duplicates().itertuples(index=False, name=None))
        return self._load(pairs)

    def _load(self, articles: list[tuple[str, str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        parts = [[], [], []]
        with self.engine.connect() as connection:
            for chunk in ([None] if articles is None else list(_chunks(articles)) or [[]]):
                for part, (table, order) in zip(parts, (
                    (articles_table, [articles_table.c.source, articles_table.c.article_id]),
                    (comments_table, [comments_table.c.position]),
                    (vote_events_table, [vote_events_table.c.row]),
                )):
                    query = _untyped_select(table).order_by(*order)
                    if chunk is not None:
                        query = query.where(sa.tuple_(table.c.source, table.c.article_id).in_(chunk))
                    part.extend(_read_batches(connection, query, table))
        frames = [_frame(part) for part in parts]
        if articles is not None:  # chunks come one after the other: back to the store's order
            frames = [frame.sort_values(order, kind="stable", ignore_index=True) for frame, order in
                      zip(frames, (schema.ARTICLE_KEY, "position", "row"))]
        return tuple(_as_loaded(frame, name) for frame, name in zip(frames, ("articles", "comments", "vote_events")))

    def load_range(self, table: str, first: int, last: int) -> pd.DataFrame:
        """Stored ``comments`` with ``first <= position <= last``, or ``vote_events`` with ``first <= row <= last``,
        in store order, as :meth:`load` gives them: the pieces a Dask run (:mod:`moderation.dask_engine`) reads
        in parallel, each along the table's index."""
        sql_table, order = {"comments": (comments_table, comments_table.c.position),
                            "vote_events": (vote_events_table, vote_events_table.c.row)}[table]
        with self.engine.connect() as connection:
            batches = _read_batches(connection, _untyped_select(sql_table).where(order.between(first, last))
                                    .order_by(order), sql_table)
        return _as_loaded(_frame(batches), table)

    # ---- writing ---------------------------------------------------------

    def _write(self, work: Callable[[sa.Connection], object]):
        """``work(connection)`` in one write transaction, retried while another writer holds the store."""
        deadline = time.monotonic() + self.busy_wait
        delay = 0.02
        while True:
            try:
                with self._writer.begin() as connection:
                    return work(connection)
            except sa.exc.OperationalError as error:
                if not _transient(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise TimeoutError(f"the store stayed busy for {self.busy_wait:.0f} s (another writer, such "
                                       "as a long ingest, holds it); nothing was recorded, try again") from error
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)

    def _lock(self, connection, keys: Iterable[Key]) -> None:
        """Serialise writers of the same comments until the transaction ends.

        PostgreSQL: one advisory lock per key, taken in one global order so two
        writers never deadlock. SQLite's ``BEGIN IMMEDIATE`` already lets only
        one writer in at a time.
        """
        if self.engine.dialect.name != "postgresql":
            return
        names = sorted({f"{source}\x1f{comment_id}" for source, comment_id in keys})
        connection.execute(sa.text(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT hashtextextended(k, 0) AS h "
            "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS ordered"
        ), {"keys": names})

    def _role(self, connection, name: str) -> str | None:
        """``name``'s role; :data:`auth.SINGLE_USER_ROLE` while the store has no users; None for a stranger."""
        role = connection.execute(sa.select(users_table.c.role).where(users_table.c.name == name)).scalar()
        if role is not None:
            return role
        anyone = connection.execute(sa.select(users_table.c.name).limit(1)).first()
        return None if anyone else auth.SINGLE_USER_ROLE

    def _require(self, connection, name: str | None, permission: str) -> str:
        """The stripped ``name`` if its role has ``permission``, else :class:`auth.Forbidden`."""
        name = (name or "").strip()
        if not name:
            raise ValueError("a decision, label or claim needs the moderator's name")
        auth.require(self._role(connection, name), permission, name)
        return name

    def has_users(self) -> bool:
        """Whether any user exists (a team store); without users the store is single-user."""
        with self.engine.connect() as connection:
            return connection.execute(sa.select(users_table.c.name).limit(1)).first() is not None

    def role(self, name: str) -> str | None:
        """``name``'s role (``auth.SINGLE_USER_ROLE`` in a store without users; None: not a user)."""
        with self.engine.connect() as connection:
            return self._role(connection, name.strip())

    # ---- decisions -----------------------------------------------------

    def record_decision(
        self, keys: list[Key], action: str, moderator: str, reason: str | None = None,
        seen: Mapping[Key, int | None] | None = None,
    ) -> list[int]:
        """Record one decision on each comment in ``keys`` (one batch); returns the new decision ids.

        Parameters
        ----------
        keys : list of (source, comment_id)
        action : one of ``ACTIONS``
        moderator : str
            The signed-in user; a viewer (or a stranger to a store with users) gets :class:`auth.Forbidden`.
        seen : mapping, optional
            (source, comment_id) -> id of the decision that was current when the
            moderator saw the comment (None or missing: undecided), e.g. from
            :func:`seen_states`. When given, any comment whose current decision
            is another makes the whole batch a :class:`DecisionConflict`: nothing is
            written. Without it only claims are checked (a script's decision).

        Comments another moderator has a live claim on always conflict; the
        moderator's own claims on ``keys`` are released. ``decided_at`` is taken
        once the write lock is held, so per comment it follows the log order.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
        keys = list(dict.fromkeys((str(source), str(comment_id)) for source, comment_id in keys))

        def work(connection):
            name = self._require(connection, moderator, "decide")
            if not keys:
                return []
            self._lock(connection, keys)
            now = datetime.now(UTC)
            current = self._current(connection, keys)
            claimed = self._claimed_by_others(connection, keys, name, now)
            conflicts = []
            for key in keys:
                live = current.get(key)
                live_id = None if live is None else live["id"]
                changed = seen is not None and _decision_id(seen.get(key)) != live_id
                if changed or key in claimed:
                    conflicts.append({
                        "source": key[0], "comment_id": key[1],
                        "seen": _decision_id(seen.get(key)) if seen is not None else None, "current": live_id,
                        **{c: (None if live is None else live[c]) for c in ("action", "moderator", "decided_at")},
                        "claimed_by": claimed.get(key),
                    })
            if conflicts:
                raise DecisionConflict(_conflict_frame(conflicts))
            batch = str(uuid.uuid4())
            rows = [
                {"batch": batch, "source": source, "comment_id": comment_id, "action": action,
                 "reason": reason or None, "moderator": name, "decided_at": now,
                 "replaces": None if current.get((source, comment_id)) is None
                 else current[(source, comment_id)]["id"]}
                for source, comment_id in keys
            ]
            ids = [row.id for row in connection.execute(
                decisions_table.insert().returning(decisions_table.c.id), rows)]
            self._release(connection, keys, name)
            return ids

        return self._write(work)

    def _current(self, connection, keys: list[Key]) -> dict[Key, Mapping]:
        """(source, comment_id) -> the current (latest not undone) decision row, for the decided ones of ``keys``."""
        table, found = decisions_table, {}
        for chunk in _chunks(keys):
            rows = connection.execute(
                sa.select(table)
                .where(sa.tuple_(table.c.source, table.c.comment_id).in_(chunk), table.c.undone_at.is_(None))
                .order_by(table.c.id)
            ).mappings().all()
            found.update({(row["source"], row["comment_id"]): row for row in rows})
        return found

    def comment_states(self, keys: list[Key]) -> dict[Key, int | None]:
        """(source, comment_id) -> id of its current decision (None: undecided): what ``seen`` carries."""
        keys = [(str(source), str(comment_id)) for source, comment_id in keys]
        with self.engine.connect() as connection:
            current = self._current(connection, keys)
        return {key: (current[key]["id"] if key in current else None) for key in keys}

    def undo_last(self, moderator: str, of: str | None = None) -> pd.DataFrame:
        """Undo the latest batch of decisions of ``of`` (default: ``moderator``'s own) that is not undone yet.

        Only an admin may undo another moderator's batch. Returns the rows this
        call undid, empty when there was nothing left to undo (so two tabs
        undoing at once undo two batches, never one twice). Each undo is
        logged as an ``undo`` event naming who undid whose decisions.
        """
        table = decisions_table

        def work(connection):
            name = self._require(connection, moderator, "decide")
            owner = (of or name).strip()
            if owner != name:
                auth.require(self._role(connection, name), "undo_others", name)
            self._lock(connection, [("undo", owner)])
            latest = connection.execute(
                sa.select(table.c.batch)
                .where(table.c.moderator == owner, table.c.undone_at.is_(None))
                .order_by(table.c.id.desc())
                .limit(1)
            ).scalar()
            if latest is None:
                return []
            self._lock(connection, connection.execute(
                sa.select(table.c.source, table.c.comment_id).where(table.c.batch == latest)).all())
            now = datetime.now(UTC)
            rows = connection.execute(
                table.update()
                .where(table.c.batch == latest, table.c.undone_at.is_(None))
                .values(undone_at=now, undone_by=name)
                .returning(*table.columns)
            ).mappings().all()
            if rows:
                self._log(connection, name, "undo", owner,
                          f"{rows[0]['action']} on {len(rows)} comment(s), batch {latest}", now)
            return rows

        return self._decisions_frame(sorted(self._write(work), key=lambda row: row["id"]))

    def undo(self, ids: list[int], moderator: str) -> pd.DataFrame:
        """Mark the decisions ``ids`` as undone by ``moderator``; returns the rows this call undid.

        Undoing another moderator's decision needs an admin. Decisions already
        undone are left as they are and not returned, so an empty result means
        nothing was undone. Logged as one ``undo`` event per moderator undone.
        """
        table = decisions_table
        wanted = sorted({int(i) for i in ids})

        def work(connection):
            name = self._require(connection, moderator, "decide")
            rows = connection.execute(sa.select(table.c.id, table.c.source, table.c.comment_id, table.c.moderator)
                                      .where(table.c.id.in_(wanted))).all()
            if any(row.moderator != name for row in rows):
                auth.require(self._role(connection, name), "undo_others", name)
            self._lock(connection, [(row.source, row.comment_id) for row in rows])
            now = datetime.now(UTC)
            undone = connection.execute(
                table.update().where(table.c.id.in_(wanted), table.c.undone_at.is_(None))
                .values(undone_at=now, undone_by=name).returning(*table.columns)
            ).mappings().all()
            for owner in sorted({row["moderator"] for row in undone}):
                mine = [row for row in undone if row["moderator"] == owner]
                self._log(connection, name, "undo", owner, f"{len(mine)} decision(s): ids "
                          + ", ".join(str(row["id"]) for row in sorted(mine, key=lambda row: row["id"])), now)
            return undone

        if not wanted:
            return self._decisions_frame([])
        return self._decisions_frame(sorted(self._write(work), key=lambda row: row["id"]))

    def decisions(self) -> pd.DataFrame:
        """The audit log: every decision ever recorded, undone ones included, newest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(decisions_table).order_by(decisions_table.c.id.desc())).mappings().all()
        return self._decisions_frame(rows)

    def current_decisions(self) -> pd.DataFrame:
        """The latest decision that is not undone, one row per decided comment."""
        log = self.decisions()
        live = log[log["undone_at"].isna()]
        return live.drop_duplicates(["source", "comment_id"], keep="first").reset_index(drop=True)

    # ---- labels --------------------------------------------------------

    def record_label(self, keys: list[Key], label: str, value: bool, moderator: str) -> list[int]:
        """Record ``moderator``'s yes/no ``label`` (one of ``LABELS``) on each comment in ``keys``; returns the ids.

        Viewers (and strangers to a store with users) get :class:`auth.Forbidden`.
        """
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}; choose one of {', '.join(LABELS)}")

        def work(connection):
            name = self._require(connection, moderator, "label")
            now = datetime.now(UTC)
            rows = [
                {"source": str(source), "comment_id": str(comment_id), "label": label, "value": bool(value),
                 "moderator": name, "labelled_at": now}
                for source, comment_id in keys
            ]
            if not rows:
                return []
            return [row.id for row in connection.execute(labels_table.insert().returning(labels_table.c.id), rows)]

        return self._write(work)

    def labels(self, label: str = "offtopic") -> pd.DataFrame:
        """The latest ``label`` per comment: source, comment_id, value (bool), moderator, labelled_at."""
        table = labels_table
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table).where(table.c.label == label).order_by(table.c.id.desc())
            ).mappings().all()
        columns = ["source", "comment_id", "value", "moderator", "labelled_at"]
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in table.columns])[columns]
        frame["value"] = frame["value"].astype(bool)
        frame["labelled_at"] = schema.to_utc(frame["labelled_at"]).set_axis(frame.index)
        return frame.drop_duplicates(["source", "comment_id"], keep="first").reset_index(drop=True)

    # ---- claims --------------------------------------------------------

    def claim(self, key: Key, moderator: str, duration: timedelta = auth.DEFAULT_CLAIM) -> Claim:
        """Claim comment ``key`` for ``moderator`` until ``duration`` from now (their own claim is renewed).

        When another moderator's claim is live nothing changes and theirs is
        returned (``mine`` False). A new claim is logged as a ``claim`` event.
        """
        key = (str(key[0]), str(key[1]))
        table = claims_table
        where = (table.c.source == key[0]) & (table.c.comment_id == key[1])

        def work(connection):
            name = self._require(connection, moderator, "claim")
            self._lock(connection, [key])
            now = datetime.now(UTC)
            held = connection.execute(sa.select(table).where(where)).mappings().first()
            live = held is not None and _utc(held["expires_at"]) > now
            if live and held["moderator"] != name:
                return Claim(*key, held["moderator"], _utc(held["expires_at"]), mine=False)
            values = {"moderator": name, "claimed_at": now, "expires_at": now + duration}
            if held is None:
                connection.execute(table.insert().values(source=key[0], comment_id=key[1], **values))
            else:
                connection.execute(table.update().where(where).values(**values))
            if not (live and held["moderator"] == name):
                self._log(connection, name, "claim", f"{key[0]}/{key[1]}", f"until {now + duration:%H:%M:%S} UTC",
                          now)
            return Claim(*key, name, now + duration, mine=True)

        return self._write(work)

    def release(self, key: Key, moderator: str) -> bool:
        """Release ``moderator``'s claim on ``key``; whether there was one (logged as ``release``)."""
        key = (str(key[0]), str(key[1]))

        def work(connection):
            name = self._require(connection, moderator, "claim")
            released = self._release(connection, [key], name)
            if released:
                self._log(connection, name, "release", f"{key[0]}/{key[1]}", None, datetime.now(UTC))
            return released > 0

        return self._write(work)

    def _release(self, connection, keys: list[Key], name: str) -> int:
        table, released = claims_table, 0
        for chunk in _chunks(keys):
            released += connection.execute(table.delete().where(
                sa.tuple_(table.c.source, table.c.comment_id).in_(chunk), table.c.moderator == name)).rowcount
        return released

    def _claimed_by_others(self, connection, keys: list[Key], name: str, now: datetime) -> dict[Key, str]:
        table, found = claims_table, {}
        for chunk in _chunks(keys):
            rows = connection.execute(sa.select(table.c.source, table.c.comment_id, table.c.moderator).where(
                sa.tuple_(table.c.source, table.c.comment_id).in_(chunk),
                table.c.moderator != name, table.c.expires_at > now,
            )).all()
            found.update({(row.source, row.comment_id): row.moderator for row in rows})
        return found

    def claims(self) -> pd.DataFrame:
        """Live claims: source, comment_id, moderator, claimed_at, expires_at (UTC)."""
        table = claims_table
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table).where(table.c.expires_at > datetime.now(UTC))).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in table.columns])
        for column in ("claimed_at", "expires_at"):
            frame[column] = schema.to_utc(frame[column]).set_axis(frame.index)
        return frame

    # ---- users and sessions --------------------------------------------

    def users(self) -> pd.DataFrame:
        """Every user: name, role, created_at (never the password hash)."""
        table = users_table
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table.c.name, table.c.role, table.c.created_at).order_by(table.c.name)).all()
        frame = pd.DataFrame(rows, columns=["name", "role", "created_at"])
        frame["created_at"] = schema.to_utc(frame["created_at"]).set_axis(frame.index)
        return frame

    def user(self, name: str) -> dict | None:
        """``name``'s row (name, role, password_hash) for :func:`auth.sign_in`, None when unknown."""
        with self.engine.connect() as connection:
            query = sa.select(users_table).where(users_table.c.name == name.strip())
            row = connection.execute(query).mappings().first()
        return None if row is None else dict(row)

    def add_user(self, name: str, role: str, password: str, actor: str | None = None) -> None:
        """Add user ``name`` with ``role``; only the argon2 hash of ``password`` is kept.

        ``actor`` is the admin doing it; None is the command line (whoever holds the store's URL).
        """
        name, role, password_hash = _user_name(name), auth.check_role(role), auth.hash_password(password)

        def work(connection):
            by = self._manager(connection, actor)
            if connection.execute(sa.select(users_table.c.name).where(users_table.c.name == name)).first():
                raise ValueError(f"user {name!r} exists already; change it with `users passwd` or `users role`")
            now = datetime.now(UTC)
            connection.execute(users_table.insert().values(
                name=name, role=role, password_hash=password_hash, created_at=now))
            self._log(connection, by, "user_added", name, f"role {role}", now)

        self._write(work)

    def set_role(self, name: str, role: str, actor: str | None = None) -> None:
        """Give user ``name`` ``role`` (logged as ``role_changed`` with the old and new role)."""
        role = auth.check_role(role)

        def work(connection):
            by = self._manager(connection, actor)
            old = self._known_user(connection, name)
            connection.execute(users_table.update().where(users_table.c.name == name).values(role=role))
            self._log(connection, by, "role_changed", name, f"{old} -> {role}", datetime.now(UTC))

        self._write(work)

    def set_password(self, name: str, password: str, actor: str | None = None) -> None:
        """Replace user ``name``'s password; their open sessions end."""
        password_hash = auth.hash_password(password)

        def work(connection):
            by = self._manager(connection, actor)
            self._known_user(connection, name)
            connection.execute(users_table.update().where(users_table.c.name == name)
                               .values(password_hash=password_hash))
            connection.execute(sessions_table.delete().where(sessions_table.c.name == name))
            self._log(connection, by, "password_changed", name, None, datetime.now(UTC))

        self._write(work)

    def remove_user(self, name: str, actor: str | None = None) -> None:
        """Remove user ``name`` and end their sessions; their decisions stay in the log under their name."""
        def work(connection):
            by = self._manager(connection, actor)
            old = self._known_user(connection, name)
            connection.execute(users_table.delete().where(users_table.c.name == name))
            connection.execute(sessions_table.delete().where(sessions_table.c.name == name))
            self._log(connection, by, "user_removed", name, f"was {old}", datetime.now(UTC))

        self._write(work)

    def _manager(self, connection, actor: str | None) -> str:
        if actor is None:
            return COMMAND_LINE
        return self._require(connection, actor, "manage_users")

    @staticmethod
    def _known_user(connection, name: str) -> str:
        role = connection.execute(sa.select(users_table.c.role).where(users_table.c.name == name)).scalar()
        if role is None:
            raise ValueError(f"no user {name!r}; `python -m moderation users list` shows them")
        return role

    def open_session(self, token_digest: str, name: str) -> None:
        """Start a session for ``name`` (see :func:`auth.sign_in`)."""
        now = datetime.now(UTC)
        self._write(lambda connection: connection.execute(sessions_table.insert().values(
            token_digest=token_digest, name=name, opened_at=now, last_seen=now)))

    def touch_session(self, token_digest: str, idle: timedelta) -> dict | None:
        """The session's user (name, role), its idle clock restarted; None (and the session ended) past ``idle``."""
        sessions, users = sessions_table, users_table
        query = (sa.select(sessions.c.name, sessions.c.last_seen, users.c.role)
                 .join(users, users.c.name == sessions.c.name).where(sessions.c.token_digest == token_digest))
        with self.engine.connect() as connection:
            found = connection.execute(query).mappings().first()
        if found is None:
            return None
        now = datetime.now(UTC)
        where = sessions.c.token_digest == token_digest
        if now - _utc(found["last_seen"]) > idle:
            self._write(lambda connection: connection.execute(sessions.delete().where(where)))
            return None
        if now - _utc(found["last_seen"]) > SESSION_TOUCH:
            self._write(lambda connection: connection.execute(sessions.update().where(where).values(last_seen=now)))
        return {"name": found["name"], "role": found["role"]}

    def close_session(self, token_digest: str) -> str | None:
        """End the session; the user's name, None when there was no such session."""
        table = sessions_table

        def work(connection):
            name = connection.execute(sa.select(table.c.name).where(table.c.token_digest == token_digest)).scalar()
            connection.execute(table.delete().where(table.c.token_digest == token_digest))
            return name

        return self._write(work)

    # ---- activity log ----------------------------------------------------

    def log_event(self, actor: str, event: str, subject: str | None = None, detail: str | None = None) -> None:
        """Append one event (one of ``EVENTS``) to the activity log."""
        self._write(lambda connection: self._log(connection, actor, event, subject, detail, datetime.now(UTC)))

    @staticmethod
    def _log(connection, actor: str, event: str, subject: str | None, detail: str | None, at: datetime) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        connection.execute(events_table.insert().values(at=at, actor=actor, event=event, subject=subject,
                                                        detail=detail))

    def count_events(self, event: str, subject: str, since: datetime) -> int:
        """How many ``event`` events about ``subject`` happened since ``since``."""
        table = events_table
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).where(
                table.c.event == event, table.c.subject == subject, table.c.at >= since)).scalar()

    def events(self, kinds: Iterable[str] | None = None) -> pd.DataFrame:
        """The activity log, newest first: id, at, actor, event, subject, detail (only ``kinds`` if given)."""
        table = events_table
        query = sa.select(table).order_by(table.c.id.desc())
        if kinds is not None:
            query = query.where(table.c.event.in_(list(kinds)))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in table.columns])
        frame["at"] = schema.to_utc(frame["at"]).set_axis(frame.index)
        return frame

    # ---- desk settings -------------------------------------------------

    def set_desk_setting(self, key: str, values: list[str], moderator: str) -> int:
        """Record ``values`` (list of str; blanks dropped) as the desk's ``key`` (one of ``DESK_SETTINGS``); returns the id.

        The previous value stays in the table as history; the next run applies the new one.
        Raises ValueError for an unknown key, no moderator, or a staff pattern that is not a regex;
        :class:`auth.Forbidden` unless ``moderator`` is an admin (any name in a store without users).
        """
        if key not in DESK_SETTINGS:
            raise ValueError(f"unknown desk setting {key!r}; known: {', '.join(DESK_SETTINGS)}")
        if not moderator or not moderator.strip():
            raise ValueError("a desk setting needs the name of who changes it")
        kept = [str(v).strip() for v in values if v is not None and str(v).strip()]
        if key == "staff_patterns":
            engagement.check_patterns(kept)  # a pattern that is not a regex would fail every later run
        if key == "decision_reasons":
            kept = check_reasons(kept)

        def write(connection) -> int:
            name = self._require(connection, moderator, "manage_desk")
            row = {"key": key, "value": json.dumps(kept), "changed_by": name, "changed_at": datetime.now(UTC)}
            return connection.execute(desk_settings_table.insert().returning(desk_settings_table.c.id), [row]).scalar()

        return self._write(write)

    def desk_settings(self) -> dict[str, list[str]]:
        """The desk's settings in force: key -> list of str, only for keys ever set."""
        table = desk_settings_table
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(table.c.key, table.c.value).order_by(table.c.id)).all()
        return {key: json.loads(value) for key, value in rows}  # later rows overwrite earlier ones

    def decision_reasons(self) -> list[str]:
        """The reasons the desk offers when deciding: its saved list, else :data:`DEFAULT_DECISION_REASONS`."""
        return list(self.desk_settings().get("decision_reasons", DEFAULT_DECISION_REASONS))

    def desk_settings_history(self) -> pd.DataFrame:
        """Every change of a desk setting, newest first: id, key, value (JSON text), changed_by, changed_at."""
        table = desk_settings_table
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(table).order_by(table.c.id.desc())).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in table.columns])
        frame["changed_at"] = schema.to_utc(frame["changed_at"]).set_axis(frame.index)
        return frame

    # ---- runs and their problems ---------------------------------------

    def start_run(self, command: str, inputs: list[str | Path]) -> str:
        """Record that ``command`` started on ``inputs``; returns the new run id (sortable by start time)."""
        now = datetime.now(UTC)
        run_id = f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"
        self._write(lambda connection: connection.execute(runs_table.insert().values(
            run_id=run_id, command=command, inputs=json.dumps([str(Path(p).resolve()) for p in inputs]),
            started_at=now, status="running",
        )))
        return run_id

    def record_problems(self, run_id: str, problems: list[schema.Problem], input: str | Path | None = None) -> None:
        """Add ``problems`` to run ``run_id``'s history; ``input`` is the path given that they came from
        (None for problems over the whole store, such as reply trees)."""
        rows = [
            {"run_id": run_id, "input": None if input is None else str(Path(input).resolve()), **vars(problem)}
            for problem in problems
        ]
        if rows:
            self._write(lambda connection: connection.execute(problems_table.insert(), rows))

    def finish_run(self, run_id: str, status: str, records: int | None = None, message: str | None = None) -> None:
        """Mark run ``run_id`` done or failed (with the error line), counting its records and problems."""
        count = sa.select(sa.func.count()).where(problems_table.c.run_id == run_id).scalar_subquery()
        self._write(lambda connection: connection.execute(runs_table.update().where(runs_table.c.run_id == run_id)
                                                          .values(status=status, finished_at=datetime.now(UTC),
                                                                  records=records, message=message, problems=count)))

    def runs(self) -> pd.DataFrame:
        """Every recorded run, newest first: run_id, command, inputs, started_at, finished_at, status, message,
        records, problems (the count; None while a run is going or after it was killed)."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(runs_table).order_by(runs_table.c.started_at.desc())).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in runs_table.columns])
        for column in ("started_at", "finished_at"):
            frame[column] = schema.to_utc(frame[column]).set_axis(frame.index)
        for column in ("records", "problems"):
            frame[column] = schema.to_int(frame[column]).set_axis(frame.index)
        frame["inputs"] = frame["inputs"].map(json.loads)
        return frame

    def problems(self, run_id: str | None = None) -> pd.DataFrame:
        """The problems of run ``run_id`` (every run's when None), in the order found: run_id, file, record,
        problem, action."""
        query = sa.select(*[problems_table.c[c] for c in PROBLEM_COLUMNS]).order_by(problems_table.c.id)
        if run_id is not None:
            query = query.where(problems_table.c.run_id == run_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame(rows, columns=PROBLEM_COLUMNS, dtype="str")

    def tree_problems_before(self, run_id: str) -> set[tuple[str, str, str, str]]:
        """The problems over the whole store (reply trees; recorded without an input) that the last run before
        ``run_id`` that did not fail reported, as (file, record, problem, action)."""
        with self.engine.connect() as connection:
            started = sa.select(runs_table.c.started_at).where(runs_table.c.run_id == run_id).scalar_subquery()
            before = (sa.select(runs_table.c.run_id)
                      .where(runs_table.c.started_at < started, runs_table.c.status == "done")
                      .order_by(runs_table.c.started_at.desc()).limit(1).scalar_subquery())
            rows = connection.execute(
                sa.select(problems_table.c.file, problems_table.c.record, problems_table.c.problem,
                          problems_table.c.action)
                .where(problems_table.c.run_id == before, problems_table.c.input.is_(None))
            ).all()
        return {tuple(row) for row in rows}

    def problems_behind(self, run_id: str) -> pd.DataFrame:
        """The problems behind the results of run ``run_id``: all of its own, and the input problems of earlier
        runs (not failed ones) whose input no later run read again, newest run first.

        Re-reading a file replaces its problems; a file read once keeps them, so
        a dashboard import never hides what an earlier run reported.
        """
        with self.engine.connect() as connection:
            upto = sa.select(runs_table.c.started_at).where(runs_table.c.run_id == run_id).scalar_subquery()
            runs = connection.execute(
                sa.select(runs_table.c.run_id, runs_table.c.inputs)
                .where(runs_table.c.started_at <= upto, runs_table.c.status != "failed")
                .order_by(runs_table.c.started_at.desc())
            ).all()
            rows = connection.execute(
                sa.select(problems_table.c.input, *[problems_table.c[c] for c in PROBLEM_COLUMNS])
                .where(problems_table.c.run_id.in_([r.run_id for r in runs]))
                .order_by(problems_table.c.id)
            ).all()
        found = pd.DataFrame(rows, columns=["input", *PROBLEM_COLUMNS], dtype="str")
        keep = pd.Series(False, index=found.index)
        read_later: set[str] = set()
        for run in runs:  # newest first: run_id itself, then the runs before it
            mine = found["run_id"] == run.run_id
            if run.run_id != run_id:
                mine &= found["input"].notna() & ~found["input"].isin(read_later)
            keep |= mine
            read_later |= set(json.loads(run.inputs))
        rank = {run.run_id: rank for rank, run in enumerate(runs)}
        kept = found[keep].assign(rank=found["run_id"].map(rank)).sort_values("rank", kind="stable")
        return kept[PROBLEM_COLUMNS].reset_index(drop=True)

    @staticmethod
    def _decisions_frame(rows) -> pd.DataFrame:
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in decisions_table.columns])
        for column in ("decided_at", "undone_at"):
            frame[column] = schema.to_utc(frame[column]).set_axis(frame.index)
        return frame


def _driver_values(values: pd.Series, column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> list:
    """A column as the database driver takes it: None for NA, Python ints, floats, bools and text, JSON text for
    reaction lists, times as datetimes (SQLite: the text SQLAlchemy stores), made for the whole column at once."""
    present = values.notna().to_numpy()
    if values.name == "reactions":
        return [json.dumps([int(v) for v in r]) if pd.api.types.is_list_like(r) else None for r in values]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        if dialect.name != "sqlite":
            items = values.dt.to_pydatetime()
            return [item if keep else None for item, keep in zip(items, present)]
        # SQLAlchemy's SQLite storage format, "2024-03-01 10:00:00.000000" (UTC, no zone)
        moments = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        text = np.char.replace(np.datetime_as_string(moments, unit="us"), "T", " ").astype(object)
        return np.where(present, text, None).tolist()
    if values.dtype == bool:
        return values.tolist()  # Python bools, which every driver takes
    items = values.to_numpy(dtype=object, na_value=None)
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return items.tolist()
    return [None if item is None else processor(item) for item in items]


def _untyped_select(table: sa.Table) -> sa.Select:
    """Every column of ``table`` as the driver returns it: SQLAlchemy's per-value result processing (SQLite's
    times parsed one by one) would take longer than the database; :func:`_read_batches` types whole columns."""
    return sa.select(*[sa.type_coerce(column, sa.types.NullType()).label(column.name) for column in table.columns])


def _read_batches(connection, query: sa.Select, table: sa.Table) -> list[pa.RecordBatch]:
    """The rows of ``query`` (over ``table``'s columns) as Arrow batches of ``_LOAD_PIECE`` rows.

    Rows become typed columns a piece at a time: Python tuples of every row at once would be the peak of a
    large load.
    """
    result = connection.execute(query)
    names = list(result.keys())
    types = [_arrow_type(table.c[name].type, connection.dialect) for name in names]
    batches = []
    while rows := result.fetchmany(_LOAD_PIECE):
        batches.append(pa.RecordBatch.from_arrays(
            [_arrow_column(values, arrow_type) for values, arrow_type in zip(zip(*rows), types)], names))
    return batches or [pa.RecordBatch.from_arrays([pa.array([], arrow_type) for arrow_type in types], names)]


def _arrow_type(column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> pa.DataType:
    """The Arrow type a column's driver values take (SQLite's times: its text, which
    :func:`moderation.schema.conform` parses in one pass)."""
    if isinstance(column_type, sa.DateTime):
        return pa.large_string() if dialect.name == "sqlite" else pa.timestamp("us", tz="UTC")
    for sql_type, arrow_type in ((sa.Boolean, pa.bool_()), (sa.Integer, pa.int64()), (sa.Float, pa.float64())):
        if isinstance(column_type, sql_type):
            return arrow_type
    return pa.large_string()


def _arrow_column(values: tuple, arrow_type: pa.DataType) -> pa.Array:
    if arrow_type == pa.bool_():
        return pa.array(values).cast(arrow_type)  # SQLite's 0 and 1, other drivers' bools
    try:
        return pa.array(values, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # SQLite keeps a value of another type as it was given
        return pa.array([None if value is None else str(value) for value in values], arrow_type)


def _frame(batches: list[pa.RecordBatch]) -> pd.DataFrame:
    """One frame of Arrow batches, each column in one piece, in the canonical pandas types."""
    return pa.Table.from_batches(batches).combine_chunks().to_pandas(types_mapper=_PANDAS_TYPES.get)


def _as_loaded(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A frame read from ``table`` as :meth:`Store.load` gives it: canonical dtypes, pass-through columns, parsed
    reactions."""
    frame = _with_extra(frame.drop(columns=["row"], errors="ignore"), table)
    if table == "comments":
        stored = frame["reactions"]
        present = stored.notna().to_numpy()
        reactions = np.full(len(stored), None, dtype=object)
        for at, text in zip(np.flatnonzero(present), stored[present]):  # lists only where a source has them
            reactions[at] = json.loads(text)
        frame["reactions"] = reactions
    return frame


def _with_extra(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Expand the JSON ``extra`` column back into pass-through columns and type the canonical ones."""
    extra = frame.pop("extra")
    if extra.notna().any():
        # json.loads per row: pandas' line reader is very slow on a record with a huge key
        records = [json.loads(line) if isinstance(line, str) else {} for line in extra]
        expanded = pd.DataFrame.from_records(records, index=frame.index)
        frame = pd.concat([frame, expanded], axis=1)
    return schema.conform(frame, table)


def upgrade(url: str) -> tuple[str | None, str]:
    """Bring the store at ``url`` to this version's schema, keeping every row; (revision before, after).

    An empty database is created at the newest revision (before: None).
    Raises :class:`SchemaMismatch` for a store made by a newer version.
    """
    from moderation import migrations

    with _engine(url).execution_options(write=True).begin() as connection:
        return migrations.upgrade(connection)


def _engine(url: str) -> sa.Engine:
    """An engine on ``url``; SQLite: WAL, a busy timeout, and writers that take the write lock at BEGIN."""
    engine = sa.create_engine(url)
    if engine.dialect.name != "sqlite":
        return engine
    database = engine.url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection, _record):
        # WAL lets a moderator's write and a dashboard read run at once
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA busy_timeout=1000")  # longer waits: Store._write retries
        # transactions are begun below, so a writer can take the write lock at BEGIN
        connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        # a writer that read first and asked for the lock later could fail at once with "database is locked"
        immediate = connection.get_execution_options().get("write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


COMMAND_LINE = "command line"  # the actor of user changes made with `python -m moderation users`
SESSION_TOUCH = timedelta(seconds=60)  # a session's last_seen is rewritten at most this often
_CHUNK = 400  # keys per IN (...) list: well below every database's limit on bound parameters


def seen_states(current: pd.DataFrame, keys: Iterable[Key]) -> dict[Key, int | None]:
    """What a moderator saw: (source, comment_id) -> id of the current decision shown (None: undecided).

    ``current`` is a :meth:`Store.current_decisions` frame as the page showed it.
    """
    shown = {(s, c): int(i) for s, c, i in zip(current["source"], current["comment_id"], current["id"])}
    return {(str(s), str(c)): shown.get((str(s), str(c))) for s, c in keys}


def _decision_id(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _conflict_frame(conflicts: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(conflicts)
    for column in ("seen", "current"):
        frame[column] = frame[column].astype("Int64")
    frame["decided_at"] = schema.to_utc(frame["decided_at"]).set_axis(frame.index)
    return frame


def _chunks(keys: list, size: int = _CHUNK):
    return (keys[i:i + size] for i in range(0, len(keys), size))


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _transient(error: sa.exc.OperationalError) -> bool:
    """A lock or serialisation failure that a retry of the whole transaction resolves."""
    if getattr(error.orig, "sqlstate", None) in ("40001", "40P01"):
        return True
    return any(text in str(error.orig) for text in ("database is locked", "database is busy"))


def _user_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or any(not ch.isprintable() for ch in name):
        raise ValueError("a user name is 1 to 64 printable characters")
    return name
