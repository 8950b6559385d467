"""Incremental runs: an import scores only the touched articles with the saved fitted state, and gives a full
run's results (exact for votes, threads and counts; within the README's tolerance for the fitted text and
outlier scores)."""

import json
import pickle
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from incremental_corpus import write_parts
from moderation import catalog, engagement, fitted, pipeline
from moderation.store import Store

# every column a full run and an incremental one must agree on exactly
EXACT = [
    "comment_id", "article_id", "parent_id", "author", "created_at", "text", "upvotes", "downvotes", "score",
    "status", "source", "position", "thread_id", "depth",
    "vote_total", "vote_net", "upvote_ratio", "wilson_lower", "wilson_lower_down", "controversy", "is_controversial",
    "vote_total_percentile", "vote_net_percentile", "vote_total_robust_z", "vote_net_robust_z", "is_heavily_up",
    "is_heavily_down", "vote_rank_up", "vote_rank_down", "vote_burst", "votes_per_day", "vote_peak",
    "sentence_speculation_score", "speculation_score", "is_speculative", "sentence_conjecture_score", "language",
    "repeated_text", "is_reply", "log_thread_size", "log_discussion_size", "second_person", "first_person",
    "has_link", "is_question", "addresses_poster", "agreement",
]
# the README's tolerance: |full - incremental| per comment, and the least share of comments whose flag agrees
TOLERANCE = {"offtopic_score": 0.08, "sim_article": 0.05, "sim_parent": 0.05, "sim_discussion": 0.05,
             "vote_anomaly": 0.15}
