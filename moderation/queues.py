"""Moderation queues: the comments a stage flagged, filtered and sorted by the measure behind the flag.

The dashboard and ``python -m moderation export --queue NAME`` call :func:`queue`
and :func:`to_csv`; the queue definitions are the table in ``docs/CONTRACTS.md``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Queue:
    """One queue: membership column, sort columns (descending), reason column, and the stage that makes them."""

    member: str
    sort: tuple[str, ...]
    reason: str
    stage: str


_VOTES = "the vote stage (moderation.votes.score_votes)"
QUEUES = {
    "heavily_up": Queue("is_heavily_up", ("vote_rank_up",), "vote_reason", _VOTES),
    "heavily_down": Queue("is_heavily_down", ("vote_rank_down",), "vote_reason", _VOTES),
    "controversial": Queue("is_controversial", ("controversy", "vote_total"), "vote_reason", _VOTES),
    "anomalous": Queue("is_vote_anomaly", ("vote_anomaly",), "vote_reason", _VOTES),
    "offtopic": Queue("is_offtopic_speculation", ("offtopic_speculation_score",), "offtopic_reason",
                      "the off-topic stage (moderation.offtopic.flag_offtopic_speculation)"),
}


_READABLE = r"[^\W_]"  # at least one letter or digit: an image-only answer (empty text) has nothing to read
# the rule's answer per comment, as a run writes it (comments.parquet): what the dashboard reads instead of the text
READABLE = "has_readable_text"
# what a queue does with comments without readable text: leave them out (the default), include them, or only them
WITHOUT_TEXT = ("leave_out", "include", "only")


def readable(comments: pd.DataFrame) -> np.ndarray:
    """Boolean array of shape (n_comments,): comments whose text has something to read (a letter or digit);
    the :data:`READABLE` column when ``comments`` carry it.

    The one rule for every queue: a comment without one (an image-only answer, an empty or
    punctuation-only text) cannot be judged from its text, so :func:`queue` and
    :func:`review_queue` leave it out unless asked, and their callers say how many.
    """
    if READABLE in comments:
        return comments[READABLE].to_numpy(dtype=bool)
    return comments["text"].str.contains(_READABLE, regex=True).fillna(False).to_numpy(dtype=bool)


def _text_rule(comments: pd.DataFrame, keep: np.ndarray, without_text: str) -> np.ndarray:
    """``keep`` (boolean array) narrowed by ``without_text`` (one of :data:`WITHOUT_TEXT`); the text is read
    only for the rows ``keep`` already holds."""
    if without_text not in WITHOUT_TEXT:
        raise ValueError(f"without_text must be one of {', '.join(WITHOUT_TEXT)}, not {without_text!r}")
    if without_text == "include":
        return keep
    rows = np.flatnonzero(keep)
    # the text column alone, then the rows: taking whole rows of a wide frame costs seconds at a million
    column = READABLE if READABLE in comments else "text"
    has_text = readable(comments[[column]].iloc[rows]) if len(rows) else np.zeros(0, dtype=bool)
    out = np.zeros(len(keep), dtype=bool)
    out[rows] = has_text if without_text == "leave_out" else ~has_text
    return out


def _votes_at_least(comments: pd.DataFrame, min_votes: int) -> pd.Series:
    """Rows with at least ``min_votes`` votes cast; for score-only sources ``|net|`` is the (lower-bound) count."""
    if "vote_total" in comments:
        cast = comments["vote_total"]
    else:
        cast = pd.Series(pd.NA, index=comments.index, dtype="Int64")
    if "vote_net" in comments:
        cast = cast.fillna(comments["vote_net"].abs())
    return cast.fillna(0) >= min_votes


def queue(comments: pd.DataFrame, name: str, article=None, since=None, until=None, author=None,
          min_votes: int = 0, source=None, members_only: bool = True, without_text: str = "leave_out") -> pd.DataFrame:
    """The members of queue ``name``, filtered, sorted by the queue's measure (descending), with a ``reason``.

    Parameters
    ----------
    comments : DataFrame
        Scored comments (the stage named in :data:`QUEUES` must have run).
    name : str
        A key of :data:`QUEUES`.
    article, author, source : str or list of str, optional
        Keep only these article ids, authors, sources.
    since, until : date or ISO date text, optional
        Keep comments created on calendar days (UTC) ``since`` to ``until``, both
        inclusive (:func:`created_between`, the dashboard's date filter too).
    min_votes : int
        Keep comments with at least this many votes (``vote_total``; ``|vote_net|``
        where a source has only a net score).
    members_only : bool
        False ranks every comment that passes the filters by the queue's measure, members or
        not: a small discussion whose comments all stay below a threshold still shows its top ones.
    without_text : {"leave_out", "include", "only"}
        Comments without readable text (:func:`readable`: image-only answers) are left out by
        default; "only" gives just those (how many were left out), "include" both.

    Returns
    -------
    DataFrame: the member rows (all columns) plus ``queue``, ``in_queue`` (the membership flag) and
    ``reason``, sorted by the queue's sort columns descending (NA last, ties in source order).

    Raises
    ------
    ValueError
        For an unknown queue name (the known ones are named) or when a column of
        the queue is missing (the stage that makes it is named).
    """
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}; known queues: {', '.join(QUEUES)}")
    spec = QUEUES[name]
    missing = [c for c in (spec.member, *spec.sort, spec.reason) if c not in comments]
    if missing:
        raise ValueError(f"queue {name!r} needs column(s) {', '.join(missing)}: run {spec.stage} first")

    in_queue = comments[spec.member].fillna(False).astype(bool)
    keep = in_queue.copy() if members_only else pd.Series(True, index=comments.index)
    for column, wanted in (("article_id", article), ("author", author), ("source", source)):
        if wanted is not None:
            keep &= comments[column].isin([wanted] if isinstance(wanted, str) else list(wanted))
    if since is not None or until is not None:
        keep &= created_between(comments["created_at"], since, until)
    if min_votes:
        keep &= _votes_at_least(comments, min_votes)

    kept = np.flatnonzero(_text_rule(comments, keep.to_numpy(dtype=bool), without_text))
    # sort the kept rows' sort columns alone, then take every column once: ranking a million comments
    # ("below the threshold") copies the wide frame one time, not three
    ranks = comments[list(spec.sort)].iloc[kept].reset_index(drop=True)
    order = kept[ranks.sort_values(list(spec.sort), ascending=False, na_position="last", kind="stable").index]
    out = comments.take(order)
    out["queue"] = name
    out["in_queue"] = in_queue.to_numpy()[order]
    out["reason"] = out[spec.reason]
    return out


def as_day(value) -> date:
    """A calendar day from a date, a datetime (its UTC day; naive values are UTC) or ISO text ("2024-01-31").

    Raises ValueError naming the value when it is not a date.
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not a date (write it as YYYY-MM-DD)") from None
    if pd.isna(stamp):
        raise ValueError(f"{value!r} is not a date (write it as YYYY-MM-DD)")
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).date()


