"""The results folder: the one place that knows its files, writes them all-or-nothing and reads one consistent set.

Layout of a results folder ``DIR``::

    DIR/moderation.db               the default store (never moved, copied or rewritten by a run)
    DIR/current -> versions/ID      the complete results of the latest finished run
    DIR/versions/ID/                comments.parquet/ (parts part-00000.parquet, ... of PART_ROWS comments each,
                                    in position order), articles.parquet, authors.parquet, vote_events.parquet,
                                    topics.parquet, engagement_<name>.parquet (the insight tables),
                                    problems.csv, offtopic_combiner.json, run.json,
                                    fitted_state.pkl + fitted_state.json (what the run fitted, and the
                                    engagement tables' partials per article, for imports)
    DIR/comments.parquet -> current/comments.parquet    (one link per file, so the documented paths still work)
    DIR/imports/SOURCE/FILE         files uploaded in the dashboard (kept; read again, their problems are replaced)

A run writes its files into ``DIR/versions/ID.partial``, flushes them to disk,
renames the folder to ``DIR/versions/ID`` and then points ``current`` at it by
renaming a new link over the old one (``os.replace``, atomic on POSIX). Killed
at any moment, the folder shows either the previous run's files or the new
run's, never a mix, and the next run clears what the killed one left.

Why not swap ``DIR`` itself: the store lives in it by default, and an SQLite
database must not be moved or copied while a dashboard holds it open (its
``-wal`` and ``-shm`` files belong to its path, and a copy would lose the
decisions written meanwhile). So the store stays where it is and only the
link to the results moves. Readers resolve ``current`` once
(:func:`current`) and read every file from that version.

Comments are a folder of parts because an import changes few of them: the rows keep their order (new
comments come last, by position), so a part holding no rescored row is the previous version's file, hard-linked
into the new version (:func:`keep`), and only the parts with rescored rows and the last one (with the new rows)
are written. ``pd.read_parquet`` and pyarrow read the folder as one table, parts in name order. A file (the
flat layout of older runs) or the Dask engine's parts (one per article bucket) read the same way; the next import
writes them as position parts.

A reader that needs a few columns of a wide table (the dashboard: 88 columns of
comments, most of them shown for the comments in view only) opens it as a
:class:`Table`, which reads each column the first time it is asked for.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from moderation.engagement import INSIGHT_TABLES

TABLES = ("articles", "comments", "authors", "vote_events", "topics")
# the engagement tables a run writes for the insights pages (moderation.engagement.insight_tables)
INSIGHT_FILES = {name: f"engagement_{name}.parquet" for name in INSIGHT_TABLES}
PROBLEMS_FILE = "problems.csv"
COMBINER_FILE = "offtopic_combiner.json"
RUN_FILE = "run.json"
# what the run fitted on the whole corpus (moderation.fitted), and the parameters and versions that made it
STATE_FILE = "fitted_state.pkl"
STATE_RECORD = "fitted_state.json"
FILES = (*(f"{table}.parquet" for table in TABLES), *INSIGHT_FILES.values(), PROBLEMS_FILE, COMBINER_FILE, RUN_FILE,
         STATE_FILE, STATE_RECORD)
STORE_FILE = "moderation.db"
IMPORTS = "imports"  # files moderators uploaded in the dashboard, one folder per source
CURRENT, VERSIONS, PARTIAL = "current", "versions", ".partial"
# rows per Parquet row group of the tables a run writes: a page showing a few comments reads the row groups
# holding them, not whole columns (:meth:`Table.rows`)
ROW_GROUP_ROWS = 65_536
COMMENTS = "comments.parquet"
# comments per part of comments.parquet (one row group each): an import rewrites the parts holding rescored rows
PART_ROWS = ROW_GROUP_ROWS
# rows of columns too large to keep whole (the text) held once read, so that a page drawn again reads nothing
# (a queue table's 200 rows are spread over every row group); beyond this many the held rows start again
HELD_ROWS = 50_000
_LOCK = ".run.lock"


class FolderBusy(RuntimeError):
    """Another run is writing the same results folder."""


def default_store_url(folder: str | Path) -> str:
    """The store a results folder uses unless told otherwise: ``sqlite:///DIR/moderation.db``."""
    return f"sqlite:///{Path(folder) / STORE_FILE}"