FLAG_AGREEMENT = {"is_offtopic": 0.98, "is_offtopic_speculation": 0.98, "is_vote_anomaly": 0.98}
TEXT_SHARES = ["share_offtopic", "share_speculative"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A full run on A+B, and a run on A followed by an import of B, with the same decisions in both stores."""
    folder = tmp_path_factory.mktemp("incremental")
    part_a, part_b = write_parts(folder)
    full, incremental = folder / "full", folder / "incremental"
    with pytest.MonkeyPatch.context() as patch:
        # A's articles are 40 comments each, one after another: a part per article, so the import keeps some
        patch.setattr(catalog, "PART_ROWS", 40)
        pipeline.run([part_a], incremental)
        # a decision taken between the run and the import, on an article the import does not touch
        for out in (full, incremental):
            Store(catalog.default_store_url(out)).record_decision([("forum", "c5")], "remove", "ann")
        report = pipeline.import_files([part_b], incremental)
        pipeline.run([part_a, part_b], full)
    return folder, full, incremental, report, part_b


def read(out, name="comments"):
    return pd.read_parquet(out / f"{name}.parquet")


def test_an_import_scores_only_the_touched_articles(runs):
    """B adds to three of A's articles and brings two new ones: those five are scored, with A's fitted state."""
    _, _, incremental, report, _ = runs
    added = read(incremental).query("article_id in ['a2', 'a5', 'a9', 'a12', 'a13']")
    # A's reply-tree problem is still there (every run checks the store's reply trees), but not B's
    assert str(report).startswith("39 comments added (0 already known), 2 new articles, 0 problems (1 reply-tree "
                                  "problem from earlier files still open); "
                                  f"scored {len(added)} comments in 5 touched articles with the fitted state of run ")
    assert report.scoring.fitted_by == json.loads((incremental / catalog.STATE_RECORD).read_text())["fitted_by"]
    assert report.scored == len(added) < len(read(incremental))


def test_an_import_writes_only_the_parts_with_rescored_or_new_rows(runs):
    """Comments are parts of PART_ROWS in position order: the import wrote the parts of the three touched
    articles and one of the new comments, and kept every other part as the previous version's very file."""
    _, full, incremental, _, _ = runs
    now = catalog.current(incremental)
    before, = [version for version in (incremental / catalog.VERSIONS).iterdir() if version != now]
    files = {part.stat().st_ino: part.name for part in catalog.comment_parts(before)}
    parts = catalog.comment_parts(now)
    written = [part.name for part in parts if part.stat().st_ino not in files]
    assert written == [catalog.part_name(n) for n in (2, 5, 9, 12)]
    assert len(parts) == 13 and [part.name for part in catalog.comment_parts(full)] == [p.name for p in parts]
    # the documented path reads the parts as one table, in store order
    assert read(incremental)["position"].is_monotonic_increasing


def test_votes_threads_and_counts_are_exactly_a_full_runs(runs):
    """Vote measures, reply trees, speculation and the text's own cues equal a full run's, row for row."""
    _, full, incremental, _, _ = runs
    ours, theirs = read(incremental), read(full)
    assert ours["comment_id"].tolist() == theirs["comment_id"].tolist()
    pd.testing.assert_frame_equal(ours[EXACT], theirs[EXACT])
    assert set(ours.columns) == set(theirs.columns)


def test_fitted_scores_are_within_the_stated_tolerance(runs):
    """Text and outlier scores come from A's fit rather than A+B's: within the README's tolerance."""
    _, full, incremental, _, _ = runs
    ours, theirs = read(incremental), read(full)
    for column, tolerance in TOLERANCE.items():
        difference = (ours[column].astype("float64") - theirs[column].astype("float64")).abs()
        assert difference.max() <= tolerance, (column, difference.max())
    for column, share in FLAG_AGREEMENT.items():
        assert (ours[column] == theirs[column]).mean() >= share, column


def test_authors_are_a_full_runs_and_an_exact_reduce_of_the_comments(runs):
    """Touched authors are recomputed, the decided comment's author too; every row equals a full run's (text
    shares within tolerance) and the author table of the merged comments exactly."""
    _, full, incremental, _, _ = runs
    ours, theirs = read(incremental, "authors"), read(full, "authors")
    exact = [column for column in theirs.columns if column not in TEXT_SHARES]
    pd.testing.assert_frame_equal(ours[exact], theirs[exact])
    decisions = Store(catalog.default_store_url(incremental)).current_decisions()
    assert ours.set_index("author").loc[read(incremental).set_index("comment_id").loc["c5", "author"],
                                        "share_removed"] > 0
    recomputed = engagement.author_table(read(incremental), decisions)
    pd.testing.assert_frame_equal(ours, recomputed, check_dtype=False)


def test_engagement_tables_topics_and_problems_follow(runs):
    """The insight tables are a full run's; topics count every comment; articles and problems match."""
    _, full, incremental, _, _ = runs
    for file in catalog.INSIGHT_FILES.values():
        pd.testing.assert_frame_equal(pd.read_parquet(incremental / file), pd.read_parquet(full / file))
    assert read(incremental, "topics")["comments"].sum() == read(incremental)["topic_id"].notna().sum()
    pd.testing.assert_frame_equal(read(incremental, "articles"), read(full, "articles"))
    # the reply-tree problem of an article the import did not touch is still behind the results
    problems = [pd.read_csv(out / "problems.csv")[["file", "record", "problem"]] for out in (incremental, full)]
    assert problems[0]["record"].tolist() == ["comment_id c10 (row 11)"]  # named by its file and row
    pd.testing.assert_frame_equal(*problems)


def test_importing_the_same_file_again_adds_and_changes_nothing(runs, tmp_path):
    """Idempotent: a second import of B adds nothing, scores nothing and leaves every table as it was."""
    folder, _, incremental, _, part_b = runs
    copy = tmp_path / "copy"
    shutil.copytree(incremental, copy, symlinks=True)
    before = {name: read(copy, name) for name in catalog.TABLES}
    again = pipeline.import_files([part_b], copy)
    assert str(again).startswith("0 comments added (39 already known), 0 new articles, 0 problems (1 reply-tree "
                                 "problem from earlier files still open); scored 0 comments in 0 touched articles")
    for name in catalog.TABLES:
        pd.testing.assert_frame_equal(read(copy, name), before[name])


def test_refit_scores_everything_as_a_full_run_does(runs, tmp_path):
    """``run --refit`` fits again on the whole store: every column equals the full run's."""
    _, full, incremental, _, part_b = runs
    copy = tmp_path / "copy"
    shutil.copytree(incremental, copy, symlinks=True)
    results = pipeline.run([part_b], copy, refit=True)
    assert str(results.scoring) == f"all {len(results.comments)} stored comments scored with a new fit (--refit was given)"
    ours, theirs = read(copy), read(full)
    pd.testing.assert_frame_equal(ours, theirs)


def test_state_from_other_parameters_or_without_a_record_means_a_full_run_that_says_why(runs, tmp_path):
    """Changed staff settings, or a folder without fitted state, fit everything again and the report says why."""
    _, _, incremental, _, part_b = runs
    copy = tmp_path / "copy"
    shutil.copytree(incremental, copy, symlinks=True)
    Store(catalog.default_store_url(copy)).set_desk_setting("staff_names", ["user3"], "ann")
    report = pipeline.import_files([part_b], copy)
    assert "scored with a new fit (the fitted state was made with other parameters (engagement.staff_names))" \
        in str(report)
    (catalog.current(copy) / catalog.STATE_RECORD).unlink()
    report = pipeline.import_files([part_b], copy)
    assert "new fit (the results have no fitted state" in str(report)


def test_state_of_other_library_versions_is_refused(runs, tmp_path):
    """A record naming another scikit-learn is not trusted: load says which library differs."""
    _, _, incremental, _, _ = runs
    copy = tmp_path / "copy"
    shutil.copytree(incremental, copy, symlinks=True)
    record_path = catalog.current(copy) / catalog.STATE_RECORD
    record = json.loads(record_path.read_text())
    record["libraries"]["scikit-learn"] = "0.1"
    record_path.write_text(json.dumps(record))
    params = pipeline.recorded_params(copy)
    state, why = fitted.load(copy, pipeline.with_desk_settings(params, Store(catalog.default_store_url(copy))),
                             catalog.STORE_FILE)
    assert state is None and why.startswith("the fitted state was made with other library versions: scikit-learn 0.1")


def test_the_saved_state_holds_no_rows():
    """The text features saved for imports keep vocabulary and models, not one row per comment."""
    comments = pd.DataFrame({"comment_id": ["1", "2", "3"], "source": "s", "article_id": "a",
                             "text": ["bike lanes now", "bike lanes later", "rain again today"]})
    features = pipeline.topics.TextFeatures(n_topics=2).fit(comments)
    learned = features.without_rows()
    assert learned.comment_matrix_.shape[0] == 0 and len(learned.comment_keys_) == 0
    np.testing.assert_allclose(learned.comment_features(comments)[0].toarray(),
                               features.comment_features(comments)[0].toarray())


def _parsed(article, comment_ids, event_ids):
    from moderation.ingest import Parsed, finish

    comments = pd.DataFrame({"comment_id": comment_ids, "article_id": article, "source": "s", "author": "ann",
                             "created_at": "2020-01-01T10:00", "text": "hello"})
    events = pd.DataFrame({"source": "s", "event_id": event_ids, "article_id": article, "comment_id": "1",
                           "vote": "up", "voted_at": "2020-01-02"})
    return finish(Parsed(pd.DataFrame({"article_id": [article], "source": ["s"], "title": ["T"]}), comments,
                         events), "test")


def test_the_store_names_the_articles_new_comments_or_votes_touch(tmp_path):
    """changed_since finds articles with new comments and with new vote events alone; load_articles reads only
    those, in the store's order."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.ingest(_parsed("a", ["1", "2"], ["e1"]))
    store.ingest(_parsed("b", ["3"], ["e2"]))
    _, position, row = store.changed_since(None, None)
    assert (position, row) == (2, 2)
    store.ingest(_parsed("a", ["1"], ["e3", "e4"]))  # a known comment, new votes on it
    store.ingest(_parsed("c", ["4"], []))
    touched, position, row = store.changed_since(2, 2)
    assert sorted(touched["article_id"]) == ["a", "c"] and (position, row) == (3, 4)
    articles, comments, events = store.load_articles(touched)
    assert comments["comment_id"].tolist() == ["1", "2", "4"] and events["event_id"].tolist() == ["e1", "e3", "e4"]
    assert sorted(articles["article_id"]) == ["a", "c"]
    assert [len(frame) for frame in store.load_articles(touched.iloc[:0])] == [0, 0, 0]


def test_a_store_grown_past_half_the_fitted_corpus_is_fitted_again(tmp_path):
    """A fit on four comments does not score ten more: the import fits again and says so."""
    def part(name, ids):
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"comment_id": ids, "article_id": "a", "author": "ann", "created_at": "2024-01-01T10:00",
                      "text": [f"bike lanes {i}" for i in ids]}).to_csv(path, index=False)
        return path

    out = tmp_path / "out"
    pipeline.run([part("first", [str(i) for i in range(4)])], out, source="forum")
    report = pipeline.import_files([part("more", [str(i) for i in range(4, 14)])], out, source="forum")
    assert "all 14 stored comments scored with a new fit (10 comments were added since the fit on 4, more than " \
           "50%)" in str(report)
    # the new fit counts from here: one more comment is scored with it
    report = pipeline.import_files([part("one", ["14"])], out, source="forum")
    assert "scored 15 comments in 1 touched article with the fitted state of run" in str(report)


def test_fitted_outlier_models_score_a_few_ordinary_comments(runs):
    """Outlier models fitted on the corpus score three ordinary comments of one article: none flagged, no error."""
    from moderation import votes

    _, full, _, _, _ = runs
    corpus = read(full)
    outliers = votes.fit_vote_outliers(corpus)
    few = corpus[corpus["article_id"] == "a0"].head(3).assign(upvotes=1, downvotes=0)
    scored = votes.score_votes(few, outliers=outliers)
    assert scored["vote_anomaly"].notna().all() and not scored["is_vote_anomaly"].any()


@pytest.mark.parametrize("interleaved", [False, True])
def test_merged_comments_are_the_kept_and_rescored_rows_in_store_order(interleaved):
    """merge_comments gives what sorting the kept rows and the rescored ones by position gives, whether it slices
    long runs of kept rows (articles one after another) or copies scattered ones (articles interleaved)."""
    from moderation import incremental

    rng = np.random.default_rng(3)
    n = 400
    article = rng.integers(0, 8, n)
    article = article if interleaved else np.sort(article)
    previous = pd.DataFrame({"source": "s", "article_id": [f"a{i}" for i in article],
                             "position": pd.array(np.arange(n), dtype="Int64"), "value": np.arange(n) * 1.0})
    touched = pd.DataFrame({"source": ["s"], "article_id": ["a1"]})
    old = previous[previous["article_id"] == "a1"]
    # the touched article again, rescored (new values), with two comments added after every stored one
    added = pd.DataFrame({"source": "s", "article_id": "a1", "position": pd.array([n, n + 1], dtype="Int64"),
                          "value": [-1.0, -2.0]})
    scored = pd.concat([old.assign(value=-old["value"]), added], ignore_index=True)
    merged = incremental.merge_comments(pa.Table.from_pandas(previous, preserve_index=False), scored, touched)
    expected = pd.concat([previous[previous["article_id"] != "a1"], scored]).sort_values("position", kind="stable")
    pd.testing.assert_frame_equal(merged.to_pandas(), expected.reset_index(drop=True))
    assert (merged.column("value").num_chunks > 1) != interleaved  # long runs are sliced, not copied


def test_engagement_partials_follow_an_import_and_a_new_staff_marker(runs, tmp_path):
    """The state keeps the engagement tables' partials of every article, and they reduce to the tables written.
    A comment marked by the source as staff's makes its author staff everywhere: the import that brings it (on a
    new article) makes every article's thread rows again, and the tables are still a full run's."""
    _, full, incremental, _, _ = runs
    state = pickle.loads((catalog.current(incremental) / catalog.STATE_FILE).read_bytes())
    assert len(state.insights.articles) == read(incremental, "articles").shape[0]
    for name, table in engagement.reduce_insights(state.insights).items():
        pd.testing.assert_frame_equal(table, pd.read_parquet(incremental / catalog.INSIGHT_FILES[name]))
    part_c = tmp_path / "C"
    part_c.mkdir()
    pd.DataFrame({"comment_id": ["c9000"], "article_id": ["a14"], "parent_id": [None], "author": ["user0"],
                  "created_at": [pd.Timestamp("2024-05-01", tz="UTC")], "text": ["An update from the desk."],
                  "upvotes": [1], "downvotes": [0], "status": ["published"], "source": ["forum"],
                  "is_staff": [True]}).to_parquet(part_c / "comments.parquet", index=False)
    pd.DataFrame({"article_id": ["a14"], "source": ["forum"], "title": ["Desk news"], "text": ["desk news"],
                  "published_at": [pd.Timestamp("2024-05-01", tz="UTC")]}).to_parquet(part_c / "articles.parquet",
                                                                                      index=False)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(incremental, ours, symlinks=True)
    shutil.copytree(full, theirs, symlinks=True)
    report = pipeline.import_files([part_c], ours)
    assert "scored 1 comment in 1 touched article" in str(report)
    pipeline.run([part_c], theirs, refit=True)
    overall = pd.read_parquet(ours / catalog.INSIGHT_FILES["staff_overall"])
    assert overall["staff_authors"].tolist() == [1] and overall["threads_with_staff_reply"].iloc[0] > 0
    for file in catalog.INSIGHT_FILES.values():
        pd.testing.assert_frame_equal(pd.read_parquet(ours / file), pd.read_parquet(theirs / file))
