"""The pipeline's wiring: ingest over several files and runs, trees over the whole store."""

import duckdb
import pandas as pd

import json

from moderation import offtopic
from moderation.pipeline import import_files, ingest_paths, run
from moderation.store import Store


def write_comments(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_reply_to_an_earlier_files_comment_joins_its_thread(tmp_path):
    """A reply ingested in a later run attaches to its parent from an earlier run, with no orphan reported."""
    first = write_comments(tmp_path / "first.csv", [
        {"comment_id": "1", "article_id": "a", "author": "ann", "created_at": "2024-01-01T10:00", "text": "root"},
    ])
    second = write_comments(tmp_path / "second.csv", [
        {"comment_id": "2", "article_id": "a", "parent_id": "1", "author": "bob", "created_at": "2024-01-01T11:00",
         "text": "reply"},
        {"comment_id": "3", "article_id": "a", "parent_id": "99", "author": "cid", "created_at": "2024-01-01T12:00",
         "text": "orphan"},
    ])
    out = tmp_path / "out"
    run([first], out, source="forum")
    results = run([second], out, source="forum")
    comments = results.comments.set_index("comment_id")
    assert comments.loc["2", "thread_id"] == "1" and comments.loc["2", "depth"] == 1
    assert comments.index.tolist() == ["1", "2", "3"]
    problems = pd.read_csv(out / "problems.csv")
    # found over the whole store, after second.csv was read, and still named by its file and line
    assert problems["record"].tolist() == ["comment_id 3 (line 3)"]
    assert problems["file"].tolist() == [str(second)] and "parent 99 not found" in problems["problem"][0]


def test_an_orphan_stored_before_comments_kept_their_file_is_named_by_its_source(tmp_path):
    """Comments stored before the store kept each one's file (revision 0006) have none: the source names them."""
    orphan = write_comments(tmp_path / "orphan.csv", [
        {"comment_id": "3", "article_id": "a", "parent_id": "99", "author": "cid", "created_at": "2024-01-01T12:00",
         "text": "orphan"},
    ])
    out = tmp_path / "out"
    store = Store(f"sqlite:///{out / 'moderation.db'}")
    ingest_paths(store, [orphan], source="forum")
    with duckdb.connect(str(store.corpus_path)) as connection:
        connection.execute("UPDATE comments SET input_file = NULL, input_record = NULL")
    run([], out)
    problems = pd.read_csv(out / "problems.csv")
    assert problems[["file", "record"]].values.tolist()[-1] == ["source forum", "comment_id 3"]


def test_import_adds_and_scores_with_the_runs_parameters(tmp_path):
    """An import reports what it added and what was known, uses the run's learned weights, and titles the article."""
    # enough comments that five more are scored with the run's fit (Params.refit_growth)
    first = write_comments(tmp_path / "first.csv", [
        {"comment_id": str(i), "article_id": "a", "author": "ann", "created_at": "2024-01-01T10:00",
         "text": f"bikes {i}"} for i in range(1, 21)
    ])
    learned = json.loads(offtopic.WEIGHTS_PATH.read_text()) | {"intercept": -0.25, "trained_on": "our labels"}
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps(learned))
    out = tmp_path / "out"
    run([first], out, source="forum", params=_with_weights(weights))
    new = tmp_path / "new" / "comments.csv"
    new.parent.mkdir()
    rows = [{"comment_id": f"n{i}", "article_id": "b", "author": "cid", "created_at": "2024-01-02T10:00",
             "text": f"lanes {i}", "article_title": "Council votes on bike lanes"} for i in range(5)]
    write_comments(new, rows)
    with open(new, "a") as handle:
        handle.write("n9,b,too,many,fields,here,and,more\n")  # one bad line
    report = import_files([new], out)
    assert str(report).startswith("5 comments added (0 already known), 1 new article, 1 problem;")
    assert f"off-topic weights from {weights}" in str(report)
    # the run's fitted state scores the new article alone: the first article's comment keeps its row
    assert report.scored == 5 and "scored 5 comments in 1 touched article with the fitted state of run" in str(report)
    assert json.loads((out / "offtopic_combiner.json").read_text())["intercept"] == -0.25
    articles = pd.read_parquet(out / "articles.parquet").set_index("article_id")
    assert articles.loc["b", "title"] == "Council votes on bike lanes"
    again = import_files([new], out)
    assert str(again).startswith("0 comments added (5 already known), 0 new articles, 1 problem;")


