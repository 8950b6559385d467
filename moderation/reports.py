"""The read side the dashboard calls: a results folder in, display-ready frames out.

Nothing here draws a widget and nothing computes a score: the stages wrote
the scores, this module selects, filters, joins decisions and shapes small
frames for the pages. Every function takes frames and plain values so that
it can be tested without Streamlit, and works on a million comments by
boolean masks and group-bys (pages show the top rows, never the whole table).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from moderation import catalog, queues, schema

# queue -> the boolean column saying who is in it
QUEUE_MEMBER = {name: spec.member for name, spec in queues.QUEUES.items()}
VOTE_QUEUES = tuple(name for name, spec in queues.QUEUES.items() if spec.reason == "vote_reason")

# columns shown for every comment row, then per-queue evidence, when present
# "reason" (a queue's own evidence sentence) comes before the text, so a moderator reads it without scrolling
_COMMENT_COLUMNS = ["source", "article_id", "comment_id", "author", "created_at", "in_queue", "reason", "text"]
_VOTE_COLUMNS = [
    "upvotes", "downvotes", "score", "vote_total", "vote_net", "upvote_ratio", "wilson_lower",
    "wilson_lower_down", "controversy", "vote_anomaly", "vote_flag", "vote_reason",
]
_OFFTOPIC_COLUMNS = [
    "offtopic_speculation_score", "offtopic_score", "speculation_score", "conjecture_score", "topic_id", "topic_terms",
    "offtopic_reason",
]
# similarity columns the off-topic stage may add (to the article, parent, thread)
_SIMILARITY_PREFIXES = ("similarity_", "sim_")


@dataclass
class Results:
    """The frames of one results folder (empty frames for the parts a stage has not written)."""

    folder: Path
    comments: pd.DataFrame
    articles: pd.DataFrame
    authors: pd.DataFrame
    vote_events: pd.DataFrame
    topics: pd.DataFrame
    problems: pd.DataFrame


def load_results(folder: str | Path) -> Results:
    """Read ``comments``, ``articles``, ``authors``, ``vote_events``, ``topics`` (parquet) and ``problems.csv``.

    Every file comes from the same run: the version ``DIR/current`` points at
    when the read starts (:func:`moderation.catalog.current`), so a run
    finishing meanwhile never mixes its files with the previous ones.
    Scored comments and authors are checked against their schemas (columns
    and types). Missing files give empty frames (canonical columns for the
    canonical tables), so a folder from a partial pipeline still opens.

    Raises
    ------
    schema.OutputError
        When a file cannot be read, or comments.parquet or authors.parquet lacks a column or has it with another
        type.
    """
    folder = Path(folder)
    version = catalog.current(folder)

    def read(name: str, table: str | None = None, model: str | None = None) -> pd.DataFrame:
        path = version / f"{name}.parquet"
        if not path.exists():
            return schema.empty(table) if table else pd.DataFrame()
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as error:  # a damaged file (pyarrow's ArrowInvalid is a ValueError)
            raise schema.OutputError(f"{path}: cannot be read ({str(error).splitlines()[0]})") from error
        if model:
            schema.check_output(frame, model, str(path), data=False)
        return frame

    problems_path = version / catalog.PROBLEMS_FILE
    problems = pd.read_csv(problems_path, dtype="str") if problems_path.exists() else schema.problems_frame([])
    return Results(
        folder=folder,
        comments=read("comments", "comments", "scored_comments"),
        articles=read("articles", "articles"),
        authors=read("authors", model="authors"),
        vote_events=read("vote_events", "vote_events"),
        topics=read("topics"),
        problems=problems,
    )


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
    return note + "."


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

    ``since``/``until`` are calendar days (UTC), both inclusive. ``text`` is a
    case-insensitive substring of the comment text (not a pattern).
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


def filter_mask(comments: pd.DataFrame, filters: Filters) -> np.ndarray:
    """Boolean array of shape (n_comments,): the comments every set filter accepts."""
    mask = np.ones(len(comments), dtype=bool)
    if filters.source:
        mask &= (comments["source"] == filters.source).to_numpy()
    if filters.article:
        mask &= (comments["article_id"] == filters.article).to_numpy()
    if filters.author:
        mask &= (comments["author"] == filters.author).fillna(False).to_numpy(dtype=bool)
    created = comments["created_at"]
    if filters.since:
        start = pd.Timestamp(datetime.combine(filters.since, time()), tz="UTC")
        mask &= (created >= start).fillna(False).to_numpy(dtype=bool)
    if filters.until and filters.until < date.max:  # the last day there is has no next day: nothing ends after it
        end = pd.Timestamp(datetime.combine(filters.until + timedelta(days=1), time()), tz="UTC")
        mask &= (created < end).fillna(False).to_numpy(dtype=bool)
    if filters.text:
        found = comments["text"].str.contains(filters.text, case=False, regex=False)
        mask &= found.fillna(False).to_numpy(dtype=bool)
    return mask


def filter_comments(comments: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The comments the filters accept; the frame itself (no copy) when no filter is set."""
    return comments[filter_mask(comments, filters)] if filters.active else comments


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
    members: pd.DataFrame, decisions: pd.DataFrame, show_decided: bool = False, limit: int = 200
) -> pd.DataFrame:
    """The first ``limit`` rows of a queue, in queue order, for display.

    Parameters
    ----------
    members : DataFrame
        A queue as :func:`moderation.queues.queue` returns it (sorted, with its reason column).
    decisions : DataFrame
        Current decisions (``Store.current_decisions``); decided comments are dropped
        unless ``show_decided``.
    """
    rows = members if show_decided else undecided(members, decisions)
    return display_columns(with_decisions(rows.head(limit), decisions))


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
    """Relative URL of each author's profile page (None for a missing author)."""
    return [None if pd.isna(a) else "authors?" + urlencode({"author": a}) for a in authors]


