"""Reply trees: integrity checks, each comment's root (``thread_id``) and ``depth``.

Vectorised pointer-jumping over row positions, so that a million comments take
a few array passes rather than a Python walk per comment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from moderation.schema import INPUT_FILE, INPUT_RECORD, Problem


def parent_positions(comments: pd.DataFrame) -> np.ndarray:
    """Row position of each comment's parent in ``comments`` (-1 for roots and missing parents).

    Should a key occur twice, replies point to its first row. Parents are
    looked up per source with Arrow's ``index_in`` (one hash table of that
    source's ids), so memory stays a few arrays of the comments' length.
    """
    positions = np.full(len(comments), -1, dtype=np.int64)
    source_codes, sources = pd.factorize(comments["source"])
    ids = pc.cast(pa.array(comments["comment_id"], from_pandas=True), pa.large_string())
    parents = pc.cast(pa.array(comments["parent_id"], from_pandas=True), pa.large_string())
    for code in range(len(sources)):
        rows = np.flatnonzero(source_codes == code)
        own = ids if len(rows) == len(comments) else ids.take(rows)
        wanted = parents if len(rows) == len(comments) else parents.take(rows)
        # skip_nulls: a comment without a parent id never matches a comment without an id
        found = pc.fill_null(pc.index_in(wanted, value_set=own, skip_nulls=True), -1).to_numpy()
        positions[rows] = np.where(found >= 0, rows[np.maximum(found, 0)], -1)
    return positions


def problem_comment(problem: Problem) -> tuple[str, str] | None:
    """(source, comment_id) a reply-tree problem of :func:`resolve` (called without ``file`` and ``records``) is
    about."""
    if problem.file.startswith("source ") and problem.record.startswith("comment_id "):
        return problem.file.removeprefix("source "), problem.record.removeprefix("comment_id ")
    return None


def resolve(comments: pd.DataFrame, file: str | pd.Series | None = None, records: pd.Series | None = None
            ) -> tuple[pd.DataFrame, list[Problem]]:
    """Add ``thread_id`` (the root comment's id) and ``depth`` (0 for roots).

    A parent that is not among the comments, or a reply to the wrong article,
    makes the comment a root of its own thread; a cycle is broken at the
    comment that closes it. Each case is reported and the comment is kept with
    its original ``parent_id``.

    Parameters
    ----------
    comments : DataFrame
        Canonical comments, any number of sources and articles.
    file : str or Series, optional
        The file the problems name: one for every comment, or a Series on
        ``comments``' index giving each comment's file (the caller that
        ingested them knows it). Where it is not given (None, NA), a problem
        names ``source NAME`` instead.
    records : Series, optional
        Each comment's record in its file ("line 12"), on ``comments``' index:
        a problem's record is then ``comment_id ID (line 12)``, else ``comment_id ID``.

    Returns
    -------
    (DataFrame, list of Problem)
        ``comments`` with ``thread_id`` and ``depth`` (Int64), same rows and
        order; the problems found. Memory and time are linear in the number
        of comments (and logarithmic in the deepest chain), never recursive.
    """
    problems: list[Problem] = []

    def report(mask: np.ndarray, why: str) -> None:
        """One problem per comment of ``mask``, named (file and record) only for those: a large store has few."""
        rows = comments[mask]
        where = "source " + rows["source"].astype(str)
        if isinstance(file, pd.Series):
            where = file.reindex(rows.index).astype(object).where(file.reindex(rows.index).notna(), where)
        elif file is not None:
            where = pd.Series(file, rows.index)
        named = "comment_id " + rows["comment_id"].astype(str)
        if records is not None:
            record = records.reindex(rows.index)
            named = named.where(record.isna(), named + " (" + record.astype(str) + ")")
        problems.extend(Problem(f, c, why.format(parent=p), "kept")
                        for f, c, p in zip(where, named, rows["parent_id"]))

    parent = parent_positions(comments)
    has_parent_id = comments["parent_id"].notna().to_numpy()
    missing = has_parent_id & (parent < 0)
    report(missing, "parent {parent} not found; treated as the root of its own thread")
    article = pd.factorize(comments["article_id"])[0]  # codes: an object array of every id would be the peak
    other_article = (parent >= 0) & (article != article[np.maximum(parent, 0)])
    report(other_article, "parent {parent} is on another article; treated as a thread root")
    parent = np.where(other_article, -1, parent)

    n = len(comments)
    hop = parent.copy()
    depth = (parent >= 0).astype(np.int64)
    root = np.where(parent >= 0, parent, np.arange(n))
    # pointer jumping: after k rounds every chain shorter than 2**k is resolved
    for _ in range(int(np.ceil(np.log2(max(n, 2)))) + 2):
        active = np.flatnonzero(hop >= 0)
        if not len(active):
            break
        via = hop[active]
        depth[active] += depth[via]
        root[active] = root[via]
        hop[active] = hop[via]
    cyclic = hop >= 0
    if cyclic.any():
        report(cyclic, "reply chain loops back on itself; treated as a thread root")
        root[cyclic] = np.flatnonzero(cyclic)
        depth[cyclic] = 0
    out = comments.copy(deep=False)  # copy-on-write: the new columns never touch the caller's frame
    # by position, keeping the id column's dtype (a bare array of no ids would be object)
    out["thread_id"] = comments["comment_id"].iloc[root].set_axis(out.index)
    out["depth"] = pd.array(depth, dtype="Int64")
    return out, problems


def resolve_stored(comments: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """:func:`resolve` over stored comments: each problem names the file and record the comment was read from
    (columns ``INPUT_FILE``, ``INPUT_RECORD``; where a comment has none, its source)."""
    return resolve(comments, comments.get(INPUT_FILE), comments.get(INPUT_RECORD))
