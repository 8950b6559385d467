"""Every cache of the dashboard, and the one place pages get data from.

Big frames (the results folder, filtered comments, queue members) are held
with ``st.cache_resource``: shared and not copied, so a million-row frame is
not pickled on each rerun; pages must treat them as read-only. Small
display frames use ``st.cache_data`` with ``ttl``/``max_entries``. Decisions
are read from the store with a short ttl and cleared whenever this session
writes one, so a page never shows a decision only session state knows about.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from moderation import auth, catalog, queues, reports
from moderation.reports import Filters
from moderation.store import Store

RESULTS_ENV, STORE_ENV = "MODERATION_RESULTS", "MODERATION_STORE"
IDLE_ENV, CLAIM_ENV = "MODERATION_IDLE_MINUTES", "MODERATION_CLAIM_MINUTES"
DEFAULT_RESULTS = "data/demo"


@dataclass(frozen=True)
class Context:
    """What every page needs: where the data is, the global filters and who is moderating (with what role)."""

    results: str
    store_url: str
    filters: Filters
    moderator: str
    role: str = auth.SINGLE_USER_ROLE
    # signed in (a team): comments are claimed; in single-user mode there is no one to keep out
    signed_in: bool = False

    @property
    def can_decide(self) -> bool:
        """Whether the role may decide (the store checks again on every write)."""
        return bool(self.moderator) and "decide" in auth.PERMISSIONS[self.role]

    @property
    def version(self) -> str:
        """The results folder's :func:`version`."""
        return version(self.results)


def version(folder: str) -> str:
    """The results' current version (``moderation.catalog.current``) and its ``comments.parquet``'s modification
    time: a pipeline re-run invalidates the caches keyed by it."""
    current = catalog.current(folder)
    path = current / "comments.parquet"
    return f"{current.name}:{path.stat().st_mtime if path.exists() else 0.0}"


def settings(argv: list[str] | None = None) -> tuple[str, str]:
    """(results folder, store URL) from ``-- --results DIR``, else ``$MODERATION_RESULTS``, else ``data/demo``.

    The store is ``$MODERATION_STORE``, else ``sqlite:///DIR/moderation.db``.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--results", default=os.environ.get(RESULTS_ENV, DEFAULT_RESULTS))
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    results = str(Path(args.results).resolve())
    return results, os.environ.get(STORE_ENV, f"sqlite:///{Path(results) / 'moderation.db'}")


def timeouts() -> tuple[timedelta, timedelta]:
    """(idle time that ends a session, how long opening a comment claims it), from ``dashboard``'s options."""
    idle = float(os.environ.get(IDLE_ENV, auth.DEFAULT_IDLE.total_seconds() / 60))
    claim = float(os.environ.get(CLAIM_ENV, auth.DEFAULT_CLAIM.total_seconds() / 60))
    return timedelta(minutes=idle), timedelta(minutes=claim)


def context() -> Context:
    """The context the entry script put in session state for this run."""
    return st.session_state["context"]


# ---- results (big, shared, read-only) ---------------------------------------


@st.cache_resource(max_entries=2, ttl=24 * 3600, show_spinner="Reading the results folder…")
def results(folder: str, version: str) -> reports.Results:
    """The results folder's frames (``version`` only keys the cache)."""
    return reports.load_results(folder)


def prepare_landing(folder: str, store_url: str) -> None:
    """Fill the caches the landing page asks for first (Review with no filter and every reason, its first card's
    thread, the sidebar's lists) and read the text of that card and of Up next: what ``dashboards/serve.py`` does
    while the server starts, so the first visitor finds them."""
    current = version(folder)
    data = results(folder, current)
    reasons = tuple(reports.available_queues(data.comments))
    queue = review_queue(folder, current, Filters(), reasons)
    review_without_text(folder, current, Filters(), reasons)
    # the text is held by the comment table once read (catalog.Table.rows_at): the card reads none of its row groups
    first = reports.undecided(queue, current_decisions(store_url)).index[:1 + reports.UP_NEXT]
    data.with_text(data.comments.loc[first])
    if len(first):
        card = data.comments.loc[first[0]]
        article_comments(folder, current, card["source"], card["article_id"])
    sources(folder, current)
    article_choices(folder, current, None)
    article_rows(folder, current)


