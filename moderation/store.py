"""The embedded store: moderators' decisions in SQL (SQLAlchemy Core), the ingested comments in a corpus file.

SQLite by default (``sqlite:///data/moderation.db``), PostgreSQL for teams
(``postgresql+psycopg://user@host/db``), holding decisions, labels, users,
sessions, claims, the activity log, runs and their problems, desk settings.
The ingested corpus (articles, comments, vote events) is a DuckDB file
(:mod:`moderation.corpus`), next to an SQLite store
(``data/moderation.corpus.duckdb``) or named for a PostgreSQL one
(:func:`corpus_path`); :class:`Store` hands its corpus methods to it. Keys
are source + ids, so ingesting a file twice adds nothing. Decisions are an
append-only log: several moderators may decide at once, the latest decision
on a comment wins, and undo marks a decision as undone rather than deleting
it, so the audit trail is complete.

Every write checks the writer's role (:mod:`moderation.auth`) inside the
transaction, and takes the comments' write lock first (SQLite ``BEGIN
IMMEDIATE``; PostgreSQL advisory locks per comment), so a check and the write
it guards see the same state. A decision may carry the state its moderator saw
(``seen``); when another decision landed in between, or someone else holds the
comment's claim, nothing is written and :class:`DecisionConflict` says what
happened. Writers wait and retry while another writer holds the store (or,
for an ingest, the corpus file), up to ``busy_wait`` seconds.

The schema is versioned with Alembic (``moderation/migrations``): a new store
is created at the newest revision, an older one is refused until
``python -m moderation store upgrade --store URL`` upgrades it (moving the
comments an older store kept in SQL into the corpus file), and a store made
by a newer version is refused (:class:`SchemaMismatch`).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from moderation import auth, engagement, schema
from moderation.corpus import CorpusStore
from moderation.formats import CORPUS_ENV, CORPUS_SUFFIX

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

metadata = sa.MetaData()


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
    """Decisions, labels, users and runs in one SQL database; the ingested corpus in its DuckDB file.

    Parameters
    ----------
    url : str
        SQLAlchemy URL; a SQLite file's folder is created when missing.
    busy_wait : float
        Seconds a write (a decision, label, claim, undo or ingest) keeps
        retrying while another writer (an ingest) holds the store, before it fails.
    corpus : str or Path, optional
        The corpus file (:mod:`moderation.corpus`); see :func:`corpus_path` for
        the default. Without one a store that is not an SQLite file holds only
        decisions, labels and users: its corpus methods raise ValueError.

    Raises
    ------
    SchemaMismatch
        The store was made by an older version (run ``store upgrade``) or a newer one.
    """

    def __init__(self, url: str = DEFAULT_URL, busy_wait: float = DEFAULT_BUSY_WAIT,
                 corpus: str | Path | None = None):
        from moderation import migrations

        self.url = url
        self.busy_wait = busy_wait
        self.corpus_path = corpus_path(url, corpus)
        self.engine = _engine(url)
        self._writer = self.engine.execution_options(write=True)
        with self.engine.connect() as connection:
            empty = migrations.check(connection)
        if empty:  # created under the write lock, so two processes never both create it
            self._write(migrations.check)

    # ---- ingested data (the corpus file, moderation.corpus) ------------------

    @property
    def corpus(self) -> CorpusStore:
        """The store's corpus file; ValueError saying how to name one when neither the store nor ``corpus`` did."""
        if self.corpus_path is None:
            raise ValueError(_NO_CORPUS.format(url=self.engine.url.render_as_string(hide_password=True)))
        return CorpusStore(self.corpus_path, self.busy_wait)

    def ingesting(self):
        """A block of :meth:`ingest` calls that holds the corpus file throughout (:meth:`CorpusStore.writing`):
        checkpointed once at the end rather than after every piece."""
        return self.corpus.writing()

    def ingest(self, parsed) -> IngestSummary:
        """Add the parsed rows not yet in the store; known keys are left as they are.

        New comments get positions after every comment already stored, in the
        order the source lists them, so output order stays the source's order.
        """
        return IngestSummary(*self.corpus.ingest(
            {"articles": parsed.articles, "comments": parsed.comments, "vote_events": parsed.vote_events}))

    def reply_tree(self) -> pd.DataFrame:
        """Only what reply trees need of every stored comment, in position order: source, comment_id, parent_id,
        article_id and where each was read from (``schema.INPUT_FILE``, ``schema.INPUT_RECORD``); a fraction of
        :meth:`load`'s memory on a large store."""
        return self.corpus.reply_tree()

    def counts(self) -> dict[str, int]:
        """Rows stored per table: articles, comments, vote_events."""
        return self.corpus.counts()

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """All stored (articles, comments, vote_events), comments in position order, canonical dtypes."""
        return self.corpus.load()

    # ---- the articles an incremental run scores again ------------------------

    def changed_since(self, position: int | None, row: int | None) -> tuple[pd.DataFrame, int | None, int | None]:
        """The articles (source, article_id) with comments after ``position`` or vote events after ``row``, and
        the last comment position and vote event row now (None when there are none).

        An incremental run (:mod:`moderation.incremental`) records the last ones it scored and asks again next time.
        """
        return self.corpus.changed_since(position, row)

    def articles(self) -> pd.DataFrame:
        """Every stored article (canonical dtypes), without their comments."""
        return self.corpus.articles()

    def load_articles(self, keys: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(articles, comments, vote_events) of the articles ``keys`` (source, article_id), as :meth:`load` gives them."""
        return self.corpus.load(keys)

    def load_range(self, table: str, first: int, last: int) -> pd.DataFrame:
        """Stored ``comments`` with ``first <= position <= last``, or ``vote_events`` with ``first <= row <= last``,
        in store order, as :meth:`load` gives them: the pieces a Dask run (:mod:`moderation.dask_engine`) reads
        in parallel, each along the table's order."""
        return self.corpus.load_range(table, first, last)

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


_NO_CORPUS = ("the store {url} keeps its comments in a corpus file (DuckDB), found by itself only next to an "
              f"SQLite store: give --corpus PATH or set {CORPUS_ENV}=PATH")


def corpus_path(url: str, corpus: str | Path | None = None) -> Path | None:
    """The corpus file of the store at ``url``: ``corpus`` when given; for an SQLite file the one next to it
    (``data/moderation.db`` -> ``data/moderation.corpus.duckdb``); for another store (PostgreSQL)
    ``$MODERATION_CORPUS``, else None."""
    if corpus:
        return Path(corpus)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        database = Path(parsed.database)
        return database.with_name(database.stem + CORPUS_SUFFIX)
    given = os.environ.get(CORPUS_ENV)
    return Path(given) if given else None


def upgrade(url: str, corpus: str | Path | None = None) -> tuple[str | None, str]:
    """Bring the store at ``url`` to this version's schema, keeping every row; (revision before, after).

    An empty database is created at the newest revision (before: None). A
    store that kept its comments in SQL has them moved into its corpus file
    (:func:`corpus_path`). Raises :class:`SchemaMismatch` for a store made by a newer version.
    """
    from moderation import migrations

    with _engine(url).execution_options(write=True).begin() as connection:
        return migrations.upgrade(connection, corpus_path(url, corpus))


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
