"""The read side the dashboard calls: a results folder in, display-ready frames out.

Nothing here draws a widget and nothing computes a score: the stages wrote
the scores, this module selects, filters, joins decisions and shapes small
frames for the pages. Every function takes frames and plain values so that
it can be tested without Streamlit, and works on a million comments by
boolean masks and group-bys (pages show the top rows, never the whole table).
"""

from __future__ import annotations

import functools
import html
import json
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from moderation import catalog, engagement, queues, schema

# queue -> the boolean column saying who is in it
QUEUE_MEMBER = {name: spec.member for name, spec in queues.QUEUES.items()}
VOTE_QUEUES = tuple(name for name, spec in queues.QUEUES.items() if spec.reason == "vote_reason")

# columns shown for every comment row, then per-queue evidence, when present
# author, text and the queue's reason first, so a moderator reads them without scrolling; identifiers after
_COMMENT_COLUMNS = ["author", "text", "reason", "created_at", "in_queue", "source", "article_id", "comment_id"]
_VOTE_COLUMNS = [
    "upvotes", "downvotes", "score", "vote_total", "vote_net", "upvote_ratio", "wilson_lower",
    "wilson_lower_down", "controversy", "vote_anomaly", "vote_flag", "vote_reason",
]
_OFFTOPIC_COLUMNS = [
    "offtopic_speculation_score", "offtopic_score", "speculation_score", "topic_id", "topic_terms",
    "offtopic_reason",
]
# similarity columns the off-topic stage may add (to the article, parent, thread)
_SIMILARITY_PREFIXES = ("similarity_", "sim_")


# the columns the dashboard computes with over every comment (filters, queues and their measures, counts,
# charts, reply trees, profiles): read when the results open. Not the text: more than half of that read at a
# million comments, and pages show the text of a few rows (:meth:`Results.with_text`); whether it is readable
# the run wrote (``queues.READABLE``), and the text search reads it a row group at a time (``catalog.Table.scan``)
WORKING_COLUMNS = [
    *(column for column in schema.columns("comments") if column != "text"), "vote_total", "vote_net", "topic_id",
    "offtopic_score", "speculation_score", queues.READABLE,
    *dict.fromkeys(column for spec in queues.QUEUES.values() for column in (spec.member, *spec.sort)),
]
# what the pages show or explain for the comments in view (queue tables, cards, threads, evidence): read the
# first time a page shows one (:meth:`Results.shown`); columns of neither list (the off-topic model's other
# components) are read only when asked for by name (:meth:`Results.comments_with`)
SHOWN_COLUMNS = [*_VOTE_COLUMNS, *_OFFTOPIC_COLUMNS, "is_vote_anomaly", "vote_anomaly_features", "vote_burst_reason",
                 "speculation_cues", "is_speculative"]


