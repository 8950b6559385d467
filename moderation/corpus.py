"""The ingested corpus (articles, comments, vote events) in an embedded DuckDB file.

The corpus is what a run scores: large, written by ingests, read whole or by
article. A columnar file reads it back in a fraction of an SQL store's time
(``benchmarks/bench_corpus_store.py``); decisions, labels, users and runs stay
in the SQL store (:mod:`moderation.store`), which hands its corpus methods to
a :class:`CorpusStore`.

Keys are source + ids, so ingesting a file twice adds nothing. Comments keep
``position`` (their order: each ingest appends after the last one, in the
source's order) and vote events ``row`` (the order they were stored in);
columns a source has beyond the canonical ones are kept as one JSON object per
row (``extra``), reactions as a JSON list, times as UTC.

DuckDB lets one process write a file, or several read it, at a time: every
operation opens its own connection (reads read-only) and closes it, and an
operation that finds the file held by another process waits and retries up to
``busy_wait`` seconds. Each ingest is one transaction, so a killed ingest
leaves the corpus as it was.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from moderation import schema

TABLES = ("articles", "comments", "vote_events")
KEYS = {"articles": schema.ARTICLE_KEY, "comments": schema.COMMENT_KEY, "vote_events": ["source", "event_id"]}
# the column giving each table's stored order after its key: comments' position, vote events' row
ORDER = {"articles": "source, article_id", "comments": "position", "vote_events": "row"}
_SQL_TYPES = {
    "published_at": "TIMESTAMP", "created_at": "TIMESTAMP", "voted_at": "TIMESTAMP",  # UTC, without a zone
    "upvotes": "BIGINT", "downvotes": "BIGINT", "score": "BIGINT", "depth": "BIGINT", "position": "BIGINT",
    "row": "BIGINT", "masked_share": "DOUBLE", "parent_inferred": "BOOLEAN",
}
# the pandas types of the Arrow columns read back (schema.conform leaves them as they are)
_PANDAS_TYPES = {pa.string(): pd.StringDtype("pyarrow", na_value=np.nan),
                 pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan), pa.int64(): pd.Int64Dtype(),
                 pa.bool_(): pd.BooleanDtype(), pa.float64(): pd.Float64Dtype()}


def _stored_columns(table: str) -> list[str]:
    columns = schema.columns(table) + ["extra"]
    if table == "comments":
        columns += [schema.INPUT_FILE, schema.INPUT_RECORD]
    return (["row"] if table == "vote_events" else []) + columns


# the columns of each table in the corpus file: the canonical ones, ``extra`` (JSON of a source's other columns),
# comments' origin (``schema.INPUT_FILE``, ``schema.INPUT_RECORD``), vote events' ``row``; made once, at import
# (building the schema models takes a second)
STORED_COLUMNS = {table: _stored_columns(table) for table in TABLES}


def _create_statement(table: str) -> str:
    columns = ", ".join(f'"{c}" {_SQL_TYPES.get(c, "VARCHAR")}' for c in STORED_COLUMNS[table])
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY ({', '.join(KEYS[table])}))"


CREATE = [_create_statement(table) for table in TABLES]


def _create_missing(connection) -> None:
    """Create the corpus tables the file does not have yet."""
    for statement in CREATE:
        connection.execute(statement).fetchall()


# a table name DuckDB does not find would otherwise be looked up among the caller's Python variables
_NO_REPLACEMENTS = "SET python_enable_replacements = false"


def _connected(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A writing connection to ``path`` with the corpus tables made (committed at once: a file that exists always
    has them, even when the first ingest is killed or stores nothing)."""
    connection = duckdb.connect(str(path))
    connection.execute(_NO_REPLACEMENTS).fetchall()
    _create_missing(connection)
    return connection


# threads of one process share its DuckDB database, which lets their write transactions run at once
_WRITERS: dict[Path, threading.RLock] = {}
# the connection a :meth:`CorpusStore.writing` block holds open, per file: its transactions use it
_HELD: dict[Path, duckdb.DuckDBPyConnection] = {}


class CorpusBusy(TimeoutError):
    """The corpus file stayed held by another process (a long ingest) for ``busy_wait`` seconds."""