def import_path(folder: str | Path, source: str, file_name: str) -> Path:
    """Where an upload named ``file_name`` for ``source`` is kept: ``DIR/imports/SOURCE/FILE`` (folder created).

    Both names are reduced to one path component, so an upload cannot write outside the folder. A canonical
    ``comments.*`` file takes its source from the folder's name.
    """
    def component(name: str) -> str:
        return name.replace("/", "_").replace("\\", "_").lstrip(".") or "upload"

    path = Path(folder) / IMPORTS / component(source) / component(Path(file_name).name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def part_name(number: int) -> str:
    """The file name of part ``number`` of comments.parquet (names sort as numbers do, as readers order parts)."""
    return f"part-{number:05d}.parquet"


def comment_parts(version: str | Path) -> list[Path]:
    """The Parquet files of ``version``'s comments in table order: comments.parquet's parts (by name, as pyarrow
    reads them), or comments.parquet itself when it is a file (older runs)."""
    path = Path(version) / COMMENTS
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def keep(part: Path, target: Path) -> None:
    """Put the previous version's file ``part`` at ``target`` in a new version without writing it again: a hard
    link (a version's files are never changed after it is written, so both versions may share them), or a copy
    where the file system has no hard links."""
    try:
        os.link(part, target)
    except OSError:
        shutil.copyfile(part, target)


def current(folder: str | Path) -> Path:
    """The folder holding the latest complete results of ``folder``.

    ``DIR/versions/ID`` as ``DIR/current`` points now; ``DIR`` itself for a
    folder written before versions existed (or built by hand).
    """
    folder = Path(folder)
    link = folder / CURRENT
    return link.resolve() if link.is_symlink() else folder


@contextmanager
def exclusive(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder``'s run lock (created when missing); a second run on it fails at once with :class:`FolderBusy`.

    The lock is an ``flock`` the kernel releases when the process ends, so a killed run never blocks the next one.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusy(f"{folder}: another run is writing this results folder; try again when it has finished")
        yield folder


@contextmanager
def new_version(folder: str | Path, run_id: str) -> Iterator[Path]:
    """Yield an empty folder to write a run's files into; on a clean exit, make it ``folder``'s current results.

    On an exception the partial folder is removed and the current results stay
    as they were. Call inside :func:`exclusive`.
    """
    folder = Path(folder)
    versions = folder / VERSIONS
    partial = versions / f"{run_id}{PARTIAL}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _flush(partial)
    final = versions / run_id
    os.rename(partial, final)
    _fsync(versions)
    previous = current(folder)
    _swap_in(folder, final)
    _remove_old_versions(folder, keep={final.name, previous.name})


def _swap_in(folder: Path, version: Path) -> None:
    """Point ``current`` at ``version`` (one atomic rename), then link the documented file names through it."""
    _point(folder / CURRENT, Path(VERSIONS) / version.name)
    for name in FILES:
        link = folder / name
        if not (link.is_symlink() and os.readlink(link) == str(Path(CURRENT) / name)):
            _point(link, Path(CURRENT) / name)  # replaces a file of the old flat layout, atomically
    _fsync(folder)


def _point(link: Path, target: Path) -> None:
    """Make ``link`` a symbolic link to ``target`` by renaming a fresh link over it (atomic)."""
    fresh = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    fresh.unlink(missing_ok=True)
    os.symlink(target, fresh)
    os.replace(fresh, link)


def _remove_old_versions(folder: Path, keep: set[str]) -> None:
    """Delete killed runs' partial folders and every version but ``keep``.

    The version that was current until now is kept, so a dashboard still
    reading it finishes on a complete set.
    """
    for version in (folder / VERSIONS).iterdir():
        if version.name not in keep:
            shutil.rmtree(version, ignore_errors=True)
    for stale in folder.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _flush(directory: Path) -> None:
    """fsync every file of ``directory`` (and of its folders: a Dask run's partitioned Parquet) and the directory
    itself, so a rename never publishes unwritten data."""
    for path in directory.iterdir():
        if path.is_dir():
            _flush(path)
            continue
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync(directory)


def _fsync(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Table:
    """One Parquet table of a results version (a file, or a folder of parts as the Dask engine writes), read a
    column at a time: each column is read the first time it is asked for and then kept.

    Opening reads the footers only (column names and types, row count). The
    frames it gives share the kept columns (pages treat them as read-only)
    and are indexed by row position. Safe to share between threads (one
    dashboard, many sessions): a column is read once. :meth:`read_ahead` reads
    columns a reader will want later in the background. A column too large to keep (the comments' text) is
    read for some rows (:meth:`rows_at` with ``keep=False``) or measured a row group at a time (:meth:`scan`).
    """

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        self._columns: dict[str, pd.Series] = {}
        self._held: dict[tuple[str, ...], pd.DataFrame] = {}  # rows read with keep=False, by their columns
        self._lock = threading.Lock()  # guards the dicts; each column's read has a lock of its own
        self._locks: dict[str, threading.Lock] = {}
        self._reading_ahead = False
        if self.path is None:
            self.names, self.rows, self.empty = [], 0, pd.DataFrame()
            self._groups, self._starts = [], np.zeros(1, dtype=np.int64)
            return
        dataset = ds.dataset(self.path, format="parquet")
        self.names: list[str] = dataset.schema.names
        # the dtypes pandas gives every column (from the schema and its pandas metadata), without reading data
        self.empty: pd.DataFrame = dataset.schema.empty_table().to_pandas()
        # (file, row group) of every row group in table order, and the table position of each one's first row
        self._groups = [(file, group) for file in dataset.files
                        for group in range(pq.ParquetFile(file).metadata.num_row_groups)]
        sizes = [pq.ParquetFile(file).metadata.row_group(group).num_rows for file, group in self._groups]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.rows: int = int(self._starts[-1])

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Table:
        """A table holding ``frame`` (a file's stand-in: a missing file's empty table, tests); index dropped."""
        table = cls(None)
        frame = frame.reset_index(drop=True)
        table.names, table.rows, table.empty = list(frame.columns), len(frame), frame.head(0)
        table._columns = {name: frame[name] for name in frame.columns}
        table._groups, table._starts = [(None, 0)], np.array([0, len(frame)], dtype=np.int64)
        return table

    def frame(self, names: Iterable[str]) -> pd.DataFrame:
        """Every row of the columns ``names`` that the table has (in that order; the others are left out)."""
        wanted = [name for name in dict.fromkeys(names) if name in self.names]
        # one lock per column, taken in table order: readers of other columns are not held up
        locks = [self._column_lock(name) for name in sorted(wanted, key=self.names.index)]
        for lock in locks:
            lock.acquire()
        try:
            missing = [name for name in wanted if name not in self._columns]
            if missing:
                read = pq.read_table(self.path, columns=missing, memory_map=True)
                # what pd.read_parquet does, with each string column in one piece: pandas keeps strings as Arrow
                # arrays, and taking rows of one in many pieces (one per row group or part) joins them again on
                # every take (70 ms for the text at a million). The others become NumPy arrays in one piece
                # anyway: combining them first only copied them (0.3-0.6 s CPU of opening a million comments)
                read = pa.Table.from_arrays([column.combine_chunks() if pa.types.is_string(column.type)
                                             or pa.types.is_large_string(column.type) else column
                                             for column in read.columns], schema=read.schema).to_pandas()
                with self._lock:
                    self._columns.update({name: read[name] for name in missing})
            columns = {name: self._columns[name] for name in wanted}
        finally:
            for lock in locks:
                lock.release()
        return pd.DataFrame(columns, index=pd.RangeIndex(self.rows), copy=False) if columns else \
            pd.DataFrame(index=pd.RangeIndex(self.rows))

    def read_ahead(self, names: Iterable[str]) -> threading.Thread | None:
        """Start reading the columns ``names`` in a background thread, one at a time (so that a page asking for
        another column meanwhile waits for one column at most); once per table: None after the first call."""
        with self._lock:
            if self._reading_ahead:
                return None
            self._reading_ahead = True
        # not a daemon: a daemon thread still inside pyarrow's to_pandas when the interpreter exits deadlocks the
        # exit (pyarrow's thread pool shutting down waits for the conversion); the interpreter waits for this one,
        # which stops at the next column once the main thread has finished
        thread = threading.Thread(target=self._read_while_running, args=(list(names),), name=f"read ahead {self.path}")
        thread.start()
        return thread

    def _read_while_running(self, names: list[str]) -> None:
        for name in names:
            if not threading.main_thread().is_alive():
                return
            self.frame([name])

    def _column_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(name, threading.Lock())

    def rows_at(self, positions, names: Iterable[str], keep: bool = True) -> pd.DataFrame:
        """The rows at ``positions`` (table order) of the columns ``names`` the table has, indexed by position.

        A kept column is sliced. The others are read from the row groups holding those rows only, when those
        hold at most half the table (a card and its thread: one group or two) or ``keep`` is False (then the
        rows read are held, up to :data:`HELD_ROWS`, and not read again); otherwise whole, and kept.
        """
        positions = np.asarray(positions, dtype=np.int64)
        wanted = [name for name in dict.fromkeys(names) if name in self.names]
        groups = np.unique(np.searchsorted(self._starts, positions, side="right") - 1)
        in_groups = int((self._starts[groups + 1] - self._starts[groups]).sum())
        with self._lock:
            missing = [name for name in wanted if name not in self._columns]
        if missing and keep and in_groups * 2 > self.rows:
            self.frame(missing)
            missing = []
        parts = []
        if missing and not keep:
            parts.append(self._held_rows(missing, positions))
        elif missing:
            parts.append(pd.concat(self._pieces(missing, np.unique(positions))).loc[positions])
        kept = [name for name in wanted if name not in missing]
        if kept:
            parts.append(self.frame(kept).iloc[positions])
        out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=pd.Index(positions))
        return out[wanted].set_axis(pd.Index(positions))

    def _held_rows(self, names: list[str], positions: np.ndarray) -> pd.DataFrame:
        """The columns ``names`` at ``positions``: the held rows, and the others read and held with them."""
        with self._lock:
            held = self._held.get(tuple(names))
        wanted = np.unique(positions)
        new = wanted if held is None else wanted[~np.isin(wanted, held.index.to_numpy())]
        if len(new):
            read = pd.concat(self._pieces(names, new))
            held = read if held is None or len(held) + len(read) > HELD_ROWS else pd.concat([held, read])
            with self._lock:
                self._held[tuple(names)] = held
        return held.loc[positions]

    def scan(self, names: Iterable[str], measure, positions=None) -> np.ndarray:
        """``measure`` of the columns ``names`` a row group at a time, joined in table order: one value per row
        (per position of the sorted ``positions``, when given), without keeping the columns.

        ``measure`` takes a frame (those columns of one row group's rows, indexed by position) and returns an
        array of its length; a whole-column test over the text then holds one group's text at a time.
        """
        rows = np.arange(self.rows, dtype=np.int64) if positions is None else np.asarray(positions, dtype=np.int64)
        return np.concatenate(self._per_group(list(names), rows, lambda piece: np.asarray(measure(piece))))

    def _pieces(self, names: list[str], positions: np.ndarray) -> list[pd.DataFrame]:
        """The columns ``names`` at the sorted ``positions``, one frame per row group holding some (indexed by
        position; no rows: one empty frame): each group's rows are taken before they become pandas."""
        return self._per_group(names, positions, lambda piece: piece)

    def _per_group(self, names: list[str], positions: np.ndarray, apply) -> list:
        """``apply`` of each :meth:`_pieces` frame, in table order, the row groups read in as many threads as there
        are cores, each holding one group at a time: decoding Parquet does not hold the GIL, so a search through
        every text (16 row groups at a million comments) or Up next's five groups use every core."""
        if self.path is None:
            return [apply(self.frame(names).iloc[positions])]
        if not len(positions):
            return [apply(self.empty[names])]
        groups = np.searchsorted(self._starts, positions, side="right") - 1
        bounds = np.flatnonzero(np.diff(groups)) + 1

        def piece(at: np.ndarray):
            group = int(groups[at[0]])
            file, number = self._groups[group]
            local = positions[at] - self._starts[group]
            read = pq.ParquetFile(file, memory_map=True).read_row_group(number, columns=names)
            if len(local) < read.num_rows:
                read = read.take(local)
            return apply(read.to_pandas().set_axis(pd.Index(positions[at])))

        parts = np.split(np.arange(len(positions)), bounds)
        if len(parts) == 1:
            return [piece(parts[0])]
        with ThreadPoolExecutor(max_workers=min(len(parts), os.cpu_count() or 1)) as pool:
            return list(pool.map(piece, parts))

    @property
    def loaded(self) -> list[str]:
        """The columns read so far, in the order they were first asked for."""
        with self._lock:
            return list(self._columns)
