"""The embedded store: ingested comments and moderators' decisions (SQLAlchemy Core).

SQLite by default (``sqlite:///data/moderation.db``), PostgreSQL for teams
(``postgresql+psycopg://user@host/db``). Keys are source + ids, so ingesting a
file twice adds nothing. Decisions are an append-only log: several moderators
may decide at once, the latest decision on a comment wins, and undo marks a
decision as undone rather than deleting it, so the audit trail is complete.
"""

from __future__ import annotations

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
LABELS = ("offtopic", "speculative")
DEFAULT_URL = "sqlite:///data/moderation.db"
_LOOKUP_BATCH = 10_000  # ids per "IN (...)" query, below SQLite's and PostgreSQL's parameter limits

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
        """The rows of ``frame`` whose key is not stored yet (only this frame's keys are looked up)."""
        frame = frame.dropna(subset=key) if "event_id" in key else frame
        if frame.empty:
            return frame
        ids = frame[key[1]].astype("str")
        stored = []
        for source, group in ids.groupby(frame["source"].astype("str"), sort=False):
            values = group.unique().tolist()
            for start in range(0, len(values), _LOOKUP_BATCH):
                batch = values[start:start + _LOOKUP_BATCH]
                found = connection.execute(
                    sa.select(table.c[key[1]]).where(table.c.source == source, table.c[key[1]].in_(batch))
                ).scalars().all()
                stored += [(source, value) for value in found]
        if not stored:
            return frame.copy()
        keys = pd.MultiIndex.from_arrays([frame["source"].astype("str"), ids])
        return frame[~keys.isin(pd.MultiIndex.from_tuples(stored))].copy()

    def _insert(self, connection, table: sa.Table, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        canonical = [c.name for c in table.columns if c.name in frame.columns]
        extra = [c for c in frame.columns if c not in canonical]
        # plain Python values column by column: a column assigned back into a frame would turn None into NaT/NaN
        values = {name: _python_values(frame[name], name) for name in canonical}
        if extra:
            values["extra"] = frame[extra].to_json(orient="records", lines=True, date_format="iso").splitlines()
        if self.engine.dialect.name == "sqlite":
            self._insert_sqlite(connection, table, values)
            return
        records = [dict(zip(values, row)) for row in zip(*values.values())]
        connection.execute(postgresql.insert(table).on_conflict_do_nothing(), records)

    def _insert_sqlite(self, connection, table: sa.Table, values: dict[str, list]) -> None:
        """One driver-level executemany: SQLAlchemy's per-row parameter handling would dominate a large ingest.

        Values go through each column type's own bind processor (SQLite keeps
        times as text), exactly as ``connection.execute`` would.
        """
        dialect = self.engine.dialect
        compiled = sqlite.insert(table).on_conflict_do_nothing().compile(dialect=dialect, column_keys=list(values))
        for name in values:
            processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                values[name] = [None if v is None else processor(v) for v in values[name]]
        order = [values[name] for name in compiled.positiontup]
        connection.exec_driver_sql(str(compiled), list(zip(*order)))

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

    def undo(self, ids: list[int], moderator: str) -> pd.DataFrame:
        """Mark the decisions ``ids`` (any moderator's) as undone by ``moderator``; returns the rows undone now.

        Already undone decisions are left as they are (and not returned); nothing is deleted.
        """
        if not moderator or not moderator.strip():
            raise ValueError("undoing a decision needs the moderator's name")
        table = decisions_table
        wanted = [int(i) for i in ids]
        if not wanted:
            return self._decisions_frame([])
        with self.engine.begin() as connection:
            live = table.c.id.in_(wanted) & table.c.undone_at.is_(None)
            undone = [r.id for r in connection.execute(sa.select(table.c.id).where(live))]
            connection.execute(table.update().where(table.c.id.in_(undone))
                               .values(undone_at=datetime.now(UTC), undone_by=moderator.strip()))
            rows = connection.execute(sa.select(table).where(table.c.id.in_(undone))).mappings().all()
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

    # ---- runs and their problems ---------------------------------------

    def start_run(self, command: str, inputs: list[str | Path]) -> str:
        """Record that ``command`` started on ``inputs``; returns the new run id (sortable by start time)."""
        now = datetime.now(UTC)
        run_id = f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"
        with self.engine.begin() as connection:
            connection.execute(runs_table.insert().values(
                run_id=run_id, command=command, inputs=json.dumps([str(Path(p).resolve()) for p in inputs]),
                started_at=now, status="running",
            ))
        return run_id

    def record_problems(self, run_id: str, problems: list[schema.Problem], input: str | Path | None = None) -> None:
        """Add ``problems`` to run ``run_id``'s history; ``input`` is the path given that they came from
        (None for problems over the whole store, such as reply trees)."""
        rows = [
            {"run_id": run_id, "input": None if input is None else str(Path(input).resolve()), **vars(problem)}
            for problem in problems
        ]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(problems_table.insert(), rows)

    def finish_run(self, run_id: str, status: str, records: int | None = None, message: str | None = None) -> None:
        """Mark run ``run_id`` done or failed (with the error line), counting its records and problems."""
        count = sa.select(sa.func.count()).where(problems_table.c.run_id == run_id).scalar_subquery()
        with self.engine.begin() as connection:
            connection.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(
                status=status, finished_at=datetime.now(UTC), records=records, message=message, problems=count,
            ))

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


def _python_values(values: pd.Series, name: str) -> list:
    """A column as the Python values the database driver takes: None for NA, datetimes, ints, JSON text for lists."""
    if name == "reactions":
        return [json.dumps([int(v) for v in r]) if pd.api.types.is_list_like(r) else None for r in values]
    present = values.notna().to_numpy()
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        items = values.dt.to_pydatetime()
    else:
        items = values.astype(object).to_numpy()
    return [item if keep else None for item, keep in zip(items, present)]


def _with_extra(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Expand the JSON ``extra`` column back into pass-through columns and type the canonical ones."""
    extra = frame.pop("extra")
    if extra.notna().any():
        # json.loads per row: pandas' line reader is very slow on a record with a huge key
        records = [json.loads(line) if isinstance(line, str) else {} for line in extra]
        expanded = pd.DataFrame.from_records(records, index=frame.index)
        frame = pd.concat([frame, expanded], axis=1)
    return schema.conform(frame, table)
