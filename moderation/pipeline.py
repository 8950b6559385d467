"""Wiring only: which stage runs after which, and where the results go.

Every stage is a pure function of frames (see docs/CONTRACTS.md), so the same
functions are mapped over Dask partitions of whole articles (:mod:`moderation.dask_engine`,
``run(..., engine="dask")``) as they are called here on one pandas frame.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from threadpoolctl import threadpool_limits

from moderation import (
    catalog, comment_speculation, engagement, fitted, incremental, ingest, offtopic, offtopic_learning, queues, schema,
    threads, topics, votes,
)
from moderation.schema import ARTICLE_KEY, COMMENT_KEY, Problem
from moderation.store import IngestSummary, Store
from moderation.text import group_codes, row_keys

# weights a desk adopted on the Teach page: later runs and imports into this results folder score with them
ADOPTED_FILE = "offtopic_weights_adopted.json"
RECORDED_LABELS = "moderators_offtopic_label"  # the store's labels, joined to the comments for learning
RECORDED_SPECULATIVE = "moderators_speculative_label"
# threads per BLAS and OpenMP pool while scoring: waiting threads spin for a core, and on a machine shared with other
# work two of them made the text fit ten times slower (5.5 s against 59 s at 200k, the same topics); the stages'
# dense products are small (NMF on a 10,000-document sample, 50-dimensional projections), so little is lost alone
SCORING_THREADS = 1
# rows whose columns and types are checked when comments are written from Arrow (the types are per column)
CHECKED_ROWS = 1000
# what an import reads of every comment (the author and engagement tables are reduced from partials): the keys and
# queue flags the run's summary counts, the topics, and the votes of an author's usual votes
_SUMMARY_COLUMNS = [*ARTICLE_KEY, "author", "upvotes", "downvotes", "score", "topic_id",
                    *(spec.member for spec in queues.QUEUES.values())]


@dataclass(frozen=True)
class Params:
    """Parameters of every stage, in one place."""

    votes: votes.VoteParams = field(default_factory=votes.VoteParams)
    offtopic: offtopic.OfftopicParams = field(default_factory=offtopic.OfftopicParams)
    engagement: engagement.EngagementParams = field(default_factory=engagement.EngagementParams)
    # an incremental run fits again once the comments added since the fit exceed this share of those it saw:
    # a vocabulary and outlier model learned on a few comments would misjudge many more
    refit_growth: float = 0.5


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
    scoring: Scoring | None = None  # what the run scored, and with which fit
    # reply-tree problems of the whole store that the run before reported too (still open, not this run's)
    carried: int = 0
    # an incremental run's scored comments, every column, as the parts of comments.parquet (incremental.merge_parts:
    # a previous version's part kept as it is, or Arrow rows to write); ``comments`` then holds only the columns
    # authors, engagement tables, topics and the run's summary read
    comment_parts: list[Path | pa.Table] | None = None

    @property
    def own_problems(self) -> pd.DataFrame:
        """The problems this run found new: its inputs' problems and reply-tree problems no earlier run reported.

        Reply trees are checked over the whole store, so a reply whose parent never came is reported again by
        every run, under the newest run's id, and counted as this run's by neither it nor an import.
        """
        if "run_id" not in self.problems:
            return self.problems
        mine = self.problems[self.problems["run_id"] == self.run_id]
        return mine.iloc[: len(mine) - self.carried].reset_index(drop=True)

    @property
    def run_problems(self) -> int:
        """How many problems the run that made these results met itself (earlier runs' are in ``problems`` too)."""
        return len(self.own_problems)

    def write(self, directory: Path) -> None:
        """Write the tables and ``problems.csv`` into ``directory``, checking scored comments and authors first.

        Raises
        ------
        schema.OutputError
            When comments or authors lack a column their schema requires, or have it with another type.
        """
        written = [part for part in self.comment_parts or [] if isinstance(part, pa.Table)]
        if self.comment_parts is None:
            schema.check_output(self.comments, "scored_comments", "comments.parquet")
        elif written:  # the rescored rows were checked in full, the kept ones when first written: columns and types
            schema.check_output(written[0].slice(0, CHECKED_ROWS).to_pandas(), "scored_comments",
                                "comments.parquet", data=False)
        schema.check_output(self.authors, "authors", "authors.parquet")
        directory.mkdir(parents=True, exist_ok=True)
        for name in catalog.TABLES:
            if name == "comments":
                parts = self.comment_parts if self.comment_parts is not None else incremental.in_parts(
                    pa.Table.from_pandas(self.comments, preserve_index=False), catalog.PART_ROWS)
                _write_comments(parts, directory / catalog.COMMENTS)
            else:
                getattr(self, name).to_parquet(directory / f"{name}.parquet", index=False,
                                               row_group_size=catalog.ROW_GROUP_ROWS)
        for name, frame in self.insights.items():
            frame.to_parquet(directory / catalog.INSIGHT_FILES[name], index=False)
        queues.to_csv(self.problems, directory / catalog.PROBLEMS_FILE)


def _write_comments(parts: list[Path | pa.Table], folder: Path) -> None:
    """Write scored comments as the parts of the folder ``folder`` (:func:`moderation.catalog.part_name`): a
    previous version's part (a path) is kept as it is (:func:`moderation.catalog.keep`), rows are written in row
    groups of ``catalog.ROW_GROUP_ROWS`` (the dashboard reads the rows in view by row group), dictionary-encoding
    the text columns only: numbers gain nothing from a dictionary, and trying one for each of them made writing
    a third slower (measured at 200,000 comments). The parts are written on a thread per core: Parquet encoding
    and compression release the GIL, and four parts of 200,000 comments took 0.45 s on two threads against 0.85 s
    one after another."""
    folder.mkdir()

    def write(number: int, part: pa.Table) -> None:
        text = [field.name for field in part.schema
                if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)]
        pq.write_table(part, folder / catalog.part_name(number), use_dictionary=text,
                       row_group_size=catalog.ROW_GROUP_ROWS)

    for number, part in enumerate(parts):
        if isinstance(part, Path):
            catalog.keep(part, folder / catalog.part_name(number))
    written = [number for number, part in enumerate(parts) if isinstance(part, pa.Table)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(write, written, [parts[number] for number in written]))  # list: a failed write raises here