@dataclass
class Results:
    """The frames of one results folder (empty frames for the parts a stage has not written).

    The comments are read by column (``moderation.catalog.Table``): :attr:`comments` holds
    :data:`WORKING_COLUMNS`, :meth:`shown` adds what a page shows for some of them, :meth:`with_text` their text,
    and :meth:`comments_with` any other column: opening a million comments reads 31 of their 88 columns.
    """

    folder: Path
    comment_table: catalog.Table
    articles: pd.DataFrame
    authors: pd.DataFrame
    vote_events: pd.DataFrame
    topics: pd.DataFrame
    problems: pd.DataFrame
    # the results version every file is read from (``catalog.current`` when the read started)
    version: Path

    @functools.cached_property
    def insights(self) -> dict[str, pd.DataFrame]:
        """``engagement.insight_tables`` as the run wrote them (name -> frame; missing files are left out), read
        the first time a page asks: the reply network alone is half a million rows at a million comments."""
        return {name: _read(self.version / file) for name, file in catalog.INSIGHT_FILES.items()
                if (self.version / file).exists()}

    @property
    def comments(self) -> pd.DataFrame:
        """Every comment, :data:`WORKING_COLUMNS` (those the file has; ``queues.READABLE`` always), indexed by row
        position."""
        return self.comments_with(())

    def comments_with(self, columns) -> pd.DataFrame:
        """Every comment, :data:`WORKING_COLUMNS` and ``columns`` (those the file has; ``queues.READABLE``
        always)."""
        frame = self.comment_table.frame([*WORKING_COLUMNS, *columns])
        if queues.READABLE not in frame:
            frame[queues.READABLE] = self._readable
        return frame

    @functools.cached_property
    def _readable(self) -> np.ndarray:
        """``queues.readable`` of every comment, its text read a row group at a time (once): for a folder written
        before runs stored it."""
        return self.comment_table.scan(["text"], queues.readable).astype(bool)

    def with_text(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (rows of :attr:`comments`, indexed as it is) with their ``text``, read from the row groups
        holding them (never kept whole); ``frame`` itself when it has the text."""
        if "text" in frame:
            return frame
        text = self.comment_table.rows_at(frame.index.to_numpy(), ["text"], keep=False)
        return frame.assign(text=text["text"].set_axis(frame.index))

    def read_ahead(self) -> None:
        """Read in the background (once) what pages show beyond the working columns: every column of
        :data:`SHOWN_COLUMNS`, the similarity columns and the queues' reasons, so that the first queue table is
        as quick as the next one."""
        reasons = [spec.reason for spec in queues.QUEUES.values()]
        self.comment_table.read_ahead(dict.fromkeys([*reasons, *self._shown_columns]))

    @property
    def _shown_columns(self) -> list[str]:
        """:data:`SHOWN_COLUMNS`, then the similarity columns the file has."""
        return [*SHOWN_COLUMNS, *(c for c in self.comment_table.names if c.startswith(_SIMILARITY_PREFIXES))]

    def shown(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (rows of :attr:`comments`, indexed as it is) with its text (:meth:`with_text`) and every
        column of :data:`SHOWN_COLUMNS` and similarity column the file has and ``frame`` lacks, for its rows."""
        frame = self.with_text(frame)
        missing = [c for c in self._shown_columns if c not in frame]
        if not missing:
            return frame
        extra = self.comment_table.rows_at(frame.index.to_numpy(), missing)
        return pd.concat([frame, extra.set_axis(frame.index)], axis=1)


_CHECKED_ROWS = 1000


def load_results(folder: str | Path) -> Results:
    """Read ``articles``, ``authors``, ``vote_events``, ``topics`` (parquet), ``problems.csv`` and the
    comments' :data:`WORKING_COLUMNS`; the comments' other columns and the engagement tables
    (:attr:`Results.insights`) are read when asked for.

    Every file comes from the same run: the version ``DIR/current`` points at
    when the read starts (:func:`moderation.catalog.current`), so a run
    finishing meanwhile never mixes its files with the previous ones.
    Scored comments and authors are checked against their schemas (columns
    and types; the comments' types from the file's schema, every column, read or not). Missing files give
    empty frames (canonical columns for the canonical tables), so a folder from a partial pipeline still opens.
    The comments file may be a folder of Parquet parts (the Dask engine's).

    Raises
    ------
    schema.OutputError
        When a file cannot be read, or comments.parquet or authors.parquet lacks a column or has it with another
        type.
    """
    folder = Path(folder)
    version = catalog.current(folder)
    problems_path = version / catalog.PROBLEMS_FILE
    problems = pd.read_csv(problems_path, dtype="str") if problems_path.exists() else schema.problems_frame([])
    results = Results(
        folder=folder,
        comment_table=_comment_table(version / "comments.parquet"),
        articles=_read(version / "articles.parquet", "articles"),
        authors=_read(version / "authors.parquet", model="authors"),
        vote_events=_read(version / "vote_events.parquet", "vote_events"),
        topics=_read(version / "topics.parquet"),
        problems=problems,
        version=version,
    )
    try:
        results.comments  # read now: the first page must not pay for it, and a damaged file is said at once
    except (OSError, ValueError) as error:
        raise schema.OutputError(f"{version / 'comments.parquet'}: cannot be read "
                                 f"({str(error).splitlines()[0]})") from error
    return results


def _read(path: Path, table: str | None = None, model: str | None = None) -> pd.DataFrame:
    """The Parquet file ``path``, its columns and dtypes checked against ``model``'s schema when given; a missing
    file is an empty frame (of ``table``'s canonical columns when given)."""
    if not path.exists():
        return schema.empty(table) if table else pd.DataFrame()
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as error:  # a damaged file (pyarrow's ArrowInvalid is a ValueError)
        raise schema.OutputError(f"{path}: cannot be read ({str(error).splitlines()[0]})") from error
    if model:
        # columns and dtypes only: the first rows carry them, and pandera over a million rows costs seconds
        schema.check_output(frame.head(_CHECKED_ROWS), model, str(path), data=False)
    return frame


def _comment_table(path: Path) -> catalog.Table:
    """The comments file as a :class:`catalog.Table`, its columns and dtypes checked from its schema (every
    column, without reading one); a missing file is an empty table of the canonical columns."""
    if not path.exists():
        return catalog.Table.of(schema.empty("comments"))
    try:
        table = catalog.Table(path)
    except (OSError, ValueError) as error:
        raise schema.OutputError(f"{path}: cannot be read ({str(error).splitlines()[0]})") from error
    if table.rows:
        schema.check_output(table.empty, "scored_comments", str(path), data=False, typed=True)
    return table


def article_rows(comments: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """(source, article_id) -> the row positions (``iloc``) of that article's comments, in frame order.

    Made once per results version: a thread is then ``comments.iloc[rows]`` instead of a scan of every
    comment (0.25 s at a million comments, on every card of a new article).
    """
    return comments.groupby(schema.ARTICLE_KEY, sort=False).indices


def article_thread(comments: pd.DataFrame, rows: dict[tuple[str, str], np.ndarray], source: str | None,
                   article: str) -> pd.DataFrame:
    """One article's comments (``rows`` from :func:`article_rows`); without ``source``, the first source having it
    (empty when none has it)."""
    if source is None:
        source = next((s for s, a in rows if a == article), None)
    return comments.iloc[rows.get((source, article), np.zeros(0, dtype=np.intp))]


def offtopic_combiner_note(folder: str | Path) -> str | None:
    """One sentence on the combiner that made ``offtopic_score`` (from ``offtopic_combiner.json``); None if absent."""
    path = catalog.current(folder) / catalog.COMBINER_FILE
    if not path.exists():
        return None
    combiner = json.loads(path.read_text())
    learned = f"weights learned with train-offtopic ({combiner.get('file')})"
    origin = "the shipped combiner" if combiner.get("shipped") else learned
    note = f"Off-topic scores come from {origin}, trained on {combiner.get('trained_on', 'unknown data')}"
    if "cv_auc" in combiner:
        note += f"; ROC AUC {combiner['cv_auc']:.2f} on discussions it did not see"
    if "conjecture" in combiner:
        note += "; speculation scores from the desk's learned model"
    note += "."
    adopted = Path(folder) / "offtopic_weights_adopted.json"  # pipeline.ADOPTED_FILE (Teach page)
    if adopted.exists() and Path(str(combiner.get("file"))).resolve() != adopted.resolve():
        note += (" Weights learned on the Teach page are adopted: the next run or import into this folder "
                 "scores with them.")
    return note


def run_history(runs: pd.DataFrame) -> pd.DataFrame:
    """The store's runs (``Store.runs``) for display, newest first: run_id, command, status, started_at, records,
    problems, inputs (one string); a run that never finished reads "running or killed"."""
    shown = runs[["run_id", "command", "status", "started_at", "records", "problems", "inputs", "message"]].copy()
    shown["status"] = shown["status"].replace({"running": "running or killed"})
    shown["inputs"] = shown["inputs"].map(", ".join).astype("str")
    return shown.reset_index(drop=True)


@dataclass(frozen=True)
class Filters:
    """The sidebar's global filters; ``None`` or empty means "all".

    ``since``/``until`` are calendar days (UTC), both inclusive
    (:func:`moderation.queues.created_between`, as in ``export``). ``author``
    and ``text`` are case-insensitive substrings of the author's name and of
    the comment text (not patterns).
    """

    source: str | None = None
    article: str | None = None
    since: date | None = None
    until: date | None = None
    author: str | None = None
    text: str | None = None

    def to_query(self) -> dict[str, str]:
        """The filters as URL query parameters (only the ones that are set)."""
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(self).items() if v}

    @classmethod
    def from_query(cls, params) -> Filters:
        """Filters from URL query parameters; unreadable dates are ignored rather than fatal."""
        values = {}
        for f in fields(cls):
            value = params.get(f.name) or None
            if value is not None and f.name in ("since", "until"):
                try:
                    value = date.fromisoformat(str(value))
                except ValueError:
                    value = None
            values[f.name] = value
        return cls(**values)

    @property
    def active(self) -> bool:
        """True when at least one filter is set."""
        return bool(self.to_query())


def filter_mask(comments: pd.DataFrame, filters: Filters, table: catalog.Table | None = None) -> np.ndarray:
    """Boolean array of shape (n_comments,): the comments every set filter accepts.

    ``table`` holds the comments' text when ``comments`` lack it (the dashboard's rows, indexed by position in
    it): the text filter then reads it a row group at a time, for the rows the other filters kept.
    """
    mask = np.ones(len(comments), dtype=bool)
    if filters.source:
        mask &= (comments["source"] == filters.source).to_numpy()
    if filters.article:
        mask &= (comments["article_id"] == filters.article).to_numpy()
    if filters.author:
        found = comments["author"].str.contains(filters.author, case=False, regex=False)
        mask &= found.fillna(False).to_numpy(dtype=bool)
    if filters.since or filters.until:
        mask &= queues.created_between(comments["created_at"], filters.since, filters.until).to_numpy()
    if filters.text:
        def mentions(rows: pd.DataFrame) -> np.ndarray:
            return rows["text"].str.contains(filters.text, case=False, regex=False).fillna(False).to_numpy(dtype=bool)

        if "text" in comments:
            mask &= mentions(comments)
        else:
            mask[mask] = table.scan(["text"], mentions, comments.index.to_numpy()[mask]).astype(bool)
    return mask


def filter_comments(comments: pd.DataFrame, filters: Filters, table: catalog.Table | None = None) -> pd.DataFrame:
    """The comments the filters accept; the frame itself (no copy) when no filter is set (``table`` as for
    :func:`filter_mask`)."""
    return comments[filter_mask(comments, filters, table)] if filters.active else comments


def available_queues(comments: pd.DataFrame, names=tuple(QUEUE_MEMBER)) -> list[str]:
    """The queues among ``names`` whose membership column the pipeline has written."""
    return [name for name in names if QUEUE_MEMBER[name] in comments]


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame["source"].astype("str"), frame["comment_id"].astype("str")])


