"""Wiring only: which stage runs after which, and where the results go.

Every stage is a pure function of frames (see docs/CONTRACTS.md), so the same
functions can be mapped over Dask partitions (one partition per group of
articles) as they are called here on one pandas frame.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from moderation import (
    comment_speculation, engagement, ingest, offtopic, offtopic_learning, queues, threads, topics, votes,
)
from moderation.schema import COMMENT_KEY, Problem, problems_frame
from moderation.text import group_codes, row_keys
from moderation.store import Store

COMBINER_FILE = "offtopic_combiner.json"
# weights a desk adopted on the Teach page: later runs and imports into this results folder score with them
ADOPTED_FILE = "offtopic_weights_adopted.json"
RECORDED_LABELS = "moderators_offtopic_label"  # the store's labels, joined to the comments for learning
RECORDED_SPECULATIVE = "moderators_speculative_label"


@dataclass(frozen=True)
class Params:
    """Parameters of every stage, in one place."""

    votes: votes.VoteParams = field(default_factory=votes.VoteParams)
    offtopic: offtopic.OfftopicParams = field(default_factory=offtopic.OfftopicParams)
    engagement: engagement.EngagementParams = field(default_factory=engagement.EngagementParams)


@dataclass
class Results:
    """Everything a run produces; ``write`` puts it in a results folder."""

    articles: pd.DataFrame
    comments: pd.DataFrame
    authors: pd.DataFrame
    vote_events: pd.DataFrame
    topics: pd.DataFrame
    problems: pd.DataFrame

    def write(self, out_dir: Path) -> None:
        """Write the results folder described in docs/CONTRACTS.md."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("articles", "comments", "authors", "vote_events", "topics"):
            getattr(self, name).to_parquet(out_dir / f"{name}.parquet", index=False)
        queues.to_csv(self.problems, out_dir / "problems.csv")


def run_stages(
    articles: pd.DataFrame,
    comments: pd.DataFrame,
    vote_events: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
    params: Params = Params(),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Run every analysis stage; returns (scored comments, authors, topics, reply-tree problems)."""
    # trees are resolved over everything: a reply may answer a comment ingested from an earlier file
    comments, tree_problems = threads.resolve(comments)
    comments = votes.score_votes(comments, vote_events, params.votes)
    # text features are fitted once and shared by every text stage (and the dashboard's topic view)
    features = topics.TextFeatures(**params.offtopic.features).fit(comments, articles)
    comments = offtopic.score_offtopic(comments, articles, features, params=params.offtopic)
    # a learned weights file may also carry the desk's conjecture model (train-offtopic, Teach page)
    conjecture = offtopic.load_weights(params.offtopic.weights_path).get("conjecture")
    comments = comment_speculation.score_comments(comments, conjecture)
    comments = offtopic.flag_offtopic_speculation(comments, params.offtopic)
    authors = engagement.author_table(comments, decisions, params.engagement)
    return comments, authors, features.topics_frame(), tree_problems


def ingest_paths(store: Store, paths: list[str | Path], format: str | None = None, **options) -> list[Problem]:
    """Load each path into ``store``; returns the problems met (bad records, skipped files).

    Reply trees are checked later, over the whole store (:func:`run_stages`).
    """
    problems: list[Problem] = []
    for path in paths:
        parsed = ingest.load(path, format, resolve_threads=False, **options)
        store.ingest(parsed)
        problems += parsed.problems
    return problems


def run(
    paths: list[str | Path],
    out_dir: str | Path,
    store_url: str | None = None,
    format: str | None = None,
    params: Params = Params(),
    **options,
) -> Results:
    """Ingest ``paths`` into the store, score everything in it, and write the results folder.

    The store defaults to ``OUT_DIR/moderation.db``; comments already in it
    from earlier runs are scored again with the new ones.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = with_adopted_weights(params, out_dir)
    store = Store(store_url or f"sqlite:///{out_dir / 'moderation.db'}")
    problems = ingest_paths(store, paths, format, **options)
    articles, comments, vote_events = store.load()
    comments, authors, topic_table, tree_problems = run_stages(
        articles, comments, vote_events, store.current_decisions(), params
    )
    results = Results(articles, comments, authors, vote_events, topic_table, problems_frame(problems + tree_problems))
    results.write(out_dir)
    # which combiner made offtopic_score: moderators see whether it learned their desk's notion of off-topic
    path = Path(params.offtopic.weights_path)
    shipped = path.resolve() == offtopic.WEIGHTS_PATH.resolve()
    combiner = {**offtopic.load_weights(path), "file": str(path), "shipped": shipped}
    (out_dir / COMBINER_FILE).write_text(json.dumps(combiner, indent=1) + "\n")
    return results


def with_adopted_weights(params: Params, out_dir: str | Path) -> Params:
    """``params`` scoring with the weights adopted for ``out_dir`` (``ADOPTED_FILE``), unless other weights than
    the shipped ones were asked for explicitly."""
    adopted = Path(out_dir) / ADOPTED_FILE
    if adopted.exists() and Path(params.offtopic.weights_path).resolve() == offtopic.WEIGHTS_PATH.resolve():
        return replace(params, offtopic=replace(params.offtopic, weights_path=adopted))
    return params


def adopt_weights(out_dir: str | Path, weights: dict) -> Path:
    """Make later runs and imports into results folder ``out_dir`` score with learned ``weights``; returns the file.

    Written to a temporary file and renamed, so a killed write leaves the previous adoption intact.
    """
    offtopic.check_weights(weights, "learned weights")
    path = Path(out_dir) / ADOPTED_FILE
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(weights, indent=1) + "\n")
    partial.replace(path)
    return path


