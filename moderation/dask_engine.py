"""The Dask engine (``run --engine dask``): the pandas engine's stages over Dask partitions of whole articles.

:func:`score_all` takes the place of the pandas engine's full scoring (``pipeline._score_all``) on a
``dask.distributed`` cluster (a ``LocalCluster`` when no scheduler address is given); ingest, problems, the
results folder and its fitted state stay with :func:`moderation.pipeline.run`. Each step runs the same stage
functions; nothing of a partition's work is done twice in one process:

1. **split**: workers read the corpus file (read-only, several at once) in ranges of comment positions and vote
   event rows and write every row into its *article bucket* (a hash of source and article id), and the vote
   columns of every comment into its *author bucket* (a hash of source and author), as staging Parquet in the
   results folder: a shuffle on disk, each task holding one range; each range also says its staff authors
   (:func:`moderation.engagement.staff_of`: a staff marker on one article makes its author staff on all).
2. **fit**: one task fits text features and vote outlier models (:func:`moderation.pipeline.fit_stages`) on
   whole article buckets, up to ``fit_comments`` comments in store order (all of a corpus that small, which is
   then the pandas engine's fit).
3. **reduce**: the off-topic corpus sums (:class:`moderation.offtopic.OfftopicCorpus`) as partial sums per
   article bucket plus one reduce; each author's usual votes per author bucket (a median needs every comment
   of the author, so those are gathered, not summed).
4. **transform**: every article bucket is scored by :func:`moderation.pipeline.run_stages` with the broadcast
   fit, sums, usual votes and staff, into one part of ``comments.parquet`` (a folder of Parquet parts) and its
   engagement partials (:func:`moderation.engagement.insight_partials`).
5. **authors and engagement tables**: one reduce of the parts' partials
   (:func:`moderation.engagement.merge_partials`, :func:`moderation.engagement.reduce_authors`,
   :func:`moderation.engagement.reduce_insights`: rows per article and author of integer codes, not the
   comments), and the topic counts.

Workers of a remote scheduler must see the corpus file and the results folder at the same path.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from moderation import catalog, engagement, fitted, offtopic, pipeline, queues, schema, threads, votes
from moderation.engagement import AUTHOR_KEY
from moderation.corpus import CorpusStore
from moderation.schema import ARTICLE_KEY
from moderation.store import Store

LOG = logging.getLogger(__name__)  # each step's seconds, at INFO (benchmarks/bench_dask.py prints them)
PART = "part-{:05d}.parquet"
STAGING_PREFIX = ".dask-"  # staging folders in the results folder, removed when the run ends
# what an author's usual votes (votes.author_usual_log_votes) read
USUAL_COLUMNS = ["source", "author", "upvotes", "downvotes", "score", "position"]


@dataclass(frozen=True)
class DaskOptions:
    """How a Dask run is spread.

    Attributes
    ----------
    scheduler : address of a running ``dask.distributed`` scheduler; None starts a ``LocalCluster``
    partition_comments : comments per article bucket (a partition; one task's memory grows with it)
    fit_comments : comments the text features and vote outlier models are fitted on (whole buckets, store order)
    n_workers, threads_per_worker, memory_limit, processes : the ``LocalCluster`` (ignored with ``scheduler``)
    cluster : further ``LocalCluster`` arguments (ports, host)
    """

    scheduler: str | None = None
    partition_comments: int = 100_000
    fit_comments: int = 200_000
    n_workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str | None = "4GiB"
    processes: bool = True
    cluster: dict = field(default_factory=dict)


@dataclass
class DaskResults(pipeline.Results):
    """Results whose scored comments are Parquet parts in ``staged`` (``comments.parquet``, ``vote_events.parquet``
    folders), moved into the version folder by :meth:`write`.

    ``comments`` holds only the columns ``run``'s summary counts (article and author keys, queue members);
    the parts hold every column.
    """

    staged: Path | None = None

    def write(self, directory: Path) -> None:
        """Move the staged parts into ``directory`` and write the other tables and ``problems.csv``.

        Scored comments were checked against their schema in each partition; authors are checked here.
        """
        schema.check_output(self.authors, "authors", "authors.parquet")
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("comments", "vote_events"):
            shutil.move(self.staged / f"{name}.parquet", directory / f"{name}.parquet")
        for name in ("articles", "authors", "topics"):
            getattr(self, name).to_parquet(directory / f"{name}.parquet", index=False)
        for name, frame in self.insights.items():
            frame.to_parquet(directory / catalog.INSIGHT_FILES[name], index=False)
        queues.to_csv(self.problems, directory / catalog.PROBLEMS_FILE)
        shutil.rmtree(self.staged, ignore_errors=True)


@contextlib.contextmanager
def client_for(options: DaskOptions):
    """A ``distributed.Client`` on ``options.scheduler``, or on a ``LocalCluster`` closed afterwards."""
    from distributed import Client, LocalCluster

    if options.scheduler:
        with Client(options.scheduler) as client:
            yield client
        return
    # worker processes listen on this machine only; threads in this process talk in-process
    settings = {**({"host": "127.0.0.1"} if options.processes else {}), "dashboard_address": None, **options.cluster}
    with LocalCluster(n_workers=options.n_workers, threads_per_worker=options.threads_per_worker,
                      memory_limit=options.memory_limit, processes=options.processes, **settings) as cluster, \
            Client(cluster) as client:
        yield client


def score_all(store: Store, params: pipeline.Params, run_id: str, why: str, out_dir: Path,
              options: DaskOptions = DaskOptions()) -> tuple[DaskResults, fitted.FittedState]:
    """Fit on the store and score every stored comment on Dask: the results (parts staged in ``out_dir``) and
    the state to save with them, as ``pipeline._score_all`` gives them."""
    _, last_position, last_vote_row = store.changed_since(None, None)
    articles = store.articles()
    decisions = store.current_decisions()
    # the run holds the folder (catalog.exclusive): staging left by a run that failed or was killed is garbage
    for stale in out_dir.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
    try:
        with client_for(options) as client:
            outcome = _score(client, store, articles, decisions, params, staging, options, last_position, last_vote_row)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fit, authors, partials, insights, topic_ids, summary, tree_problems, n_comments = outcome
    results = DaskResults(
        articles, summary, authors, pd.DataFrame(), fit.text.topics_frame(topic_ids), schema.problems_frame([]),
        run_id, insights, scoring=pipeline.Scoring(n_comments, len(articles), run_id, why), staged=staging,
    )
    state = fitted.FittedState(
        fit.text.without_rows(), fit.corpus.without_rows(), fit.outliers, pipeline._decision_keys(decisions),
        tree_problems, last_position, last_vote_row, run_id, n_comments, last_position, partials,
    )
    return results, state


def _score(client, store, articles, decisions, params, staging, options, last_position, last_vote_row):
    """Steps 1 to 5 of the module docstring; returns (fit, authors, engagement partials, insights, topic ids,
    summary frame, tree problems, comments scored)."""
    from distributed import wait

    corpus = store.corpus  # what the workers read: the corpus file, not the SQL store
    size = options.partition_comments
    n_comments = store.counts()["comments"]
    n_buckets = max(1, math.ceil(n_comments / size))
    began = time.perf_counter()
    # 1. split, along the store's indexes
    templates = {"articles": articles.iloc[:0], **{table: store.load_range(table, 0, -1)
                                                   for table in ("comments", "vote_events")}}
    _write_buckets(articles, ARTICLE_KEY, n_buckets, staging / "articles", 0)
    splits = [client.submit(_split, corpus, "comments", first, first + size - 1, staging, n_buckets, index, params,
                            pure=False) for index, first in enumerate(range(0, (last_position or 0) + 1, size))]
    if last_vote_row is not None:
        splits += [client.submit(_split, corpus, "vote_events", first, first + size - 1, staging, n_buckets, index,
                                 params, pure=False) for index, first in enumerate(range(0, last_vote_row + 1, size))]
    split = client.gather(splits)
    counts = pd.Series(np.sum([found for found, _ in split], axis=0) if split else np.zeros(n_buckets, np.int64))
    staff = pd.concat([engagement.staff_of(templates["comments"], params.engagement),
                       *(marked for _, marked in split if marked is not None)],
                      ignore_index=True).drop_duplicates(ignore_index=True)
    buckets = [b for b in range(n_buckets) if (staging / "articles" / _bucket_dir(b)).exists() or counts[b]]
    began = _logged(f"split {n_comments:,} comments into {n_buckets} buckets", began)
    # 2. fit on whole buckets up to fit_comments comments
    cumulative = counts.cumsum()
    sample = [b for b in range(n_buckets) if counts[b] and cumulative[b] - counts[b] < options.fit_comments]
    sources = sorted(set(articles["source"].astype("str")))
    features = client.submit(_fit, staging, sample, [b for b in buckets if b not in sample], sources, templates,
                             params, pure=False)
    # 3. reduce: corpus sums per article bucket, usual votes per author bucket
    partial_sums = [client.submit(_corpus_sums, staging, b, templates, features, pure=False) for b in buckets]
    corpus = client.submit(_merged_corpus, partial_sums, pure=False)
    del partial_sums  # released once summed
    usual = client.submit(_usual_votes, [client.submit(_bucket_usual, staging, b, pure=False)
                                         for b in range(n_buckets)], pure=False)
    fit = client.submit(_fitted, features, corpus, pure=False)
    wait([fit, usual])
    began = _logged(f"fit on {int(counts[sample].sum()):,} comments, corpus sums and usual votes", began)
    decisions_future = client.scatter(decisions, broadcast=True)
    staff_future = client.scatter(staff, broadcast=True)
    # 4. transform: score each article bucket with the broadcast fit
    scored = [client.submit(_score_bucket, staging, b, templates, decisions_future, params, fit, usual,
                            staff_future, pure=False) for b in buckets if counts[b]]
    # the partials stay on the workers until the reduce takes them
    outcomes = client.gather([client.submit(_without_partials, outcome, pure=False) for outcome in scored])
    _unify_parts(staging / "comments.parquet")
    _unify_parts(staging / "vote_events.parquet", templates["vote_events"])
    began = _logged("score", began)
    # 5. authors and engagement tables: one reduce of the parts' partials
    partials, authors, insights = client.submit(_reduced, scored, templates, decisions, params, pure=False).result()
    del scored
    began = _logged(f"authors ({len(authors):,}) and engagement tables", began)
    fit = fit.result()
    comments_folder = staging / "comments.parquet"
    members = [spec.member for spec in queues.QUEUES.values()]
    present = pq.read_schema(next(iter(sorted(comments_folder.glob("*.parquet"))))).names if outcomes else []
    summary_columns = [c for c in [*ARTICLE_KEY, "author", "topic_id", *members] if c in present]
    summary = pq.read_table(comments_folder, columns=summary_columns).to_pandas() if outcomes else \
        templates["comments"][["source", "article_id", "author"]]
    topic_ids = summary.pop("topic_id") if "topic_id" in summary else pd.Series([], dtype="Int64")
    tree_problems = pd.concat([problems for problems, _ in outcomes], ignore_index=True) if outcomes else \
        pipeline._tree_problems([], templates["comments"])
    _logged("summary", began)
    return fit, authors, partials, insights, topic_ids, summary, tree_problems, sum(n for _, n in outcomes)


def _logged(step: str, began: float) -> float:
    """Log ``step``'s seconds since ``began``; the time now."""
    now = time.perf_counter()
    LOG.info("%s: %.1f s", step, now - began)
    return now


# ---- buckets on disk ------------------------------------------------------------------------------------------

def _bucket_dir(bucket: int) -> str:
    """A bucket's folder name, in bucket order."""
    return f"b={bucket:05d}"


def _buckets(frame: pd.DataFrame, key: list[str], n_buckets: int) -> np.ndarray:
    """Bucket of each row by the hash of its ``key`` columns (the same in every process)."""
    keyed = pd.DataFrame({column: frame[column].astype("str") for column in key})
    return (pd.util.hash_pandas_object(keyed, index=False).to_numpy() % np.uint64(n_buckets)).astype(np.int64)


def _write_buckets(frame: pd.DataFrame, key: list[str], n_buckets: int, folder: Path, index: int) -> np.ndarray:
    """Write ``frame``'s rows, by bucket of ``key``, as part ``index`` of ``folder/b=NNNNN``; the buckets."""
    bucket = _buckets(frame, key, n_buckets)
    for b, rows in frame.groupby(bucket, sort=True):
        (folder / _bucket_dir(b)).mkdir(parents=True, exist_ok=True)
        rows.to_parquet(folder / _bucket_dir(b) / PART.format(index), index=False)
    return bucket


def _read_bucket(folder: Path, bucket: int, template: pd.DataFrame) -> pd.DataFrame:
    """The rows of one bucket in store order (parts are numbered in store order); ``template`` when empty.

    Parts are read one by one: pass-through columns may be in some only.
    """
    parts = sorted((folder / _bucket_dir(bucket)).glob("*.parquet"))
    if not parts:
        return template
    return pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True) if len(parts) > 1 else \
        pd.read_parquet(parts[0])