class CorpusStore:
    """Articles, comments and vote events in one DuckDB file.

    Parameters
    ----------
    path : str or Path
        The DuckDB file; created (with its folder) by the first ingest. Until then reads find nothing.
    busy_wait : float
        Seconds an operation keeps retrying while another process holds the file.
    """

    def __init__(self, path: str | Path, busy_wait: float):
        self.path = Path(path)
        self.busy_wait = busy_wait

    # ---- connections -----------------------------------------------------

    @contextmanager
    def writing(self):
        """Hold the file for writing through the block: each :meth:`ingest` in it is still its own transaction,
        but the connection stays open, so the file is checkpointed once, at the end, instead of at every
        transaction's close (which rewrites the key index: 20 pieces of a million-comment file spent 7 s there).
        Other processes wait for the block's end; reads in this process go through the held connection."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        with _WRITERS.setdefault(key, threading.RLock()):
            if key in _HELD:  # already held further up
                yield
                return
            _HELD[key] = self._retry(lambda: _connected(self.path))
            try:
                yield
            finally:
                _HELD.pop(key).close()

    def _held(self) -> duckdb.DuckDBPyConnection | None:
        return _HELD.get(self.path.resolve())

    @contextmanager
    def _reading(self):
        """A read-only connection; on a file not made yet, an empty in-memory corpus of the same tables."""
        if (held := self._held()) is not None:
            connection = held.cursor()  # a read-only one cannot open while this process writes the file
        elif not self.path.exists():
            connection = _connected(":memory:")
        else:
            connection = self._retry(lambda: duckdb.connect(str(self.path), read_only=True))
            connection.execute(_NO_REPLACEMENTS).fetchall()
        # text as Arrow's large_string, which pandas keeps as it is (a string column it would convert)
        connection.execute("SET arrow_large_buffer_size = true").fetchall()
        try:
            yield connection
        finally:
            connection.close()

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], object]):
        """``work(connection)`` in one transaction on the file (made when missing), committed or rolled back; one
        writer at a time (other processes: DuckDB's lock on the file; threads of this one: :data:`_WRITERS`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _WRITERS.setdefault(self.path.resolve(), threading.RLock()):  # setdefault: one lock even in a race
            return self._write_alone(work)

    def _write_alone(self, work: Callable[[duckdb.DuckDBPyConnection], object]):
        held = self._held()
        connection = held.cursor() if held is not None else self._retry(lambda: _connected(self.path))
        try:
            connection.begin()
            result = work(connection)
            connection.commit()
            return result
        except BaseException:
            with suppress(duckdb.Error):  # no transaction left to roll back: the error that ended it is the news
                connection.rollback()
            raise
        finally:
            connection.close()

    def _retry(self, connect: Callable[[], duckdb.DuckDBPyConnection]) -> duckdb.DuckDBPyConnection:
        """``connect()``, retried while another process (or, in this one, a connection of the other kind: read-only
        against writing) holds the file."""
        deadline = time.monotonic() + self.busy_wait
        delay = 0.02
        while True:
            try:
                return connect()
            except (duckdb.IOException, duckdb.ConnectionException) as error:
                if "lock" not in str(error) and "different configuration" not in str(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise CorpusBusy(f"the corpus {self.path} stayed busy for {self.busy_wait:.0f} s (another "
                                     "process, such as a long ingest, holds it); nothing was done, try again") \
                        from error
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)

    # ---- writing ---------------------------------------------------------

    def ingest(self, frames: dict[str, pd.DataFrame]) -> tuple[dict[str, int], dict[str, int]]:
        """Add the rows of ``frames`` (table -> canonical frame) whose key is not stored yet, in one transaction;
        (added, known) rows per table.

        New comments get positions after every comment already stored, in the
        order the source lists them (their ``position``); new vote events rows
        after the last stored one, in the frame's order.
        """
        def work(connection):
            added, known = {}, {}
            for table in TABLES:
                frame = frames[table]
                new = _unknown_rows(connection, table, frame)
                if table == "comments" and len(new) and not new["position"].is_monotonic_increasing:
                    new = new.sort_values("position", kind="stable")  # sorting copies every column: only if needed
                if table in ("comments", "vote_events") and len(new):
                    first = connection.execute(f"SELECT coalesce(max({ORDER[table]}) + 1, "
                                               f"{0 if table == 'comments' else 1}) FROM {table}").fetchall()[0][0]
                    new = new.assign(**{ORDER[table]: range(first, first + len(new))})
                _insert(connection, table, _stored_layout(new, table))
                added[table], known[table] = len(new), len(frame) - len(new)
            return added, known

        return self._write(work)

    def copy_in(self, pieces: dict[str, Iterable[pd.DataFrame]]) -> dict[str, int]:
        """Add pieces of rows (table -> frames) as they were stored (the columns of :data:`STORED_COLUMNS`, JSON
        text in ``extra`` and ``reactions``) in one transaction, keys already stored left as they are; the rows
        added per table. What ``store upgrade`` moves out of an SQL store made by an earlier version."""
        def work(connection):
            added = {}
            for table, frames in pieces.items():
                before = connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
                for frame in frames:
                    _insert(connection, table, _unknown_rows(connection, table, frame))
                added[table] = connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] - before
            return added

        return self._write(work)

    # ---- reading ---------------------------------------------------------

    def reply_tree(self) -> pd.DataFrame:
        """source, comment_id, parent_id, article_id, input_file, input_record of every comment, position order."""
        names = ["source", "comment_id", "parent_id", "article_id", schema.INPUT_FILE, schema.INPUT_RECORD]
        with self._reading() as connection:
            table = _read(connection, "comments", columns=names).drop_columns(["position"])
        return _frame(table).astype("str")

    def counts(self) -> dict[str, int]:
        """Rows stored per table: articles, comments, vote_events."""
        with self._reading() as connection:
            return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in TABLES}

    def changed_since(self, position: int | None, row: int | None) -> tuple[pd.DataFrame, int | None, int | None]:
        """See :meth:`moderation.store.Store.changed_since`."""
        with self._reading() as connection:
            last_position = connection.execute("SELECT max(position) FROM comments").fetchall()[0][0]
            last_row = connection.execute("SELECT max(row) FROM vote_events").fetchall()[0][0]
            keys = connection.execute(
                "SELECT source, article_id FROM comments WHERE position > ? "
                "UNION SELECT source, article_id FROM vote_events WHERE row > ?",
                [-1 if position is None else position, 0 if row is None else row],
            ).fetchall()
        return pd.DataFrame(keys, columns=schema.ARTICLE_KEY, dtype="str"), last_position, last_row

    def articles(self) -> pd.DataFrame:
        """Every stored article (canonical dtypes), in (source, article_id) order."""
        with self._reading() as connection:
            return _as_loaded(_read(connection, "articles"), "articles")

    def load(self, keys: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(articles, comments, vote_events) of the articles ``keys`` (source, article_id; None: all), each in its
        stored order, canonical dtypes."""
        with self._reading() as connection:
            if keys is not None:
                wanted = pa.Table.from_pandas(keys[schema.ARTICLE_KEY].astype("str").drop_duplicates(),
                                              preserve_index=False)
                connection.register("wanted", wanted)
            return tuple(_as_loaded(_read(connection, table, None if keys is None else "wanted"), table)
                         for table in TABLES)

    def load_range(self, table: str, first: int, last: int) -> pd.DataFrame:
        """``comments`` with ``first <= position <= last`` or ``vote_events`` with ``first <= row <= last``."""
        if table not in ("comments", "vote_events"):
            raise ValueError(f"load_range reads comments or vote_events, not {table!r}")
        with self._reading() as connection:
            return _as_loaded(_read(connection, table, between=(first, last)), table)


def _read(connection, table: str, articles: str | None = None, between: tuple[int, int] | None = None,
          columns: list[str] | None = None) -> pa.Table:
    """``table``'s rows in stored order as Arrow (``columns`` and the order column; None: every column): of the
    articles in the registered relation ``articles`` (source, article_id), or with their order column ``between``
    (first, last)."""
    listed = "*" if columns is None else ", ".join(f'"{c}"' for c in [*columns, ORDER[table]])
    query, params = f"SELECT {listed} FROM {table}", []
    if articles is not None:
        query += f" SEMI JOIN {articles} USING (source, article_id)"
    if between is not None:
        query += f" WHERE {ORDER[table]} BETWEEN $1 AND $2"
        params = list(between)
    if table == "articles":
        return connection.sql(f"{query} ORDER BY {ORDER[table]}", params=params or None).to_arrow_table()
    # rows are stored in position (row) order and DuckDB keeps the order it stores (preserve_insertion_order):
    # an ORDER BY would sort a copy of every column first, the peak of a large load. Checked, sorted if ever not.
    arrow = connection.sql(query, params=params or None).to_arrow_table()
    order = arrow.column(ORDER[table])
    if len(order) > 1 and not pc.all(pc.greater(order[1:], order[:-1])).as_py():
        arrow = arrow.sort_by(ORDER[table])
    return arrow


def _frame(arrow: pa.Table) -> pd.DataFrame:
    """Arrow rows in the canonical pandas types, times as UTC, each column in one piece (as the stages expect: a
    text column in pieces is joined again on every row take), joined one column at a time so that only one
    column is ever held twice."""
    columns = {}
    for name in arrow.column_names:
        column = arrow.column(name)
        arrow = arrow.drop_columns([name])
        if column.num_chunks > 1:
            column = column.combine_chunks()
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", tz="UTC"))
        columns[name] = pa.table({name: column}).to_pandas(types_mapper=_PANDAS_TYPES.get)[name]
        del column
    return pd.DataFrame(columns, copy=False)


def _as_loaded(arrow: pa.Table, table: str) -> pd.DataFrame:
    """Rows read from ``table`` as :meth:`moderation.store.Store.load` gives them: canonical dtypes, pass-through
    columns, parsed reactions."""
    frame = _frame(arrow).drop(columns=["row"], errors="ignore")
    if table == "comments":
        stored = frame["reactions"]
        present = stored.notna().to_numpy()
        reactions = np.full(len(stored), None, dtype=object)
        for at, text in zip(np.flatnonzero(present), stored[present]):  # lists only where a source has them
            reactions[at] = json.loads(text)
        frame["reactions"] = reactions
    return _with_extra(frame, table)


def _with_extra(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Expand the JSON ``extra`` column back into pass-through columns and type the canonical ones."""
    extra = frame.pop("extra")
    if extra.notna().any():
        # json.loads per row: pandas' line reader is very slow on a record with a huge key
        records = [json.loads(line) if isinstance(line, str) else {} for line in extra]
        expanded = pd.DataFrame.from_records(records, index=frame.index)
        frame = pd.concat([frame, expanded], axis=1)
    return schema.conform(frame, table)


def _unknown_rows(connection, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` whose key is not stored yet (the first of rows sharing a key); vote events need an
    event id to be stored at all."""
    key = KEYS[table]
    if table == "vote_events":
        frame = frame.dropna(subset=key)
    if frame.empty:
        return frame
    keys = pa.table({"source": pa.array(frame["source"].astype("str")), "id": pa.array(frame[key[1]].astype("str")),
                     "n": pa.array(np.arange(len(frame)))})
    connection.register("incoming", keys)
    unknown = connection.execute(
        f"SELECT min(n) AS n FROM incoming ANTI JOIN {table} t ON incoming.source = t.source "
        f"AND incoming.id = t.{key[1]} GROUP BY incoming.source, incoming.id ORDER BY n"
    ).fetchnumpy()["n"]
    connection.unregister("incoming")
    return frame if len(unknown) == len(frame) else frame.iloc[unknown]


def _stored_layout(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Canonical rows as the corpus file keeps them: reactions and a source's other columns as JSON text."""
    if frame.empty:
        return frame
    columns = STORED_COLUMNS[table]
    kept = [c for c in columns if c in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    stored = frame[kept].copy(deep=False)
    if "reactions" in stored:
        reactions, given = np.full(len(frame), None, dtype=object), frame["reactions"].notna()
        for at, counts in zip(np.flatnonzero(given.to_numpy()), frame["reactions"][given]):  # lists where given
            if pd.api.types.is_list_like(counts):
                reactions[at] = json.dumps([int(v) for v in counts])
        stored["reactions"] = reactions
    if extra:
        stored["extra"] = frame[extra].to_json(orient="records", lines=True, date_format="iso").splitlines()
    return stored


def _insert(connection, table: str, stored: pd.DataFrame) -> None:
    """Insert rows in the corpus file's layout by column name (columns left out are NULL); times are written as
    the UTC moments they are."""
    if stored.empty:
        return
    arrays = {}
    for name in stored.columns:
        values = stored[name]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            # a naive UTC time: DuckDB would take an aware one through the session's time zone
            arrays[name] = pa.array(values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]"))
        elif values.dtype == object:  # JSON text (reactions, extra)
            arrays[name] = pa.array(values.to_numpy(dtype=object, na_value=None), pa.large_string())
        else:
            arrays[name] = pa.array(values, from_pandas=True)
    connection.register("batch", pa.table(arrays))
    connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch").fetchall()
    connection.unregister("batch")
