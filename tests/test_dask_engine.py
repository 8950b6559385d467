"""The Dask engine (``run --engine dask``) gives the pandas engine's results on a small corpus, over several
partitions of whole articles on an in-process LocalCluster: exact for votes, threads, counts, authors and the
engagement tables; the fitted text scores within 1e-9 when the fit sees the whole corpus (as here), within the
README's tolerance when it is fitted on a sample."""

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from incremental_corpus import write_parts
from moderation import catalog, cli, pipeline, reports
from moderation.dask_engine import STAGING_PREFIX, DaskOptions
from test_incremental import EXACT, FLAG_AGREEMENT, TOLERANCE

STACKEXCHANGE = Path(__file__).parent / "fixtures" / "stackexchange" / "dump"  # vote events, another source
# threads in this process (no worker processes to start), partitions of a few articles each
OPTIONS = DaskOptions(partition_comments=80, n_workers=1, threads_per_worker=2, processes=False, memory_limit=None)
FLOAT_TOLERANCE = 1e-9  # the same fit: only the order of floating-point sums differs (measured: 4e-16)
# every vote measure, exact (they do not depend on the text fit); the other exact columns are not floats
VOTE_MEASURES = EXACT[EXACT.index("vote_total"):EXACT.index("vote_peak") + 1] + ["vote_anomaly"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same inputs through both engines; one source through both, Dask fitting on about 3/4 of it."""
    folder = tmp_path_factory.mktemp("dask")
    part_a, part_b = write_parts(folder)
    inputs = [part_a, part_b, STACKEXCHANGE]
    pipeline.run(inputs, folder / "pandas")
    dask_results = pipeline.run(inputs, folder / "dask", engine="dask", dask=OPTIONS)
    pipeline.run([part_a, part_b], folder / "one_source")
    pipeline.run([part_a, part_b], folder / "sampled", engine="dask",
                 dask=DaskOptions(**{**OPTIONS.__dict__, "fit_comments": 400}))
    return folder, dask_results


def comments(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "comments.parquet").sort_values("position", ignore_index=True)


def assert_same_comments(expected: pd.DataFrame, found: pd.DataFrame, tolerance: float) -> None:
    assert list(found.columns) == list(expected.columns)
    assert len(found) == len(expected)
    for column in expected.columns:
        left, right = expected[column], found[column]
        if pd.api.types.is_object_dtype(left) or pd.api.types.is_string_dtype(left):
            # a text column null in every row of a partition is typed as text or as nulls: the values must agree
            assert _values(right) == _values(left), column
        elif column in VOTE_MEASURES or not pd.api.types.is_float_dtype(left):
            pd.testing.assert_series_equal(right, left, check_exact=True, obj=column)
        else:
            gap = (left.astype("float64") - right.astype("float64")).abs()
            assert (gap.fillna(0) <= tolerance).all() and (left.isna() == right.isna()).all(), column


def _values(column: pd.Series) -> list[str]:
    """Each value's repr, NA as None (a reaction is a dict, or an array read back from Parquet)."""
    return [repr(value) for value in column.astype("object").where(column.notna(), None)]


def test_the_dask_engine_gives_the_pandas_results(runs):
    """Every comment column (exact but for fitted floats within 1e-9), authors, topics, engagement tables,
    vote events, articles and the problems, from several partitions of whole articles."""
    folder, results = runs
    pandas_out, dask_out = folder / "pandas", folder / "dask"
    parts = sorted((dask_out / "comments.parquet").glob("*.parquet"))
    assert len(parts) > 3
    articles = [set(map(tuple, pd.read_parquet(part)[["source", "article_id"]].drop_duplicates().to_numpy()))
                for part in parts]
    assert sum(map(len, articles)) == len(set().union(*articles))  # every article in one part, whole
    assert_same_comments(comments(pandas_out), comments(dask_out), FLOAT_TOLERANCE)
    assert comments(dask_out)["source"].nunique() == 2 and len(pd.read_parquet(dask_out / "vote_events.parquet"))
    for name in ("authors", "topics", "articles", *(Path(file).stem for file in catalog.INSIGHT_FILES.values())):
        pd.testing.assert_frame_equal(pd.read_parquet(dask_out / f"{name}.parquet"),
                                      pd.read_parquet(pandas_out / f"{name}.parquet"), rtol=FLOAT_TOLERANCE, obj=name)
    order = ["source", "event_id"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(dask_out / "vote_events.parquet").sort_values(order, ignore_index=True),
        pd.read_parquet(pandas_out / "vote_events.parquet").sort_values(order, ignore_index=True))
    problems = [pd.read_csv(out / catalog.PROBLEMS_FILE).drop(columns="run_id") for out in (pandas_out, dask_out)]
    pd.testing.assert_frame_equal(problems[1], problems[0])
    assert results.scoring.comments == len(comments(pandas_out))
    assert not list(dask_out.glob(STAGING_PREFIX + "*"))  # staging removed


def test_a_sampled_fit_stays_within_the_stated_tolerance(runs):
    """Fitted on whole article buckets up to 400 of the 519 comments: everything not fitted exact, the fitted
    text and outlier scores within the incremental runs' tolerance (a sample that misses a topic's articles
    misses its terms: the README says so)."""
    folder, _ = runs
    expected, found = comments(folder / "one_source"), comments(folder / "sampled")
    unfitted = [c for c in expected.columns if c in EXACT]
    assert_same_comments(expected[unfitted], found[unfitted], FLOAT_TOLERANCE)
    for column, tolerance in TOLERANCE.items():
        gap = (expected[column].astype("float64") - found[column].astype("float64")).abs()
        assert gap.max() <= tolerance, (column, gap.max())
    for column, share in FLAG_AGREEMENT.items():
        assert (expected[column] == found[column]).mean() >= share, column
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "sampled" / "engagement_reply_network.parquet"),
                                  pd.read_parquet(folder / "one_source" / "engagement_reply_network.parquet"))


