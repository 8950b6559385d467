"""Incremental runs: which articles and authors an import touches, and how their new rows join the old results.

Pure functions of frames (``pipeline.run`` wires them): the articles with new comments or vote events are
scored again whole (thread-relative measures and reply trees need every comment of an article) with the saved
fitted state (:mod:`moderation.fitted`); every other article keeps its scored rows. An author row is an exact
function of that author's comments and the replies to them, so author rows are recomputed for the authors of
the touched articles and of comments whose moderators' decision changed, and kept for everyone else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moderation.engagement import AUTHOR_KEY, author_key
from moderation.schema import ARTICLE_KEY, COMMENT_KEY
from moderation.text import row_keys


def in_articles(frame: pd.DataFrame, articles: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``frame`` belongs to one of ``articles`` (frames with ``ARTICLE_KEY``)."""
    return row_keys(frame, ARTICLE_KEY).isin(row_keys(articles, ARTICLE_KEY))


def merge_comments(previous: pd.DataFrame, scored: pd.DataFrame, touched: pd.DataFrame) -> pd.DataFrame:
    """The previous scored comments with the ``touched`` articles' rows replaced by ``scored``, in store order.

    ``scored`` holds every comment of the touched articles; the result is ordered by ``position`` (the store's
    order, which is the source's), as a full run orders it.
    """
    kept = previous[~in_articles(previous, touched)]
    merged = pd.concat([kept, scored], ignore_index=True) if len(kept) else scored.reset_index(drop=True)
    return merged.sort_values("position", kind="stable", ignore_index=True)


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
    decided_rows = row_keys(comments, COMMENT_KEY).isin(row_keys(decided, COMMENT_KEY))
    return author_keys(scored).append(author_keys(comments[decided_rows])).unique()


def author_rows(comments: pd.DataFrame, authors: pd.MultiIndex) -> pd.DataFrame:
    """What ``authors``' rows are computed from: their comments, the direct replies to them (replies received)
    and the comments they answer (reply latency)."""
    own = author_keys(comments).isin(authors)
    keys = row_keys(comments, COMMENT_KEY)
    parents = pd.MultiIndex.from_arrays([comments["source"].astype("str"), comments["parent_id"].astype("str")])
    answered = keys.isin(parents[own])
    return comments[own | parents.isin(keys[own]) | answered]


def merge_authors(previous: pd.DataFrame, recomputed: pd.DataFrame, authors: pd.MultiIndex) -> pd.DataFrame:
    """The author table with ``authors``' rows taken from ``recomputed`` (sorted by source, author as a full run)."""
    keep = ~row_keys(previous, AUTHOR_KEY).isin(authors)
    fresh = recomputed[row_keys(recomputed, AUTHOR_KEY).isin(authors)]
    merged = pd.concat([previous[keep], fresh], ignore_index=True) if keep.any() else fresh
    return merged.sort_values(AUTHOR_KEY, kind="stable", ignore_index=True)
