"""Reply trees: roots, depth, and the integrity problems a source can have."""

import tracemalloc

import pandas as pd

from moderation import schema, threads


def comments(parents, articles=None):
    ids = [str(i) for i in range(len(parents))]
    return schema.conform(pd.DataFrame({
        "comment_id": ids, "article_id": articles or ["a"] * len(ids), "source": "s", "parent_id": parents,
    }), "comments")


def test_roots_and_depths_of_a_chain_and_a_fork():
    """0 <- 1 <- 2 and 0 <- 3: one thread rooted at 0 with depths 0, 1, 2, 1."""
    out, problems = threads.resolve(comments([None, "0", "1", "0"]))
    assert out["thread_id"].tolist() == ["0", "0", "0", "0"]
    assert out["depth"].tolist() == [0, 1, 2, 1]
    assert problems == []


def test_missing_parent_makes_a_reported_root_and_keeps_parent_id():
    """A reply to an absent comment becomes its own thread's root; its parent_id is kept."""
    out, problems = threads.resolve(comments([None, "99"]), "f.json")
    assert out["thread_id"].tolist() == ["0", "1"] and out["parent_id"][1] == "99"
    assert [p.record for p in problems] == ["comment_id 1"] and "99 not found" in problems[0].problem


def test_cycles_and_cross_article_parents_are_broken_and_reported():
    """1 <-> 2 loop, and a reply whose parent is on another article, become roots."""
    out, problems = threads.resolve(comments([None, "2", "1", "0"], ["a", "a", "a", "b"]))
    assert out["depth"].tolist() == [0, 0, 0, 0]
    assert {p.record for p in problems} == {"comment_id 1", "comment_id 2", "comment_id 3"}


def test_parents_are_looked_up_within_the_same_source():
    """Equal ids in two sources do not link across sources."""
    frame = schema.conform(pd.DataFrame({
        "comment_id": ["1", "2", "1"], "article_id": "a", "source": ["x", "x", "y"], "parent_id": [None, "1", None],
    }), "comments")
    out, _ = threads.resolve(frame)
    assert out["thread_id"].tolist() == ["1", "1", "1"] and out["depth"].tolist() == [0, 1, 0]


def test_a_deep_chain_resolves():
    """A 5,000-deep reply chain gets depth 4,999 at its end (pointer jumping, no recursion limit)."""
    n = 5000
    out, _ = threads.resolve(comments([None] + [str(i) for i in range(n - 1)]))
    assert out["depth"].iloc[-1] == n - 1 and (out["thread_id"] == "0").all()


def test_a_chain_100000_deep_and_a_thread_of_100000_replies_resolve_in_bounded_memory():
    """A 100,000-deep chain and 100,000 replies to one root: right depths, no recursion; the chain under 100 MB."""
    n = 100_000
    ids = [str(i) for i in range(n)]
    chain, fan = comments([None] + ids[:-1]), comments([None] + ["0"] * (n - 1))
    tracemalloc.start()
    try:
        deep, deep_problems = threads.resolve(chain)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    wide, wide_problems = threads.resolve(fan)
    assert deep["depth"].tolist() == list(range(n)) and (deep["thread_id"] == "0").all()
    assert wide["depth"].sum() == n - 1 and (wide["thread_id"] == "0").all()
    assert deep_problems == wide_problems == []
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB"


def test_problems_name_each_comments_file_when_the_caller_knows_it():
    """Given a file per comment, an orphan names its file; where the file is unknown, its source."""
    frame = comments([None, "99", "98"])
    files = pd.Series(["a.csv", "b.csv", None], index=frame.index)
    _, problems = threads.resolve(frame, files)
    assert [(p.file, p.record) for p in problems] == [("b.csv", "comment_id 1"), ("source s", "comment_id 2")]
    _, problems = threads.resolve(frame)
    assert {p.file for p in problems} == {"source s"}


def test_a_repeated_key_does_not_break_the_tree():
    """Two rows with one key (a caller that did not validate): replies attach to the first, nothing raises."""
    frame = schema.conform(pd.DataFrame({
        "comment_id": ["1", "1", "2"], "article_id": "a", "source": "s", "parent_id": [None, None, "1"],
    }), "comments")
    out, problems = threads.resolve(frame)
    assert out["thread_id"].tolist() == ["1", "1", "1"] and out["depth"].tolist() == [0, 0, 1] and problems == []
