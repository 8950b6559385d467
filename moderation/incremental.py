"""Incremental runs: which articles and authors an import touches, and how their new rows join the old results.

Pure functions of frames (``pipeline.run`` wires them): the articles with new comments or vote events are
scored again whole (thread-relative measures and reply trees need every comment of an article) with the saved
fitted state (:mod:`moderation.fitted`); every other article keeps its scored rows, and a part of comments.parquet
holding none of the rescored rows is kept as its file (:func:`read_parts`, :func:`merge_parts`). The author and
engagement tables are reduced from partials per article (:class:`moderation.engagement.InsightPartials`): those of
the touched articles, and of the articles of comments whose moderators' decision changed, are made again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from moderation.engagement import AUTHOR_KEY
from moderation.schema import ARTICLE_KEY, COMMENT_KEY
from moderation.text import row_keys

# fewer rows than this per run of kept rows on average, and merge_comments copies them (take) instead of slicing
_ROWS_PER_SLICE = 50


def _joined(frame: pd.DataFrame | pa.Table, columns: list[str]) -> pa.Array:
    """One string per row joining ``columns`` (a key) of a pandas frame or an Arrow table (string columns, as
    they are: no pandas frame of a million keys is made); null where a part is missing."""
    if isinstance(frame, pa.Table):
        parts = [pc.cast(frame[column], pa.large_string()) for column in columns]
    else:
        parts = [pa.array(frame[column].astype("str"), type=pa.large_string(), from_pandas=True) for column in columns]
    return pc.binary_join_element_wise(*parts, pa.scalar("\x1f", pa.large_string()))


def _is_in(frame: pd.DataFrame | pa.Table, columns: list[str], others: pd.DataFrame,
           other_columns: list[str]) -> np.ndarray:
    """Whether each row's ``columns`` key is among the ``other_columns`` keys of ``others`` (Arrow hash lookup:
    MultiIndex.isin takes a second on a million rows)."""
    return pc.is_in(_joined(frame, columns), value_set=_joined(others, other_columns)).to_numpy(zero_copy_only=False)


def in_articles(frame: pd.DataFrame | pa.Table, articles: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``frame`` (pandas or Arrow) belongs to one of ``articles`` (frames with
    ``ARTICLE_KEY``)."""
    return _is_in(frame, ARTICLE_KEY, articles, ARTICLE_KEY)


