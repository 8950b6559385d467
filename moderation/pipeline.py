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

from moderation import engagement, ingest, queues, threads, topics, votes
from moderation.schema import COMMENT_KEY, Problem, problems_frame
from moderation.store import IngestSummary, Store

COMBINER_FILE = "offtopic_combiner.json"
RECORDED_LABELS = "moderators_offtopic_label"  # the store's labels, joined to the comments for learning


@dataclass(frozen=True)
class Params:
    """Parameters of every stage, in one place."""

    votes: votes.VoteParams = field(default_factory=votes.VoteParams)
    offtopic: topics.OfftopicParams = field(default_factory=topics.OfftopicParams)
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
    # engagement.insight_tables: name -> frame, written as engagement.TABLE_FILES
    insights: dict[str, pd.DataFrame] = field(default_factory=dict)

    def write(self, out_dir: Path) -> None:
        """Write the results folder described in docs/CONTRACTS.md."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("articles", "comments", "authors", "vote_events", "topics"):
            getattr(self, name).to_parquet(out_dir / f"{name}.parquet", index=False)
        for name, frame in self.insights.items():
            frame.to_parquet(out_dir / engagement.TABLE_FILES[name], index=False)
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
    comments = topics.score_offtopic(comments, articles, features, params=params.offtopic)
    authors = engagement.author_table(comments, decisions, params.engagement)
    return comments, authors, features.topics_frame(), tree_problems


def with_desk_settings(params: Params, store: Store) -> Params:
    """``params`` with what the desk set in the store (who is staff) in place of the defaults."""
    return replace(params, engagement=engagement.with_staff_settings(params.engagement, store.desk_settings()))


def ingest_paths(store: Store, paths: list[str | Path], format: str | None = None, **options) -> list[Problem]:
    """Load each path into ``store``; returns the problems met (bad records, skipped files).

    Reply trees are checked later, over the whole store (:func:`run_stages`).
    """
    return ingest_counted(store, paths, format, **options)[1]


def ingest_counted(
    store: Store, paths: list[str | Path], format: str | None = None, **options
) -> tuple[IngestSummary, list[Problem]]:
    """:func:`ingest_paths` that also says how many rows were added and how many were already in the store."""
    problems: list[Problem] = []
    added: dict[str, int] = {}
    known: dict[str, int] = {}
    for path in paths:
        parsed = ingest.load(path, format, resolve_threads=False, **options)
        summary = store.ingest(parsed)
        for table in summary.added:
            added[table] = added.get(table, 0) + summary.added[table]
            known[table] = known.get(table, 0) + summary.known[table]
        problems += parsed.problems
    return IngestSummary(added, known), problems


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
    store = Store(store_url or f"sqlite:///{out_dir / 'moderation.db'}")
    problems = ingest_paths(store, paths, format, **options)
    params = with_desk_settings(params, store)
    articles, comments, vote_events = store.load()
    comments, authors, topic_table, tree_problems = run_stages(
        articles, comments, vote_events, store.current_decisions(), params
    )
    results = Results(articles, comments, authors, vote_events, topic_table, problems_frame(problems + tree_problems),
                      engagement.insight_tables(comments, params.engagement))
    results.write(out_dir)
    # which combiner made offtopic_score: moderators see whether it learned their desk's notion of off-topic
    path = Path(params.offtopic.weights_path)
    shipped = path.resolve() == topics.WEIGHTS_PATH.resolve()
    combiner = {**topics.load_weights(path), "file": str(path), "shipped": shipped}
    (out_dir / COMBINER_FILE).write_text(json.dumps(combiner, indent=1) + "\n")
    return results


def learn_offtopic(
    paths: list[str | Path],
    label_column: str | None = None,
    store_url: str | None = None,
    format: str | None = None,
    params: Params = Params(),
    **options,
) -> tuple[dict, pd.DataFrame, list[Problem]]:
    """Learn the off-topic combiner from moderators' labels.

    ``paths`` are ingested as by :func:`run` (into ``store_url``, by default a
    throw-away SQLite file), and every stored comment is context. The labels are
    the comments' ``label_column`` (0/1 in the input), or with ``label_column``
    None the off-topic labels moderators recorded in the store (the dashboard's
    "Off topic" / "On topic" buttons). Returns the weights (for
    ``OfftopicParams.weights_path``), the evaluation of
    :func:`moderation.topics.learn_combiner` and the problems met (bad records,
    labels that are not 0/1).
    """
    if label_column is None and store_url is None:
        raise ValueError("no labels: give a label column of the input, or a store whose moderators labelled comments")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(store_url or f"sqlite:///{Path(folder) / 'learn.db'}")
        problems = ingest_paths(store, paths, format, **options)
        articles, comments, _ = store.load()
        recorded = store.labels("offtopic")
        store.engine.dispose()
    comments, tree_problems = threads.resolve(comments)
    if label_column is None:
        where = sa.make_url(store_url).render_as_string(hide_password=True)  # the weights file may be shared
        label_column, origin = RECORDED_LABELS, f"off-topic labels moderators recorded in {where}"
        recorded = recorded.rename(columns={"value": label_column})[[*COMMENT_KEY, label_column]]
        comments = comments.merge(recorded, on=COMMENT_KEY, how="left", validate="one_to_one")
    else:
        origin = f"labels in column {label_column} of " + ", ".join(map(str, paths))
    labels, label_problems = topics.offtopic_labels(comments, label_column)
    weights, evaluation = topics.learn_combiner(comments, articles, labels, params=params.offtopic, trained_on=origin)
    return weights, evaluation, problems + tree_problems + label_problems


def recorded_params(out_dir: str | Path, params: Params = Params()) -> Params:
    """``params`` with the off-topic combiner the run that wrote ``out_dir`` used (its ``offtopic_combiner.json``).

    The combiner's own file is used while it still holds the recorded weights;
    when it has moved or changed, the record itself (which holds the weights) is.
    A folder without a record keeps ``params``.
    """
    record_path = Path(out_dir) / COMBINER_FILE
    if not record_path.exists():
        return params
    record = json.loads(record_path.read_text())
    if record.get("shipped"):
        weights_path = topics.WEIGHTS_PATH
    else:
        weights_path = Path(record.get("file", record_path))
        try:
            same = {k: topics.load_weights(weights_path)[k] for k in topics.WEIGHT_KEYS} == {
                k: record[k] for k in topics.WEIGHT_KEYS}
        except (OSError, ValueError):
            same = False
        if not same:
            weights_path = record_path
    return replace(params, offtopic=replace(params.offtopic, weights_path=weights_path))


@dataclass(frozen=True)
class ImportReport:
    """What importing files into a results folder did."""

    added: IngestSummary
    problems: pd.DataFrame
    scored: int  # comments in the store, all scored again
    combiner: str  # which off-topic weights scored them

    def __str__(self) -> str:
        comments = f"{self.added.added.get('comments', 0):,} comments added ({self.added.known.get('comments', 0):,} " \
                   "already known)"
        articles = self.added.added.get("articles", 0)
        return (f"{comments}, {articles:,} new article{'s' * (articles != 1)}, {len(self.problems):,} "
                f"problem{'s' * (len(self.problems) != 1)}; all {self.scored:,} stored comments scored again "
                f"with the parameters of the run that made these results ({self.combiner}).")


def import_files(
    paths: list[str | Path], out_dir: str | Path, store_url: str | None = None, format: str | None = None, **options
) -> ImportReport:
    """Add ``paths`` to the results folder ``out_dir``: ingest, then score with the parameters its run recorded.

    Scoring still covers every stored comment (text features and per-article
    ranks are fitted over all of them); the report says how many were new.
    """
    out_dir = Path(out_dir)
    params = recorded_params(out_dir)
    store = Store(store_url or f"sqlite:///{out_dir / 'moderation.db'}")
    added, _ = ingest_counted(store, paths, format, **options)
    results = run(paths, out_dir, store_url, format, params, **options)  # re-ingesting adds nothing
    path = params.offtopic.weights_path
    combiner = "the shipped off-topic combiner" if Path(path).resolve() == topics.WEIGHTS_PATH.resolve() else \
        f"off-topic weights from {path}"
    return ImportReport(added, results.problems, len(results.comments), combiner)