def created_between(times: pd.Series, since=None, until=None) -> pd.Series:
    """Boolean Series (same index): ``times`` on calendar days (UTC) ``since`` to ``until``, both inclusive.

    The one date filter of the project: the dashboard's From/To, ``export --since/--until``
    and the insights pages' weeks and months all go through it. ``None`` leaves that side
    open; missing times are never inside a range.
    """
    keep = pd.Series(True, index=times.index)
    if since is not None:
        start = pd.Timestamp(as_day(since), tz="UTC")
        keep &= (times >= start).fillna(False)
    if until is not None and as_day(until) < date.max:  # the last day there is has no next day: nothing ends after it
        end = pd.Timestamp(as_day(until) + timedelta(days=1), tz="UTC")
        keep &= (times < end).fillna(False)
    return keep.astype(bool)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` whose text cells cannot run as spreadsheet formulas.

    Following OWASP's "CSV Injection" advice, a text cell that starts with
    ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``, which
    spreadsheets show but do not evaluate. Numbers are left as numbers.
    Cells holding lists (reactions) are written as their text.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object:
            values = values.map(_as_text)
            risky = values.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_STARTS)).astype(bool)
        elif pd.api.types.is_string_dtype(values.dtype):
            risky = values.str.startswith(_FORMULA_STARTS).fillna(False).astype(bool)
        else:
            continue
        out[column] = values.where(~risky, "'" + values[risky].astype("str"))
    return out


def _as_text(value):
    """A list-like cell (reactions) as its text; anything else unchanged."""
    return str(list(value)) if isinstance(value, (list, tuple, np.ndarray)) else value


def to_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as UTF-8 CSV (no index) with formulas neutralised; returns the path.

    Every field is quoted, so text with commas, quotes or line breaks stays one cell.
    """
    path = Path(path)
    neutralise_formulas(frame).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC, encoding="utf-8")
    return path


# ---- the review queue: every flag in one prioritised list -------------------------

def review_queue(comments: pd.DataFrame, reasons=None, without_text: str = "leave_out") -> pd.DataFrame:
    """One prioritised queue over every flag: each comment in at least one of ``reasons``' queues, once.

    A comment's *standing* in one queue is ``1 - rank / members`` (1.0 for the top of
    that queue by its own measure, near 0 for the last member), so queues on
    different scales compare. ``priority = best standing + (number of reasons - 1)``:
    comments with more reasons come first, then the ones nearest the top of any of
    their queues. Comments without readable text (image-only answers) are left out
    unless ``without_text`` says otherwise (as in :func:`queue`).

    Parameters
    ----------
    comments : DataFrame
        Scored comments, already filtered (``moderation.reports.filter_comments``).
    reasons : iterable of str, optional
        Queue names (keys of :data:`QUEUES`) to combine; default every queue whose
        columns the pipeline wrote. A queue added to :data:`QUEUES` joins automatically.
    without_text : {"leave_out", "include", "only"}
        What to do with comments without readable text (:func:`readable`).

    Returns
    -------
    DataFrame indexed like ``comments`` (the member rows only), sorted by ``priority``
    descending (ties in source order), columns ``source``, ``comment_id``, ``reasons``
    (queue names joined by ", ", in :data:`QUEUES` order), ``n_reasons``, ``priority``.
    """
    names = [n for n in (QUEUES if reasons is None else reasons) if n in QUEUES]
    names = [n for n in names if all(c in comments for c in (QUEUES[n].member, *QUEUES[n].sort))]
    n = len(comments)
    flagged = np.zeros(n, dtype=bool)
    for name in names:
        flagged |= comments[QUEUES[name].member].fillna(False).to_numpy(dtype=bool)
    text_ok = _text_rule(comments, flagged, without_text)  # the text is read for flagged comments only
    standing = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    labels = np.full(n, "", dtype=object)
    for name in names:
        spec = QUEUES[name]
        member = comments[spec.member].fillna(False).to_numpy(dtype=bool) & text_ok
        rows = np.flatnonzero(member)
        if not len(rows):
            continue
        measure = comments[list(spec.sort)].iloc[rows].reset_index(drop=True)
        order = measure.sort_values(list(spec.sort), ascending=False, na_position="last", kind="stable").index
        queue_standing = np.empty(len(rows))
        queue_standing[order.to_numpy()] = 1.0 - np.arange(len(rows)) / len(rows)
        standing[rows] = np.maximum(standing[rows], queue_standing)
        count[rows] += 1
        labels[rows] = np.where(labels[rows] == "", name, labels[rows] + ", " + name)
    rows = np.flatnonzero(count > 0)
    out = pd.DataFrame({
        # the members' keys only: a text column of a million comments as Python strings costs a tenth of a second
        "source": comments["source"].iloc[rows].to_numpy(),
        "comment_id": comments["comment_id"].iloc[rows].to_numpy(),
        "reasons": pd.array(labels[rows], dtype="str"),
        "n_reasons": count[rows],
        "priority": standing[rows] + count[rows] - 1,
    }, index=comments.index[rows])
    return out.sort_values("priority", ascending=False, kind="stable")