def test_run_applies_the_desks_staff_settings(tmp_path):
    """Staff saved in the store are staff in the next run's author table and engagement tables."""
    data = write_comments(tmp_path / "c.csv", [
        {"comment_id": "1", "article_id": "a", "author": "reader", "created_at": "2024-01-01T10:00", "text": "q"},
        {"comment_id": "2", "article_id": "a", "parent_id": "1", "author": "Desk Editor",
         "created_at": "2024-01-01T12:00", "text": "a"},
    ])
    out = tmp_path / "out"
    Store(f"sqlite:///{out / 'moderation.db'}").set_desk_setting("staff_names", ["desk editor"], "ann")
    results = run([data], out, source="forum")
    assert results.authors.set_index("author").loc["Desk Editor", "is_staff"]
    overall = pd.read_parquet(out / "engagement_staff_overall.parquet").iloc[0]
    assert overall["threads_with_staff_reply"] == 1 and overall["median_time_to_first_staff_reply"] == pd.Timedelta(
        hours=2)


def _with_weights(path):
    from dataclasses import replace

    from moderation.pipeline import Params

    return replace(Params(), offtopic=replace(Params().offtopic, weights_path=path))


def test_the_ingest_command_names_an_orphans_file_and_line(tmp_path, capsys):
    """`ingest` checks reply trees over the whole store and reports an orphan by its file and line."""
    from moderation.cli import main

    path = write_comments(tmp_path / "replies.csv", [
        {"comment_id": "3", "article_id": "a", "parent_id": "99", "author": "cid", "created_at": "2024-01-01T12:00",
         "text": "orphan"},
    ])
    assert main(["ingest", str(path), "--store", f"sqlite:///{tmp_path / 'store.db'}"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: comment_id 3 (line 2): parent 99 not found" in out and out.strip().endswith(
        "(run " + Store(f"sqlite:///{tmp_path / 'store.db'}").runs()["run_id"][0] + ")")
    assert "1 comments on 0 articles" in out  # a comments file alone names no article row


def test_run_json_records_each_steps_seconds(tmp_path):
    """run.json says where a run's time went (benchmarks/bench_run.py reads it): a full run times every step, an
    incremental one the steps it ran again."""
    first = write_comments(tmp_path / "first.csv", [
        {"comment_id": str(i), "article_id": f"a{i % 3}", "author": f"user{i % 4}", "created_at": "2024-01-01T10:00",
         "text": f"comment {i} on the bridge budget"} for i in range(30)
    ])
    out = tmp_path / "out"
    run([first], out, source="forum")
    seconds = json.loads((out / "run.json").read_text())["seconds"]
    assert list(seconds) == ["ingest", "fitted state", "store load", "reply trees", "fit text features",
                             "fit off-topic corpus",
                             "fit vote outliers", "votes", "off-topic", "speculation", "engagement partials",
                             "engagement tables", "write"]
    assert all(isinstance(value, float) and value >= 0 for value in seconds.values())
    cpu = json.loads((out / "run.json").read_text())["cpu_seconds"]
    assert list(cpu) == list(seconds) and all(value >= 0 for value in cpu.values())
    later = write_comments(tmp_path / "later.csv", [
        {"comment_id": "new", "article_id": "a0", "author": "user9", "created_at": "2024-01-02T10:00",
         "text": "a later comment"},
    ])
    run([later], out, source="forum")
    again = json.loads((out / "run.json").read_text())["seconds"]
    assert {"ingest", "fitted state", "read results", "votes", "off-topic", "write"} <= set(again)
    assert "fit text features" not in again


def test_an_import_counts_only_its_own_problems_not_the_stores_open_reply_tree_ones(tmp_path):
    """A reply whose parent never came stays a reply-tree problem of the store; a later clean file's import
    reports 0 problems of its own and says that one is still open; the CLI summary counts it as earlier."""
    out = tmp_path / "out"
    run([write_comments(tmp_path / "first.csv", [
        {"comment_id": "1", "article_id": "a", "author": "ann", "created_at": "2024-01-01T10:00", "text": "hi"}])],
        out, source="forum")
    orphan = write_comments(tmp_path / "orphan.csv", [
        {"comment_id": "2", "article_id": "a", "parent_id": "gone", "author": "bo", "created_at": "2024-01-01T11:00",
         "text": "a reply to nothing"}])
    report = import_files([orphan], out)
    assert str(report).startswith("1 comment added (0 already known), 0 new articles, 1 problem;")
    assert report.problems["record"].tolist() == ["comment_id 2 (line 2)"]
    clean = write_comments(tmp_path / "clean.csv", [
        {"comment_id": "3", "article_id": "b", "author": "cy", "created_at": "2024-01-02T10:00", "text": "new"}])
    report = import_files([clean], out)
    assert str(report).startswith("1 comment added (0 already known), 0 new articles, 0 problems (1 reply-tree "
                                  "problem from earlier files still open);")
    assert report.problems.empty
    results = run([clean], out, source="forum")
    assert results.run_problems == 0 and len(results.problems) == 1  # still in problems.csv, as earlier
    assert pd.read_csv(out / "problems.csv")["record"].tolist() == ["comment_id 2 (line 2)"]
