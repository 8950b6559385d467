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
    codes, uniques = pd.factorize(authors.astype("str"), use_na_sentinel=True)
    handles = pd.Series(uniques, dtype="str").str.strip()  # stripped only to match the patterns
    classes = np.full(len(handles), "named", dtype=object)
    classes[_matches(handles, params.anonymous_patterns)] = "anonymous"
    classes[_matches(handles, params.missing_patterns) | (handles == "").to_numpy()] = "missing"
    # factorize gives NA handles code -1, which picks the appended "missing"
    per_comment = np.append(classes, "missing")[codes]
    return pd.Series(per_comment, index=authors.index, dtype="str", name="author_class")


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


def _sum(codes: np.ndarray, values: pd.Series, n: int, dtype: str = "Int64") -> pd.array:
    """Per-code sum of a nullable column; NA where a code has no known value (min_count=1)."""
    known = values.notna().to_numpy()
    weights = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=0.0)
    total = np.bincount(codes, weights=weights, minlength=n)
    seen = np.bincount(codes, weights=known, minlength=n)
    return pd.array(np.where(seen > 0, total, np.nan), dtype="Float64").astype(dtype)


def _mean(codes: np.ndarray, values: pd.Series, n: int) -> pd.array:
    """Per-code mean of a nullable numeric or boolean column over its known values; NA where none is known."""
    known = values.notna().to_numpy()
    weights = pd.to_numeric(values.astype("Float64"), errors="coerce").to_numpy(dtype="float64", na_value=0.0)
    total = np.bincount(codes, weights=weights, minlength=n)
    seen = np.bincount(codes, weights=known, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.array(np.where(seen > 0, total / np.maximum(seen, 1), np.nan), dtype="Float64")


def _distinct(codes: np.ndarray, other: np.ndarray, n: int) -> np.ndarray:
    """Per code, the number of distinct values of ``other`` (ints >= 0) seen with it."""
    base = int(other.max(initial=0)) + 1
    # sorting int64 pair codes beats a hash-based unique on a million rows
    pairs = np.sort(codes.astype(np.int64) * base + other)
    first = np.r_[True, pairs[1:] != pairs[:-1]] if len(pairs) else np.zeros(0, dtype=bool)
    return np.bincount(pairs[first] // base, minlength=n)


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


def author_columns(params: EngagementParams = EngagementParams()) -> list[str]:
    """The comment columns :func:`author_table` reads: a frame of many comments may carry these alone."""
    return list(dict.fromkeys([
        *COMMENT_KEY, "article_id", "parent_id", "author", "created_at", "status", "upvotes", "downvotes", "score",
        "vote_net", "wilson_lower", *SHARE_COLUMNS.values(), *params.staff_columns,
    ]))


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
      ``distinct_repliers`` (int64).
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
      :func:`reply_latency` over the author's replies; NaT if none has one.
    """
    keyed = keyed or keyed_authors(comments, params)
    frame, out = keyed.frame, keyed.authors.copy()
    n = len(out)
    code = frame["code"].to_numpy()
    parent = _parent_rows(comments, keyed)
    is_reply = comments["parent_id"].notna().to_numpy()

    out["comments"] = np.bincount(code, minlength=n)
    article = frame.groupby(ARTICLE_KEY, sort=False).ngroup().to_numpy()
    out["articles"] = _distinct(code, article, n)
    out["threads_started"] = np.bincount(code, weights=~is_reply, minlength=n).astype(np.int64)
    out["replies_made"] = np.bincount(code, weights=is_reply, minlength=n).astype(np.int64)

    # a reply received: the parent's author gets it, unless the same identified author wrote both
    answered = parent >= 0
    receiver = code[np.maximum(parent, 0)]
    known_self = (receiver == code) & (frame["author_class"] != "missing").to_numpy()
    received = answered & ~known_self
    out["replies_received"] = np.bincount(receiver[received], minlength=n)
    out["distinct_repliers"] = _distinct(receiver[received], code[received], n)

    out["upvotes_received"] = _sum(code, comments["upvotes"], n)
    out["downvotes_received"] = _sum(code, comments["downvotes"], n)
    net = net_score(comments)
    out["net_score_received"] = _sum(code, net, n, "Float64" if "vote_net" in comments else "Int64")
    out["mean_wilson_lower"] = _optional_mean(comments, "wilson_lower", code, n)
    for share, column in SHARE_COLUMNS.items():
        out[share] = _optional_mean(comments, column, code, n)

    status = comments["status"]
    out["share_rejected"] = _mean(code, status.isin(_REJECTED_STATUSES).astype("boolean").where(status.notna()), n)
    out["share_deleted"] = _mean(code, (status == "deleted").astype("boolean").where(status.notna()), n)
    out["share_removed"] = _share_removed(comments, decisions, code, n)

    times = frame.groupby("code")["created_at"]
    out["first_seen"] = times.min().reindex(range(n)).array
    out["last_seen"] = times.max().reindex(range(n)).array
    days = _utc_values(frame["created_at"]).astype("datetime64[D]")
    dated = ~np.isnat(days)
    day_number = days[dated].astype(np.int64)
    out["active_days"] = _distinct(code[dated], day_number - day_number.min(initial=0), n)

    median = pd.Series(_latency(comments["created_at"], parent)).groupby(code).median()
    out["median_reply_latency"] = median.reindex(range(n)).astype("timedelta64[us]").to_numpy()
    return out


def _optional_mean(comments: pd.DataFrame, column: str, code: np.ndarray, n: int) -> pd.array:
    if column not in comments:
        return pd.array([pd.NA] * n, dtype="Float64")
    return _mean(code, comments[column], n)


def _share_removed(comments: pd.DataFrame, decisions: pd.DataFrame | None, code: np.ndarray, n: int) -> pd.array:
    if decisions is None:
        return pd.array([pd.NA] * n, dtype="Float64")
    if "decided_at" in decisions:
        decisions = decisions.sort_values("decided_at", kind="stable")
    current = decisions.drop_duplicates(COMMENT_KEY, keep="last")
    action = pd.Series(current["action"].to_numpy(), index=pd.MultiIndex.from_frame(current[COMMENT_KEY]))
    per_comment = action.reindex(pd.MultiIndex.from_frame(comments[COMMENT_KEY]))
    removed = (per_comment == "remove").fillna(False).to_numpy(dtype=bool)
    return pd.array(np.bincount(code, weights=removed, minlength=n) / np.maximum(np.bincount(code, minlength=n), 1),
                    dtype="Float64")


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


def staff_responsiveness(
    comments: pd.DataFrame, params: EngagementParams = EngagementParams(), keyed: _Keyed | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
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
        ``share_threads_with_staff_reply`` (float64 0..1, NaN with no threads),
        ``median_time_to_first_staff_reply`` (timedelta64[us], NaT when no reply).
    overall : Series
        The same four measures over all threads, plus ``staff_authors``
        (number of staff authors seen).
    """
    keyed = keyed or keyed_authors(comments, params)
    threads_ = _reader_threads(comments, keyed)
    per_article = threads_.groupby(ARTICLE_KEY, sort=True).agg(
        threads=("has_staff_reply", "size"),
        threads_with_staff_reply=("has_staff_reply", "sum"),
        median_time_to_first_staff_reply=("time_to_first_staff_reply", "median"),
    ).reset_index()
    per_article["share_threads_with_staff_reply"] = per_article["threads_with_staff_reply"] / per_article["threads"]
    per_article = per_article[["source", "article_id", "threads", "threads_with_staff_reply",
                               "share_threads_with_staff_reply", "median_time_to_first_staff_reply"]]
    per_article = per_article.astype({"threads": "int64", "threads_with_staff_reply": "int64",
                                      "median_time_to_first_staff_reply": "timedelta64[us]"})
    total, answered = len(threads_), int(threads_["has_staff_reply"].sum())
    overall = pd.Series(
        {
            "threads": total,
            "threads_with_staff_reply": answered,
            "share_threads_with_staff_reply": answered / total if total else np.nan,
            "median_time_to_first_staff_reply": threads_["time_to_first_staff_reply"].median(),
            "staff_authors": int(keyed.authors["is_staff"].sum()),
        },
        dtype=object,
    )
    return per_article, overall


def _parent_rows(comments: pd.DataFrame, keyed: _Keyed) -> np.ndarray:
    """:func:`moderation.threads.parent_positions` of the comments ``keyed`` was made from, found once for the
    author table and the reply network."""
    if "parent_rows" not in keyed.made:
        keyed.made["parent_rows"] = threads.parent_positions(comments)
    return keyed.made["parent_rows"]


def _reader_threads(comments: pd.DataFrame, keyed: _Keyed) -> pd.DataFrame:
    """One row per thread a reader (not staff) started: source, article_id, thread, root_at,
    first_staff_reply_at, time_to_first_staff_reply (timedelta64[us]), has_staff_reply."""
    if "reader_threads" in keyed.made:
        return keyed.made["reader_threads"]
    resolved = _resolved(comments)
    frame = keyed.frame.assign(thread=resolved.groupby(["source", "thread_id"], sort=False).ngroup().to_numpy())
    is_root = (resolved["depth"] == 0).to_numpy()
    roots = frame.loc[is_root, ["source", "article_id", "thread", "created_at", "is_staff"]]
    roots = roots.drop_duplicates("thread").rename(columns={"created_at": "root_at", "is_staff": "root_by_staff"})
    roots = roots[~roots["root_by_staff"]]
    staff_replies = frame.loc[~is_root & frame["is_staff"].to_numpy()]
    first = staff_replies.groupby("thread")["created_at"].min().rename("first_staff_reply_at")
    threads_ = roots.join(first, on="thread")
    threads_["time_to_first_staff_reply"] = (threads_["first_staff_reply_at"] - threads_["root_at"]).astype(
        "timedelta64[us]"
    )
    threads_["has_staff_reply"] = threads_["first_staff_reply_at"].notna()
    keyed.made["reader_threads"] = threads_
    return threads_


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
    threads_ = _reader_threads(comments, keyed or keyed_authors(comments, params)).dropna(subset=["root_at"])
    root_at = threads_["root_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    month = root_at.dt.to_period("M").dt.start_time.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    out = threads_.assign(month=month).groupby(["source", "month"], sort=True).agg(
        threads=("has_staff_reply", "size"),
        threads_with_staff_reply=("has_staff_reply", "sum"),
        median_time_to_first_staff_reply=("time_to_first_staff_reply", "median"),
    ).reset_index()
    out["share_threads_with_staff_reply"] = out["threads_with_staff_reply"] / out["threads"]
    out = out.astype({"threads": "int64", "threads_with_staff_reply": "int64",
                      "median_time_to_first_staff_reply": "timedelta64[us]"})
    return out[["source", "month", "threads", "threads_with_staff_reply", "share_threads_with_staff_reply",
                "median_time_to_first_staff_reply"]]


def reply_network(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                  keyed: _Keyed | None = None) -> pd.DataFrame:
    """Who replies to whom: one row per directed (author -> replied-to author) pair.

    Replies whose parent is not among ``comments`` are left out.

    Returns
    -------
    DataFrame with ``source``, ``author``, ``replied_to_author``, ``count``
    (int64 >= 1), ``author_class``, ``replied_to_class``; sorted by count
    descending, then by names. Self-replies are kept (author ==
    replied_to_author).
    """
    keyed = keyed or keyed_authors(comments, params)
    code, authors = keyed.frame["code"].to_numpy().astype(np.int64), keyed.authors
    parent = _parent_rows(comments, keyed)
    answered = parent >= 0
    # pairs as integers (source and author key are never missing, so every comment has a code)
    n = max(len(authors), 1)
    pair, count = np.unique(code[answered] * n + code[parent[answered]], return_counts=True)
    replier, replied_to = pair // n, pair % n
    # most replies first, then by names: codes follow (source, author), and a reply stays in its source
    order = np.lexsort((replied_to, replier, -count))
    replier, replied_to, count = replier[order], replied_to[order], count[order]
    network = pd.DataFrame(
        {
            "source": authors["source"].array.take(replier),
            "author": authors["author"].array.take(replier),
            "replied_to_author": authors["author"].array.take(replied_to),
            "count": count.astype(np.int64),
            "author_class": authors["author_class"].array.take(replier),
            "replied_to_class": authors["author_class"].array.take(replied_to),
        }
    )
    return network.astype({c: "str" for c in ["source", "author", "replied_to_author", "author_class",
                                               "replied_to_class"]})


def _identified_edges(network: pd.DataFrame) -> pd.DataFrame:
    """Edges between two different, identified authors (a missing author may be anyone)."""
    keep = (
        (network["author"] != network["replied_to_author"])
        & (network["author_class"] != "missing")
        & (network["replied_to_class"] != "missing")
    )
    return network[keep]


def reciprocity(network: pd.DataFrame) -> float:
    """Share of directed author pairs whose reverse pair also occurs (NetworkX's ``reciprocity`` definition).

    Computed over :func:`reply_network` edges between two different,
    identified authors, ignoring counts: r = |{(a,b): (b,a) also an edge}| / |edges|.
    NaN when there is no such edge.
    """
    edges = _identified_edges(network)
    if edges.empty:
        return float("nan")
    forward = pd.MultiIndex.from_frame(edges[["source", "author", "replied_to_author"]])
    backward = pd.MultiIndex.from_frame(edges[["source", "replied_to_author", "author"]])
    return float(forward.isin(backward).mean())


def _name_codes(edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index, pd.Index]:
    """Integer codes of edges' source and of both authors, one code per name in the names' order (pairs of codes
    compare, group and sort as the names do, without string keys), and the sources and names they stand for."""
    source, sources = pd.factorize(edges["source"], sort=True)
    names_of_both, names = pd.factorize(pd.concat([edges["author"], edges["replied_to_author"]], ignore_index=True),
                                        sort=True)
    names_of_both = names_of_both.astype(np.int64)
    return source.astype(np.int64), names_of_both[:len(edges)], names_of_both[len(edges):], sources, names


def top_pairs(network: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` pairs of identified authors who exchange most replies, both directions together.

    Returns
    -------
    DataFrame with ``source``, ``author_a``, ``author_b`` (a < b), ``a_to_b``,
    ``b_to_a``, ``replies`` (their sum), sorted by replies descending.
    """
    edges = _identified_edges(network)
    source, author, replied_to, sources, names = _name_codes(edges)
    forward = author < replied_to
    a, b = np.where(forward, author, replied_to), np.where(forward, replied_to, author)
    count = edges["count"].to_numpy(dtype=np.int64)
    base = max(len(names), 1)
    pair, group = np.unique((source * base + a) * base + b, return_inverse=True)
    a_to_b = np.bincount(group, weights=np.where(forward, count, 0), minlength=len(pair)).astype(np.int64)
    b_to_a = np.bincount(group, weights=np.where(forward, 0, count), minlength=len(pair)).astype(np.int64)
    replies = a_to_b + b_to_a
    # most replies first, then by names (pair codes follow source, author a, author b)
    top = np.lexsort((pair, -replies))[:n]
    source_of, a_of, b_of = pair[top] // (base * base), pair[top] // base % base, pair[top] % base
    return pd.DataFrame({
        "source": sources.take(source_of), "author_a": names.take(a_of), "author_b": names.take(b_of),
        "a_to_b": a_to_b[top], "b_to_a": b_to_a[top], "replies": replies[top],
    }).astype({"source": "str", "author_a": "str", "author_b": "str"})


def _dated_identified(comments: pd.DataFrame, params: EngagementParams,
                      keyed: _Keyed | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Comments with a timestamp, and the subset whose author is identified, with author codes."""
    frame = (keyed or keyed_authors(comments, params)).frame
    dated = frame[frame["created_at"].notna()]
    return dated, dated[dated["author_class"] != "missing"]


def _week_start(times: pd.Series) -> pd.Series:
    """Monday 00:00 UTC of each timestamp's ISO week."""
    day = times.dt.floor("D")
    return day - pd.to_timedelta(day.dt.day_of_week, unit="D")


def activity_by_week(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                     keyed: _Keyed | None = None) -> pd.DataFrame:
    """Comments and authors per week (weeks start Monday 00:00 UTC).

    Returns
    -------
    DataFrame, one row per week that has a comment, sorted: ``week``
    (datetime64[us, UTC]), ``comments`` (all dated comments, any author class),
    ``active_authors`` (distinct identified authors), ``new_authors`` (whose
    first dated comment falls in the week), ``returning_authors`` (active -
    new). Undated comments are left out.
    """
    dated, identified = _dated_identified(comments, params, keyed)
    week = _week_start(dated["created_at"])
    counts = week.value_counts().rename("comments")
    author_weeks = pd.DataFrame({"code": identified["code"], "week": week[identified.index]}).drop_duplicates()
    active = author_weeks["week"].value_counts().rename("active_authors")
    first_week = author_weeks.groupby("code")["week"].min()
    new = first_week.value_counts().rename("new_authors")
    out = pd.concat([counts, active, new], axis=1, sort=True).fillna(0).astype("int64")
    out["returning_authors"] = out["active_authors"] - out["new_authors"]
    out.index = out.index.astype("datetime64[us, UTC]")
    return out.rename_axis("week").reset_index()


def retention_by_cohort(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                        keyed: _Keyed | None = None) -> pd.DataFrame:
    """Retention of identified authors by the calendar month (UTC) of their first comment.

    Long form; ``.pivot(index="cohort", columns="months_since", values="share")``
    gives the usual cohort x months-since matrix.

    Returns
    -------
    DataFrame, one row per (cohort, months_since) with at least one active author:
    ``cohort`` (str, "YYYY-MM"), ``months_since`` (int64 >= 0),
    ``active_authors`` (cohort authors who commented that month),
    ``cohort_authors``, ``share`` (active / cohort size, 0..1; 1 at month 0).
    """
    _, identified = _dated_identified(comments, params, keyed)
    times = identified["created_at"]
    month = (times.dt.year * 12 + times.dt.month - 1).to_numpy()
    active = pd.DataFrame({"code": identified["code"].to_numpy(), "month": month}).drop_duplicates()
    active["first"] = active.groupby("code")["month"].transform("min")
    active["months_since"] = active["month"] - active["first"]
    table = active.groupby(["first", "months_since"]).size().rename("active_authors").reset_index()
    sizes = table.loc[table["months_since"] == 0].set_index("first")["active_authors"]
    table["cohort_authors"] = table["first"].map(sizes)
    table["share"] = table["active_authors"] / table["cohort_authors"]
    year, month0 = np.divmod(table["first"].to_numpy(), 12)
    table.insert(0, "cohort", pd.array([f"{y:04d}-{m + 1:02d}" for y, m in zip(year, month0)], dtype="str"))
    return table.drop(columns="first").astype({"months_since": "int64", "active_authors": "int64",
                                               "cohort_authors": "int64"})


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
    frame = (keyed or keyed_authors(comments, params)).frame
    # integer codes throughout: grouping a million comments by string keys three times cost most of a second
    article = frame.groupby(ARTICLE_KEY, sort=True).ngroup().to_numpy()  # -1 where a key is missing
    known = article >= 0
    first_rows = np.unique(article[known], return_index=True)[1]
    n = len(first_rows)
    out = frame.loc[known, ARTICLE_KEY].iloc[first_rows].reset_index(drop=True)
    identified = (frame["author_class"] != "missing").to_numpy()
    out["comments"] = np.bincount(article[known], minlength=n).astype("int64")
    out["unattributed_comments"] = np.bincount(article[known & ~identified], minlength=n).astype("int64")
    # comments per (article, author), an article's authors from the most prolific down, ties by author key (codes
    # follow the keys' order)
    code = frame["code"].to_numpy()[known & identified].astype(np.int64)
    pair, per_author = np.unique(article[known & identified] * (int(code.max(initial=0)) + 1) + code,
                                 return_counts=True)
    of_article = pair // (int(code.max(initial=0)) + 1)
    order = np.lexsort((pair, -per_author, of_article))
    of_article, per_author = of_article[order], per_author[order]
    participants = np.bincount(of_article, minlength=n)
    rank = np.arange(len(of_article)) - (np.cumsum(participants) - participants)[of_article]
    top = rank < np.maximum(np.ceil(params.top_share * participants[of_article] - 1e-9), 1)
    attributed = np.bincount(of_article, weights=per_author, minlength=n)
    top_comments = np.bincount(of_article, weights=np.where(top, per_author, 0), minlength=n)
    out["participants"] = participants.astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["comments_per_participant"] = np.where(participants > 0, attributed / participants, np.nan)
        out["top_authors_share"] = np.where(attributed > 0, top_comments / attributed, np.nan)
    return out


# ---- the tables a run writes for the insights pages --------------------------

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


def insight_columns(params: EngagementParams = EngagementParams()) -> list[str]:
    """The comment columns :func:`insight_tables` reads."""
    return list(dict.fromkeys(["source", "comment_id", "article_id", "parent_id", "author", "created_at",
                               "thread_id", "depth", *params.staff_columns]))


def _per_source(comments: pd.DataFrame, table) -> pd.DataFrame:
    """``table(one source's comments)`` for each source, stacked with a leading ``source`` column."""
    parts = []
    sources = comments["source"].unique()
    # one source (the usual case): its comments are the frame itself, not a copy of every column
    groups = [(sources[0], comments)] if len(sources) == 1 and pd.notna(sources[0]) else \
        comments.groupby("source", sort=True)
    for source, group in groups:
        part = table(group)
        part = part.drop(columns="source", errors="ignore")
        part.insert(0, "source", pd.array([source] * len(part), dtype="str"))
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"source": pd.array([], dtype="str")})


def insight_tables(comments: pd.DataFrame, params: EngagementParams = EngagementParams(),
                   keyed: _Keyed | None = None) -> dict[str, pd.DataFrame]:
    """Every table of :data:`INSIGHT_TABLES` over the comments (a pure stage; authors are keyed per source).

    Parameters
    ----------
    comments : DataFrame
        Canonical comments (threads resolved or not), any number of sources.
    params : EngagementParams
        Who is staff (``staff_names``, ``staff_patterns``, ``staff_columns``) and how authors are classed.
    keyed : :func:`keyed_authors` of ``comments`` (made here when not given)

    Returns
    -------
    dict of name -> DataFrame, keys in the order of :data:`INSIGHT_TABLES`;
    every frame has a ``source`` column.
    """
    comments = _resolved(comments)
    # only what the tables read: grouping a frame of every scored column by source would copy all of it
    comments = comments[[column for column in insight_columns(params) if column in comments]]

    # authors are keyed once for the whole corpus and once per source (the per-source tables), not per table
    keyed, by_source = keyed or keyed_authors(comments, params), {}

    def keyed_of(group: pd.DataFrame) -> _Keyed:
        if group is comments:  # the only source: keyed as the whole corpus is
            return keyed
        source = group["source"].iat[0]
        if source not in by_source:
            by_source[source] = keyed_authors(group, params)
        return by_source[source]

    def overall(group: pd.DataFrame) -> pd.DataFrame:
        measures = staff_responsiveness(group, params, keyed_of(group))[1]
        return pd.DataFrame({
            "threads": [int(measures["threads"])],
            "threads_with_staff_reply": [int(measures["threads_with_staff_reply"])],
            "share_threads_with_staff_reply": [float(measures["share_threads_with_staff_reply"])],
            # the median of no replies is a bare NaT, which pandas would take for a datetime
            "median_time_to_first_staff_reply": pd.to_timedelta([measures["median_time_to_first_staff_reply"]])
            .astype("timedelta64[us]"),
            "staff_authors": [int(measures["staff_authors"])],
        })

    network = reply_network(comments, params, keyed)

    def network_reciprocity(group: pd.DataFrame) -> pd.DataFrame:
        edges = _identified_edges(group)
        return pd.DataFrame({"reciprocity": [reciprocity(group)], "directed_pairs": [len(edges)]})

    return {
        "staff_overall": _per_source(comments, overall),
        "staff_by_article": staff_responsiveness(comments, params, keyed)[0],
        "staff_by_month": staff_responsiveness_by_month(comments, params, keyed),
        "reply_network": network,
        "reply_pairs": _per_source(network, lambda group: top_pairs(group, TOP_PAIRS_PER_SOURCE)),
        "reciprocity": _per_source(network, network_reciprocity),
        "activity_by_week": _per_source(comments, lambda group: activity_by_week(group, params, keyed_of(group))),
        "retention_by_cohort": _per_source(comments, lambda group: retention_by_cohort(group, params,
                                                                                        keyed_of(group))),
        "article_participation": article_participation(comments, params, keyed),
    }


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
