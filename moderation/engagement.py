"""Author engagement: who takes part, how, with whom, and with what outcome.

Every function here is a pure stage over the canonical comments table
(:mod:`moderation.schema`): frames in, new frames out. Authors are keyed by
``["source", "author"]`` because handles are unique only within a source.

Authors fall in three classes (:func:`author_class`):

- ``named``: an ordinary handle.
- ``anonymous``: a handle that hides who wrote it ("Undisclosed Manufacturer
  #2", "Anonymous", "Guest 17"). Each handle stays its own author: two
  undisclosed manufacturers are two people.
- ``missing``: the source names nobody (NA, blank, Reddit's ``[deleted]`` /
  ``[removed]`` / ``None``). These comments are kept under one author row per
  source and handle (NA and blank become ``"(missing)"``), tagged with the class
  so that readers can set them apart; they are never dropped. Counts that need
  to know who someone is (participants, active or new authors, reciprocity)
  leave them out and report their comments in a column of their own.

All aggregation is a fixed number of vectorised passes (``np.bincount`` over
integer author codes, pandas group-bys), never a Python loop per author, so a
million comments take seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from moderation import threads
from moderation.schema import ARTICLE_KEY, COMMENT_KEY

AUTHOR_KEY = ["source", "author"]
AUTHOR_CLASSES = ("named", "anonymous", "missing")
MISSING_AUTHOR = "(missing)"

# share column of the author table -> per-comment boolean column another stage adds
SHARE_COLUMNS = {
    "share_heavily_up": "is_heavily_up",
    "share_heavily_down": "is_heavily_down",
    "share_controversial": "is_controversial",
    "share_offtopic": "is_offtopic",
    "share_speculative": "is_speculative",
}
_REJECTED_STATUSES = ("rejected", "spam")


@dataclass(frozen=True)
class EngagementParams:
    """How authors are classified and who counts as staff.

    Parameters
    ----------
    anonymous_patterns : tuple of str
        Regular expressions (matched case-insensitively against the stripped
        handle) of handles that hide the person: each such handle is still a
        distinct author, classed ``anonymous``.
    missing_patterns : tuple of str
        Regular expressions of handles that name nobody; NA and blank handles
        are always ``missing``.
    staff_names : tuple of str
        Handles of staff, compared case-insensitively after stripping.
    staff_patterns : tuple of str
        Regular expressions (searched case-insensitively in the stripped
        handle) of staff handles, e.g. ``r"[(]staff[)]$"``.
    staff_columns : tuple of str
        Per-comment columns a source may carry that mark staff (true/false);
        an author is staff when any of their comments is marked.
    top_share : float
        Fraction of an article's authors (the most prolific ones, at least
        one) whose share of the article's comments
        :func:`article_participation` reports; 0 < top_share <= 1.
    """

    anonymous_patterns: tuple[str, ...] = (
        r"^undisclosed\b",
        r"^anonymous\b",
        r"^anon\b",
        r"^guest\b",
        r"^unknown\b",
    )
    missing_patterns: tuple[str, ...] = (
        r"^\[deleted\]$",
        r"^\[removed\]$",
        r"^none$",
        r"^null$",
        r"^nan$",
        r"^n/?a$",
    )
    staff_names: tuple[str, ...] = ()
    staff_patterns: tuple[str, ...] = ()
    staff_columns: tuple[str, ...] = ("is_staff", "isModerator")
    top_share: float = 0.1


def author_key(authors: pd.Series) -> pd.Series:
    """The handle used as author key: exactly as written, with NA and blank as ``"(missing)"``.

    Parameters
    ----------
    authors : Series of str, length n (NA allowed)

    Returns
    -------
    Series of str, length n, same index.
    """
    # names as written: " =1+1" and "=1+1" are two authors; only a blank name counts as missing
    names = authors.astype("str")
    return names.where(names.notna() & (names.str.strip() != ""), MISSING_AUTHOR).astype("str")


def author_class(authors: pd.Series, params: EngagementParams = EngagementParams()) -> pd.Series:
    """Class of each handle: ``"named"``, ``"anonymous"`` or ``"missing"``.

    Each distinct handle is matched once, so the cost grows with the number
    of authors, not of comments.

    Parameters
    ----------
    authors : Series of str, length n (NA allowed)
    params : EngagementParams
        ``missing_patterns`` are tried before ``anonymous_patterns``.

    Returns
    -------
    Series of str, length n, same index, values in :data:`AUTHOR_CLASSES`.
    """
    codes, classes = handle_classes(authors, params)
    # factorize gives NA handles code -1, which picks the appended "missing"
    per_comment = np.append(classes, "missing")[codes]
    return pd.Series(per_comment, index=authors.index, dtype="str", name="author_class")


def handle_classes(authors: pd.Series, params: EngagementParams = EngagementParams()) -> tuple[np.ndarray, np.ndarray]:
    """(each comment's handle number, -1 for NA; the class of each distinct handle, object array): what
    :func:`author_class` spreads over the comments, for a caller counting handles (``pd.factorize``'s codes)."""
    codes, uniques = pd.factorize(authors.astype("str"), use_na_sentinel=True)
    handles = pd.Series(uniques, dtype="str").str.strip()  # stripped only to match the patterns
    classes = np.full(len(handles), "named", dtype=object)
    classes[_matches(handles, params.anonymous_patterns)] = "anonymous"
    classes[_matches(handles, params.missing_patterns) | (handles == "").to_numpy()] = "missing"
    return codes, classes


def _matches(handles: pd.Series, patterns: tuple[str, ...]) -> np.ndarray:
    if not patterns:
        return np.zeros(len(handles), dtype=bool)
    found = handles.str.contains("|".join(f"(?:{p})" for p in patterns), case=False, regex=True)
    return found.fillna(False).to_numpy(dtype=bool)


def reply_latency(comments: pd.DataFrame) -> pd.Series:
    """Time from each reply's parent comment to the reply.

    Parameters
    ----------
    comments : DataFrame
        Canonical comments (``source``, ``comment_id``, ``parent_id``,
        ``created_at``).

    Returns
    -------
    Series of ``timedelta64[us]``, length n, same index: NaT for top-level
    comments, replies whose parent is not in ``comments`` (e.g. outside a
    partition), missing timestamps, and replies dated before their parent
    (a clock or inference error, not a latency).
    """
    latency = _latency(comments["created_at"], threads.parent_positions(comments))
    return pd.Series(latency, index=comments.index, name="reply_latency")


def _utc_values(created_at: pd.Series) -> np.ndarray:
    """Timestamps as naive UTC ``datetime64[us]`` (dropping the zone first avoids a slow per-value conversion)."""
    if created_at.dt.tz is not None:
        created_at = created_at.dt.tz_convert(None)
    return created_at.to_numpy(dtype="datetime64[us]")


def _latency(created_at: pd.Series, parent: np.ndarray) -> np.ndarray:
    created = _utc_values(created_at)
    latency = created - created[np.maximum(parent, 0)]
    return np.where((parent >= 0) & (latency >= np.timedelta64(0, "us")), latency, np.timedelta64("NaT", "us"))


@dataclass(frozen=True)
class _Keyed:
    """Comments reduced to integer codes: the shared input of every aggregate here (the tables take one as
    ``keyed`` when the caller has it, so :func:`insight_tables` keys the authors once rather than per table)."""

    frame: pd.DataFrame  # per comment, in order: source, author, author_class, article_id, created_at, code, is_staff
    authors: pd.DataFrame  # per author code: source, author, author_class, is_staff
    # what is made from these once for several tables (:func:`_reader_threads`, :func:`_parent_rows`)
    made: dict = field(default_factory=dict)


def keyed_authors(comments: pd.DataFrame, params: EngagementParams) -> _Keyed:
    """Author keys, classes and integer codes (sorted by source, author), and who is staff: what
    :func:`author_table` and :func:`insight_tables` take as ``keyed`` when a caller gives both the same comments."""
    frame = pd.DataFrame(
        {
            "source": comments["source"].array,
            "author": author_key(comments["author"]).array,
            "author_class": author_class(comments["author"], params).array,
            "article_id": comments["article_id"].array,
            "created_at": comments["created_at"].array,
        }
    )
    frame["code"] = frame.groupby(AUTHOR_KEY, sort=True).ngroup().to_numpy()

    first = frame.drop_duplicates("code").sort_values("code")
    authors = first[["source", "author", "author_class"]].reset_index(drop=True)
    flagged = np.zeros(len(frame), dtype=bool)
    for column in params.staff_columns:
        if column in comments:
            flagged |= _as_flag(comments[column])
    names = {name.strip().casefold() for name in params.staff_names}
    by_name = authors["author"].str.casefold().isin(names).to_numpy() | _matches(authors["author"],
                                                                                 params.staff_patterns)
    by_field = np.bincount(frame["code"], weights=flagged, minlength=len(authors)) > 0
    authors["is_staff"] = (by_name | by_field) & (authors["author_class"] != "missing").to_numpy()
    frame["is_staff"] = authors["is_staff"].to_numpy()[frame["code"]]
    return _Keyed(frame, authors)


def _resolved(comments: pd.DataFrame) -> pd.DataFrame:
    """``comments`` with ``thread_id`` and ``depth``: frames built outside ingest may lack them."""
    if {"thread_id", "depth"} - set(comments) or comments[["thread_id", "depth"]].isna().any(axis=None):
        comments, _ = threads.resolve(comments)
    return comments


def _as_flag(values: pd.Series) -> np.ndarray:
    """A source's staff marker as booleans: true/1/yes (any case) count, everything else does not."""
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).to_numpy(dtype=bool)
    text = values.astype("str").str.strip().str.casefold()
    return text.isin(["true", "1", "yes", "y", "t", "1.0"]).to_numpy(dtype=bool)


def _distinct(codes: np.ndarray, other: np.ndarray, n: int) -> np.ndarray:
    """Per code, the number of distinct values of ``other`` (ints >= 0) seen with it."""
    base = int(other.max(initial=0)) + 1
    return np.bincount(_sorted_unique(codes.astype(np.int64) * base + other)[0] // base, minlength=n)


def _sorted_unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of an int array, sorted, and how often each occurs: sorting beats ``np.unique``'s hash
    on a million int64 codes (0.6 s against 0.07)."""
    ordered = np.sort(values)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, np.int64)
    return ordered[starts], np.diff(np.r_[starts, len(ordered)])


def net_score(comments: pd.DataFrame) -> pd.Series:
    """Net score of each comment: ``vote_net`` if a stage added it, else upvotes - downvotes, else ``score``.

    Returns
    -------
    Series of Int64 (``vote_net`` may be Float64), length n; NA where the
    source gives no votes at all.
    """
    counted = comments["upvotes"] - comments["downvotes"]
    net = counted.fillna(comments["score"]) if "score" in comments else counted
    if "vote_net" in comments:
        net = comments["vote_net"].astype("Float64").fillna(net.astype("Float64"))
    return net.rename("net_score")


def author_table(
    comments: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
    params: EngagementParams = EngagementParams(),
    keyed: _Keyed | None = None,
) -> pd.DataFrame:
    """One row per (source, author): participation, reception, moderation outcome, timing.

    Parameters
    ----------
    comments : DataFrame, n rows
        Canonical comments, optionally with the columns other stages add
        (``vote_net``, ``wilson_lower``, ``is_heavily_up``, ``is_heavily_down``,
        ``is_controversial``, ``is_offtopic``, ``is_speculative``) and a
        source's staff columns (``params.staff_columns``).
    decisions : DataFrame or None
        Moderators' current decisions (``Store.current_decisions()``):
        ``source``, ``comment_id``, ``action`` in approve/remove/flag/escalate.
        None leaves ``share_removed`` NA.
    params : EngagementParams
    keyed : :func:`keyed_authors` of ``comments`` (made here when not given)

    Returns
    -------
    DataFrame, one row per author, sorted by source then author:

    - ``source``, ``author`` (str; NA/blank handles as ``"(missing)"``),
      ``author_class`` (named/anonymous/missing), ``is_staff`` (bool).
    - ``comments``, ``articles``, ``threads_started`` (top-level comments),
      ``replies_made`` (comments with a parent_id), ``replies_received``
      (direct replies by other authors; a missing author's reply to another
      missing author counts, since nobody knows it is a self-reply),
      ``distinct_repliers`` (int64); a reply counts where it answers a comment of its own article (a reply
      to another article's comment is a thread root, :func:`moderation.threads.resolve`).
    - ``upvotes_received``, ``downvotes_received``, ``net_score_received``
      (Int64 / Float64 sums; NA when none of the author's comments has the value).
    - ``mean_wilson_lower`` and ``share_*`` of :data:`SHARE_COLUMNS` (Float64 in
      0..1; NA when the column is absent or never known for the author).
    - ``share_rejected`` (status rejected or spam) and ``share_deleted``, over
      the comments whose status the source gives; ``share_removed``: share of
      all the author's comments whose current decision is ``remove`` (Float64).
    - ``first_seen``, ``last_seen`` (datetime64[us, UTC]), ``active_days``
      (distinct UTC calendar days with a comment, int64).
    - ``median_reply_latency`` (timedelta64[us]): median of
      :func:`reply_latency` over the author's replies to comments of their own article; NaT if none has one.

    The table is :func:`reduce_authors` of the comments' :func:`insight_partials`, as a run over partitions or
    an import computes it.
    """
    table = reduce_authors(insight_partials(comments, params, keyed=keyed, decisions=decisions))
    if decisions is None:
        table["share_removed"] = pd.array([pd.NA] * len(table), dtype="Float64")
    return table


def class_summary(authors: pd.DataFrame) -> pd.DataFrame:
    """Authors, comments and replies received per author class, with shares of the whole.

    Parameters
    ----------
    authors : DataFrame
        The output of :func:`author_table`.

    Returns
    -------
    DataFrame, one row per class in :data:`AUTHOR_CLASSES` (zero rows kept):
    ``author_class``, ``authors``, ``comments``, ``share_of_comments`` (0..1),
    ``replies_received``, ``share_of_replies_received`` (0..1, NaN when nothing
    was received).
    """
    grouped = authors.groupby("author_class")
    summary = pd.DataFrame(
        {
            "authors": grouped.size(),
            "comments": grouped["comments"].sum(),
            "replies_received": grouped["replies_received"].sum(),
        }
    ).reindex(list(AUTHOR_CLASSES), fill_value=0)
    summary["share_of_comments"] = summary["comments"] / max(summary["comments"].sum(), 1)
    total_received = summary["replies_received"].sum()
    summary["share_of_replies_received"] = summary["replies_received"] / total_received if total_received else np.nan
    summary = summary.rename_axis("author_class").reset_index()
    return summary[["author_class", "authors", "comments", "share_of_comments", "replies_received",
                    "share_of_replies_received"]]


def _parent_rows(comments: pd.DataFrame, keyed: _Keyed) -> np.ndarray:
    """:func:`moderation.threads.parent_positions` of the comments ``keyed`` was made from, found once per
    ``keyed`` (the partials' edges and latencies take it)."""
    if "parent_rows" not in keyed.made:
        keyed.made["parent_rows"] = threads.parent_positions(comments)
    return keyed.made["parent_rows"]


# ---- the insight tables: exact partials per group of whole articles, and one reduce ----------------------------

# name -> what it holds; a run writes each as ``engagement_<name>.parquet`` (``catalog.INSIGHT_FILES``)
INSIGHT_TABLES = {
    "staff_overall": "per source: reader-started threads, share with a staff reply, median time to it, staff authors",
    "staff_by_article": "staff_responsiveness per (source, article_id)",
    "staff_by_month": "staff_responsiveness per (source, month the thread started)",
    "reply_network": "who replies to whom: directed author pairs with counts",
    "reply_pairs": "per source, the 50 pairs of identified authors who exchange most replies",
    "reciprocity": "per source: share of directed author pairs whose reverse pair also occurs",
    "activity_by_week": "per (source, week): comments, active, new and returning authors",
    "retention_by_cohort": "per (source, first-month cohort, months since): share of the cohort active",
    "article_participation": "per (source, article_id): participants, comments per participant, top authors' share",
}
TOP_PAIRS_PER_SOURCE = 50
UNDATED = np.iinfo(np.int32).min  # the day or month of a comment without a timestamp in InsightPartials
_EPOCH_WEEKDAY = 3  # 1970-01-01, day 0 of the day numbers, was a Thursday (Monday is 0)
# columns of InsightPartials' row tables holding codes, and the lookup table each points into
_CODES = {"article": "articles", "author": "authors", "replied_to": "authors"}
_ROW_TABLES = ("author_days", "edges", "threads", "staff_waits", "participation", "author_rows", "latencies")
# author table column -> the comment column it is the mean of (over the comments where it is known)
_MEANS = {"mean_wilson_lower": "wilson_lower", **SHARE_COLUMNS}


def insight_columns(params: EngagementParams = EngagementParams()) -> list[str]:
    """The comment columns :func:`insight_partials` reads (those of the insight tables and the author table): a
    frame of many comments may carry these alone."""
    return list(dict.fromkeys([
        *COMMENT_KEY, "article_id", "parent_id", "author", "created_at", "thread_id", "depth", "status", "upvotes",
        "downvotes", "score", "vote_net", "wilson_lower", *SHARE_COLUMNS.values(), *params.staff_columns,
    ]))


@dataclass(frozen=True)
class InsightPartials:
    """What the insight tables and the author table are reduced from (:func:`reduce_insights`,
    :func:`reduce_authors`): exact partial aggregates of the comments of some whole articles.

    Every row belongs to one article, so the partials of disjoint article groups concatenate
    (:func:`merge_partials`: a Dask engine's buckets) and an import replaces the rows of the articles it touched
    (:func:`without_articles`). Nothing is approximated: counts add up; distinct authors per week or month, and
    each author's first week or month, come from the (article, author, day) rows; medians from the waits
    themselves (one row per reader thread a staff member answered, which are few); an author's distinct repliers
    from the edges, active days from the (author, day) pairs, the median reply latency from the latencies.

    Attributes
    ----------
    articles : per article code: ``source``, ``article_id`` (str; a comment may lack its article id)
    authors : per author code: ``source``, ``author`` (:func:`author_key`), ``author_class`` (str) and
        ``is_staff`` (bool, who was staff when the rows were made: the thread rows depend on it)
    author_days : ``article``, ``author``, ``day`` (days since 1970-01-01 UTC, :data:`UNDATED`), ``comments``:
        every comment
    edges : ``article``, ``author``, ``replied_to``, ``count``: replies to a comment of the same article
    threads : ``article``, ``month`` (months since January 1970 of the root, :data:`UNDATED`), ``threads``,
        ``threads_with_staff_reply``: threads a reader (not staff) started
    (codes and counts are int32)
    staff_waits : ``article``, ``month``, ``wait`` (timedelta64[us]): per reader thread with a staff reply, the
        time from its root to the first one (where both are dated)
    participation : ``article`` and :func:`article_participation`'s measures, per article
    author_rows : per (``article``, ``author``): ``comments``, ``replies_made``, ``upvotes_received``,
        ``downvotes_received`` (sums), ``net_score_received`` (its sum: float64 where a stage gave ``vote_net``),
        each of those with ``<name>_known`` (comments with the value), the sum of each column of :data:`_MEANS`
        (float64 for the Wilson bounds) and of ``share_rejected``, ``share_deleted`` (comments of that status)
        with its ``<name>_known``, ``share_removed`` (comments whose current decision is remove), ``first_seen``,
        ``last_seen`` (datetime64[us, UTC]); counts and sums in the narrowest integer type that holds them
    latencies : ``article``, ``author``, ``latency`` (timedelta64[us]): per reply to an earlier comment of its
        article, as :func:`reply_latency`
    """

    articles: pd.DataFrame
    authors: pd.DataFrame
    author_days: pd.DataFrame
    edges: pd.DataFrame
    threads: pd.DataFrame
    staff_waits: pd.DataFrame
    participation: pd.DataFrame
    author_rows: pd.DataFrame
    latencies: pd.DataFrame


def insight_partials(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                     staff: pd.DataFrame | None = None, keyed: _Keyed | None = None,
                     decisions: pd.DataFrame | None = None) -> InsightPartials:
    """The :class:`InsightPartials` of ``comments``: every comment of some whole articles, of any sources.

    Parameters
    ----------
    comments : DataFrame
        Canonical comments (threads resolved or not).
    params : EngagementParams
    staff : DataFrame or None
        ``source`` and ``author`` (author keys) of every staff author of the corpus: the author table's
        ``is_staff`` rows, since a source's staff marker on one article makes its author staff on every other.
        None: staff are found in ``comments`` (then the whole corpus).
    keyed : :func:`keyed_authors` of ``comments`` (made here when not given)
    decisions : the moderators' current decisions (``source``, ``comment_id``, ``action``; with ``decided_at``
        the last per comment counts), for ``share_removed``; None: no comment is removed
    """
    comments = _resolved(comments)
    # only what the partials read: grouping a frame of every scored column would copy all of it
    comments = comments[[column for column in insight_columns(params) if column in comments]]
    keyed = keyed or keyed_authors(comments, params)
    frame = keyed.frame
    authors = keyed.authors[["source", "author", "author_class", "is_staff"]].astype(
        {"source": "str", "author": "str", "author_class": "str"})
    if staff is not None:
        authors["is_staff"] = _is_in(authors, staff, AUTHOR_KEY)
    code = frame["code"].to_numpy()
    article = frame.groupby(ARTICLE_KEY, sort=True, dropna=False).ngroup().to_numpy()
    articles = frame[ARTICLE_KEY].iloc[np.unique(article, return_index=True)[1]].reset_index(drop=True)

    days = _utc_values(frame["created_at"]).astype("datetime64[D]")
    day = np.where(np.isnat(days), UNDATED, days.astype(np.int64)).astype(np.int32)
    author_days = _counts({"article": article, "author": code, "day": day}, "comments")
    parent = _parent_rows(comments, keyed)
    # a reply to another article's comment is a thread root (threads.resolve): no edge, so each article's
    # edges are its own
    answered = (parent >= 0) & (article == article[np.maximum(parent, 0)])
    edges = _counts({"article": article[answered], "author": code[answered],
                     "replied_to": code[parent[answered]]}, "count")

    readers = _reader_threads(comments, frame, authors["is_staff"].to_numpy()[code], article)
    readers["month"] = _months(readers["root_at"])
    threads_ = readers.groupby(["article", "month"], sort=True).agg(
        threads=("has_staff_reply", "size"), threads_with_staff_reply=("has_staff_reply", "sum"),
    ).reset_index().astype({"article": "int32", "threads": "int32", "threads_with_staff_reply": "int32"})
    answered_threads = readers[readers["time_to_first_staff_reply"].notna()]
    waits = answered_threads[["article", "month", "time_to_first_staff_reply"]].rename(
        columns={"time_to_first_staff_reply": "wait"}).reset_index(drop=True).astype({"article": "int32"})
    identified = (authors["author_class"] != "missing").to_numpy()
    participation = _participation(author_days, identified, len(articles), params.top_share)
    author_rows = _author_rows(comments, frame, article, len(authors), decisions)
    latency = _latency(frame["created_at"], np.where(answered, parent, -1))
    replied = ~np.isnat(latency)
    latencies = pd.DataFrame({"article": article[replied].astype(np.int32), "author": code[replied].astype(np.int32),
                              "latency": latency[replied]})
    return InsightPartials(articles.astype("str"), authors, author_days, edges, threads_, waits, participation,
                           author_rows, latencies)


def _author_rows(comments: pd.DataFrame, frame: pd.DataFrame, article: np.ndarray, n_authors: int,
                 decisions: pd.DataFrame | None) -> pd.DataFrame:
    """:class:`InsightPartials`' ``author_rows`` of ``comments`` (``frame``: their :func:`keyed_authors` rows,
    ``article``: their article codes)."""
    base = max(n_authors, 1)
    pair, of_pair = np.unique(article.astype(np.int64) * base + frame["code"].to_numpy(), return_inverse=True)
    n = len(pair)

    def count(flags: np.ndarray) -> np.ndarray:
        return np.bincount(of_pair, weights=flags, minlength=n).astype(np.int64)

    def summed(values: pd.Series, dtype) -> tuple[np.ndarray, np.ndarray]:
        weights = pd.to_numeric(values.astype("Float64"), errors="coerce").to_numpy(dtype="float64", na_value=0.0)
        return np.bincount(of_pair, weights=weights, minlength=n).astype(dtype), count(values.notna().to_numpy())

    rows = {"article": (pair // base).astype(np.int32), "author": (pair % base).astype(np.int32),
            "comments": count(np.ones(len(of_pair))), "replies_made": count(comments["parent_id"].notna().to_numpy())}
    status = comments["status"]
    measures = {
        "upvotes_received": (comments["upvotes"], np.int64), "downvotes_received": (comments["downvotes"], np.int64),
        "net_score_received": (net_score(comments), np.float64 if "vote_net" in comments else np.int64),
        "mean_wilson_lower": (comments["wilson_lower"] if "wilson_lower" in comments else
                              pd.Series(pd.NA, index=comments.index, dtype="Float64"), np.float64),
        **{name: (comments[column] if column in comments else pd.Series(pd.NA, index=comments.index, dtype="boolean"),
                  np.int64) for name, column in SHARE_COLUMNS.items()},
        "share_rejected": (status.isin(_REJECTED_STATUSES).astype("Int64").where(status.notna()), np.int64),
        "share_deleted": ((status == "deleted").astype("Int64").where(status.notna()), np.int64),
    }
    for name, (values, dtype) in measures.items():
        rows[name], rows[f"{name}_known"] = summed(values, dtype)
    rows["share_removed"] = count(_removed(comments, decisions))
    # a row per (article, author) is kept for every article, most of them counting one comment: each count and sum
    # in the narrowest integer type that holds it (a fifth of the bytes of int64 in a long-tailed corpus)
    out = pd.DataFrame({name: _narrowest(values) if name not in ("article", "author") and values.dtype.kind == "i"
                        else values for name, values in rows.items()})
    times = pd.Series(frame["created_at"].array).groupby(of_pair).agg(["min", "max"])
    out["first_seen"], out["last_seen"] = times["min"].array, times["max"].array
    return out


def _narrowest(values: np.ndarray) -> np.ndarray:
    """Integers ``values`` in the narrowest signed integer type that holds them all."""
    low, high = values.min(initial=0), values.max(initial=0)
    for dtype in (np.int8, np.int16, np.int32):
        if np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values


def _removed(comments: pd.DataFrame, decisions: pd.DataFrame | None) -> np.ndarray:
    """Whether each comment's current decision (the last per comment of ``decisions``) is remove."""
    if decisions is None or not len(decisions):
        return np.zeros(len(comments), dtype=bool)
    if "decided_at" in decisions:
        decisions = decisions.sort_values("decided_at", kind="stable")
    current = decisions.drop_duplicates(COMMENT_KEY, keep="last")
    removed = current.loc[current["action"] == "remove", COMMENT_KEY]
    return _is_in(comments, removed, COMMENT_KEY) if len(removed) else np.zeros(len(comments), dtype=bool)


def _counts(columns: dict[str, np.ndarray], name: str) -> pd.DataFrame:
    """Rows per distinct combination of ``columns`` (int arrays), as a frame sorted by them with the count as
    ``name``; int32 throughout (the fitted state keeps a row per comment or so: half the bytes of int64)."""
    frame = pd.DataFrame(columns)
    return frame.groupby(list(columns), sort=True).size().rename(name).reset_index().astype("int32")


def _months(times: pd.Series) -> np.ndarray:
    """Months since January 1970 (UTC) of each timestamp, :data:`UNDATED` where there is none (int32)."""
    months = _utc_values(times).astype("datetime64[M]")
    return np.where(np.isnat(months), UNDATED, months.astype(np.int64)).astype(np.int32)


def _reader_threads(comments: pd.DataFrame, frame: pd.DataFrame, is_staff: np.ndarray,
                    article: np.ndarray) -> pd.DataFrame:
    """One row per thread a reader (not staff) started: article (code), root_at, time_to_first_staff_reply
    (timedelta64[us]), has_staff_reply. ``is_staff`` and ``article`` per comment."""
    thread = comments.groupby(["source", "thread_id"], sort=False).ngroup().to_numpy()
    is_root = (comments["depth"] == 0).to_numpy()
    rows = pd.DataFrame({"article": article, "thread": thread, "created_at": frame["created_at"].array,
                         "is_staff": is_staff})
    roots = rows[is_root].drop_duplicates("thread").rename(columns={"created_at": "root_at"})
    roots = roots[~roots["is_staff"]]
    first = rows[~is_root & is_staff].groupby("thread")["created_at"].min().rename("first_staff_reply_at")
    readers = roots.join(first, on="thread")
    readers["time_to_first_staff_reply"] = (readers["first_staff_reply_at"] - readers["root_at"]).astype(
        "timedelta64[us]")
    readers["has_staff_reply"] = readers["first_staff_reply_at"].notna()
    return readers[["article", "root_at", "time_to_first_staff_reply", "has_staff_reply"]].reset_index(drop=True)


def _participation(author_days: pd.DataFrame, identified: np.ndarray, n: int, top_share: float) -> pd.DataFrame:
    """Per article code (0..n-1): comments, unattributed_comments, participants, comments_per_participant,
    top_authors_share (:func:`article_participation`), from ``author_days`` whose author codes follow the
    authors' keys (the top authors' ties are broken by key)."""
    per_pair = author_days.groupby(["article", "author"], sort=True)["comments"].sum()
    article = per_pair.index.get_level_values("article").to_numpy()
    author = per_pair.index.get_level_values("author").to_numpy()
    counts = per_pair.to_numpy()
    known = identified[author]
    out = pd.DataFrame({"article": np.arange(n)})
    out["comments"] = np.bincount(article, weights=counts, minlength=n).astype("int64")
    out["unattributed_comments"] = np.bincount(article[~known], weights=counts[~known], minlength=n).astype("int64")
    # an article's authors from the most prolific down, ties by author key (pairs are sorted by article, author)
    of_article, per_author = article[known], counts[known]
    order = np.lexsort((np.arange(len(of_article)), -per_author, of_article))
    of_article, per_author = of_article[order], per_author[order]
    participants = np.bincount(of_article, minlength=n)
    rank = np.arange(len(of_article)) - (np.cumsum(participants) - participants)[of_article]
    top = rank < np.maximum(np.ceil(top_share * participants[of_article] - 1e-9), 1)
    attributed = np.bincount(of_article, weights=per_author, minlength=n)
    top_comments = np.bincount(of_article, weights=np.where(top, per_author, 0), minlength=n)
    out["participants"] = participants.astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["comments_per_participant"] = np.where(participants > 0, attributed / participants, np.nan)
        out["top_authors_share"] = np.where(attributed > 0, top_comments / attributed, np.nan)
    return out


def merge_partials(parts: list[InsightPartials]) -> InsightPartials:
    """The partials of disjoint groups of articles as one (an article in two groups would count twice), with
    only the articles and authors their rows name."""
    lookups, maps = {}, {}
    for name, key, column in (("articles", ARTICLE_KEY, "article"), ("authors", AUTHOR_KEY, "author")):
        tables = [getattr(part, name) for part in parts]
        both = pd.concat(tables, ignore_index=True)
        codes = both.groupby(key, sort=False, dropna=False).ngroup().to_numpy()
        of_parts = np.split(codes, np.cumsum([len(table) for table in tables])[:-1])
        # every comment has an author_days row: an entry no such row names has no comment here
        named = np.zeros(codes.max(initial=-1) + 1, dtype=bool)
        for part, of_part in zip(parts, of_parts):
            named[of_part[np.bincount(part.author_days[column].to_numpy(), minlength=len(of_part)) > 0]] = True
        renumbered = (np.cumsum(named) - 1).astype(np.int32)
        lookups[name] = both.iloc[np.unique(codes, return_index=True)[1][named]].reset_index(drop=True)
        maps[name] = [renumbered[of_part] for of_part in of_parts]
    rows = {}
    for table in _ROW_TABLES:
        frames = [getattr(part, table) for part in parts]
        # column by column: one copy of the rows (an import merges a row per article and author of the corpus)
        rows[table] = pd.DataFrame({
            column: np.concatenate([maps[_CODES[column]][number][frame[column].to_numpy()]
                                    for number, frame in enumerate(frames)]) if column in _CODES else
            pd.concat([frame[column] for frame in frames], ignore_index=True)
            for column in frames[0].columns})
    return InsightPartials(lookups["articles"], lookups["authors"], **rows)


def without_articles(partials: InsightPartials, articles: pd.DataFrame) -> InsightPartials:
    """``partials`` without the rows of ``articles`` (a frame with ``ARTICLE_KEY``): what an import keeps before
    it merges (:func:`merge_partials`) those articles' partials made again. The lookup tables are left whole;
    the merge keeps only the entries its rows name."""
    dropped = _is_in(partials.articles, articles, ARTICLE_KEY)
    return replace(partials, **{table: frame[~dropped[frame["article"].to_numpy()]].reset_index(drop=True)
                                for table, frame in ((table, getattr(partials, table)) for table in _ROW_TABLES)})


def _is_in(frame: pd.DataFrame, others: pd.DataFrame, key: list[str]) -> np.ndarray:
    """Whether each row's ``key`` is among the rows of ``others`` (keys compared as strings)."""
    wanted = others[key].astype("str").drop_duplicates().assign(_found=True)
    found = frame[key].astype("str").merge(wanted, on=key, how="left")["_found"]
    return found.notna().to_numpy()


def staff_of(comments: pd.DataFrame, params: EngagementParams) -> pd.DataFrame:
    """``source`` and ``author`` (author keys, str) of the staff authors of ``comments``: by name or pattern, or
    marked by a source's staff column on any of their comments."""
    authors = keyed_authors(comments[[column for column in insight_columns(params) if column in comments]],
                            params).authors
    return authors.loc[authors["is_staff"], AUTHOR_KEY].astype("str").reset_index(drop=True)


def corpus_staff(partials: InsightPartials, comments: pd.DataFrame, params: EngagementParams) -> pd.DataFrame:
    """:func:`staff_of` a corpus made of the articles of ``partials`` (made with the corpus's staff then) and of
    ``comments`` (the others, whole): a source's staff marker on one article makes its author staff on every
    other."""
    both = pd.concat([partials.authors.loc[partials.authors["is_staff"], AUTHOR_KEY].astype("str"),
                      staff_of(comments, params)], ignore_index=True)
    return both.drop_duplicates(ignore_index=True)


def staff_changed(partials: InsightPartials, staff: pd.DataFrame) -> bool:
    """Whether ``staff`` (source, author of every staff author now) makes another author of ``partials`` staff
    than the one they were made with (their thread rows would differ)."""
    return bool((_is_in(partials.authors, staff, AUTHOR_KEY) != partials.authors["is_staff"].to_numpy()).any())


def reduce_insights(partials: InsightPartials) -> dict[str, pd.DataFrame]:
    """Every table of :data:`INSIGHT_TABLES` from the partials (of the whole corpus).

    Returns
    -------
    dict of name -> DataFrame, keys in the order of :data:`INSIGHT_TABLES`; every frame has a ``source``
    column; authors are keyed per source. The tables are those of :func:`staff_responsiveness`,
    :func:`staff_responsiveness_by_month`, :func:`reply_network`, :func:`top_pairs` per source,
    reciprocity per source (:func:`reciprocity`, with ``directed_pairs``), :func:`activity_by_week`,
    :func:`retention_by_cohort` and :func:`article_participation`.
    """
    keys = _Ranks(partials)
    staff_overall, staff_by_article, staff_by_month = _staff_tables(partials, keys)
    network, pairs, reciprocities = _network_tables(partials, keys)
    return {
        "staff_overall": staff_overall,
        "staff_by_article": staff_by_article,
        "staff_by_month": staff_by_month,
        "reply_network": network,
        "reply_pairs": pairs,
        "reciprocity": reciprocities,
        "activity_by_week": _activity(partials, keys),
        "retention_by_cohort": _retention(partials, keys),
        "article_participation": _participation_table(partials, keys),
    }


def reduce_authors(partials: InsightPartials) -> pd.DataFrame:
    """The author table (:func:`author_table`'s columns, sorted by source then author) from the partials (of the
    whole corpus): sums and counts add up, first and last seen are the least and greatest, distinct repliers and
    active days come from the edges and (author, day) rows, the median latency from the latencies themselves."""
    authors, rows = partials.authors, partials.author_rows
    n = len(authors)
    code = rows["author"].to_numpy()

    def total(column: str, frame: pd.DataFrame = rows, of: np.ndarray = code) -> np.ndarray:
        return np.bincount(of, weights=frame[column].to_numpy(), minlength=n)

    out = authors[["source", "author", "author_class", "is_staff"]].copy()
    out["comments"] = total("comments").astype(np.int64)
    out["articles"] = np.bincount(code, minlength=n)
    replies = total("replies_made").astype(np.int64)
    out["threads_started"] = out["comments"].to_numpy() - replies
    out["replies_made"] = replies
    # a reply received: the parent's author gets it, unless the same identified author wrote both
    edges = partials.edges
    replier, receiver = edges["author"].to_numpy(), edges["replied_to"].to_numpy()
    identified = (authors["author_class"] != "missing").to_numpy()
    received = ~((replier == receiver) & identified[replier])
    out["replies_received"] = total("count", edges[received], receiver[received]).astype(np.int64)
    out["distinct_repliers"] = _distinct(receiver[received], replier[received], n)
    for name, dtype in (("upvotes_received", "Int64"), ("downvotes_received", "Int64"),
                        ("net_score_received", "Float64" if rows["net_score_received"].dtype.kind == "f" else "Int64")):
        out[name] = pd.array(np.where(total(f"{name}_known") > 0, total(name), np.nan), dtype="Float64").astype(dtype)
    for name in [*_MEANS, "share_rejected", "share_deleted"]:
        known = total(f"{name}_known")
        out[name] = pd.array(np.where(known > 0, total(name) / np.maximum(known, 1), np.nan), dtype="Float64")
    out["share_removed"] = pd.array(total("share_removed") / np.maximum(out["comments"].to_numpy(), 1),
                                    dtype="Float64")
    out["first_seen"] = rows["first_seen"].groupby(code).min().reindex(range(n)).array
    out["last_seen"] = rows["last_seen"].groupby(code).max().reindex(range(n)).array
    author, day, _ = _dated(partials)
    out["active_days"] = _distinct(author, day - day.min(initial=0), n)
    latencies = partials.latencies
    median = latencies["latency"].groupby(latencies["author"].to_numpy()).median()
    out["median_reply_latency"] = median.reindex(range(n)).astype("timedelta64[us]").to_numpy()
    return out.take(_Ranks(partials).author_order).reset_index(drop=True)


class _Ranks:
    """Sources, articles and authors of some partials in key order: codes to ranks (sorted by key) and back."""

    def __init__(self, partials: InsightPartials):
        articles, authors = partials.articles, partials.authors
        source, self.sources = pd.factorize(pd.concat([articles["source"], authors["source"]], ignore_index=True),
                                            sort=True)
        self.article_source, self.author_source = source[:len(articles)], source[len(articles):]
        self.author_order = np.lexsort((authors["author"].to_numpy(dtype=object),
                                        self.author_source)) if len(authors) else np.zeros(0, dtype=np.int64)
        self.author_rank = np.empty(len(authors), dtype=np.int64)
        self.author_rank[self.author_order] = np.arange(len(authors))
        # sorted as a group-by on the keys sorts them; articles without a key come last and are left out
        self.article_order = articles.sort_values(ARTICLE_KEY, kind="stable").index.to_numpy()
        self.article_known = articles.notna().all(axis=1).to_numpy()
        self.identified = (authors["author_class"] != "missing").to_numpy()
        self.present = np.unique(self.article_source[partials.author_days["article"].to_numpy()])

    def source_column(self, codes: np.ndarray) -> pd.array:
        """The sources of source codes, as a str column."""
        return pd.array(self.sources.take(codes), dtype="str")


def _source_rows(keys: _Ranks, source: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (rows in source order) with a leading ``source`` column."""
    frame.insert(0, "source", keys.source_column(source))
    return frame.reset_index(drop=True)


def _staff_tables(partials: InsightPartials, keys: _Ranks) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    threads_, waits = partials.threads, partials.staff_waits
    measures = ["threads", "threads_with_staff_reply", "share_threads_with_staff_reply",
                "median_time_to_first_staff_reply"]

    def measured(counts: pd.DataFrame, medians: pd.Series) -> pd.DataFrame:
        counts = counts.astype("int64")
        counts["share_threads_with_staff_reply"] = counts["threads_with_staff_reply"] / counts["threads"]
        counts["median_time_to_first_staff_reply"] = medians.reindex(counts.index).astype("timedelta64[us]")
        return counts[measures]

    # per source: one row for every source with comments, threads or not
    source = keys.article_source[threads_["article"].to_numpy()]
    counts = threads_[["threads", "threads_with_staff_reply"]].groupby(source).sum().reindex(keys.present,
                                                                                             fill_value=0)
    median = waits["wait"].groupby(keys.article_source[waits["article"].to_numpy()]).median()
    overall = measured(counts, median)  # a source without reader threads: share NaN
    staff = partials.authors["is_staff"].to_numpy()
    overall["staff_authors"] = np.bincount(keys.author_source[staff], minlength=len(keys.sources))[
        keys.present].astype("int64")
    overall = _source_rows(keys, keys.present, overall)

    by_article = measured(threads_.groupby("article")[["threads", "threads_with_staff_reply"]].sum(),
                          waits.groupby("article")["wait"].median())
    order = keys.article_order[keys.article_known[keys.article_order]]
    by_article = by_article.reindex(order[np.isin(order, by_article.index)])
    by_article.insert(0, "article_id", partials.articles["article_id"].take(by_article.index).array)
    by_article = _source_rows(keys, keys.article_source[by_article.index.to_numpy()], by_article)

    dated, dated_waits = threads_[threads_["month"] != UNDATED], waits[waits["month"] != UNDATED]
    group = [keys.article_source[dated["article"].to_numpy()], dated["month"].to_numpy()]
    by_month = measured(dated[["threads", "threads_with_staff_reply"]].groupby(group).sum(),
                        dated_waits["wait"].groupby([keys.article_source[dated_waits["article"].to_numpy()],
                                                     dated_waits["month"].to_numpy()]).median())
    month = by_month.index.get_level_values(1).to_numpy().astype("datetime64[M]").astype("datetime64[us]")
    by_month.insert(0, "month", pd.DatetimeIndex(month).tz_localize("UTC"))
    by_month = _source_rows(keys, by_month.index.get_level_values(0).to_numpy(), by_month)
    return overall, by_article, by_month


def _network_tables(partials: InsightPartials, keys: _Ranks) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    edges, authors = partials.edges, partials.authors
    n = max(len(authors), 1)
    pair, found = np.unique(keys.author_rank[edges["author"].to_numpy()] * n
                            + keys.author_rank[edges["replied_to"].to_numpy()], return_inverse=True)
    count = np.bincount(found, weights=edges["count"].to_numpy(), minlength=len(pair)).astype(np.int64)
    # most replies first, then by names: ranks follow (source, author), and a reply stays in its source
    order = np.lexsort((pair, -count))
    pair, count = pair[order], count[order]
    replier, replied_to = keys.author_order[pair // n], keys.author_order[pair % n]
    network = pd.DataFrame({
        "source": keys.source_column(keys.author_source[replier]),
        "author": authors["author"].array.take(replier),
        "replied_to_author": authors["author"].array.take(replied_to),
        "count": count,
        "author_class": authors["author_class"].array.take(replier),
        "replied_to_class": authors["author_class"].array.take(replied_to),
    })
    source = keys.author_source[replier]
    between = (replier != replied_to) & keys.identified[replier] & keys.identified[replied_to]
    a, b = keys.author_rank[replier[between]], keys.author_rank[replied_to[between]]
    pairs = _top_pairs(source[between], a, b, count[between], TOP_PAIRS_PER_SOURCE)
    pairs = pd.DataFrame({
        "source": keys.source_column(pairs["source"]),
        "author_a": authors["author"].array.take(keys.author_order[pairs["a"]]),
        "author_b": authors["author"].array.take(keys.author_order[pairs["b"]]),
        **{column: pairs[column] for column in ("a_to_b", "b_to_a", "replies")},
    })
    # one row for every source with a reply between two of its authors, identified or not
    with_edges = np.unique(source)
    reciprocated = _reciprocated(a, b, len(authors))
    pairs_of = np.bincount(source[between], minlength=len(keys.sources))[with_edges]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.bincount(source[between], weights=reciprocated, minlength=len(keys.sources))[with_edges] / pairs_of
    reciprocities = pd.DataFrame({"source": keys.source_column(with_edges), "reciprocity": share,
                                  "directed_pairs": pairs_of.astype("int64")})
    return network, pairs, reciprocities


def _reciprocated(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Whether each directed pair (a, b) of author codes (< ``n``, codes unique across sources) has its reverse."""
    n = max(n, 1)
    pairs = np.sort(a.astype(np.int64) * n + b)  # a sorted lookup: np.isin's hash took a second on 500,000 pairs
    reverse = b.astype(np.int64) * n + a
    at = np.minimum(np.searchsorted(pairs, reverse), max(len(pairs) - 1, 0))
    return pairs[at] == reverse if len(pairs) else np.zeros(0, dtype=bool)


def _top_pairs(source: np.ndarray, a: np.ndarray, b: np.ndarray, count: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per source, the ``n`` undirected pairs of authors (codes in name order) with most replies, ties by names:
    ``source``, ``a`` < ``b``, ``a_to_b``, ``b_to_a``, ``replies``."""
    forward = a < b
    low, high = np.where(forward, a, b), np.where(forward, b, a)
    base = int(max(a.max(initial=0), b.max(initial=0))) + 1
    pair, group = np.unique((source.astype(np.int64) * base + low) * base + high, return_inverse=True)
    a_to_b = np.bincount(group, weights=np.where(forward, count, 0), minlength=len(pair)).astype(np.int64)
    b_to_a = np.bincount(group, weights=np.where(forward, 0, count), minlength=len(pair)).astype(np.int64)
    replies = a_to_b + b_to_a
    of_source = pair // (base * base)
    order = np.lexsort((pair, -replies, of_source))
    first = np.searchsorted(of_source[order], of_source[order], side="left")
    top = order[np.arange(len(order)) - first < n]
    return {"source": of_source[top], "a": pair[top] // base % base, "b": pair[top] % base,
            "a_to_b": a_to_b[top], "b_to_a": b_to_a[top], "replies": replies[top]}


def _dated(partials: InsightPartials) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Author codes, days and comments of the author_days rows of dated comments."""
    rows = partials.author_days[partials.author_days["day"] != UNDATED]
    return (rows["author"].to_numpy().astype(np.int64), rows["day"].to_numpy().astype(np.int64),
            rows["comments"].to_numpy())


def _distinct_periods(author: np.ndarray, period: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (author, period) pairs (int arrays), sorted by author then period, and each pair's author's
    first period."""
    low = int(period.min(initial=0))
    span = int(period.max(initial=0)) - low + 1
    pairs = _sorted_unique(author * span + (period - low))[0]
    author_of, period_of = pairs // span, pairs % span + low
    starts = np.r_[True, author_of[1:] != author_of[:-1]] if len(pairs) else np.zeros(0, dtype=bool)
    first = period_of[np.maximum.accumulate(np.where(starts, np.arange(len(pairs)), 0))] if len(pairs) else period_of
    return author_of, period_of, first


def _activity(partials: InsightPartials, keys: _Ranks) -> pd.DataFrame:
    author, day, comments = _dated(partials)
    week = day - (day + _EPOCH_WEEKDAY) % 7  # the Monday of the week
    low = int(week.min(initial=0))
    span = int(week.max(initial=0)) - low + 1
    cell, found = np.unique(keys.author_source[author] * span + (week - low), return_inverse=True)
    identified = keys.identified[author]
    author_of, week_of, first = _distinct_periods(author[identified], week[identified])
    at = np.searchsorted(cell, keys.author_source[author_of] * span + (week_of - low))
    out = pd.DataFrame({
        "week": pd.DatetimeIndex((cell % span + low).astype("datetime64[D]").astype("datetime64[us]")).tz_localize(
            "UTC"),
        "comments": np.bincount(found, weights=comments, minlength=len(cell)).astype("int64"),
        "active_authors": np.bincount(at, minlength=len(cell)).astype("int64"),
        "new_authors": np.bincount(at[week_of == first], minlength=len(cell)).astype("int64"),
    })
    out["returning_authors"] = out["active_authors"] - out["new_authors"]
    return _source_rows(keys, cell // span, out)


def _retention(partials: InsightPartials, keys: _Ranks) -> pd.DataFrame:
    author, day, _ = _dated(partials)
    identified = keys.identified[author]
    month = day[identified].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    author_of, month_of, first = _distinct_periods(author[identified], month)
    low = int(first.min(initial=0))
    span = int(month_of.max(initial=0)) - low + 1
    cell, active = _sorted_unique((keys.author_source[author_of] * span + (first - low)) * span + (month_of - first))
    cohort_cell, months_since = cell // span, cell % span
    cohorts = cohort_cell[months_since == 0]  # every cohort is active in its first month
    sizes = active[months_since == 0][np.searchsorted(cohorts, cohort_cell)]
    year, month0 = np.divmod(cohort_cell % span + low, 12)
    out = pd.DataFrame({
        "cohort": pd.array([f"{y + 1970:04d}-{m + 1:02d}" for y, m in zip(year, month0)], dtype="str"),
        "months_since": months_since.astype("int64"), "active_authors": active.astype("int64"),
        "cohort_authors": sizes.astype("int64"), "share": active / sizes,
    })
    return _source_rows(keys, cohort_cell // span, out)


def _participation_table(partials: InsightPartials, keys: _Ranks) -> pd.DataFrame:
    order = keys.article_order[keys.article_known[keys.article_order]]
    rows = partials.participation.set_index("article").reindex(order)
    rows.insert(0, "article_id", partials.articles["article_id"].take(order).array)
    return _source_rows(keys, keys.article_source[order], rows)


def insight_tables(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                   keyed: _Keyed | None = None) -> dict[str, pd.DataFrame]:
    """Every table of :data:`INSIGHT_TABLES` over the comments: :func:`reduce_insights` of their
    :func:`insight_partials`, as a run over partitions computes them (a pure stage).

    Parameters
    ----------
    comments : DataFrame
        Canonical comments (threads resolved or not), any number of sources: the corpus.
    params : EngagementParams
        Who is staff (``staff_names``, ``staff_patterns``, ``staff_columns``) and how authors are classed.
    keyed : :func:`keyed_authors` of ``comments`` (made here when not given)
    """
    return reduce_insights(insight_partials(comments, params, keyed=keyed))


def staff_responsiveness(
    comments: pd.DataFrame, params: EngagementParams = EngagementParams(), keyed: _Keyed | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How often and how fast staff reply in threads that readers start.

    A thread counts when its root comment is not by staff; it has a staff
    reply when any later comment in it (a reply at any depth) is by staff.
    The time to the first staff reply runs from the root comment's
    ``created_at`` to the earliest staff reply's.

    Returns
    -------
    per_article : DataFrame
        One row per (source, article_id) with a reader-started thread, sorted:
        ``threads`` (int64), ``threads_with_staff_reply`` (int64),
        ``share_threads_with_staff_reply`` (float64 0..1),
        ``median_time_to_first_staff_reply`` (timedelta64[us], NaT when no reply).
    overall : DataFrame
        One row per source: the same four measures over all its threads (share NaN with none), plus
        ``staff_authors`` (number of staff authors seen).
    """
    tables = insight_tables(comments, params, keyed)
    return tables["staff_by_article"], tables["staff_overall"]


def staff_responsiveness_by_month(
    comments: pd.DataFrame, params: EngagementParams = EngagementParams(), keyed: _Keyed | None = None,
) -> pd.DataFrame:
    """:func:`staff_responsiveness` per source and calendar month (UTC) in which the reader's thread started.

    Returns
    -------
    DataFrame, one row per (source, month) with a dated reader-started thread,
    sorted: ``source``, ``month`` (datetime64[us, UTC], first day of the month),
    ``threads``, ``threads_with_staff_reply`` (int64),
    ``share_threads_with_staff_reply`` (float64 0..1),
    ``median_time_to_first_staff_reply`` (timedelta64[us], NaT when no reply).
    """
    return insight_tables(comments, params, keyed)["staff_by_month"]


def reply_network(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                  keyed: _Keyed | None = None) -> pd.DataFrame:
    """Who replies to whom: one row per directed (author -> replied-to author) pair.

    Replies whose parent is not among ``comments`` or on another article (a thread root, as
    :func:`moderation.threads.resolve` makes it) are left out.

    Returns
    -------
    DataFrame with ``source``, ``author``, ``replied_to_author``, ``count``
    (int64 >= 1), ``author_class``, ``replied_to_class``; sorted by count
    descending, then by names. Self-replies are kept (author ==
    replied_to_author).
    """
    return insight_tables(comments, params, keyed)["reply_network"]


def _identified_edges(network: pd.DataFrame) -> pd.DataFrame:
    """Edges between two different, identified authors (a missing author may be anyone)."""
    keep = (
        (network["author"] != network["replied_to_author"])
        & (network["author_class"] != "missing")
        & (network["replied_to_class"] != "missing")
    )
    return network[keep]


def _name_codes(edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index, pd.Index]:
    """Integer codes of edges' source and of both authors, one code per name in the names' order (pairs of codes
    compare, group and sort as the names do, without string keys), and the sources and names they stand for."""
    source, sources = pd.factorize(edges["source"], sort=True)
    names_of_both, names = pd.factorize(pd.concat([edges["author"], edges["replied_to_author"]], ignore_index=True),
                                        sort=True)
    names_of_both = names_of_both.astype(np.int64)
    return source.astype(np.int64), names_of_both[:len(edges)], names_of_both[len(edges):], sources, names


def reciprocity(network: pd.DataFrame) -> float:
    """Share of directed author pairs whose reverse pair also occurs (NetworkX's ``reciprocity`` definition).

    Computed over :func:`reply_network` edges between two different,
    identified authors, ignoring counts: r = |{(a,b): (b,a) also an edge}| / |edges|.
    NaN when there is no such edge.
    """
    source, author, replied_to, _, names = _name_codes(_identified_edges(network))
    if not len(source):
        return float("nan")
    # names are coded across sources: a pair's codes carry its source
    base = max(len(names), 1)
    return float(_reciprocated(source * base + author, source * base + replied_to, base * (source.max() + 1)).mean())


def top_pairs(network: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Per source, the ``n`` pairs of identified authors who exchange most replies, both directions together.

    Returns
    -------
    DataFrame with ``source``, ``author_a``, ``author_b`` (a < b), ``a_to_b``,
    ``b_to_a``, ``replies`` (their sum), sorted by source, then replies descending, then names.
    """
    edges = _identified_edges(network)
    source, author, replied_to, sources, names = _name_codes(edges)
    pairs = _top_pairs(source, author, replied_to, edges["count"].to_numpy(dtype=np.int64), n)
    return pd.DataFrame({
        "source": sources.take(pairs["source"]), "author_a": names.take(pairs["a"]),
        "author_b": names.take(pairs["b"]), **{column: pairs[column] for column in ("a_to_b", "b_to_a", "replies")},
    }).astype({"source": "str", "author_a": "str", "author_b": "str"})


def activity_by_week(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                     keyed: _Keyed | None = None) -> pd.DataFrame:
    """Comments and authors per source and week (weeks start Monday 00:00 UTC).

    Returns
    -------
    DataFrame, one row per (source, week) that has a comment, sorted: ``source``, ``week``
    (datetime64[us, UTC]), ``comments`` (all dated comments, any author class),
    ``active_authors`` (distinct identified authors), ``new_authors`` (whose
    first dated comment falls in the week), ``returning_authors`` (active -
    new). Undated comments are left out.
    """
    return insight_tables(comments, params, keyed)["activity_by_week"]


def retention_by_cohort(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                        keyed: _Keyed | None = None) -> pd.DataFrame:
    """Retention of identified authors by the calendar month (UTC) of their first comment, per source.

    Long form; ``.pivot(index="cohort", columns="months_since", values="share")``
    of one source gives the usual cohort x months-since matrix.

    Returns
    -------
    DataFrame, one row per (source, cohort, months_since) with at least one active author:
    ``source``, ``cohort`` (str, "YYYY-MM"), ``months_since`` (int64 >= 0),
    ``active_authors`` (cohort authors who commented that month),
    ``cohort_authors``, ``share`` (active / cohort size, 0..1; 1 at month 0).
    """
    return insight_tables(comments, params, keyed)["retention_by_cohort"]


def article_participation(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                          keyed: _Keyed | None = None) -> pd.DataFrame:
    """Who takes part in each article's discussion.

    The most prolific ``ceil(top_share * participants)`` authors (at least
    one; ties broken by author key) make up the article's top authors.

    Returns
    -------
    DataFrame, one row per (source, article_id), sorted: ``comments`` (all),
    ``unattributed_comments`` (missing authors), ``participants`` (distinct
    identified authors), ``comments_per_participant`` (attributed comments /
    participants, float64, NaN with none), ``top_authors_share`` (share of the
    attributed comments written by the top authors, 0..1, NaN with none).
    """
    return insight_tables(comments, params, keyed)["article_participation"]


# ---- who is staff: the desk's settings ----------------------------------------

# desk setting (stored in the store's desk_settings table) -> EngagementParams field it sets
STAFF_SETTINGS = ("staff_names", "staff_patterns", "staff_columns")


def check_patterns(patterns) -> list[str]:
    """The patterns, stripped and without blanks; raises ValueError naming the first one that is not a regex."""
    kept = [p.strip() for p in patterns if p and p.strip()]
    for pattern in kept:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"staff pattern {pattern!r} is not a regular expression ({error})") from None
    return kept


def with_staff_settings(params: EngagementParams, settings: dict[str, list[str]]) -> EngagementParams:
    """``params`` with the desk's staff settings (keys of :data:`STAFF_SETTINGS`) in place of their defaults.

    A setting the desk never saved keeps the parameter's value; a saved empty list empties it.
    """
    changes = {key: tuple(settings[key]) for key in STAFF_SETTINGS if key in settings}
    if "staff_patterns" in changes:
        changes["staff_patterns"] = tuple(check_patterns(changes["staff_patterns"]))
    return replace(params, **changes)