class StageClock:
    """Wall and CPU seconds per step of one run, in the order first met (``run`` writes them to ``run.json``).

    Benchmarks read them to say where a run's time goes; a step timed twice adds up. CPU seconds are this
    process's (not those of worker processes a step starts): steadier than wall time on a shared machine.
    """

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        began, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - began
            self.cpu_seconds[step] = self.cpu_seconds.get(step, 0.0) + time.process_time() - cpu


class NothingRead(ingest.IngestError):
    """Not one record could be read from any input (the input as a whole is unreadable)."""


class StrictFailure(ValueError):
    """``strict`` was asked for and the input has a problem."""


@dataclass(frozen=True)
class Fitted:
    """What the stages learn from the whole corpus (``fit_stages``), applied by ``run_stages`` to any articles."""

    text: topics.TextFeatures
    corpus: offtopic.OfftopicCorpus
    outliers: votes.VoteOutliers


def fit_stages(
    articles: pd.DataFrame, comments: pd.DataFrame, params: Params = Params(), clock: StageClock | None = None,
) -> Fitted:
    """Fit text features, off-topic corpus sums and vote outlier models on the corpus (threads resolved)."""
    clock = clock or StageClock()
    # text features are fitted once and shared by every text stage (and the dashboard's topic view)
    with clock("fit text features"):
        features = topics.TextFeatures(**params.offtopic.features).fit(comments, articles)
    with clock("fit off-topic corpus"):
        corpus = offtopic.OfftopicCorpus.fit(comments, articles, features)
    with clock("fit vote outliers"):
        outliers = votes.fit_vote_outliers(comments, params.votes)
    return Fitted(features, corpus, outliers)