def _split(corpus: CorpusStore, table: str, first: int, last: int, staging: Path, n_buckets: int, index: int,
           params: pipeline.Params) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Step 1 for one range of ``table``: comments (by position) or vote events (by row) into article buckets,
    comments' vote columns also into author buckets; the comments per article bucket (none for vote events) and
    the range's staff authors (:func:`moderation.engagement.staff_of`; None for vote events)."""
    frame = corpus.load_range(table, first, last)
    if not len(frame):
        return np.zeros(n_buckets, np.int64), None
    bucket = _write_buckets(frame, ARTICLE_KEY, n_buckets, staging / table, index)
    if table == "vote_events":
        return np.zeros(n_buckets, np.int64), None
    _write_buckets(frame[USUAL_COLUMNS], AUTHOR_KEY, n_buckets, staging / "usual", index)
    return np.bincount(bucket, minlength=n_buckets), engagement.staff_of(frame, params.engagement)


def _unify_parts(folder: Path, template: pd.DataFrame | None = None) -> None:
    """Rewrite the parts whose schema differs from the union of all (a pass-through column only in some
    buckets, a column all null in one), so the folder reads as one table; an empty folder gets one empty part."""
    folder.mkdir(exist_ok=True)
    parts = sorted(folder.glob("*.parquet"))
    if not parts and template is not None:
        template.to_parquet(folder / PART.format(0), index=False)
        return
    schemas = [pq.read_schema(part) for part in parts]
    if all(s.equals(schemas[0], check_metadata=False) for s in schemas):
        return
    unified = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    for part, part_schema in zip(parts, schemas):
        if not part_schema.remove_metadata().equals(unified):
            table = pq.read_table(part)
            columns = [table[name].cast(unified.field(name).type) if name in table.column_names
                       else pa.nulls(table.num_rows, unified.field(name).type) for name in unified.names]
            pq.write_table(pa.Table.from_arrays(columns, schema=unified.with_metadata(part_schema.metadata)), part)