def test_a_source_the_sample_misses_is_fitted_on_its_own_rows(runs, tmp_path, caplog):
    """Fitted on the first article bucket (of 6; the Stack Exchange articles hash to others): text features are
    per source, so the source it lacks is fitted on all its rows (as an import fits a new source) and has topics
    of its own."""
    folder, _ = runs
    caplog.set_level(logging.INFO, logger="moderation.dask_engine")
    pipeline.run([folder / "A", folder / "B", STACKEXCHANGE], tmp_path / "out", engine="dask",
                 dask=DaskOptions(**{**OPTIONS.__dict__, "fit_comments": 1, "partition_comments": 100}))
    topics = pd.read_parquet(tmp_path / "out" / "topics.parquet")
    expected = pd.read_parquet(folder / "pandas" / "topics.parquet")
    assert set(topics["source"]) == set(expected["source"]) == {"forum", "stackexchange"}
    assert "which the sample missed, fitted on their own rows" in caplog.text


def test_a_dask_results_folder_reads_and_imports_as_any_other(runs, tmp_path):
    """The dashboard's loader reads the partitioned comments; an import scores the touched articles with the
    state the Dask run fitted, and reduces the engagement partials the Dask run kept to a pandas import's tables."""
    folder, _ = runs
    out = tmp_path / "dask"
    shutil.copytree(folder / "dask", out, symlinks=True)
    loaded = reports.load_results(out)
    assert len(loaded.comments) == len(comments(folder / "pandas"))
    assert reports.kpis(loaded.comments) == reports.kpis(comments(folder / "pandas"))
    extra = tmp_path / "extra"
    extra.mkdir()
    more = pd.read_parquet(folder / "pandas" / "comments.parquet").query("source == 'forum'").head(3)
    more = more.assign(comment_id=more["comment_id"] + "-again", parent_id=None)[
        ["comment_id", "article_id", "author", "created_at", "text", "upvotes", "downvotes", "source"]]
    more.to_parquet(extra / "comments.parquet", index=False)
    report = pipeline.import_files([extra], out)
    assert report.scoring.full_fit is None and report.added.added["comments"] == 3
    assert len(pd.read_parquet(out / "comments.parquet")) == len(loaded.comments) + 3
    by_pandas = tmp_path / "pandas"
    shutil.copytree(folder / "pandas", by_pandas, symlinks=True)
    pipeline.import_files([extra], by_pandas)
    for file in catalog.INSIGHT_FILES.values():
        pd.testing.assert_frame_equal(pd.read_parquet(out / file), pd.read_parquet(by_pandas / file), obj=file)


def test_the_scheduler_flag_needs_the_dask_engine(tmp_path, capsys):
    code = cli.main(["run", str(STACKEXCHANGE), "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:8786"])
    assert code != 0
    assert "--scheduler is for --engine dask" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