def learn_offtopic(
    paths: list[str | Path],
    label_column: str | None = None,
    store_url: str | None = None,
    format: str | None = None,
    params: Params = Params(),
    speculative_column: str | None = None,
    **options,
) -> tuple[dict, pd.DataFrame, list[Problem]]:
    """Learn the off-topic combiner, and the desk's conjecture score, from moderators' labels.

    ``paths`` are ingested as by :func:`run` (into ``store_url``, by default a
    throw-away SQLite file), and every stored comment is context. The off-topic labels are
    the comments' ``label_column`` (0/1 in the input), or with ``label_column``
    None the off-topic labels moderators recorded in the store (the dashboard's
    "Off topic" / "On topic" buttons); the speculation labels likewise ``speculative_column`` or the
    store's "speculative" labels. With speculation labels on both classes the weights carry
    ``"conjecture"`` (:func:`moderation.comment_speculation.learn_conjecture`). Returns the weights (for
    ``OfftopicParams.weights_path``), the evaluation of
    :func:`moderation.offtopic_learning.learn_combiner` (and of ``learn_conjecture``) and the problems met
    (bad records, labels that are not 0/1).
    """
    if label_column is None and store_url is None:
        raise ValueError("no labels: give a label column of the input, or a store whose moderators labelled comments")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(store_url or f"sqlite:///{Path(folder) / 'learn.db'}")
        problems = ingest_paths(store, paths, format, **options)
        articles, comments, _ = store.load()
        recorded = {label: store.labels(label) for label in ("offtopic", "speculative")}
        store.engine.dispose()
    comments, tree_problems = threads.resolve(comments)
    where = sa.make_url(store_url).render_as_string(hide_password=True) if store_url else None  # may be shared
    if label_column is None:
        label_column, origin = RECORDED_LABELS, f"off-topic labels moderators recorded in {where}"
        comments = _with_recorded(comments, recorded["offtopic"], label_column)
    else:
        origin = f"labels in column {label_column} of " + ", ".join(map(str, paths))
    if speculative_column is None and store_url is not None:
        speculative_column = RECORDED_SPECULATIVE
        comments = _with_recorded(comments, recorded["speculative"], speculative_column)
    labels, label_problems = offtopic_learning.offtopic_labels(comments, label_column)
    weights, evaluation = offtopic_learning.learn_combiner(comments, articles, labels, params=params.offtopic, trained_on=origin)
    if speculative_column is not None:
        speculative, speculative_problems = offtopic_learning.offtopic_labels(comments, speculative_column)
        label_problems += speculative_problems
        if speculative.nunique() == 2:
            labelled = speculative.notna().to_numpy()
            scored = comment_speculation.score_comments(comments[labelled])
            groups = group_codes(row_keys(comments[labelled], ["source", "article_id"]))
            conjecture, conjecture_evaluation = comment_speculation.learn_conjecture(
                scored, speculative[labelled].to_numpy(), groups)
            weights["conjecture"] = conjecture
            evaluation = pd.concat([evaluation, conjecture_evaluation], ignore_index=True)
    return weights, evaluation, problems + tree_problems + label_problems


def _with_recorded(comments: pd.DataFrame, recorded: pd.DataFrame, column: str) -> pd.DataFrame:
    """``comments`` with the store's latest label per comment as ``column`` (NA where not labelled)."""
    recorded = recorded.rename(columns={"value": column})[[*COMMENT_KEY, column]]
    return comments.merge(recorded, on=COMMENT_KEY, how="left", validate="one_to_one")