def merge_comments(previous: pa.Table, scored: pd.DataFrame, touched: pd.DataFrame) -> pa.Table:
    """The previous scored comments (Arrow) with the ``touched`` articles' rows replaced by ``scored`` (every
    comment of those articles), in store order (``position``, the source's order) as a full run orders them.

    Left in Arrow and made of slices of the two tables, not copied: the kept rows come in long runs between
    the replaced ones (a ``take`` of every column of a million comments, or a pandas frame of them, costs
    seconds to make and write).
    """
    fresh = pa.Table.from_pandas(scored, preserve_index=False)
    both = pa.concat_tables([previous, fresh], promote_options="permissive")
    keep = np.concatenate([~in_articles(previous, touched),
                           np.ones(fresh.num_rows, dtype=bool)])
    rows = np.flatnonzero(keep)
    positions = both["position"].to_numpy(zero_copy_only=False)[rows]
    order = rows[np.argsort(positions, kind="stable")]
    if not len(order):
        return both.slice(0, 0)
    # runs of consecutive rows of ``both``, one slice each
    breaks = np.flatnonzero(np.diff(order) != 1) + 1
    starts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(order)]])
    if len(starts) > max(1, len(order) // _ROWS_PER_SLICE):  # rows too scattered: slices would cost more than a copy
        return both.take(order)
    return pa.concat_tables([both.slice(order[start], end - start) for start, end in zip(starts, ends)])


@dataclass(frozen=True)
class Parts:
    """The current comments' parts (:func:`moderation.catalog.comment_parts`, in table order) and which of them an
    import writes again (:func:`read_parts`); ``earlier`` holds those parts' rows."""

    files: list[Path]
    positions: list[pa.ChunkedArray]  # each part's positions
    rewritten: list[bool]
    earlier: pa.Table
    ordered: bool  # parts of at most part_rows comments, in position order: the others can be kept
    kept: dict[Path, pa.Table]  # the columns read_parts was asked for of each part kept as it is


def read_parts(files: list[Path], touched: pd.DataFrame, adds_comments: bool, part_rows: int,
               columns: list[str] = ()) -> Parts:
    """Which of the comments' parts ``files`` hold rows of the ``touched`` articles, and those parts' rows (and
    the ``columns`` of the others: what an import reads of every comment).

    Rows keep their places (they are in position order and new comments come after every stored one), so a
    part none of whose rows is rescored is kept as it is, and the last one is written again with the new comments
    (``adds_comments``) while it is shorter than ``part_rows``. Parts that are not in position order or longer
    than ``part_rows`` (the Dask engine's article buckets, the single file of older runs) are all written again.
    """
    names = [column for column in dict.fromkeys(columns) if files and column in pq.read_schema(files[0]).names]
    # the keys and the columns asked for, in one read of each part (the keys are among the columns kept)
    keys = [_read([part], list(dict.fromkeys([*ARTICLE_KEY, "position", *names]))) for part in files]
    sizes = [key.num_rows for key in keys]
    positions = np.concatenate([key["position"].to_numpy(zero_copy_only=False) for key in keys] or [[]])
    ordered = bool(files) and not pd.isna(positions).any() and bool(np.all(np.diff(positions) > 0)) and \
        max(sizes) <= part_rows
    if ordered:
        rewritten = [bool(in_articles(key, touched).any()) for key in keys]
        rewritten[-1] = rewritten[-1] or (adds_comments and sizes[-1] < part_rows)
    else:
        rewritten = [True] * len(files)
    again = [part for part, write in zip(files, rewritten) if write]
    earlier = _read(again) if again else pq.read_schema(files[0]).empty_table()
    kept = {part: key.select(names) for part, key, write in zip(files, keys, rewritten) if not write}
    return Parts(files, [key["position"] for key in keys], rewritten, earlier, ordered, kept)


def earlier_rows(parts: Parts, touched: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The touched articles' rows as the current results hold them (from ``parts.earlier``), and which rows of
    ``parts.earlier`` they are."""
    rows = in_articles(parts.earlier, touched)
    return parts.earlier.filter(rows).to_pandas(), rows  # a take joins each column's chunks (the parts) first: 1 s


def rows_by(parts: list[pa.Table], comments: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The ``columns`` of the rows of ``parts`` (Arrow) whose source and author, as written, are those of one of
    ``comments`` (selected in Arrow: a pandas frame of every comment's handle would cost more than the rows)."""
    table = pa.concat_tables([part.select([column for column in columns if column in part.column_names])
                              for part in parts], promote_options="permissive")
    return table.filter(_is_in(table, AUTHOR_KEY, comments, AUTHOR_KEY)).to_pandas()


def merge_parts(parts: Parts, scored: pd.DataFrame, touched: pd.DataFrame, part_rows: int) -> list[Path | pa.Table]:
    """The new comments as parts in table order: a current part kept as it is (its path) where
    :func:`read_parts` keeps it, the rows to write (Arrow, at most ``part_rows`` each) elsewhere: the kept rows
    and ``scored`` (every comment of the touched articles, rescored) in position order."""
    merged = merge_comments(parts.earlier, scored, touched)
    if not parts.ordered:
        return in_parts(merged, part_rows)
    new, offset = [], 0
    for number, (part, positions, write) in enumerate(zip(parts.files, parts.positions, parts.rewritten)):
        if not write:
            new.append(part)
            continue
        if not merged["position"].slice(offset, len(positions)).equals(positions):
            # a stored row is not where it was (the store lost or reordered comments): every part written again
            return in_parts(merge_comments(_read(parts.files), scored, touched), part_rows)
        if number < len(parts.files) - 1:  # the last part is written with the new comments
            new.append(merged.slice(offset, len(positions)))
            offset += len(positions)
    if offset < merged.num_rows:
        new += in_parts(merged.slice(offset), part_rows)
    kept = [part for part in new if isinstance(part, Path)]
    if kept:
        target = pq.read_schema(kept[0])
        try:  # the kept parts' types (a reader takes a folder's types from one part)
            new = [part if isinstance(part, Path) else part.cast(target) for part in new]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            return in_parts(merge_comments(_read(parts.files), scored, touched), part_rows)
    return new


def _read(parts: list[Path], columns: list[str] | None = None) -> pa.Table:
    """The rows of ``parts`` (``columns`` of them) as one Arrow table.

    Each file read alone and memory-mapped: ``pq.read_table`` of one file (a dataset of one) took 2.5 times the
    CPU seconds on the parts of a million comments, reading into buffers first a third more.
    """
    return pa.concat_tables([pq.ParquetFile(part, memory_map=True).read(columns=columns) for part in parts],
                            promote_options="permissive")


def in_parts(table: pa.Table, rows: int) -> list[pa.Table]:
    """``table`` in slices of at most ``rows`` rows, the parts of comments.parquet (one, empty, for an empty
    table: a folder needs a part to have columns)."""
    return [table.slice(start, rows) for start in range(0, max(table.num_rows, 1), rows)]


def columns_of(parts: list[Path | pa.Table], columns: list[str],
               read: dict[Path, pa.Table] | None = None) -> pd.DataFrame:
    """The ``columns`` the comments have of ``parts`` (paths and Arrow rows, as :func:`merge_parts` gives them),
    as pandas (in the types a full read gives them); a path is read unless ``read`` (``Parts.kept``) holds it."""
    read = read or {}

    def names(part) -> list[str]:
        return part.column_names if isinstance(part, pa.Table) else \
            read[part].column_names if part in read else pq.read_schema(part).names

    wanted = [column for column in dict.fromkeys(columns) if column in names(parts[0])]
    pieces = [part.select(wanted) if isinstance(part, pa.Table) else
              read[part].select(wanted) if set(wanted) <= set(names(part)) and part in read else
              _read([part], wanted) for part in parts]
    return pa.concat_tables(pieces, promote_options="permissive").to_pandas()


def rows_of(parts: list[Path | pa.Table], articles: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The ``columns`` of the comments of ``articles`` in ``parts`` (as :func:`merge_parts` gives them), read
    only from the parts that hold some."""
    pieces = []
    for part in parts:
        rows = in_articles(part if isinstance(part, pa.Table) else _read([part], ARTICLE_KEY), articles)
        if rows.any():
            pieces.append(columns_of([part], columns).loc[rows])
    return pd.concat(pieces, ignore_index=True) if pieces else columns_of(parts[:1], columns).iloc[:0]


def score_changed(comments: pd.DataFrame, earlier: pd.DataFrame | None, inputs: list[str], score) -> pd.DataFrame:
    """``score(comments)`` where a comment's score depends on its own ``inputs`` columns only: computed for the
    comments whose ``inputs`` differ from (or are not in) ``earlier`` (rows scored before, with ``COMMENT_KEY``,
    ``inputs`` and the columns ``score`` adds), taken from ``earlier`` for the others.

    What an import rescores of an old comment of a touched article: its text did not change, nor does its
    speculation score (the parameters and weights are the fitted state's, or the run fits again).
    """
    if earlier is None or not len(earlier):
        return score(comments)
    at = pd.MultiIndex.from_frame(earlier[COMMENT_KEY].astype("str")).get_indexer(
        pd.MultiIndex.from_frame(comments[COMMENT_KEY].astype("str")))
    same = at >= 0
    for column in inputs:
        before = earlier[column].astype("str").to_numpy(dtype=object, na_value=None)[np.maximum(at, 0)]
        same &= before == comments[column].astype("str").to_numpy(dtype=object, na_value=None)
    fresh = score(comments[~same])
    added = [column for column in fresh.columns if column not in comments.columns]
    out = comments.copy(deep=False)
    for column in added:
        values = pd.concat([fresh[column], pd.Series(earlier[column].to_numpy()[at[same]], index=comments.index[same],
                                                     dtype=fresh[column].dtype if len(fresh) else None)])
        out[column] = values.reindex(comments.index).to_numpy()
    return out


def merge_keyed(previous: pd.DataFrame, new: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """``previous`` followed by the rows of ``new`` whose ``key`` it lacks (articles, vote events)."""
    added = new[~row_keys(new, key).isin(row_keys(previous, key))]
    return pd.concat([previous, added], ignore_index=True) if len(added) else previous


def changed_decisions(before: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    """The comments (``COMMENT_KEY``) whose current decision differs between ``before`` and ``now``."""
    columns = [*COMMENT_KEY, "action"]
    both = pd.concat([before[columns], now[columns]], ignore_index=True).astype("str")
    changed = both[~both.duplicated(keep=False)]
    return changed[COMMENT_KEY].drop_duplicates(ignore_index=True)


def articles_of(comments: pd.DataFrame, keys: pd.DataFrame, but: pd.DataFrame) -> pd.DataFrame:
    """The articles (``ARTICLE_KEY``, each once) of the ``comments`` whose ``COMMENT_KEY`` is among ``keys``,
    other than the articles ``but``."""
    if not len(keys):
        return comments[ARTICLE_KEY].iloc[:0]
    found = comments.loc[_is_in(comments, COMMENT_KEY, keys, COMMENT_KEY), ARTICLE_KEY].drop_duplicates()
    return found[~in_articles(found, but)].reset_index(drop=True)
