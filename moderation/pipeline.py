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
    catalog, comment_speculation, engagement, ingest, offtopic, offtopic_learning, queues, schema, threads, topics, votes,
)
from moderation.schema import COMMENT_KEY, Problem
from moderation.store import IngestSummary, Store
from moderation.text import group_codes, row_keys

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
    """Everything a run produces; ``write`` puts its tables in a folder."""

    articles: pd.DataFrame
    comments: pd.DataFrame
    authors: pd.DataFrame
    vote_events: pd.DataFrame
    topics: pd.DataFrame
    problems: pd.DataFrame  # the problems behind these results (``Store.problems_behind``), column run_id first
    run_id: str | None = None
    # engagement.insight_tables: name -> frame, written as catalog.INSIGHT_FILES
    insights: dict[str, pd.DataFrame] = field(default_factory=dict)
    # what this run's ingest added to the store and found already there
    ingested: IngestSummary = field(default_factory=lambda: IngestSummary({}, {}))

    @property
    def run_problems(self) -> int:
        """How many problems the run that made these results met itself (earlier runs' are in ``problems`` too)."""
        return int((self.problems["run_id"] == self.run_id).sum()) if "run_id" in self.problems else len(self.problems)

    def write(self, directory: Path) -> None:
        """Write the tables and ``problems.csv`` into ``directory``, checking scored comments and authors first.

        Raises
        ------
        schema.OutputError
            When comments or authors lack a column their schema requires, or have it with another type.
        """
        schema.check_output(self.comments, "scored_comments", "comments.parquet")
        schema.check_output(self.authors, "authors", "authors.parquet")
        directory.mkdir(parents=True, exist_ok=True)
        for name in catalog.TABLES:
            getattr(self, name).to_parquet(directory / f"{name}.parquet", index=False)
        for name, frame in self.insights.items():
            frame.to_parquet(directory / catalog.INSIGHT_FILES[name], index=False)
        queues.to_csv(self.problems, directory / catalog.PROBLEMS_FILE)


class NothingRead(ingest.IngestError):
    """Not one record could be read from any input (the input as a whole is unreadable)."""


class StrictFailure(ValueError):
    """``strict`` was asked for and the input has a problem."""