def run_stages(
    articles: pd.DataFrame,
    comments: pd.DataFrame,
    vote_events: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
    params: Params = Params(),
    fitted: Fitted | None = None,
    author_usual: pd.Series | None = None,
    clock: StageClock | None = None,
    earlier: pd.DataFrame | None = None,
    staff: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, engagement.InsightPartials, pd.DataFrame, list[Problem]]:
    """Run every analysis stage; returns (scored comments, their engagement partials, topics, reply-tree
    problems); the author and engagement tables are the partials' reduce (:func:`moderation.engagement.reduce_authors`,
    :func:`moderation.engagement.reduce_insights`), with other articles' partials when ``comments`` are some.

    Without ``fitted`` the corpus is ``comments`` and everything is fitted on it. With ``fitted``
    (:func:`fit_stages` of the corpus) ``comments`` may be some whole articles of it: each article's scores
    are then those of the corpus run (``author_usual``: :func:`moderation.votes.author_usual_log_votes` over
    the corpus comments of these authors; ``staff``: source and author of the corpus's staff authors,
    :func:`moderation.engagement.corpus_staff`), while topics cover ``comments`` only. ``clock`` times
    each stage. ``earlier``: rows of these comments as the current results hold them (an import's): a comment
    whose text and language are the same keeps its speculation scores (a function of those alone).
    """
    clock = clock or StageClock()
    # trees are resolved over everything: a reply may answer a comment ingested from an earlier file
    with clock("reply trees"):
        comments, tree_problems = threads.resolve(comments)
    fitted = fitted or fit_stages(articles, comments, params, clock)
    with clock("votes"):
        comments = votes.score_votes(comments, vote_events, params.votes, fitted.outliers, author_usual)
    with clock("off-topic"):
        comments = offtopic.score_offtopic(comments, articles, fitted.text, params=params.offtopic,
                                           corpus=fitted.corpus)
    # no later stage reads the fitted rows of every comment (a quarter of a full run's memory at its peak): they
    # are freed here when the caller handed the fit over
    fitted = replace(fitted, text=fitted.text.without_rows(), corpus=fitted.corpus.without_rows())
    with clock("speculation"):
        # a learned weights file may also carry the desk's conjecture model (train-offtopic, Teach page)
        conjecture = offtopic.load_weights(params.offtopic.weights_path).get("conjecture")
        comments = incremental.score_changed(comments, earlier, ["text", "language"],
                                             lambda rows: comment_speculation.score_comments(rows, conjecture))
        comments = offtopic.flag_offtopic_speculation(comments, params.offtopic)
    # from the text alone: the comments may come from results that hold an earlier answer
    comments = comments.assign(**{queues.READABLE: queues.readable(comments[["text"]])})
    with clock("engagement partials"):
        partials = engagement.insight_partials(comments, params.engagement, staff, decisions=decisions)
    topic_table = fitted.text.topics_frame(comments["topic_id"])
    return comments, partials, topic_table, tree_problems


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
    each piece stored in its own transaction, so memory stays bounded and a
    killed ingest keeps the pieces stored before; the corpus file is held
    throughout (:meth:`Store.ingesting`: other writers wait). With ``run_id`` each input's problems go to
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
    with store.ingesting():
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


@dataclass(frozen=True)
class Scoring:
    """What a run scored: every stored comment with a fresh fit, or the articles new rows touched."""

    comments: int
    articles: int
    fitted_by: str  # the run whose fitted state scored them (this run after a full fit)
    full_fit: str | None = None  # why everything was fitted and scored again; None for an incremental run

    def __str__(self) -> str:
        if self.full_fit is None:
            return (f"scored {self.comments:,} comment{'s' * (self.comments != 1)} in {self.articles:,} touched "
                    f"article{'s' * (self.articles != 1)} with the fitted state of run {self.fitted_by}")
        return f"all {self.comments:,} stored comments scored with a new fit ({self.full_fit})"


