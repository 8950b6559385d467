"""The embedded store: ingested comments and moderators' decisions (SQLAlchemy Core).

SQLite by default (``sqlite:///data/moderation.db``), PostgreSQL for teams
(``postgresql+psycopg://user@host/db``). Keys are source + ids, so ingesting a
file twice adds nothing. Decisions are an append-only log: several moderators
may decide at once, the latest decision on a comment wins, and undo marks a
decision as undone rather than deleting it, so the audit trail is complete.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from moderation import engagement, schema

ACTIONS = ("approve", "remove", "flag", "escalate")
# what moderators can label a comment as (yes or no), for the stages that learn from them
LABELS = ("offtopic",)
DEFAULT_URL = "sqlite:///data/moderation.db"

metadata = sa.MetaData()


def _canonical_table(name: str, key: list[str]) -> sa.Table:
    types = {
        "published_at": sa.DateTime(timezone=True), "created_at": sa.DateTime(timezone=True),
        "voted_at": sa.DateTime(timezone=True), "upvotes": sa.BigInteger, "downvotes": sa.BigInteger,
        "score": sa.BigInteger, "depth": sa.Integer, "position": sa.BigInteger, "masked_share": sa.Float,
        "parent_inferred": sa.Boolean,
    }
    cols = [sa.Column(c, types.get(c, sa.Text), primary_key=c in key) for c in schema.columns(name)]
    # columns a source has beyond the canonical ones, as one JSON object per row
    return sa.Table(name, metadata, *cols, sa.Column("extra", sa.Text))


articles_table = _canonical_table("articles", schema.ARTICLE_KEY)
comments_table = _canonical_table("comments", schema.COMMENT_KEY)
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
}


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
    """

    def __init__(self, url: str = DEFAULT_URL):
        self.url = url
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)

            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(connection, _record):
                # WAL lets a moderator's write and a dashboard read run at once
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA busy_timeout=10000")

        metadata.create_all(self.engine)

    # ---- ingested data -------------------------------------------------

    def ingest(self, parsed) -> IngestSummary:
        """Add the parsed rows not yet in the store; known keys are left as they are.

        New comments get positions after every comment already stored, in the
        order the source lists them, so output order stays the source's order.
        """
        added, known = {}, {}
        with self.engine.begin() as connection:
            for table, frame, key in (
                (articles_table, parsed.articles, schema.ARTICLE_KEY),
                (comments_table, parsed.comments, schema.COMMENT_KEY),
                (vote_events_table, parsed.vote_events, ["source", "event_id"]),
            ):
                new = self._unknown_rows(connection, table, frame, key)
                if table is comments_table and len(new):
                    last = connection.execute(sa.select(sa.func.max(table.c.position))).scalar()
                    first = 0 if last is None else last + 1
                    new = new.sort_values("position", kind="stable")
                    new["position"] = range(first, first + len(new))
                self._insert(connection, table, new)
                added[table.name], known[table.name] = len(new), len(frame) - len(new)
        return IngestSummary(added, known)

    def _unknown_rows(self, connection, table: sa.Table, frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
        frame = frame.dropna(subset=key) if "event_id" in key else frame
        if frame.empty:
            return frame
        sources = frame["source"].unique().tolist()
        stored = pd.DataFrame(
            connection.execute(sa.select(*[table.c[k] for k in key]).where(table.c.source.in_(sources))).all(),
            columns=key,
        ).astype("str")
        if stored.empty:
            return frame.copy()
        keys = frame[key].astype("str")
        seen = pd.MultiIndex.from_frame(keys).isin(pd.MultiIndex.from_frame(stored))
        return frame[~seen].copy()

    def _insert(self, connection, table: sa.Table, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        canonical = [c.name for c in table.columns if c.name in frame.columns]
        extra = [c for c in frame.columns if c not in canonical]
        rows = frame[canonical].astype(object).where(frame[canonical].notna(), None)
        if "reactions" in rows:
            rows["reactions"] = [None if r is None else json.dumps([int(v) for v in r]) for r in rows["reactions"]]
        for column in ("published_at", "created_at", "voted_at"):
            if column in rows:
                rows[column] = [None if pd.isna(v) else v.to_pydatetime() for v in rows[column]]
        records = rows.to_dict("records")
        if extra:
            lines = frame[extra].to_json(orient="records", lines=True, date_format="iso").splitlines()
            for record, line in zip(records, lines):
                record["extra"] = line
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)
        connection.execute(insert.on_conflict_do_nothing(), records)

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """All stored (articles, comments, vote_events), comments in position order, canonical dtypes."""
        with self.engine.connect() as connection:
            frames = [
                pd.read_sql(sa.select(table).order_by(*order), connection)
                for table, order in (
                    (articles_table, [articles_table.c.source, articles_table.c.article_id]),
                    (comments_table, [comments_table.c.position]),
                    (vote_events_table, [vote_events_table.c.row]),
                )
            ]
        articles, comments, vote_events = (
            _with_extra(frame.drop(columns=["row"], errors="ignore"), name)
            for frame, name in zip(frames, ("articles", "comments", "vote_events"))
        )
        comments["reactions"] = comments["reactions"].map(lambda r: json.loads(r) if isinstance(r, str) else None)
        return articles, comments, vote_events

    # ---- decisions -----------------------------------------------------

    def record_decision(
        self, keys: list[tuple[str, str]], action: str, moderator: str, reason: str | None = None
    ) -> list[int]:
        """Record one decision on each comment in ``keys`` (one batch); returns the new decision ids."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
        if not moderator or not moderator.strip():
            raise ValueError("a decision needs the moderator's name")
        batch, now = str(uuid.uuid4()), datetime.now(UTC)
        rows = [
            {"batch": batch, "source": str(source), "comment_id": str(comment_id), "action": action,
             "reason": reason or None, "moderator": moderator.strip(), "decided_at": now}
            for source, comment_id in keys
        ]
        if not rows:
            return []
        with self.engine.begin() as connection:
            result = connection.execute(decisions_table.insert().returning(decisions_table.c.id), rows)
            return [row.id for row in result]

    def undo_last(self, moderator: str) -> pd.DataFrame:
        """Mark ``moderator``'s latest batch of decisions as undone; returns the undone rows (empty if none)."""
        table = decisions_table
        with self.engine.begin() as connection:
            latest = connection.execute(
                sa.select(table.c.batch)
                .where(table.c.moderator == moderator, table.c.undone_at.is_(None))
                .order_by(table.c.id.desc())
                .limit(1)
            ).scalar()
            if latest is None:
                return self._decisions_frame([])
            connection.execute(
                table.update()
                .where(table.c.batch == latest, table.c.undone_at.is_(None))
                .values(undone_at=datetime.now(UTC), undone_by=moderator)
            )
            rows = connection.execute(sa.select(table).where(table.c.batch == latest)).mappings().all()
        return self._decisions_frame(rows)

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

    def record_label(self, keys: list[tuple[str, str]], label: str, value: bool, moderator: str) -> list[int]:
        """Record ``moderator``'s yes/no ``label`` (one of ``LABELS``) on each comment in ``keys``; returns the ids."""
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}; choose one of {', '.join(LABELS)}")
        if not moderator or not moderator.strip():
            raise ValueError("a label needs the moderator's name")
        now = datetime.now(UTC)
        rows = [
            {"source": str(source), "comment_id": str(comment_id), "label": label, "value": bool(value),
             "moderator": moderator.strip(), "labelled_at": now}
            for source, comment_id in keys
        ]
        if not rows:
            return []
        with self.engine.begin() as connection:
            return [row.id for row in connection.execute(labels_table.insert().returning(labels_table.c.id), rows)]

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

    # ---- desk settings -------------------------------------------------

    def set_desk_setting(self, key: str, values: list[str], moderator: str) -> int:
        """Record ``values`` (list of str; blanks dropped) as the desk's ``key`` (one of ``DESK_SETTINGS``); returns the id.

        The previous value stays in the table as history; the next run applies the new one.
        Raises ValueError for an unknown key, no moderator, or a staff pattern that is not a regex.
        """
        if key not in DESK_SETTINGS:
            raise ValueError(f"unknown desk setting {key!r}; known: {', '.join(DESK_SETTINGS)}")
        if not moderator or not moderator.strip():
            raise ValueError("a desk setting needs the name of who changes it")
        kept = [str(v).strip() for v in values if v is not None and str(v).strip()]
        if key == "staff_patterns":
            engagement.check_patterns(kept)  # a pattern that is not a regex would fail every later run
        row = {"key": key, "value": json.dumps(kept), "changed_by": moderator.strip(), "changed_at": datetime.now(UTC)}
        with self.engine.begin() as connection:
            return connection.execute(desk_settings_table.insert().returning(desk_settings_table.c.id), [row]).scalar()

    def desk_settings(self) -> dict[str, list[str]]:
        """The desk's settings in force: key -> list of str, only for keys ever set."""
        table = desk_settings_table
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(table.c.key, table.c.value).order_by(table.c.id)).all()
        return {key: json.loads(value) for key, value in rows}  # later rows overwrite earlier ones

    def desk_settings_history(self) -> pd.DataFrame:
        """Every change of a desk setting, newest first: id, key, value (JSON text), changed_by, changed_at."""
        table = desk_settings_table
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(table).order_by(table.c.id.desc())).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in table.columns])
        frame["changed_at"] = schema.to_utc(frame["changed_at"]).set_axis(frame.index)
        return frame

    @staticmethod
    def _decisions_frame(rows) -> pd.DataFrame:
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in decisions_table.columns])
        for column in ("decided_at", "undone_at"):
            frame[column] = schema.to_utc(frame[column]).set_axis(frame.index)
        return frame


def _with_extra(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Expand the JSON ``extra`` column back into pass-through columns and type the canonical ones."""
    extra = frame.pop("extra")
    if extra.notna().any():
        expanded = pd.read_json(
            io.StringIO("\n".join(extra.fillna("{}"))), lines=True, dtype=False
        )
        expanded.index = frame.index
        frame = pd.concat([frame, expanded], axis=1)
    return schema.conform(frame, table)