def prepare_overview(folder: str) -> None:
    """Fill the cache of the Overview's figures with no filter (:func:`overview`: a second on a million
    comments), the page a moderator opens after Review: what ``dashboards/serve.py`` does once the landing page
    is ready."""
    overview(folder, version(folder), Filters())


def read_ahead(folder: str, version: str) -> None:
    """Once the first page is drawn, read the columns other pages show in the background
    (``reports.Results.read_ahead``; once per results version)."""
    results(folder, version).read_ahead()


@st.cache_resource(max_entries=32, ttl=3600)
def filtered(folder: str, version: str, filters: Filters, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Comments the global filters accept (the full frame, uncopied, when none is set): their working columns
    (``reports.WORKING_COLUMNS``) and ``columns``; the text filter searches every text in the file."""
    data = results(folder, version)
    return reports.filter_comments(data.comments_with(columns), filters, data.comment_table)


@st.cache_resource(max_entries=64, ttl=3600)
def queue_members(
    folder: str, version: str, filters: Filters, name: str, min_votes: int, members_only: bool = True
) -> pd.DataFrame:
    """The whole queue ``name`` over the filtered comments, sorted by its measure (``moderation.queues.queue``);
    ``members_only=False`` ranks every filtered comment by that measure."""
    return queues.queue(filtered(folder, version, filters, (queues.QUEUES[name].reason,)), name, min_votes=min_votes,
                        members_only=members_only)


@st.cache_resource(max_entries=32)
def readable(folder: str, version: str, filters: Filters):
    """``moderation.queues.readable`` of the filtered comments (boolean array), once per version and filters."""
    return queues.readable(filtered(folder, version, filters))


@st.cache_data(max_entries=64, ttl=3600)
def queue_without_text(folder: str, version: str, filters: Filters, name: str, min_votes: int,
                       members_only: bool = True) -> int:
    """How many comments :func:`queue_members` leaves out for want of readable text (image-only answers)."""
    return len(queues.queue(filtered(folder, version, filters, (queues.QUEUES[name].reason,)), name,
                            min_votes=min_votes, members_only=members_only, without_text="only"))


@st.cache_resource(max_entries=32)  # keyed by the results version: computed once per version and filters
def review_queue(folder: str, version: str, filters: Filters, reasons: tuple[str, ...]) -> pd.DataFrame:
    """Every flagged comment the filters accept, once, by priority (``moderation.queues.review_queue``)."""
    return queues.review_queue(filtered(folder, version, filters), reasons)


@st.cache_data(max_entries=32, ttl=3600)
def review_without_text(folder: str, version: str, filters: Filters, reasons: tuple[str, ...]) -> int:
    """How many flagged comments :func:`review_queue` leaves out for want of readable text (image-only answers)."""
    return len(queues.review_queue(filtered(folder, version, filters), reasons, without_text="only"))


@st.cache_resource(max_entries=32, ttl=3600)
def author_comments(folder: str, version: str, source: str, author: str) -> pd.DataFrame:
    """Every comment of ``author`` in ``source``."""
    near = author_neighbourhood(folder, version, author)
    return near[((near["author"] == author) & (near["source"] == source)).fillna(False).to_numpy(dtype=bool)]


@st.cache_resource(max_entries=4)
def store(url: str) -> Store:
    """One store (connection pool) per URL for the whole server."""
    return Store(url)


# ---- small display frames ----------------------------------------------------


@st.cache_data(ttl=3600, max_entries=32)
def overview(folder: str, version: str, filters: Filters) -> dict:
    """KPIs and the charts' frames for the overview page (small)."""
    comments = filtered(folder, version, filters)
    return {
        "kpis": reports.kpis(comments),
        "over_time": reports.over_time(comments),
        "votes": reports.vote_distribution(comments),
        "top_articles": reports.top_articles(comments, results(folder, version).articles),
    }


@st.cache_data(ttl=3600, max_entries=4)
def sources(folder: str, version: str) -> list[str]:
    """The sources in the results, sorted."""
    return sorted(results(folder, version).comments["source"].dropna().unique().tolist())


@st.cache_data(ttl=3600, max_entries=16)
def article_choices(folder: str, version: str, source: str | None, n: int = 2000) -> dict[str, str]:
    """article_id -> label (title and id) of the ``n`` most-commented articles, of ``source`` if given."""
    data = results(folder, version)
    return reports.article_labels(data.comments, data.articles, source, n)


@st.cache_data(ttl=3600, max_entries=32)
def leaderboard(folder: str, version: str, sort_by: str, ascending: bool, n: int) -> pd.DataFrame:
    """The author leaderboard sorted by ``sort_by``."""
    return reports.author_leaderboard(results(folder, version).authors, sort_by, n, ascending)


@st.cache_resource(max_entries=2)
def article_rows(folder: str, version: str) -> dict[tuple[str, str], object]:
    """(source, article_id) -> row positions of its comments (``reports.article_rows``), once per version."""
    return reports.article_rows(results(folder, version).comments)


@st.cache_resource(max_entries=32, ttl=3600)
def article_comments(folder: str, version: str, source: str | None, article: str) -> pd.DataFrame:
    """One article's comments, unfiltered (a thread is read whole), with what pages show of them
    (``reports.Results.shown``); without ``source``, the first source having it."""
    data = results(folder, version)
    return data.shown(reports.article_thread(data.comments, article_rows(folder, version), source, article))


@st.cache_resource(max_entries=32, ttl=3600)
def author_neighbourhood(folder: str, version: str, author: str) -> pd.DataFrame:
    """An author's comments, their parents and the replies to them."""
    return reports.reply_neighbourhood(results(folder, version).comments, author)


@st.cache_resource(max_entries=32, ttl=3600)
def author_activity(folder: str, version: str, author: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the author's latest 500 comments with flags, their comments and votes per week)."""
    neighbourhood = author_neighbourhood(folder, version, author)
    own = neighbourhood[(neighbourhood["author"] == author).fillna(False).to_numpy(dtype=bool)]
    return results(folder, version).shown(reports.recent_comments(own, author)), reports.over_time(own)


@st.cache_data(ttl=3600, max_entries=16)
def reply_partners(folder: str, version: str, author: str) -> pd.DataFrame | None:
    """The run's reply network around ``author`` (``reports.reply_partners``); None when the run wrote none."""
    return reports.reply_partners(results(folder, version).insights, author)


@st.cache_data(ttl=3600, max_entries=16)
def topics_over_time(folder: str, version: str, filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(article/topic mix, comments per topic per month) over the filtered comments."""
    comments, data = filtered(folder, version, filters), results(folder, version)
    return (reports.topic_mix(comments, data.articles, data.topics),
            reports.topic_over_time(comments, data.topics, freq="M"))


# ---- decisions (read from the store, short ttl, cleared on write) -------------


@st.cache_data(ttl=10, max_entries=4)
def current_decisions(url: str) -> pd.DataFrame:
    """Latest non-undone decision per comment."""
    return store(url).current_decisions()


@st.cache_data(ttl=10, max_entries=4)
def decision_log(url: str) -> pd.DataFrame:
    """Every decision, newest first (the audit log)."""
    return store(url).decisions()


def record_decision(
    url: str, keys: list[tuple[str, str]], action: str, moderator: str, reason: str | None,
    seen: dict[tuple[str, str], int | None] | None = None,
) -> list[int]:
    """Write decisions to the store (``seen``: what the moderator saw, see ``Store.record_decision``) and drop
    the cached decision frames; the store's ``DecisionConflict`` and ``auth.Forbidden`` pass through."""
    try:
        return store(url).record_decision(keys, action, moderator, reason, seen=seen)
    finally:
        _decisions_changed()


def undo_last(url: str, moderator: str, of: str | None = None) -> pd.DataFrame:
    """Undo the latest batch of ``of`` (default ``moderator``'s own) in the store; the rows undone (empty if none)."""
    try:
        return store(url).undo_last(moderator, of)
    finally:
        _decisions_changed()


def undo_decisions(url: str, ids: list[int], moderator: str) -> pd.DataFrame:
    """Undo the decisions ``ids`` in the store (log entries, not deletions); returns the rows undone."""
    undone = store(url).undo(ids, moderator)
    _decisions_changed()
    return undone


def _decisions_changed() -> None:
    current_decisions.clear()
    decision_log.clear()
    claims.clear()
    activity.clear()


@st.cache_data(ttl=5, max_entries=4)
def claims(url: str) -> pd.DataFrame:
    """Live claims: source, comment_id, moderator, claimed_at, expires_at."""
    return store(url).claims()


def claim(url: str, key: tuple[str, str], moderator: str):
    """Claim ``key`` for ``moderator`` (``Store.claim``) for the dashboard's claim time."""
    held = store(url).claim(key, moderator, timeouts()[1])
    claims.clear()
    return held


def release(url: str, key: tuple[str, str], moderator: str) -> bool:
    """Release ``moderator``'s claim on ``key``."""
    released = store(url).release(key, moderator)
    claims.clear()
    return released


@st.cache_data(ttl=10, max_entries=8)
def activity(url: str, kinds: tuple[str, ...]) -> pd.DataFrame:
    """The activity log (claims, undos; sign-ins and user changes for admins), newest first."""
    return store(url).events(kinds)


@st.cache_data(ttl=10, max_entries=4)
def has_users(url: str) -> bool:
    """Whether the store has users (then everyone signs in)."""
    return store(url).has_users()


@st.cache_data(ttl=10, max_entries=4)
def offtopic_labels(url: str) -> pd.DataFrame:
    """Latest off-topic label (value True = off topic) per labelled comment."""
    return store(url).labels("offtopic")


@st.cache_data(ttl=10, max_entries=4)
def speculative_labels(url: str) -> pd.DataFrame:
    """Latest speculative label (value True = speculative) per labelled comment."""
    return store(url).labels("speculative")


def record_offtopic_label(url: str, keys: list[tuple[str, str]], value: bool, moderator: str,
                          label: str = "offtopic") -> list[int]:
    """Write moderators' ``label`` ("offtopic" or "speculative") to the store and drop the cached labels."""
    ids = store(url).record_label(keys, label, value, moderator)
    offtopic_labels.clear()
    speculative_labels.clear()
    return ids


@st.cache_data(ttl=10, max_entries=4)
def desk_settings(url: str) -> dict[str, list[str]]:
    """The desk's settings in force (who is staff)."""
    return store(url).desk_settings()


@st.cache_data(ttl=10, max_entries=4)
def decision_reasons(url: str) -> list[str]:
    """The reasons the desk offers when deciding (``Store.decision_reasons``)."""
    return store(url).decision_reasons()


def set_desk_setting(url: str, key: str, values: list[str], moderator: str) -> int:
    """Save one desk setting in the store and drop the cached settings."""
    saved = store(url).set_desk_setting(key, values, moderator)
    desk_settings.clear()
    decision_reasons.clear()
    return saved


@st.cache_data(ttl=10, max_entries=4)
def runs(url: str) -> pd.DataFrame:
    """Every run recorded in the store, newest first (``Store.runs``)."""
    return store(url).runs()


@st.cache_data(ttl=60, max_entries=16)
def run_problems(url: str, run_id: str) -> pd.DataFrame:
    """The problems one run met (``Store.problems``)."""
    return store(url).problems(run_id)


def clear_results() -> None:
    """Forget every cached results frame (after an import re-ran the pipeline)."""
    for cached in (results, filtered, queue_members, review_queue, author_comments, article_rows, article_comments,
                   author_neighbourhood, author_activity, sources, article_choices, overview, leaderboard,
                   reply_partners, topics_over_time, runs, queue_without_text, review_without_text, readable):
        cached.clear()
    _decisions_changed()