# ---- the steps, one task each ----------------------------------------------------------------------------------

def _fit(staging: Path, sample: list[int], others: list[int], sources: list[str], templates: dict,
         params: pipeline.Params) -> pipeline.Fitted:
    """Step 2: text features and vote outlier models fitted on the ``sample`` buckets (the corpus, when all).

    Text features are fitted per source: a source of ``sources`` without a row in the sample is fitted on its
    rows in the ``others`` buckets, read one by one, as an import fits a new source
    (``TextFeatures.with_sources``).
    """
    comments = pd.concat([_read_bucket(staging / "comments", b, templates["comments"]) for b in sample],
                         ignore_index=True).sort_values("position", kind="stable", ignore_index=True)
    articles = pd.concat([_read_bucket(staging / "articles", b, templates["articles"]) for b in sample],
                         ignore_index=True)
    articles = articles.sort_values(ARTICLE_KEY, kind="stable", ignore_index=True)
    resolved, _ = threads.resolve(comments)
    # the text features' rows are not needed: only the fitted state is broadcast
    features = _text_features(articles, resolved, params)
    seen = set(comments["source"].astype("str")) | set(articles["source"].astype("str"))
    missing = [source for source in sources if source not in seen]
    if missing:
        def of_missing(folder: str, template: pd.DataFrame) -> pd.DataFrame:
            rows = [_read_bucket(staging / folder, b, template) for b in others]
            return pd.concat([frame[frame["source"].isin(missing)] for frame in rows] or [template], ignore_index=True)

        features = features.with_sources(of_missing("comments", templates["comments"]).sort_values(
            "position", kind="stable", ignore_index=True), of_missing("articles", templates["articles"]))
        LOG.info("text features of %s, which the sample missed, fitted on their own rows", ", ".join(missing))
    return pipeline.Fitted(features, None, votes.fit_vote_outliers(resolved, params.votes))