def with_decisions(frame: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus ``decision``, ``decided_by``, ``decision_reason`` from current decisions (NA if undecided)."""
    current = decisions.set_index(_keys(decisions))[["action", "moderator", "reason"]]
    joined = current.reindex(_keys(frame))
    out = frame.copy()
    out["decision"] = joined["action"].astype("str").to_numpy()
    out["decided_by"] = joined["moderator"].astype("str").to_numpy()
    out["decision_reason"] = joined["reason"].astype("str").to_numpy()
    return out


def decided_mask(frame: pd.DataFrame, decisions: pd.DataFrame) -> np.ndarray:
    """Boolean array of shape (len(frame),): rows with a current decision (matched by source and comment_id)."""
    # ids first (one hash lookup per row); keys are built only for the few rows that match an id
    mask = frame["comment_id"].isin(decisions["comment_id"]).to_numpy(dtype=bool, copy=True)
    if mask.any():
        mask[mask] = _keys(frame[mask]).isin(_keys(decisions))
    return mask


def undecided(frame: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` without a current decision."""
    return frame[~decided_mask(frame, decisions)]


def queue_view(
    members: pd.DataFrame, decisions: pd.DataFrame, show_decided: bool = False, limit: int = 200,
    results: Results | None = None,
) -> pd.DataFrame:
    """The first ``limit`` rows of a queue, in queue order, for display.

    Parameters
    ----------
    members : DataFrame
        A queue as :func:`moderation.queues.queue` returns it (sorted, with its reason column).
    decisions : DataFrame
        Current decisions (``Store.current_decisions``); decided comments are dropped
        unless ``show_decided``.
    results : Results, optional
        Where ``members`` come from: the shown rows get the columns a table shows (:meth:`Results.shown`).
    """
    # positions, not a filtered copy: a queue ranked over a million comments is shown 200 rows at a time
    if show_decided:
        rows = members.head(limit)
    else:
        rows = members.iloc[np.flatnonzero(~decided_mask(members, decisions))[:limit]]
    if results is not None:
        rows = results.shown(rows)
    return display_columns(with_decisions(rows, decisions))


def display_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The identifying, evidence and decision columns present in ``frame``, plus thread/profile links."""
    similarity = [c for c in frame.columns if c.startswith(_SIMILARITY_PREFIXES)]
    wanted = _COMMENT_COLUMNS + _VOTE_COLUMNS + _OFFTOPIC_COLUMNS + similarity
    wanted += ["flags", "decision", "decided_by", "decision_reason"]
    out = frame[[c for c in wanted if c in frame.columns]].copy()
    # a queue's reason is its stage's reason column: show it once
    if "reason" in out:
        out = out.drop(columns=[c for c in ("vote_reason", "offtopic_reason") if c in out and out[c].equals(out["reason"])])
    out.insert(0, "thread", thread_links(out))
    out.insert(1, "profile", profile_links(out["author"]))
    return out


def thread_links(frame: pd.DataFrame) -> list[str]:
    """Relative URL of each row's thread page, the comment marked (``thread?source=..&article=..&comment=..``)."""
    return [
        "thread?" + urlencode({"source": s, "article": a, "comment": c})
        for s, a, c in frame[["source", "article_id", "comment_id"]].itertuples(index=False)
    ]


def profile_links(authors: pd.Series) -> list[str | None]:
    """Relative URL of each author's profile page (None for a missing author).

    The profile is its own parameter (``authors?profile=NAME``), not the
    sidebar's author filter, so opening one does not filter every other page.
    """
    return [None if pd.isna(a) else "authors?" + urlencode({"profile": a}) for a in authors]


def flag_labels(frame: pd.DataFrame) -> pd.Series:
    """One string per row naming the queues the comment is in, e.g. ``"heavily_up, offtopic"`` ('' if none)."""
    labels = pd.Series("", index=frame.index, dtype="str")
    for name, column in QUEUE_MEMBER.items():
        if column in frame:
            member = frame[column].fillna(False).astype(bool)
            labels = labels.where(~member, labels + np.where(labels == "", "", ", ") + name)
    return labels


def without_text_note(count: int) -> str:
    """The sentence a queue shows about the comments it leaves out for want of readable text."""
    comments = "comment" if count == 1 else "comments"
    return (f"{count:,} {comments} without readable text (image-only answers) not shown; "
            "`python -m moderation export --queue NAME --without-text only --out FILE.csv` lists them.")


def empty_queue_hint(members: int, pending: int, shown_decided: bool, ranked_all: bool, min_votes: int,
                     filters_active: bool) -> str:
    """What to change when a queue shows nothing, naming the control that would show something.

    ``members`` is the queue's size after the filters (in_queue), ``pending`` those without a decision.
    """
    if members and not pending and not shown_decided:
        return (f"No comments in this queue without a decision: all {members:,} have one. Switch on 'Show decided "
                "comments' to see them.")
    hints = []
    if not ranked_all:
        hints.append("switch on 'Also comments below the threshold' to rank every comment by the queue's score")
    if min_votes:
        hints.append(f"lower 'Minimum votes' (now {min_votes})")
    if filters_active:
        hints.append("loosen the sidebar filters")
    if not hints:
        return "No comments match at all: these results have no comment with this queue's score."
    return "No comments in this queue for the current settings: " + "; or ".join(hints) + "."


def staff_list(authors: pd.DataFrame) -> pd.DataFrame:
    """The authors the run counted as staff: source, author, comments, replies_made, profile link."""
    if authors.empty or "is_staff" not in authors:
        return pd.DataFrame(columns=["profile", "source", "author", "comments", "replies_made"])
    staff = authors[authors["is_staff"].fillna(False).astype(bool)].sort_values("comments", ascending=False)
    out = staff[["source", "author", "comments", "replies_made"]].reset_index(drop=True)
    out.insert(0, "profile", profile_links(out["author"]))
    return out


# ---- overview -------------------------------------------------------------


# what each count of :func:`kpis` is, in the words the Overview and the CLI summary both show
KPI_MEANINGS = {
    "comments": "comments (every stored comment the filters accept)",
    "articles": "articles with at least one of those comments",
    "authors": "authors of those comments: distinct names per source, comments without an author not counted",
}


def kpis(comments: pd.DataFrame) -> dict[str, int]:
    """The counts the Overview and ``run``'s summary both report (see :data:`KPI_MEANINGS`).

    Articles nobody commented on are not counted (a results folder's
    ``articles.parquet`` may hold more); authors are identified handles
    (named or anonymous) per source, as in the author table.
    """
    # counted by number (pd.factorize) rather than by dropping duplicate rows of names: a third of the Overview's
    # first draw at a million comments
    handles, classes = engagement.handle_classes(comments["author"])
    identified = np.append(classes != "missing", False)[handles]  # an NA handle (-1) picks the appended False
    # an identified handle is its author key (engagement.author_key changes only NA and blank names)
    return {
        "comments": len(comments),
        "articles": _distinct_pairs(comments["source"], pd.factorize(comments["article_id"], use_na_sentinel=False)[0]),
        "authors": _distinct_pairs(comments["source"][identified], handles[identified]),
    }


def _distinct_pairs(sources: pd.Series, numbers: np.ndarray) -> int:
    """How many distinct (source, number) pairs there are (``numbers``: non-negative integers, one per source)."""
    codes = pd.factorize(sources, use_na_sentinel=False)[0].astype(np.int64)
    return len(pd.unique(codes * (int(numbers.max(initial=0)) + 1) + numbers))


def pending_comments(comments: pd.DataFrame, decisions: pd.DataFrame, readable: np.ndarray | None = None) -> int:
    """Distinct comments in at least one queue and without a current decision (a comment in two queues counts once),
    those without readable text left out as Review leaves them out: Review's "to review" count.

    ``readable`` is ``queues.readable(comments)`` when the caller keeps it (it reads every text).
    """
    readable = queues.readable(comments) if readable is None else readable
    member = _in_any_queue(comments, _memberships(comments))
    return int((member & readable & ~_decided_members(comments, decisions, member)).sum())


def _memberships(comments: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per available queue, whether each comment is a member (boolean arrays)."""
    return {name: comments[QUEUE_MEMBER[name]].fillna(False).to_numpy(dtype=bool) for name in available_queues(comments)}


def _in_any_queue(comments: pd.DataFrame, memberships: dict[str, np.ndarray]) -> np.ndarray:
    """Whether each comment is in at least one of ``memberships``' queues."""
    return np.logical_or.reduce([*memberships.values()], initial=False) if memberships else \
        np.zeros(len(comments), dtype=bool)


def _decided_members(comments: pd.DataFrame, decisions: pd.DataFrame, member: np.ndarray) -> np.ndarray:
    """:func:`decided_mask`, looked up for the ``member`` rows only (a few in a hundred of a large corpus)."""
    decided = np.zeros(len(comments), dtype=bool)
    at = np.flatnonzero(member)
    decided[at] = decided_mask(comments[["source", "comment_id"]].iloc[at], decisions)
    return decided


def queue_shares(comments: pd.DataFrame, decisions: pd.DataFrame, readable: np.ndarray | None = None) -> pd.DataFrame:
    """Per available queue: ``members`` (as the run counts them), ``share`` of comments (0..1), ``without_text``
    (members the queue pages leave out, ``queues.readable``; ``readable`` as for :func:`pending_comments`) and
    ``pending`` (the others without a decision)."""
    readable = queues.readable(comments) if readable is None else readable
    member = _memberships(comments)
    decided = _decided_members(comments, decisions, _in_any_queue(comments, member))
    rows = []
    for name, m in member.items():
        shown = m & readable
        rows.append({"queue": name, "members": int(m.sum()), "share": float(m.mean()) if len(m) else 0.0,
                     "without_text": int((m & ~shown).sum()), "pending": int((shown & ~decided).sum())})
    return pd.DataFrame(rows, columns=["queue", "members", "share", "without_text", "pending"])


def over_time(comments: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Comments and votes per period: index ``period`` (start time, every period from the first to the last,
    0 where nothing happened), columns ``comments``, ``votes``.

    Votes are ``vote_total`` when the vote stage ran, else up + down votes
    where the source has both (NA-free sum; sources with only a net score add 0).
    """
    votes = comments["vote_total"] if "vote_total" in comments else comments["upvotes"].add(comments["downvotes"])
    frame = pd.DataFrame({"created_at": comments["created_at"], "comments": 1, "votes": votes.astype("Float64")})
    frame = frame.dropna(subset=["created_at"])
    period = frame["created_at"].dt.tz_localize(None).dt.to_period(freq).dt.start_time
    out = frame.groupby(period)[["comments", "votes"]].sum()
    if len(out):  # a period without comments is a 0, not a gap a line chart would bridge
        every = pd.period_range(out.index.min(), out.index.max(), freq=freq).start_time
        out = out.reindex(every, fill_value=0)
    out.index.name = "period"
    return out


def vote_distribution(comments: pd.DataFrame, bins: int = 30) -> pd.DataFrame:
    """Histogram of the net score (``vote_net``, else ``score``) in whole-vote bins.

    Columns ``net_score`` (the bin's label: "3", "3 to 5", or "10 or more" /
    "-4 or less" for an end bin holding the extremes), ``lowest`` and
    ``highest`` (int, both inclusive, before extremes) and ``comments`` (int). One bin per
    value when the range is small, else at most about ``bins`` bins of equal
    whole width; the range spans the 1st to 99th percentile so a few extreme
    comments do not squash the rest, and values outside fall in the end bins.
    """
    net = comments["vote_net"] if "vote_net" in comments else comments["score"]
    values = pd.to_numeric(net, errors="coerce").dropna().to_numpy(dtype="float64")
    columns = ["net_score", "lowest", "highest", "comments"]
    if not len(values):
        return pd.DataFrame({c: [] for c in columns})
    low, high = int(np.floor(np.percentile(values, 1))), int(np.ceil(np.percentile(values, 99)))
    width = max(1, int(np.ceil((high - low + 1) / bins)))
    lowest = np.arange(low, high + 1, width)
    counts = np.bincount((np.clip(np.floor(values), low, high) - low).astype(int) // width, minlength=len(lowest))
    highest = lowest + width - 1
    label = [str(a) if a == b else f"{a} to {b}" for a, b in zip(lowest, highest)]
    # the end bins also hold the clipped extremes: say so
    if values.min() < low:
        label[0] = f"{highest[0]} or less"
    if values.max() > highest[-1]:
        label[-1] = f"{lowest[-1]} or more"
    return pd.DataFrame({"net_score": label, "lowest": lowest, "highest": highest, "comments": counts[:len(lowest)]})


def top_articles(comments: pd.DataFrame, articles: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` articles with the most comments: source, article_id, title, comments, authors, thread link."""
    top = comments.groupby(schema.ARTICLE_KEY, sort=False).size().nlargest(n).rename("comments").reset_index()
    # authors counted over the top articles' comments only: over every article it was most of this (0.2 s CPU at a
    # million comments)
    among = comments[comments["article_id"].isin(top["article_id"]).to_numpy()]
    authors = among.groupby(schema.ARTICLE_KEY, sort=False)["author"].nunique().rename("authors").reset_index()
    top = top.merge(authors, on=schema.ARTICLE_KEY, how="left")
    columns = schema.ARTICLE_KEY + ["title"]
    titles = articles[columns] if len(articles) else pd.DataFrame(columns=columns)
    top = top.merge(titles, on=schema.ARTICLE_KEY, how="left")
    top.insert(0, "thread", [
        "thread?" + urlencode({"source": s, "article": a}) for s, a in top[schema.ARTICLE_KEY].itertuples(index=False)
    ])
    return top[["thread", "source", "article_id", "title", "comments", "authors"]]


def article_labels(comments: pd.DataFrame, articles: pd.DataFrame, source: str | None, n: int) -> dict[str, str]:
    """article_id -> ``"title (source/article_id)"`` for the ``n`` most-commented articles (of ``source`` if set)."""
    if source:
        comments = comments[(comments["source"] == source).to_numpy()]
    top = comments.groupby(schema.ARTICLE_KEY, sort=False).size().nlargest(n).reset_index()
    if len(articles):
        top = top.merge(articles[schema.ARTICLE_KEY + ["title"]], on=schema.ARTICLE_KEY, how="left")
    else:
        top["title"] = None
    return {
        a: f"{'(untitled)' if pd.isna(t) else t} ({s}/{a})"
        for s, a, t in top[["source", "article_id", "title"]].itertuples(index=False)
    }


# ---- thread ---------------------------------------------------------------


def thread_view(comments: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """One article's comments in reading order (each reply under its parent, siblings by ``position``).

    Adds ``tree`` (the text indented by depth with ``"· "``), ``parent_link``
    (``"inferred"`` when the parent was inferred, ``"reply"``, or ``""`` for a
    top-level comment) and ``flags``; the decision columns come from ``decisions``.
    """
    ordered = comments.sort_values("position", kind="stable")
    ids = ordered["comment_id"].astype("str").to_numpy()
    parents = ordered["parent_id"].astype("str").to_numpy()
    known = set(ids)
    children: dict[str, list[int]] = {}
    roots = []
    for i, parent in enumerate(parents):
        if parent in known and parent != ids[i]:
            children.setdefault(parent, []).append(i)
        else:
            roots.append(i)
    order, stack, seen = [], roots[::-1], set()
    while stack:  # depth-first, siblings in source order; `seen` guards against cycles
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        order.append(i)
        stack.extend(children.get(ids[i], [])[::-1])
    order += [i for i in range(len(ids)) if i not in seen]
    out = ordered.iloc[order].copy()
    depth = out["depth"].fillna(0).astype(int).to_numpy()
    out["tree"] = [("· " * d) + ("" if pd.isna(t) else str(t)) for d, t in zip(depth, out["text"])]
    inferred = np.where(out["parent_inferred"].to_numpy(dtype=bool), "inferred", "reply")
    out["parent_link"] = np.where(out["parent_id"].isna().to_numpy(), "", inferred)
    out["flags"] = flag_labels(out)
    out = with_decisions(out, decisions)
    shown = ["tree", "author", "created_at", "parent_link", "flags", "decision"]
    shown += [c for c in _VOTE_COLUMNS + ["offtopic_speculation_score", "offtopic_reason"] if c in out]
    return out[shown + ["source", "article_id", "comment_id", "text", "depth"]]


# ---- off-topic evidence ---------------------------------------------------


def cue_spans(cues) -> pd.DataFrame:
    """The speculation cues of one comment as a frame: ``phrase``, ``start``, ``end`` (character offsets)."""
    if cues is None or (not isinstance(cues, (list, np.ndarray)) and pd.isna(cues)):
        cues = []
    frame = pd.DataFrame(list(cues), columns=["phrase", "start", "end"])
    return frame.astype({"start": "int64", "end": "int64"}).sort_values("start", ignore_index=True)


def offtopic_evidence(comment: pd.Series) -> pd.DataFrame:
    """One comment's off-topic evidence as rows ``measure``, ``value`` (text): scores, similarities, topic, reason.

    Fractions are rounded to two decimals (a moderator reads 0.25, not 0.2500000000000001).
    """
    wanted = _OFFTOPIC_COLUMNS + [c for c in comment.index if c.startswith(_SIMILARITY_PREFIXES)]
    shown = comment.reindex([c for c in wanted if c in comment.index])
    values = [f"{v:.2f}" if isinstance(v, (float, np.floating)) and not pd.isna(v) else str(v) for v in shown]
    return pd.DataFrame({"measure": shown.index, "value": values})


def cue_pieces(text: str, cues) -> list[tuple[str, bool]]:
    """``text`` cut at its cue spans: ``(piece, is_cue)`` pairs that join back to the text.

    Overlapping spans are merged; spans outside the text are clipped; empty pieces are dropped.
    """
    if pd.isna(text):
        return []
    pieces, cursor = [], 0
    for start, end in cue_spans(cues)[["start", "end"]].itertuples(index=False):
        start, end = max(start, cursor), min(end, len(text))
        if end <= start:
            continue
        pieces += [(text[cursor:start], False), (text[start:end], True)]
        cursor = end
    pieces.append((text[cursor:], False))
    return [(piece, cue) for piece, cue in pieces if piece]


def bracket_cues(text: str, cues) -> str:
    """``text`` with each cue span wrapped in ``[[`` and ``]]`` (plain text, for ``st.text``)."""
    return "".join(f"[[{piece}]]" if cue else piece for piece, cue in cue_pieces(text, cues))


def marked_cues(comment: pd.Series):
    """The cue spans to mark in ``comment``'s text: its ``speculation_cues`` when the comment is speculative, else None.

    Most comments hold a hedge ("would", "I think"); marking them where the speculation score is low would tell a
    moderator that the comment speculates when the score says it does not.
    """
    return _value(comment, "speculation_cues") if _value(comment, "is_speculative") else None


def highlighted_html(text: str, cues) -> str:
    """``text`` as inert HTML: every piece escaped, cue phrases in ``<mark>``, line breaks kept by the caller's CSS.

    Nothing of the comment can become markup: ``html.escape`` turns ``<``, ``>``, ``&`` and quotes
    into entities, and the result is meant for ``st.html`` (which does not read Markdown).
    """
    return "".join(
        f"<mark>{html.escape(piece)}</mark>" if cue else html.escape(piece) for piece, cue in cue_pieces(text, cues)
    )


# ---- authors ----------------------------------------------------------------


def author_leaderboard(authors: pd.DataFrame, sort_by: str, n: int = 100, ascending: bool = False) -> pd.DataFrame:
    """The ``n`` first authors by ``sort_by``, every engagement column kept, with a profile link first."""
    top = authors.sort_values(sort_by, ascending=ascending, na_position="last").head(n).copy()
    top.insert(0, "profile", profile_links(top["author"]))
    return top


def recent_comments(comments: pd.DataFrame, author: str, limit: int = 500) -> pd.DataFrame:
    """The author's latest ``limit`` comments, newest first, with their queue ``flags``."""
    own = comments[(comments["author"] == author).fillna(False).to_numpy(dtype=bool)]
    own = own.sort_values("created_at", ascending=False, na_position="last").head(limit).copy()
    own["flags"] = flag_labels(own)
    return own


def author_history(recent: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """:func:`recent_comments` ready for display, with scores, flags and current decisions."""
    return display_columns(with_decisions(recent, decisions))


def reply_neighbourhood(comments: pd.DataFrame, author: str) -> pd.DataFrame:
    """The comments an author's reply network depends on: theirs, their parents, and the replies to them.

    Small enough to hand to :func:`moderation.engagement.reply_network` for one profile.
    """
    own = (comments["author"] == author).fillna(False).to_numpy(dtype=bool)
    own_ids = pd.MultiIndex.from_arrays([comments["source"][own], comments["comment_id"][own]])
    parent_ids = pd.MultiIndex.from_arrays([comments["source"][own], comments["parent_id"][own]])
    keys = _keys(comments)
    is_parent = keys.isin(parent_ids)
    is_reply = pd.MultiIndex.from_arrays([comments["source"], comments["parent_id"]]).isin(own_ids)
    return comments[own | is_parent | is_reply]


# ---- topics -----------------------------------------------------------------


def topic_table(topics: pd.DataFrame, comments: pd.DataFrame) -> pd.DataFrame:
    """The topics table (as the pipeline wrote it) with ``comments_matching``: comments per topic after filters.

    Sorted by ``topic_id`` as a number; ``comments_matching`` is an int.
    """
    matching = comments["topic_id"].value_counts().rename("comments_matching").rename_axis("topic_id").reset_index()
    table = matching if topics.empty else topics.merge(matching, on="topic_id", how="left")
    table = table.fillna({"comments_matching": 0}).astype({"comments_matching": "int64"})
    return table.sort_values("topic_id", key=lambda ids: pd.to_numeric(ids, errors="coerce"), ignore_index=True)


def topic_names(topics: pd.DataFrame) -> dict:
    """topic_id -> ``"topic 3: camera, chip, backdoor"`` (the first three terms), for legends and columns."""
    if topics.empty or "topic_terms" not in topics:
        return {}
    return {t: f"topic {t}: " + ", ".join(str(terms).split(", ")[:3])
            for t, terms in topics[["topic_id", "topic_terms"]].itertuples(index=False)}


def _topic_label(topic_id, names: dict) -> str:
    return names.get(topic_id, f"topic {topic_id}")


def topic_mix(comments: pd.DataFrame, articles: pd.DataFrame, topics: pd.DataFrame,
              n_articles: int = 20) -> pd.DataFrame:
    """Share (0..1) of each topic among the comments of the ``n_articles`` most-commented articles.

    Long form, one row per (article, topic) present: ``article`` (the title,
    with source/id when untitled or shared by two articles), ``topic`` (its
    :func:`topic_names` label), ``topic_id``, ``comments`` (int), ``share``;
    articles from most to least commented, topics by number.
    """
    known = comments.dropna(subset=["topic_id"])
    sizes = known.groupby(schema.ARTICLE_KEY).size().nlargest(n_articles)
    picked = known[pd.MultiIndex.from_frame(known[schema.ARTICLE_KEY]).isin(sizes.index)]
    counts = picked.groupby(schema.ARTICLE_KEY + ["topic_id"]).size().rename("comments").reset_index()
    counts["share"] = counts["comments"] / counts.groupby(schema.ARTICLE_KEY)["comments"].transform("sum")
    titles = article_titles(sizes.index.to_frame(index=False), articles)
    counts = counts.merge(titles, on=schema.ARTICLE_KEY, how="left")
    names = topic_names(topics)
    counts["topic"] = [_topic_label(t, names) for t in counts["topic_id"]]
    rank = {key: i for i, key in enumerate(sizes.index)}
    counts["_rank"] = [rank[key] for key in counts[schema.ARTICLE_KEY].itertuples(index=False, name=None)]
    counts = counts.sort_values(["_rank", "topic_id"], ignore_index=True)
    return counts[["article", "topic", "topic_id", "comments", "share"]]


def article_titles(keys: pd.DataFrame, articles: pd.DataFrame) -> pd.DataFrame:
    """``keys`` (source, article_id) with ``article``: its title, or "(untitled) source/id"; a title two
    articles share gets its source/id added so that every article is told apart."""
    columns = schema.ARTICLE_KEY + ["title"]
    known = articles[columns] if len(articles) else pd.DataFrame(columns=columns)
    out = keys[schema.ARTICLE_KEY].merge(known.drop_duplicates(schema.ARTICLE_KEY), on=schema.ARTICLE_KEY,
                                         how="left")
    ident = out["source"].astype("str") + "/" + out["article_id"].astype("str")
    title = out["title"].astype("str")
    shared = title.duplicated(keep=False) & title.notna()
    out["article"] = np.where(title.isna(), "(untitled) " + ident,
                              np.where(shared, title + " (" + ident + ")", title))
    return out.drop(columns="title")


def topic_over_time(comments: pd.DataFrame, topics: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Comments per period and topic, every topic (none left out of the legend).

    Long form: ``period`` (start, naive UTC), ``topic`` (:func:`topic_names`
    label), ``topic_id``, ``comments`` (int); sorted by period then topic number.
    """
    known = comments.dropna(subset=["topic_id", "created_at"])
    period = known["created_at"].dt.tz_localize(None).dt.to_period(freq).dt.start_time
    counts = known.groupby([period.rename("period"), known["topic_id"]]).size().rename("comments").reset_index()
    names = topic_names(topics)
    counts["topic"] = [_topic_label(t, names) for t in counts["topic_id"]]
    return counts.sort_values(["period", "topic_id"], ignore_index=True)[["period", "topic", "topic_id", "comments"]]


# ---- decisions ----------------------------------------------------------------


@dataclass(frozen=True)
class LogFilters:
    """Filters of the audit log; empty means all."""

    moderators: tuple[str, ...] = field(default_factory=tuple)
    actions: tuple[str, ...] = field(default_factory=tuple)
    include_undone: bool = True
    # only decisions on the comments passed to decision_log (the sidebar's filtered comments)
    only_given_comments: bool = False


def decision_log(log: pd.DataFrame, comments: pd.DataFrame, filters: LogFilters = LogFilters(),
                 results: Results | None = None) -> pd.DataFrame:
    """The audit log (newest first) filtered, with each comment's author, article and text joined for context
    (the text from ``results`` when ``comments`` are its rows without it, :meth:`Results.with_text`)."""
    rows = log
    if filters.moderators:
        rows = rows[rows["moderator"].isin(filters.moderators)]
    if filters.actions:
        rows = rows[rows["action"].isin(filters.actions)]
    if not filters.include_undone:
        rows = rows[rows["undone_at"].isna()]
    if filters.only_given_comments:
        rows = rows[decided_mask(rows, comments)] if len(rows) else rows
    logged = comments[comments["comment_id"].isin(rows["comment_id"]).to_numpy()]  # index only what the log names
    if results is not None:
        logged = results.with_text(logged)
    context = logged.set_index(_keys(logged))[["article_id", "author", "text"]].reindex(_keys(rows))
    out = rows.reset_index(drop=True)
    for column in ("article_id", "author", "text"):
        out[column] = context[column].to_numpy()
    shown = ["id", "decided_at", "moderator", "action", "reason", "source", "comment_id", "article_id",
             "author", "text", "undone_at", "undone_by"]
    return out[[c for c in shown if c in out]]


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as CSV bytes through :func:`moderation.queues.to_csv` (spreadsheet formulas neutralised)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        queues.to_csv(frame, path)
        return path.read_bytes()


def conflict_view(conflicts: pd.DataFrame) -> pd.DataFrame:
    """``DecisionConflict.conflicts`` for display: per comment, what is there now that was not when it was shown.

    Columns: source, comment_id, now ("remove", ..., "undone" when the shown
    decision was taken back, or "claimed"), by (who), at (UTC, of the decision).
    """
    claimed = conflicts["claimed_by"].notna()
    now = conflicts["action"].where(conflicts["action"].notna(), "undone").where(~claimed, "claimed")
    by = conflicts["moderator"].where(~claimed, conflicts["claimed_by"])
    return pd.DataFrame({"source": conflicts["source"], "comment_id": conflicts["comment_id"], "now": now,
                         "by": by, "at": conflicts["decided_at"]}).reset_index(drop=True)
# ---- engagement insights (tables the run wrote: engagement.insight_tables) -------

# which sidebar filters each insight table honours, besides source (every table has one)
INSIGHT_FILTERS = {
    "staff_overall": (),
    "staff_by_article": ("article",),
    "staff_by_month": ("dates",),
    "reply_network": ("author",),
    "reply_pairs": ("author",),
    "reciprocity": (),
    "activity_by_week": ("dates",),
    "retention_by_cohort": ("dates",),
    "article_participation": ("article",),
}
_INSIGHT_TIME = {"staff_by_month": "month", "activity_by_week": "week"}


def insight(insights: dict[str, pd.DataFrame], name: str, filters: Filters) -> pd.DataFrame:
    """The run's insight table ``name`` restricted by the filters it honours (:data:`INSIGHT_FILTERS`).

    Dates keep weeks / months that start inside From..To (the one date filter,
    :func:`moderation.queues.created_between`) and cohorts whose first month does;
    the author filter keeps pairs where either side's name contains it. A table
    the run did not write is an empty frame.
    """
    table = insights.get(name, pd.DataFrame({"source": pd.array([], dtype="str")}))
    keep = np.ones(len(table), dtype=bool)
    if filters.source:
        keep &= (table["source"] == filters.source).to_numpy()
    honours = INSIGHT_FILTERS.get(name, ())
    if "article" in honours and filters.article:
        keep &= (table["article_id"] == filters.article).to_numpy()
    if "dates" in honours and (filters.since or filters.until):
        if name == "retention_by_cohort":
            starts = pd.to_datetime(table["cohort"] + "-01", utc=True)
        else:
            starts = table[_INSIGHT_TIME[name]]
        keep &= queues.created_between(starts, filters.since, filters.until).to_numpy()
    if "author" in honours and filters.author:
        sides = ("author_a", "author_b") if "author_a" in table else ("author", "replied_to_author")
        found = np.zeros(len(table), dtype=bool)
        for side in sides:
            found |= table[side].str.contains(filters.author, case=False, regex=False).fillna(False).to_numpy(bool)
        keep &= found
    return table[keep].reset_index(drop=True)


def sources_by_size(comments: pd.DataFrame) -> list[str]:
    """The sources of ``comments``, most comments first."""
    return comments["source"].value_counts().index.astype("str").tolist()


def _hours(delta: pd.Series) -> pd.Series:
    return (pd.to_timedelta(delta).dt.total_seconds() / 3600).astype("float64")


def staff_summary(insights: dict[str, pd.DataFrame], filters: Filters) -> pd.DataFrame:
    """Per source: ``threads`` readers started, ``threads_with_staff_reply``, ``share`` (0..1),
    ``median_hours`` to the first staff reply (NaN without one), ``staff_authors``."""
    table = insight(insights, "staff_overall", filters)
    if table.empty:
        return pd.DataFrame(columns=["source", "threads", "threads_with_staff_reply", "share", "median_hours",
                                     "staff_authors"])
    return pd.DataFrame({
        "source": table["source"], "threads": table["threads"],
        "threads_with_staff_reply": table["threads_with_staff_reply"],
        "share": table["share_threads_with_staff_reply"],
        "median_hours": _hours(table["median_time_to_first_staff_reply"]),
        "staff_authors": table["staff_authors"],
    })


def staff_by_article(insights: dict[str, pd.DataFrame], articles: pd.DataFrame, filters: Filters,
                     n: int = 20) -> pd.DataFrame:
    """The ``n`` articles with the most threads a staff member answered (then the most reader-started
    threads): ``article`` (title), source, article_id,
    ``threads``, ``threads_with_staff_reply``, ``share`` (0..1), ``median_hours``, ``thread`` link."""
    table = insight(insights, "staff_by_article", filters)
    top = table.sort_values(["threads_with_staff_reply", "threads"], ascending=False, kind="stable").head(n)
    out = article_titles(top, articles)
    out["threads"] = top["threads"].to_numpy()
    out["threads_with_staff_reply"] = top["threads_with_staff_reply"].to_numpy()
    out["share"] = top["share_threads_with_staff_reply"].to_numpy()
    out["median_hours"] = _hours(top["median_time_to_first_staff_reply"]).to_numpy()
    out.insert(0, "thread", _article_links(out))
    return out


def _article_links(frame: pd.DataFrame) -> list[str]:
    return ["thread?" + urlencode({"source": s, "article": a})
            for s, a in frame[schema.ARTICLE_KEY].itertuples(index=False)]


def staff_by_month(insights: dict[str, pd.DataFrame], filters: Filters) -> pd.DataFrame:
    """Per (source, month): ``threads``, ``threads_with_staff_reply``, ``share`` (0..1), ``median_hours``."""
    table = insight(insights, "staff_by_month", filters)
    return pd.DataFrame({
        "source": table["source"], "month": table["month"] if "month" in table else [],
        "threads": table.get("threads", []), "threads_with_staff_reply": table.get("threads_with_staff_reply", []),
        "share": table.get("share_threads_with_staff_reply", []),
        "median_hours": _hours(table["median_time_to_first_staff_reply"]) if len(table) else [],
    })


def reply_pairs(insights: dict[str, pd.DataFrame], filters: Filters, n: int = 20) -> pd.DataFrame:
    """The ``n`` pairs exchanging most replies: ``pair`` ("A and B"), source, author_a, author_b,
    ``a_to_b``, ``b_to_a``, ``replies``; with profile links of both sides."""
    table = insight(insights, "reply_pairs", filters)
    top = table.sort_values("replies", ascending=False, kind="stable").head(n).reset_index(drop=True)
    top.insert(0, "pair", top["author_a"].astype("str") + " and " + top["author_b"].astype("str"))
    top["profile_a"] = profile_links(top["author_a"])
    top["profile_b"] = profile_links(top["author_b"])
    return top


def reply_partners(insights: dict[str, pd.DataFrame], author: str) -> pd.DataFrame | None:
    """The run's reply-network edges where ``author`` (exact name) replies or is replied to, most replies first;
    None when the run wrote no network."""
    if "reply_network" not in insights:
        return None
    network = insights["reply_network"]
    involved = ((network["author"] == author) | (network["replied_to_author"] == author)).to_numpy()
    return network[involved].reset_index(drop=True)


def weekly_activity(insights: dict[str, pd.DataFrame], filters: Filters) -> pd.DataFrame:
    """Per (source, week): ``comments``, ``active_authors``, ``new_authors``, ``returning_authors``."""
    return insight(insights, "activity_by_week", filters)


def retention(insights: dict[str, pd.DataFrame], filters: Filters, months: int = 12) -> pd.DataFrame:
    """Cohort retention for the heatmap: source, ``cohort`` ("YYYY-MM"), ``cohort_label`` ("2010-08 (21
    authors)"), ``months_since`` (0..``months``), ``active_authors``, ``cohort_authors``, ``share`` (0..1)."""
    table = insight(insights, "retention_by_cohort", filters)
    if table.empty:
        return table.assign(cohort_label=pd.Series(dtype="str"))
    table = table[table["months_since"] <= months].sort_values(["source", "cohort", "months_since"],
                                                               ignore_index=True)
    table.insert(2, "cohort_label", table["cohort"] + " (" + table["cohort_authors"].astype("str") + " authors)")
    return table


def participation(insights: dict[str, pd.DataFrame], articles: pd.DataFrame, filters: Filters,
                  n: int = 30) -> pd.DataFrame:
    """The ``n`` most-commented articles' participation: ``article`` (title), source, article_id, ``comments``,
    ``participants``, ``comments_per_participant``, ``top_authors_share`` (0..1), ``unattributed_comments``,
    ``thread`` link."""
    table = insight(insights, "article_participation", filters)
    top = table.sort_values("comments", ascending=False, kind="stable").head(n)
    out = article_titles(top, articles)
    for column in ("comments", "participants", "comments_per_participant", "top_authors_share",
                   "unattributed_comments"):
        out[column] = top[column].to_numpy()
    out.insert(0, "thread", _article_links(out))
    return out


def staff_settings(settings: dict[str, list[str]]) -> dict[str, list[str]]:
    """The staff settings in force: the desk's saved ones (``Store.desk_settings``), else the defaults."""
    params = engagement.with_staff_settings(engagement.EngagementParams(), settings)
    return {key: list(getattr(params, key)) for key in engagement.STAFF_SETTINGS}
# ---- review: the moderators' workbench ------------------------------------------

# each queue in a moderator's words
REASON_NAMES = {
    "heavily_up": "Heavily up-voted",
    "heavily_down": "Heavily down-voted",
    "controversial": "Controversial",
    "anomalous": "Unusual voting",
    "offtopic": "Off-topic speculation",
}
# the outlier model's features (moderation.votes) in plain words: (when high, when low)
_ANOMALY_FEATURE_WORDS = {
    "log_votes": ("many votes", "few votes"),
    "upvote_ratio": ("a high share of up-votes", "a low share of up-votes"),
    "vote_total_robust_z": ("many votes for this thread", "few votes for this thread"),
    "vote_net_robust_z": ("high net votes for this thread", "low net votes for this thread"),
    "depth": ("deep in a reply chain", "at the top of the thread"),
    "thread_position": ("late in the thread", "early in the thread"),
    "log_age_hours_at_capture": ("old when votes were counted", "new when votes were counted"),
    "author_usual_log_votes": ("from an author who usually gets many votes", "from an author who usually gets few"),
}
OPENING_WORDS = 20


@dataclass(frozen=True)
class ReviewCard:
    """Everything a moderator reads about one comment before deciding (plain values, untrusted text as is)."""

    source: str
    comment_id: str
    article_id: str
    author: str | None
    created_at: pd.Timestamp | None
    text: str
    text_html: str
    article_title: str | None
    parent_author: str | None
    parent_opening: str | None
    reasons: tuple[str, ...]
    explanations: tuple[str, ...]
    thread_link: str
    decision: str | None
    decided_by: str | None

    @property
    def key(self) -> tuple[str, str]:
        """(source, comment_id)."""
        return self.source, self.comment_id


def _value(row: pd.Series, column: str):
    """``row[column]`` or None when the column is absent or the value missing."""
    value = row.get(column)
    if value is None or (not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value)):
        return None
    return value


def _percent_text(share) -> str:
    return f"{round(100 * float(share))}%"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _vote_counts(row: pd.Series) -> str:
    up, down, net = _value(row, "upvotes"), _value(row, "downvotes"), _value(row, "vote_net")
    if up is not None and down is not None:
        return f"{int(up)} up, {int(down)} down"
    return f"net score {int(net)}" if net is not None else "no vote counts"


def _thread_place(row: pd.Series, thread: pd.DataFrame, lowest: bool) -> str:
    """'the 2nd highest net votes of 38 comments in this thread' (ties share the better place)."""
    column = "vote_net" if "vote_net" in thread else "score"
    net = pd.to_numeric(thread[column], errors="coerce").astype("float64")
    mine = _value(row, column)
    if mine is None or not net.notna().any():
        return ""
    place = int((net < mine).sum() if lowest else (net > mine).sum()) + 1
    where = "lowest" if lowest else "highest"
    rank = where if place == 1 else f"{_ordinal(place)} {where}"
    return f": the {rank} net votes of {int(net.notna().sum())} comments in this thread"


def explain(row: pd.Series, reasons, thread: pd.DataFrame) -> tuple[str, ...]:
    """One plain sentence per queue in ``reasons`` saying why the comment is there, figures rounded.

    ``thread`` is the comment's whole discussion (its place and the discussion's usual
    similarity are measured there).
    """
    lines = []
    for name in reasons:
        title = REASON_NAMES.get(name, name.replace("_", " "))
        if name in ("heavily_up", "heavily_down"):
            lines.append(f"{title}: {_vote_counts(row)}{_thread_place(row, thread, name == 'heavily_down')}.")
        elif name == "controversial":
            ratio = _value(row, "upvote_ratio")
            split = f" ({_percent_text(ratio)} up)" if ratio is not None else ""
            lines.append(f"{title}: readers split, {_vote_counts(row)}{split}.")
        elif name == "anomalous":
            line = f"{title}: {_vote_counts(row)}"
            score = _value(row, "vote_anomaly")
            features = _value(row, "vote_anomaly_features")
            if score is not None and _value(row, "is_vote_anomaly") is not None and features is not None:
                line += "; unusual combination: " + " and ".join(_feature_words(f) for f in str(features).split(", "))
                line += f" (outlier score {float(score):.2f}; 0.5 or more is unusual)"
            burst = _value(row, "vote_burst_reason")
            if burst is not None:
                line += "; " + str(burst).replace("burst: ", "a burst of ").replace("baseline", "usual pace")
            lines.append(line + ".")
        elif name == "offtopic":
            lines.append(f"{title}: " + _offtopic_sentence(row, thread) + ".")
        else:
            lines.append(f"{title}.")
    return tuple(lines)


def _feature_words(feature: str) -> str:
    """'high vote_net_robust_z' -> 'high net votes for this thread' (unknown names kept as they are)."""
    side, _, name = feature.partition(" ")
    high, low = _ANOMALY_FEATURE_WORDS.get(name, (f"high {name}", f"low {name}"))
    return high if side == "high" else low


def _offtopic_sentence(row: pd.Series, thread: pd.DataFrame) -> str:
    parts = []
    article = _value(row, "sim_article")
    if article is not None:
        usual = pd.to_numeric(thread.get("sim_article"), errors="coerce").median() if "sim_article" in thread else None
        typical = f" (typical here: {_percent_text(usual)})" if usual is not None and not pd.isna(usual) else ""
        parts.append(f"shares {_percent_text(article)} of its wording with the article{typical}")
    if _value(row, "parent_id") is not None and _value(row, "sim_parent") is not None:
        parts.append(f"{_percent_text(row['sim_parent'])} with the comment it replies to")
    if _value(row, "sim_discussion") is not None:
        parts.append(f"{_percent_text(row['sim_discussion'])} with the rest of the discussion")
    speculation = _value(row, "speculation_score")
    if speculation is not None:
        if _value(row, "is_speculative"):
            cues = marked_cues(row)
            phrases = list(dict.fromkeys(c["phrase"] for c in (cues if cues is not None else [])))
            wording = "speculative wording" + (" (" + ", ".join(f"'{p}'" for p in phrases[:5]) + ")" if phrases else "")
        else:
            wording = "not speculative"
        parts.append(f"{wording}, speculation score {speculation:.2f}")
    topic = _value(row, "topic_terms")
    if topic is not None:
        parts.append(f"nearest topic: {topic}")
    return "; ".join(parts) if parts else str(_value(row, "offtopic_reason") or "flagged by the off-topic stage")


def opening_words(text, n: int = OPENING_WORDS) -> str:
    """The first ``n`` words of ``text`` on one line, with '…' when there is more."""
    words = "" if text is None or pd.isna(text) else str(text)
    words = words.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def review_card(comment: pd.Series, reasons, thread: pd.DataFrame, articles: pd.DataFrame,
                decisions: pd.DataFrame) -> ReviewCard:
    """The card of one queued comment.

    Parameters
    ----------
    comment : Series
        The comment's row of the scored comments.
    reasons : iterable of str
        Its queues (the ``reasons`` of :func:`moderation.queues.review_queue`, split).
    thread : DataFrame
        Every comment of its article (parent, place in the thread).
    articles : DataFrame
        The articles table (title).
    decisions : DataFrame
        Current decisions (its own, when already decided).
    """
    source, comment_id, article_id = str(comment["source"]), str(comment["comment_id"]), str(comment["article_id"])
    parent = None
    if _value(comment, "parent_id") is not None:
        found = thread[(thread["comment_id"] == comment["parent_id"]).to_numpy()]
        parent = found.iloc[0] if len(found) else None
    title = None
    if len(articles):
        match = articles[((articles["source"] == source) & (articles["article_id"] == article_id)).to_numpy()]
        title = _value(match.iloc[0], "title") if len(match) else None
    mine = decisions[((decisions["source"] == source) & (decisions["comment_id"] == comment_id)).to_numpy()]
    text = "" if _value(comment, "text") is None else str(comment["text"])
    return ReviewCard(
        source=source, comment_id=comment_id, article_id=article_id, author=_value(comment, "author"),
        created_at=_value(comment, "created_at"), text=text,
        text_html=highlighted_html(text, marked_cues(comment)),
        article_title=title,
        parent_author=None if parent is None else (_value(parent, "author") or "(no author)"),
        parent_opening=None if parent is None else opening_words(parent["text"]),
        reasons=tuple(reasons), explanations=explain(comment, reasons, thread),
        thread_link="thread?" + urlencode({"source": source, "article": article_id, "comment": comment_id}),
        decision=mine["action"].iloc[0] if len(mine) else None,
        decided_by=mine["moderator"].iloc[0] if len(mine) else None,
    )


UP_NEXT = 5  # comments Review lists after its card


def upcoming(pending: pd.DataFrame, comments: pd.DataFrame, start: int, n: int = UP_NEXT,
             results: Results | None = None) -> pd.DataFrame:
    """The ``n`` queued comments after position ``start``: author, reasons in words, opening words (the text
    from ``results`` when ``comments`` are its rows without it, :meth:`Results.with_text`)."""
    rows = pending.iloc[start:start + n]
    # columns by label, not whole rows: a wide million-row frame makes row selection slow
    picked = comments[[c for c in ("author", "text") if c in comments]].loc[rows.index]
    if results is not None:
        picked = results.with_text(picked)
    authors, texts = picked["author"], picked["text"]
    return pd.DataFrame({
        "author": authors.fillna("(no author)").to_numpy(),
        "reasons": [", ".join(REASON_NAMES.get(r, r) for r in str(reasons).split(", ")) for reasons in rows["reasons"]],
        "opening": [opening_words(t, 12) for t in texts],
    })


# ---- author drawer ---------------------------------------------------------------

_AUTHOR_FIGURES = {
    "articles": "articles commented on",
    "threads_started": "threads started",
    "replies_made": "replies written",
    "replies_received": "replies received",
    "distinct_repliers": "different people replying",
    "upvotes_received": "up-votes received",
    "downvotes_received": "down-votes received",
    "active_days": "days active",
    "median_reply_latency": "typical time to reply",
    "first_seen": "first comment",
    "last_seen": "latest comment",
}


def author_drawer(own: pd.DataFrame, authors: pd.DataFrame, decisions: pd.DataFrame,
                  n_recent: int = 10, results: Results | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(figures, recent) for one author: plain-worded figures and the latest comments with decisions.

    Parameters
    ----------
    own : DataFrame
        Every comment of the author (one source), scored.
    authors : DataFrame
        The engagement table (``authors.parquet``); may be empty.
    decisions : DataFrame
        Current decisions.
    results : Results, optional
        Where ``own`` comes from, when its rows lack the text: the latest get theirs (:meth:`Results.with_text`).

    Returns
    -------
    figures : DataFrame with ``measure``, ``value`` (text): comments, decisions on them, share
        removed, comments per queue, then the engagement figures the run computed.
    recent : DataFrame with ``date``, ``opening``, ``flags`` (in words), ``decision`` of the latest ``n_recent``.
    """
    decided = with_decisions(own, decisions)
    actions = decided["decision"].dropna()
    rows = [("comments", f"{len(own):,}"),
            ("decisions on them", ", ".join(f"{n} {a}" for a, n in actions.value_counts().items()) or "none"),
            ("share removed", _percent_text((actions == "remove").sum() / len(own)) if len(own) else "0%")]
    flags = flag_labels(own)
    for name, title in REASON_NAMES.items():
        if QUEUE_MEMBER.get(name) in own:
            count = int(own[QUEUE_MEMBER[name]].fillna(False).astype(bool).sum())
            if count:
                rows.append((f"in queue: {title.lower()}", f"{count:,}"))
    if len(authors) and len(own):
        match = authors[((authors["source"] == own["source"].iloc[0])
                         & (authors["author"] == own["author"].iloc[0])).to_numpy()]
        if len(match):
            for column, words in _AUTHOR_FIGURES.items():
                value = _value(match.iloc[0], column)
                if value is not None:
                    rows.append((words, _figure_text(value)))
    figures = pd.DataFrame(rows, columns=["measure", "value"])
    latest = decided.assign(flags=flags).sort_values("created_at", ascending=False, na_position="last").head(n_recent)
    if results is not None:
        latest = results.with_text(latest)
    recent = pd.DataFrame({
        "date": latest["created_at"].dt.strftime("%Y-%m-%d").to_numpy(),
        "opening": [opening_words(t, 15) or "(no text)" for t in latest["text"]],
        "flags": [", ".join(REASON_NAMES.get(f, f) for f in str(f).split(", ") if f) for f in latest["flags"]],
        "decision": latest["decision"].fillna("").to_numpy(),
    })
    return figures, recent


def _figure_text(value) -> str:
    """A figure for reading: whole numbers with separators, dates as days, durations rounded."""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, pd.Timedelta):
        hours = value.total_seconds() / 3600
        return f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.0f} days"
    if isinstance(value, (float, np.floating)):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, (int, np.integer)) else str(value)


# ---- history of decisions --------------------------------------------------------

HISTORY_VIEWS = {"approve": "Approved", "remove": "Removed", "flag": "Flagged", "escalate": "Escalated"}


def history(decisions: pd.DataFrame, comments: pd.DataFrame, action: str, limit: int = 500,
            only_these: bool = False, results: Results | None = None) -> pd.DataFrame:
    """Comments whose current decision is ``action``, newest decision first, with context to recognise them.

    ``only_these`` keeps only decisions on comments in ``comments`` (the sidebar's filters);
    otherwise a decision on a comment the results do not hold is listed with empty context. ``results`` as for
    :func:`decision_log`.

    Columns: author, text, reason, moderator, decided_at, article_id, comment_id, source, id (the
    decision); the first ``limit`` rows.
    """
    current = decisions[(decisions["action"] == action).to_numpy()].sort_values("decided_at", ascending=False)
    if only_these:
        current = current[decided_mask(current, comments)]
    shown = decision_log(current.head(limit), comments, LogFilters(include_undone=False), results)
    columns = ["author", "text", "reason", "moderator", "decided_at", "article_id", "comment_id", "source", "id"]
    return shown[columns]