def run(
    paths: list[str | Path],
    out_dir: str | Path,
    store_url: str | None = None,
    format: str | None = None,
    params: Params = Params(),
    strict: bool = False,
    refit: bool = False,
    engine: str = "pandas",
    dask=None,
    **options,
) -> Results:
    """Ingest ``paths`` into the store, score what changed, and replace the results folder all at once.

    The store defaults to ``OUT_DIR/moderation.db``. When the current results
    hold fitted state made with the same parameters (:func:`moderation.fitted.load`),
    only the articles with new comments or vote events are scored, whole, with that
    state, and the author rows of their authors (and of comments whose decision
    changed) recomputed; every other row is kept (:mod:`moderation.incremental`).
    Otherwise, or with ``refit``, everything stored is fitted and scored again and
    ``Results.scoring`` says why; with ``engine="dask"`` that full fit and scoring runs on Dask
    (:mod:`moderation.dask_engine`; ``dask``: its ``DaskOptions``), an incremental one stays here. Both use
    the desk's settings from the store (who
    is staff, :func:`with_desk_settings`). The run and its problems are recorded in
    the store (``Store.runs``, ``Store.problems``) whether it succeeds or fails. The
    new results become visible in one rename (:mod:`moderation.catalog`), so a run
    that fails or is killed leaves the previous results as they were.

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
        clock = StageClock()
        try:
            with clock("ingest"):
                _, records = ingest_paths(store, paths, format, run_id, strict, ingested, **options)
            params = with_desk_settings(params, store)
            store_name = _store_name(out_dir, store_url)
            with clock("fitted state"):
                state, why = (None, "--refit was given") if refit else fitted.load(out_dir, params, store_name)
            if state is not None:
                changes = store.changed_since(state.last_position, state.last_vote_row)
                why = _grown_past_the_fit(state, changes[1], params)
                state = None if why else state
            with threadpool_limits(limits=SCORING_THREADS):
                if state is None and engine == "dask":
                    from moderation import dask_engine  # Dask is imported by Dask runs only

                    results, state = dask_engine.score_all(store, params, run_id, why, out_dir,
                                                           dask or dask_engine.DaskOptions())
                elif state is None:
                    results, state = _score_all(store, params, run_id, why, clock)
                else:
                    results, state = _score_touched(store, out_dir, state, params, run_id, changes, clock)
            tree_problems = [Problem(*row) for row in state.tree_problems[["file", "record", "problem", "action"]]
                             .itertuples(index=False, name=None)]
            reported = store.tree_problems_before(run_id)
            # the new ones first, so that Results.own_problems can leave the carried ones (recorded last) out
            tree_problems.sort(key=lambda problem: astuple(problem) in reported)
            carried = sum(astuple(problem) in reported for problem in tree_problems)
            store.record_problems(run_id, tree_problems)
            if strict and tree_problems:
                raise StrictFailure(f"--strict: {len(tree_problems)} reply-tree problem(s), first {tree_problems[0]}; "
                                    "the records are stored, the results folder was left as it was")
            results = replace(results, problems=store.problems_behind(run_id), ingested=ingested, carried=carried)
            release_arrow_pages()
            with catalog.new_version(out_dir, run_id) as version:
                with clock("write"):
                    results.write(version)
                    fitted.save(version, state, params, store_name)
                    _write_json(version / catalog.COMBINER_FILE, _combiner(params))
                scoring = results.scoring
                _write_json(version / catalog.RUN_FILE, {
                    "run_id": run_id, "inputs": [str(p) for p in paths], "records_read": records,
                    "comments": len(results.comments), "problems": results.run_problems,
                    "scoring": {"comments_scored": scoring.comments, "articles_scored": scoring.articles,
                                "fitted_by": scoring.fitted_by, "full_fit": scoring.full_fit, "summary": str(scoring)},
                    # wall seconds per step (benchmarks/bench_run.py reads them); the rest of the command's time
                    # is starting Python, imports and the version swap
                    "seconds": {step: round(seconds, 3) for step, seconds in clock.seconds.items()},
                    "cpu_seconds": {step: round(seconds, 3) for step, seconds in clock.cpu_seconds.items()},
                    "problem_history": "every run's problems are in the store (tables runs, problems): "
                                       f"python -m moderation problems --results {out_dir} --all"
                                       + (f" --store {_shown(store_url)}" if store_url else ""),
                })
        except BaseException as error:
            store.finish_run(run_id, "failed", records, str(error).splitlines()[0] if str(error) else repr(error))
            raise
        store.finish_run(run_id, "done", records)
    return results


def release_arrow_pages() -> None:
    """Give the pages Arrow's memory pool keeps for reuse back to the system.

    The pool (mimalloc) keeps what it freed: after the store's record batches became a pandas frame, 0.7 GB at a
    million comments that no stage reuses, on top of the run's peak.
    """
    pa.default_memory_pool().release_unused()


def _grown_past_the_fit(state: fitted.FittedState, last_position: int | None, params: Params) -> str:
    """Why ``state`` no longer fits the store (more comments added since the fit than ``params.refit_growth`` of
    those it saw), or "" while it does."""
    def at(position):
        return -1 if position is None else position

    added = at(last_position) - at(state.fitted_position)
    if added > params.refit_growth * state.fitted_comments:
        return (f"{added:,} comments were added since the fit on {state.fitted_comments:,}, "
                f"more than {params.refit_growth:.0%}")
    return ""


def _score_all(
    store: Store, params: Params, run_id: str, why: str, clock: StageClock
) -> tuple[Results, fitted.FittedState]:
    """Fit on everything stored and score it: the results and the state to save with them."""
    with clock("store load"):
        _, last_position, last_vote_row = store.changed_since(None, None)
        articles, comments, vote_events = store.load()
        decisions = store.current_decisions()
        release_arrow_pages()
    with clock("reply trees"):
        comments, tree_problems = threads.resolve(comments)
    fitted_here = [fit_stages(articles, comments, params, clock)]
    learned = Fitted(fitted_here[0].text.without_rows(), fitted_here[0].corpus.without_rows(),
                     fitted_here[0].outliers)
    # handed over: run_stages holds the only reference to the fitted rows, and frees them after the off-topic stage
    comments, partials, topic_table, _ = run_stages(articles, comments, vote_events, decisions, params,
                                                    fitted_here.pop(), clock=clock)
    with clock("engagement tables"):
        authors = engagement.reduce_authors(partials)
        insights = engagement.reduce_insights(partials)
    results = Results(
        articles, comments, authors, vote_events, topic_table, schema.problems_frame([]), run_id,
        insights, scoring=Scoring(len(comments), len(articles), run_id, why),
    )
    state = fitted.FittedState(
        learned.text, learned.corpus, learned.outliers, _decision_keys(decisions),
        _tree_problems(tree_problems, comments), last_position, last_vote_row, run_id, len(comments), last_position,
        partials,
    )
    return results, state


def _score_touched(
    store: Store, out_dir: Path, state: fitted.FittedState, params: Params, run_id: str,
    changes: tuple[pd.DataFrame, int | None, int | None], clock: StageClock,
) -> tuple[Results, fitted.FittedState]:
    """Score the articles with comments or vote events added since ``state`` was saved (``changes``:
    ``Store.changed_since``); keep every other row."""
    touched, last_position, last_vote_row = changes
    version = catalog.current(out_dir)
    with clock("read results"):
        previous_votes = pd.read_parquet(version / "vote_events.parquet")
        known = pd.read_parquet(version / "articles.parquet", columns=ARTICLE_KEY)
    with clock("store load"):
        articles = store.articles()
        new_articles = articles[~incremental.in_articles(articles, known)]
        touched_articles, comments, vote_events = store.load_articles(touched)
        decisions = store.current_decisions()
    new_comments = comments[comments["position"] > (-1 if state.last_position is None else state.last_position)]
    decided = incremental.changed_decisions(state.decisions, decisions)  # their authors' share_removed changes
    # what is read of every comment: the summary's, and the comment keys to find the decided comments' articles
    summary_columns = [*_SUMMARY_COLUMNS, *(COMMENT_KEY if len(decided) else [])]
    with clock("read results"):
        # the current comments stay in their parts: those without a rescored row are kept as they are, the others
        # read, merged and written as Arrow (pandas frames of every column of every comment cost seconds)
        parts = incremental.read_parts(catalog.comment_parts(version), touched, len(new_comments) > 0,
                                       catalog.PART_ROWS, summary_columns)
        earlier, rescored = incremental.earlier_rows(parts, touched)
        # an author's usual votes span articles: over the author's comments everywhere (the kept parts hold no
        # touched article's rows), the touched ones as stored now
        voting = [column for column in ("source", "author", "upvotes", "downvotes", "score")
                  if column in parts.earlier.column_names]
        voted = incremental.rows_by([*parts.kept.values(), parts.earlier.select(voting).filter(~rescored)],
                                    comments, voting)
    author_usual = votes.author_usual_log_votes(pd.concat([voted, comments[voting]], ignore_index=True))
    # a source the fit has not seen is all new: it is fitted on its rows here, as a full run would fit it
    text = state.text.with_sources(comments, articles)
    fit = Fitted(text, state.corpus.add(new_comments, new_articles, text), state.outliers)
    # every other article's partials are kept; their authors' staff is the corpus's but for a comment just marked
    kept = engagement.without_articles(state.insights, touched)
    staff = engagement.corpus_staff(kept, comments, params.engagement)
    scored, fresh, _, tree_problems = run_stages(touched_articles, comments, vote_events, decisions, params, fit,
                                                 author_usual, clock, earlier, staff)
    del earlier
    # every rescored row in full (the kept rows were checked when written; the merged columns and types are
    # checked when written): a stage that lost a column would otherwise hide behind the previous rows' values
    schema.check_output(scored, "scored_comments", "comments.parquet")
    with clock("merge"):
        merged = incremental.merge_parts(parts, scored, touched, catalog.PART_ROWS)
        summary = incremental.columns_of(merged, summary_columns, parts.kept)
        del parts
    with clock("engagement tables"):
        read = engagement.insight_columns(params.engagement)
        if engagement.staff_changed(kept, staff):
            # an author of the kept rows became staff (the desk's settings are the fit's): the threads they
            # started or answered anywhere change
            partials = engagement.insight_partials(incremental.columns_of(merged, read), params.engagement, staff,
                                                   decisions=decisions)
        else:  # every other article's rows are as they were, but where a comment's decision changed
            pieces = [kept, fresh]
            redecided = incremental.articles_of(summary, decided, touched)
            if len(redecided):
                pieces = [engagement.without_articles(kept, redecided), fresh, engagement.insight_partials(
                    incremental.rows_of(merged, redecided, read), params.engagement, staff, decisions=decisions)]
            partials = engagement.merge_partials(pieces)
        authors = engagement.reduce_authors(partials)
        insights = engagement.reduce_insights(partials)
    results = Results(
        articles, summary, authors,
        incremental.merge_keyed(previous_votes, vote_events, ["source", "event_id"]),
        fit.text.topics_frame(summary["topic_id"]), schema.problems_frame([]), run_id, insights,
        scoring=Scoring(len(scored), len(touched), state.fitted_by), comment_parts=merged,
    )
    kept_problems = state.tree_problems[~incremental.in_articles(state.tree_problems, touched)]
    state = replace(
        state, text=text, corpus=fit.corpus, decisions=_decision_keys(decisions),
        tree_problems=pd.concat([kept_problems, _tree_problems(tree_problems, scored)], ignore_index=True),
        last_position=last_position, last_vote_row=last_vote_row, insights=partials,
    )
    return results, state




def _decision_keys(decisions: pd.DataFrame) -> pd.DataFrame:
    """The current decisions as the authors table uses them: source, comment_id, action."""
    return decisions[[*COMMENT_KEY, "action"]].astype("str").reset_index(drop=True)


def _tree_problems(problems: list[Problem], comments: pd.DataFrame) -> pd.DataFrame:
    """Reply-tree problems with the article of the comment each is about (source, article_id, file, record, ...)."""
    frame = schema.problems_frame(problems)
    keys = [threads.problem_comment(problem) or (None, None) for problem in problems]
    article = comments.set_index(COMMENT_KEY)["article_id"]
    article = article[~article.index.duplicated()]
    frame.insert(0, "source", pd.array([source for source, _ in keys], dtype="str"))
    found = article.reindex(pd.MultiIndex.from_tuples(keys, names=COMMENT_KEY)) if keys else pd.Series([], dtype="str")
    frame.insert(1, "article_id", pd.array(found.to_numpy(), dtype="str"))
    if schema.INPUT_FILE in comments and keys:
        # named by the file and line the comment was read from, where the store has them (revision 0006)
        origin = comments.set_index(COMMENT_KEY)[[schema.INPUT_FILE, schema.INPUT_RECORD]]
        origin = origin[~origin.index.duplicated()].reindex(pd.MultiIndex.from_tuples(keys, names=COMMENT_KEY))
        file, record = origin[schema.INPUT_FILE].to_numpy(), origin[schema.INPUT_RECORD].to_numpy()
        known = pd.notna(file)
        frame.loc[known & pd.notna(record), "record"] = frame["record"] + " (" + pd.Series(record, frame.index, dtype="str") + ")"
        frame.loc[known, "file"] = file[known]
    return frame


def _store_name(out_dir: Path, store_url: str | None) -> str:
    """The store as fitted state records it: ``moderation.db`` for the folder's own store (which moves with a
    copied folder, however its URL is spelled), else the URL without its password."""
    if store_url is None:
        return catalog.STORE_FILE
    url = sa.make_url(store_url)
    if url.get_backend_name() == "sqlite" and url.database and \
            Path(url.database).resolve() == (out_dir / catalog.STORE_FILE).resolve():
        return catalog.STORE_FILE
    return _shown(store_url)


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
    scoring: Scoring  # what was scored, and with which fit
    combiner: str  # which off-topic weights scored them
    still_open: int = 0  # reply-tree problems of the store that earlier runs reported already

    @property
    def scored(self) -> int:
        """How many comments were scored (the touched articles', or all stored ones after a new fit)."""
        return self.scoring.comments

    def __str__(self) -> str:
        added = self.added.added.get("comments", 0)
        comments = f"{added:,} comment{'s' * (added != 1)} added ({self.added.known.get('comments', 0):,} already known)"
        articles = self.added.added.get("articles", 0)
        earlier = f" ({self.still_open:,} reply-tree problem{'s' * (self.still_open != 1)} from earlier files still open)" if self.still_open else ""
        return (f"{comments}, {articles:,} new article{'s' * (articles != 1)}, {len(self.problems):,} "
                f"problem{'s' * (len(self.problems) != 1)}{earlier}; {self.scoring}, with the parameters of the run that "
                f"made these results ({self.combiner}).")


def import_files(
    paths: list[str | Path], out_dir: str | Path, store_url: str | None = None, format: str | None = None, **options
) -> ImportReport:
    """Add ``paths`` to the results folder ``out_dir``: a :func:`run` with the parameters its last run recorded.

    With the results' fitted state only the articles the new comments touch are scored (see :func:`run`); the
    report says what was added, what was scored and with which fit.
    """
    params = recorded_params(out_dir)
    results = run(paths, out_dir, store_url, format, params, **options)
    path = params.offtopic.weights_path
    combiner = "the shipped off-topic combiner" if Path(path).resolve() == offtopic.WEIGHTS_PATH.resolve() else \
        f"off-topic weights from {path}"
    return ImportReport(results.ingested, results.own_problems, results.scoring, combiner, results.carried)
