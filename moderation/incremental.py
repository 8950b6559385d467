"""Incremental runs: which articles and authors an import touches, and how their new rows join the old results.

Pure functions of frames (``pipeline.run`` wires them): the articles with new comments or vote events are
scored again whole (thread-relative measures and reply trees need every comment of an article) with the saved
fitted state (:mod:`moderation.fitted`); every other article keeps its scored rows. An author row is an exact
function of that author's comments and the replies to them, so author rows are recomputed for the authors of
the touched articles and of comments whose moderators' decision changed, and kept for everyone else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from moderation.engagement import AUTHOR_KEY, author_key
from moderation.schema import ARTICLE_KEY, COMMENT_KEY
from moderation.text import row_keys

# fewer rows than this per run of kept rows on average, and merge_comments copies them (take) instead of slicing
_ROWS_PER_SLICE = 50
# share of the comments above which author_rows gives every comment
_MOST = 0.5


def _joined(frame: pd.DataFrame, columns: list[str]) -> pa.Array:
    """One string per row joining ``columns`` (a key); null where a part is missing."""
    parts = [pa.array(frame[column].astype("str"), type=pa.large_string(), from_pandas=True) for column in columns]
    return pc.binary_join_element_wise(*parts, pa.scalar("\x1f", pa.large_string()))


def _is_in(frame: pd.DataFrame, columns: list[str], others: pd.DataFrame, other_columns: list[str]) -> np.ndarray:
    """Whether each row's ``columns`` key is among the ``other_columns`` keys of ``others`` (Arrow hash lookup:
    MultiIndex.isin takes a second on a million rows)."""
    return pc.is_in(_joined(frame, columns), value_set=_joined(others, other_columns)).to_numpy(zero_copy_only=False)


def in_articles(frame: pd.DataFrame, articles: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``frame`` belongs to one of ``articles`` (frames with ``ARTICLE_KEY``)."""
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
    keep = np.concatenate([~in_articles(previous.select(ARTICLE_KEY).to_pandas(), touched),
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


def merge_parts(previous: list[Path], scored: pd.DataFrame, touched: pd.DataFrame,
                part_rows: int) -> list[Path | pa.Table]:
    """The new comments as parts in table order: a ``previous`` part (a path: kept as it is) where it holds no
    row of the ``touched`` articles, the rows to write (Arrow, at most ``part_rows`` each) elsewhere.

    ``previous``: the current comments' files in table order (:func:`moderation.catalog.comment_parts`);
    ``scored``: every comment of the touched articles, rescored. Rows keep their places (they are in position
    order and new comments come after every stored one), so a previous part is kept when none of its rows is
    rescored, and the last one is written again with the new rows while it is shorter than ``part_rows``.
    Parts that are not in position order or longer than ``part_rows`` (the Dask engine's article buckets, the
    single file of older runs) are all written again, as parts of ``part_rows``.
    """
    keys = [pq.read_table(part, columns=[*ARTICLE_KEY, "position"]) for part in previous]
    sizes = [key.num_rows for key in keys]
    positions = np.concatenate([key["position"].to_numpy(zero_copy_only=False) for key in keys] or [[]])
    if not previous or pd.isna(positions).any() or not np.all(np.diff(positions) > 0) or max(sizes) > part_rows:
        return in_parts(merge_comments(_read(previous), scored, touched), part_rows)
    rescored = [bool(in_articles(key.select(ARTICLE_KEY).to_pandas(), touched).any()) for key in keys]
    new = scored["position"].to_numpy(dtype="float64", na_value=np.nan) > positions[-1]
    rescored[-1] = rescored[-1] or (bool(new.any()) and sizes[-1] < part_rows)  # the last part takes the new rows
    written = [part for part, again in zip(previous, rescored) if again]
    merged = merge_comments(_read(written) if written else pa.Table.from_pandas(scored.head(0), preserve_index=False),
                            scored, touched)
    parts, offset = [], 0
    for number, (part, size, again) in enumerate(zip(previous, sizes, rescored)):
        if not again:
            parts.append(part)
            continue
        if not merged["position"].slice(offset, size).equals(keys[number]["position"]):
            # a stored row not where it was (the store lost or reordered comments): every part written again
            return in_parts(merge_comments(_read(previous), scored, touched), part_rows)
        if number < len(previous) - 1:
            parts.append(merged.slice(offset, size))
            offset += size
    if offset < merged.num_rows:
        parts += in_parts(merged.slice(offset), part_rows)
    kept = [part for part in parts if isinstance(part, Path)]
    if kept:
        target = pq.read_schema(kept[0])
        try:  # the kept parts' types (a reader takes a folder's types from one part)
            parts = [part if isinstance(part, Path) else part.cast(target) for part in parts]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            return in_parts(merge_comments(_read(previous), scored, touched), part_rows)
    return parts


def _read(parts: list[Path]) -> pa.Table:
    """The rows of ``parts`` as one Arrow table (memory-mapped: a third cheaper than reading into buffers)."""
    return pa.concat_tables([pq.read_table(part, memory_map=True) for part in parts], promote_options="permissive")


def in_parts(table: pa.Table, rows: int) -> list[pa.Table]:
    """``table`` in slices of at most ``rows`` rows, the parts of comments.parquet (one, empty, for an empty
    table: a folder needs a part to have columns)."""
    return [table.slice(start, rows) for start in range(0, max(table.num_rows, 1), rows)]


def columns_of(table: pa.Table | list[Path | pa.Table], columns: list[str]) -> pd.DataFrame:
    """The ``columns`` of ``table`` (or of parts as :func:`merge_parts` gives them) it has, as pandas (in the
    types a full read gives them)."""
    if isinstance(table, pa.Table):
        return table.select([column for column in dict.fromkeys(columns) if column in table.column_names]).to_pandas()
    names = pq.read_schema(table[0]).names if isinstance(table[0], Path) else table[0].column_names
    wanted = [column for column in dict.fromkeys(columns) if column in names]
    return pa.concat_tables([pq.read_table(part, columns=wanted, memory_map=True) if isinstance(part, Path) else
                             part.select(wanted) for part in table]).to_pandas()


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


def author_keys(comments: pd.DataFrame) -> pd.MultiIndex:
    """(source, author key) of each comment, as :func:`moderation.engagement.author_table` keys its rows."""
    return pd.MultiIndex.from_arrays([comments["source"].astype("str"), author_key(comments["author"])],
                                     names=AUTHOR_KEY)


def authors_to_rescore(scored: pd.DataFrame, comments: pd.DataFrame, decided: pd.DataFrame) -> pd.MultiIndex:
    """The authors whose rows change: those of the rescored comments and of the comments in ``decided``.

    ``comments`` are every comment of the new results (to find the authors of decided comments).
    """
    decided_rows = _is_in(comments, COMMENT_KEY, decided, COMMENT_KEY) if len(decided) else \
        np.zeros(len(comments), dtype=bool)
    return author_keys(scored).append(author_keys(comments[decided_rows])).unique()


def author_rows(comments: pd.DataFrame, authors: pd.MultiIndex, keyed=None) -> pd.DataFrame:
    """What ``authors``' rows are computed from: their comments, the direct replies to them (replies received)
    and the comments they answer (reply latency); all of ``comments`` when the authors wrote most of them (the
    regulars of a long-tailed corpus: selecting would cost more than it saves). ``keyed``:
    :func:`moderation.engagement.keyed_authors` of ``comments``, when the caller has it."""
    if keyed is None:
        by = pd.DataFrame({"source": comments["source"].array, "author": author_key(comments["author"]).array})
        own = _is_in(by, AUTHOR_KEY, authors.to_frame(index=False), AUTHOR_KEY)
    else:  # one lookup per author, not per comment
        own = np.asarray(row_keys(keyed.authors, AUTHOR_KEY).isin(authors))[keyed.frame["code"].to_numpy()]
    if own.mean() > _MOST:
        return comments
    mine = comments[own]
    replies = _is_in(comments, ["source", "parent_id"], mine, COMMENT_KEY)
    answered = _is_in(comments, COMMENT_KEY, mine, ["source", "parent_id"])
    return comments[own | replies | answered]


def merge_authors(previous: pd.DataFrame, recomputed: pd.DataFrame, authors: pd.MultiIndex) -> pd.DataFrame:
    """The author table with ``authors``' rows taken from ``recomputed`` (sorted by source, author as a full run)."""
    keep = ~row_keys(previous, AUTHOR_KEY).isin(authors)
    fresh = recomputed[row_keys(recomputed, AUTHOR_KEY).isin(authors)]
    merged = pd.concat([previous[keep], fresh], ignore_index=True) if keep.any() else fresh
    return merged.sort_values(AUTHOR_KEY, kind="stable", ignore_index=True)
