"""The pipeline's wiring: ingest over several files and runs, trees over the whole store."""

import pandas as pd

from moderation.pipeline import run


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
    assert problems["record"].tolist() == ["comment_id 3"]
    assert problems["file"].tolist() == ["source forum"] and "parent 99 not found" in problems["problem"][0]