def _text_features(articles: pd.DataFrame, comments: pd.DataFrame, params: pipeline.Params):
    """The text features of ``pipeline.fit_stages``, without the fitted rows (what every partition needs)."""
    from moderation import topics

    return topics.TextFeatures(**params.offtopic.features).fit(comments, articles).without_rows()


def _corpus_sums(staging: Path, bucket: int, templates: dict, fit: pipeline.Fitted) -> offtopic.OfftopicCorpus:
    """Step 3: the off-topic corpus sums of one article bucket."""
    comments = _read_bucket(staging / "comments", bucket, templates["comments"])
    articles = _read_bucket(staging / "articles", bucket, templates["articles"])
    return offtopic.OfftopicCorpus.fit(comments, articles, fit.text).without_rows()


def _merged_corpus(parts: list[offtopic.OfftopicCorpus]) -> offtopic.OfftopicCorpus:
    """The reduce of step 3: the sums of every bucket, sources in first-seen order."""
    sources = list(dict.fromkeys(source for part in parts for source in part.sources))
    n_terms = parts[0].article_sums.shape[1]
    sums, counts = sp.csr_matrix((len(sources), n_terms)), np.zeros(len(sources), np.int64)
    for part in parts:
        rows = pd.Index(sources).get_indexer(part.sources)
        place = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(sources), len(rows)))
        sums = sums + place @ part.article_sums
        np.add.at(counts, rows, part.article_counts)
    seen, found = np.unique(np.concatenate([part.text_hashes for part in parts]), return_inverse=True)
    text_counts = np.bincount(found, weights=np.concatenate([part.text_counts for part in parts]),
                              minlength=len(seen)).astype(np.int64)
    return offtopic.OfftopicCorpus(sources, sums.tocsr(), counts, seen, text_counts)