def flag_labels(frame: pd.DataFrame) -> pd.Series:
    """One string per row naming the queues the comment is in, e.g. ``"heavily_up, offtopic"`` ('' if none)."""
    labels = pd.Series("", index=frame.index, dtype="str")
    for name, column in QUEUE_MEMBER.items():
        if column in frame:
            member = frame[column].fillna(False).astype(bool)
            labels = labels.where(~member, labels + np.where(labels == "", "", ", ") + name)
    return labels


# ---- overview -------------------------------------------------------------


def kpis(comments: pd.DataFrame) -> dict[str, int]:
    """Counts of comments, articles and distinct (named) authors."""
    return {
        "comments": len(comments),
        "articles": len(comments[schema.ARTICLE_KEY].drop_duplicates()),
        "authors": int(comments["author"].nunique(dropna=True)),
    }


def queue_shares(comments: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Per available queue: ``members``, ``share`` of comments (0..1) and ``pending`` (members without a decision)."""
    member = {
        name: comments[QUEUE_MEMBER[name]].fillna(False).to_numpy(dtype=bool) for name in available_queues(comments)
    }
    decided = decided_mask(comments, decisions)
    rows = [
        {"queue": name, "members": int(m.sum()), "share": float(m.mean()) if len(m) else 0.0,
         "pending": int((m & ~decided).sum())}
        for name, m in member.items()
    ]
    return pd.DataFrame(rows, columns=["queue", "members", "share", "pending"])


def over_time(comments: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Comments and votes per period: index ``period`` (start time), columns ``comments``, ``votes``.

    Votes are ``vote_total`` when the vote stage ran, else up + down votes
    where the source has both (NA-free sum; sources with only a net score add 0).
    """
    votes = comments["vote_total"] if "vote_total" in comments else comments["upvotes"].add(comments["downvotes"])
    frame = pd.DataFrame({"created_at": comments["created_at"], "comments": 1, "votes": votes.astype("Float64")})
    frame = frame.dropna(subset=["created_at"])
    period = frame["created_at"].dt.tz_localize(None).dt.to_period(freq).dt.start_time
    out = frame.groupby(period)[["comments", "votes"]].sum()
    out.index.name = "period"
    return out


def vote_distribution(comments: pd.DataFrame, bins: int = 30) -> pd.DataFrame:
    """Histogram of the net score (``vote_net``, else ``score``): columns ``net_from``, ``comments``.

    Bins span the 1st to 99th percentile so a few extreme comments do not
    squash the rest; values outside fall in the end bins.
    """
    net = comments["vote_net"] if "vote_net" in comments else comments["score"]
    values = pd.to_numeric(net, errors="coerce").dropna().to_numpy(dtype="float64")
    if not len(values):
        return pd.DataFrame({"net_from": [], "comments": []})
    low, high = np.percentile(values, [1, 99])
    high = max(high, low + 1)
    counts, edges = np.histogram(np.clip(values, low, high), bins=bins, range=(low, high))
    return pd.DataFrame({"net_from": np.round(edges[:-1], 1), "comments": counts})


def top_articles(comments: pd.DataFrame, articles: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` articles with the most comments: source, article_id, title, comments, authors, thread link."""
    grouped = comments.groupby(schema.ARTICLE_KEY, sort=False).agg(
        comments=("comment_id", "size"), authors=("author", "nunique")
    )
    top = grouped.nlargest(n, "comments").reset_index()
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
    """One comment's off-topic evidence as rows ``measure``, ``value`` (text): scores, similarities, topic, reason."""
    wanted = _OFFTOPIC_COLUMNS + [c for c in comment.index if c.startswith(_SIMILARITY_PREFIXES)]
    shown = comment.reindex([c for c in wanted if c in comment.index])
    return pd.DataFrame({"measure": shown.index, "value": shown.astype("str").to_numpy()})


def bracket_cues(text: str, cues) -> str:
    """``text`` with each cue span wrapped in ``[[`` and ``]]`` (plain text, for ``st.text``).

    Overlapping spans are merged so the brackets stay balanced; spans outside
    the text are clipped.
    """
    spans = cue_spans(cues)
    if pd.isna(text):
        return ""
    pieces, cursor = [], 0
    for start, end in spans[["start", "end"]].itertuples(index=False):
        start, end = max(start, cursor), min(end, len(text))
        if end <= start:
            continue
        pieces += [text[cursor:start], "[[", text[start:end], "]]"]
        cursor = end
    return "".join(pieces) + text[cursor:]


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
    """The topics table (as the pipeline wrote it) with ``comments_matching``: comments per topic after filters."""
    matching = comments["topic_id"].value_counts().rename("comments_matching").rename_axis("topic_id").reset_index()
    if topics.empty:
        return matching
    return topics.merge(matching, on="topic_id", how="left").fillna({"comments_matching": 0})


def topic_mix(comments: pd.DataFrame, n_articles: int = 20) -> pd.DataFrame:
    """Share of each topic (columns) among the comments of the ``n_articles`` most-commented articles (rows)."""
    known = comments.dropna(subset=["topic_id"])
    top = known.groupby(schema.ARTICLE_KEY).size().nlargest(n_articles).index
    picked = known[pd.MultiIndex.from_frame(known[schema.ARTICLE_KEY]).isin(top)]
    mix = pd.crosstab(picked["article_id"], picked["topic_id"], normalize="index")
    mix.columns = [f"topic {c}" for c in mix.columns]
    return mix


def topic_over_time(comments: pd.DataFrame, freq: str = "W", n_topics: int = 8) -> pd.DataFrame:
    """Comments per period (rows) for the ``n_topics`` largest topics (columns)."""
    known = comments.dropna(subset=["topic_id", "created_at"])
    largest = known["topic_id"].value_counts().head(n_topics).index
    known = known[known["topic_id"].isin(largest)]
    period = known["created_at"].dt.tz_localize(None).dt.to_period(freq).dt.start_time
    counts = pd.crosstab(period, known["topic_id"])
    counts.columns = [f"topic {c}" for c in counts.columns]
    counts.index.name = "period"
    return counts


# ---- decisions ----------------------------------------------------------------


@dataclass(frozen=True)
class LogFilters:
    """Filters of the audit log; empty means all."""

    moderators: tuple[str, ...] = field(default_factory=tuple)
    actions: tuple[str, ...] = field(default_factory=tuple)
    include_undone: bool = True


def decision_log(log: pd.DataFrame, comments: pd.DataFrame, filters: LogFilters = LogFilters()) -> pd.DataFrame:
    """The audit log (newest first) filtered, with each comment's author, article and text joined for context."""
    rows = log
    if filters.moderators:
        rows = rows[rows["moderator"].isin(filters.moderators)]
    if filters.actions:
        rows = rows[rows["action"].isin(filters.actions)]
    if not filters.include_undone:
        rows = rows[rows["undone_at"].isna()]
    logged = comments[comments["comment_id"].isin(rows["comment_id"]).to_numpy()]  # index only what the log names
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