def run_stages(
    articles: pd.DataFrame,
    comments: pd.DataFrame,
    vote_events: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
    params: Params = Params(),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Run every analysis stage; returns (scored comments, authors, topics, reply-tree problems)."""
    # trees are resolved over everything: a reply may answer a comment ingested from an earlier file
    comments, tree_problems = threads.resolve_stored(comments)
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


def with_desk_settings(params: Params, store: Store) -> Params:
    """``params`` with what the desk set in the store (who is staff) in place of the defaults."""
    return replace(params, engagement=engagement.with_staff_settings(params.engagement, store.desk_settings()))


def ingest_paths(
    store: Store, paths: list[str | Path], format: str | None = None, run_id: str | None = None,
    strict: bool = False, counts: IngestSummary | None = None, **options,
) -> tuple[list[Problem], int]:
    """Load each path into ``store``; returns the problems met (bad records, unreadable files) and the records read.

    An input that cannot be read at all is a problem too, so the others still
    load. Each path is read piece by piece (:func:`moderation.ingest.load_chunks`),
    each piece stored in its own transaction, so memory stays bounded and the
    store is never locked for long. With ``run_id`` each input's problems go to
    the store's history as soon as it is stored. With ``counts`` (an ``IngestSummary``) the rows added
    and those already known are added up in it. Reply trees are checked later, over the whole store
    (:func:`run_stages`).

    Raises
    ------
    NothingRead
        When not one record (article, comment or vote event) could be read from any path; names each one.
    StrictFailure
        With ``strict``, at the first piece of a path with a problem, before that piece is stored (earlier
        pieces and paths had none; re-running after a fix adds nothing twice).
    """
    problems: list[Problem] = []
    records, first_problem = 0, {}
    for path in paths:
        read, found = 0, []
        try:
            for parsed in ingest.load_chunks(path, format, **options):
                if strict and parsed.problems:
                    _record(store, run_id, found + parsed.problems, path)
                    raise StrictFailure(f"--strict: {len(parsed.problems)} problem(s) in {path}, first "
                                        f"{parsed.problems[0]}; stopped before storing them")
                summary = store.ingest(parsed)
                if counts is not None:
                    for table in summary.added:
                        counts.added[table] = counts.added.get(table, 0) + summary.added[table]
                        counts.known[table] = counts.known.get(table, 0) + summary.known[table]
                read += len(parsed.articles) + len(parsed.comments) + len(parsed.vote_events)
                found += parsed.problems
        except ingest.IngestError as error:
            found.append(Problem(str(path), "file", str(error).removeprefix(f"{path}: "), "skipped"))
            if strict:
                _record(store, run_id, found, path)
                raise StrictFailure(f"--strict: {path}: {found[-1].problem}") from None
        records += read
        if not read:
            first_problem[str(path)] = found[0].problem if found else "no records in it"
        _record(store, run_id, found, path)
        problems += found
    if paths and not records:
        raise NothingRead("no record could be read from any input: "
                          + "; ".join(f"{path} ({why})" for path, why in first_problem.items()))
    return problems, records


def _record(store: Store, run_id: str | None, problems: list[Problem], path) -> None:
    if run_id is not None:
        store.record_problems(run_id, problems, path)


def run(
    paths: list[str | Path],
    out_dir: str | Path,
    store_url: str | None = None,
    format: str | None = None,
    params: Params = Params(),
    strict: bool = False,
    **options,
) -> Results:
    """Ingest ``paths`` into the store, score everything in it, and replace the results folder all at once.

    The store defaults to ``OUT_DIR/moderation.db``; comments already in it
    from earlier runs are scored again with the new ones, with the desk's
    settings from the store (who is staff, :func:`with_desk_settings`). The run and its
    problems are recorded in the store (``Store.runs``, ``Store.problems``)
    whether it succeeds or fails. The new results become visible in one
    rename (:mod:`moderation.catalog`), so a run that fails or is killed
    leaves the previous results as they were.

    Raises
    ------
    NothingRead, StrictFailure
        See :func:`ingest_paths`; with ``strict`` also when reply trees have problems (the results stay as they were).
    catalog.FolderBusy
        When another run is writing ``out_dir``.
    """
    out_dir = Path(out_dir)
    params = with_adopted_weights(params, out_dir)
    with catalog.exclusive(out_dir):
        store = Store(store_url or catalog.default_store_url(out_dir))
        run_id = store.start_run("run", paths)
        records = None
        ingested = IngestSummary({}, {})
        try:
            _, records = ingest_paths(store, paths, format, run_id, strict, ingested, **options)
            params = with_desk_settings(params, store)
            articles, comments, vote_events = store.load()
            comments, authors, topic_table, tree_problems = run_stages(
                articles, comments, vote_events, store.current_decisions(), params
            )
            store.record_problems(run_id, tree_problems)
            if strict and tree_problems:
                raise StrictFailure(f"--strict: {len(tree_problems)} reply-tree problem(s), first {tree_problems[0]}; "
                                    "the records are stored, the results folder was left as it was")
            results = Results(
                articles, comments, authors, vote_events, topic_table, store.problems_behind(run_id), run_id,
                engagement.insight_tables(comments, params.engagement), ingested,
            )
            with catalog.new_version(out_dir, run_id) as version:
                results.write(version)
                _write_json(version / catalog.COMBINER_FILE, _combiner(params))
                _write_json(version / catalog.RUN_FILE, {
                    "run_id": run_id, "inputs": [str(p) for p in paths], "records_read": records,
                    "comments": len(comments), "problems": results.run_problems,
                    "problem_history": "every run's problems are in the store (tables runs, problems): "
                                       f"python -m moderation problems --results {out_dir} --all"
                                       + (f" --store {_shown(store_url)}" if store_url else ""),
                })
        except BaseException as error:
            store.finish_run(run_id, "failed", records, str(error).splitlines()[0] if str(error) else repr(error))
            raise
        store.finish_run(run_id, "done", records)
    return results


def _shown(url: str) -> str:
    """A store URL without its password (results folders get shared)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _combiner(params: Params) -> dict:
    """Which combiner made offtopic_score: moderators see whether it learned their desk's notion of off-topic."""
    path = Path(params.offtopic.weights_path)
    shipped = path.resolve() == offtopic.WEIGHTS_PATH.resolve()
    return {**offtopic.load_weights(path), "file": str(path), "shipped": shipped}


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=1) + "\n")


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
        problems, _ = ingest_paths(store, paths, format, **options)
        articles, comments, _ = store.load()
        recorded = {label: store.labels(label) for label in ("offtopic", "speculative")}
        store.engine.dispose()
    comments, tree_problems = threads.resolve_stored(comments)
    where = _shown(store_url) if store_url else None  # the weights file may be shared
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


def recorded_params(out_dir: str | Path, params: Params = Params()) -> Params:
    """``params`` with the off-topic combiner the run that wrote ``out_dir`` used (its ``offtopic_combiner.json``).

    The combiner's own file is used while it still holds the recorded weights;
    when it has moved or changed, the record itself (which holds the weights) is.
    A folder without a record keeps ``params``.
    """
    record_path = catalog.current(out_dir) / catalog.COMBINER_FILE
    if not record_path.exists():
        return params
    record = json.loads(record_path.read_text())
    if record.get("shipped"):
        weights_path = offtopic.WEIGHTS_PATH
    else:
        weights_path = Path(record.get("file", record_path))
        try:
            same = {k: offtopic.load_weights(weights_path)[k] for k in offtopic.WEIGHT_KEYS} == {
                k: record[k] for k in offtopic.WEIGHT_KEYS}
        except (OSError, ValueError):
            same = False
        if not same:
            # the record is a weights file too; its version folder outlives the run that reads it (catalog keeps
            # the previous version until the next swap)
            weights_path = record_path
    return replace(params, offtopic=replace(params.offtopic, weights_path=weights_path))


@dataclass(frozen=True)
class ImportReport:
    """What importing files into a results folder did."""

    added: IngestSummary
    problems: pd.DataFrame  # this import's problems only
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
    """Add ``paths`` to the results folder ``out_dir``: a :func:`run` with the parameters its last run recorded.

    Scoring still covers every stored comment (text features and per-article
    ranks are fitted over all of them); the report says how many were new.
    """
    params = recorded_params(out_dir)
    results = run(paths, out_dir, store_url, format, params, **options)
    path = params.offtopic.weights_path
    combiner = "the shipped off-topic combiner" if Path(path).resolve() == offtopic.WEIGHTS_PATH.resolve() else \
        f"off-topic weights from {path}"
    own = results.problems[results.problems["run_id"] == results.run_id] if "run_id" in results.problems \
        else results.problems
    return ImportReport(results.ingested, own.reset_index(drop=True), len(results.comments), combiner)