def _bucket_usual(staging: Path, bucket: int) -> pd.Series:
    """Step 3: the usual votes of one author bucket's authors (every comment of theirs is in it)."""
    frame = _read_bucket(staging / "usual", bucket, None)
    return None if frame is None else votes.author_usual_log_votes(frame)


def _usual_votes(parts: list[pd.Series | None]) -> pd.Series | None:
    """Every author bucket's usual votes in one Series (None without named authors)."""
    found = [part for part in parts if part is not None]
    return pd.concat(found) if found else None


def _fitted(fit: pipeline.Fitted, corpus: offtopic.OfftopicCorpus) -> pipeline.Fitted:
    """The fit with the summed corpus: what every partition is scored with."""
    return replace(fit, corpus=corpus)


def _score_bucket(staging: Path, bucket: int, templates: dict, decisions: pd.DataFrame, params: pipeline.Params,
                  fit: pipeline.Fitted, usual: pd.Series, staff: pd.DataFrame
                  ) -> tuple[pd.DataFrame, int, engagement.InsightPartials]:
    """Step 4: score one article bucket into a part of ``comments.parquet`` (and its vote events); returns (the
    bucket's reply-tree problems, comments scored, its engagement partials)."""
    articles = _read_bucket(staging / "articles", bucket, templates["articles"])
    comments = _read_bucket(staging / "comments", bucket, templates["comments"])
    vote_events = _read_bucket(staging / "vote_events", bucket, templates["vote_events"])
    scored, partials, _, problems = pipeline.run_stages(articles, comments, vote_events, decisions, params, fit,
                                                        usual, staff=staff)
    schema.check_output(scored, "scored_comments", "comments.parquet")
    for name, frame in (("comments", scored), ("vote_events", vote_events)):
        if len(frame):
            (staging / f"{name}.parquet").mkdir(exist_ok=True)
            frame.to_parquet(staging / f"{name}.parquet" / PART.format(bucket), index=False)
    return pipeline._tree_problems(problems, scored), len(scored), partials


def _without_partials(outcome: tuple) -> tuple[pd.DataFrame, int]:
    """What the client gathers of a scored bucket: its reply-tree problems and comments scored."""
    return outcome[0], outcome[1]


def _reduced(outcomes: list[tuple], templates: dict, decisions: pd.DataFrame, params: pipeline.Params
             ) -> tuple[engagement.InsightPartials, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Step 5: every scored bucket's partials as one (what the fitted state keeps), the author table and the
    engagement tables."""
    partials = engagement.merge_partials([partials for _, _, partials in outcomes]) if outcomes else \
        engagement.insight_partials(templates["comments"], params.engagement, decisions=decisions)
    return partials, engagement.reduce_authors(partials), engagement.reduce_insights(partials)
