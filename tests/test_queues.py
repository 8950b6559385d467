"""Moderation queues: membership, filters, sort order, errors, and formula-safe CSV export."""

import csv

import pandas as pd
import pytest

from moderation import schema
from moderation.queues import QUEUES, neutralise_formulas, queue, to_csv
from moderation.votes import score_votes


def scored():
    """Five scored comments on two articles and two sources, vote columns set by hand."""
    frame = schema.conform(pd.DataFrame({
        "comment_id": ["c1", "c2", "c3", "c4", "c5"],
        "article_id": ["a1", "a1", "a2", "a2", "t3_x"],
        "source": ["gnm", "gnm", "gnm", "gnm", "reddit"],
        "author": ["ann", "bob", "ann", "cy", "dee"],
        "created_at": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"], utc=True),
        "text": ["=HYPERLINK(\"http://x\")", "fine", "+1 agreed", "@admin", "-sure"],
    }), "comments")
    return frame.assign(
        vote_total=pd.array([40, 8, 12, 22, None], dtype="Int64"),
        vote_net=pd.array([36, 2, 10, 2, 30], dtype="Int64"),
        is_heavily_up=[True, False, True, False, True],
        vote_rank_up=pd.array([3.0, None, 5.0, 0.0, 4.0], dtype="Float64"),
        is_heavily_down=False, vote_rank_down=0.0,
        is_controversial=[False, True, False, True, False],
        controversy=pd.array([0.0, 5.0, 0.0, 5.0, None], dtype="Float64"),
        is_vote_anomaly=False, vote_anomaly=pd.array([None] * 5, dtype="Float64"),
        vote_reason=[f"reason {i}" for i in range(1, 6)],
    )


def test_queue_sorted_by_measure_with_reason():
    """heavily_up holds c1, c3, c5 sorted by vote_rank_up descending (5, 4, 3), each with its reason."""
    out = queue(scored(), "heavily_up")
    assert out["comment_id"].tolist() == ["c3", "c5", "c1"]
    assert out["reason"].tolist() == ["reason 3", "reason 5", "reason 1"]
    assert (out["queue"] == "heavily_up").all()


def test_queue_can_rank_every_comment_with_membership_marked():
    """members_only=False ranks all filtered comments by the measure (NA last); in_queue marks the members."""
    out = queue(scored(), "heavily_up", members_only=False)
    assert out["comment_id"].tolist() == ["c3", "c5", "c1", "c4", "c2"]
    assert out["in_queue"].tolist() == [True, True, True, False, False]
    assert queue(scored(), "heavily_up", members_only=False, article="a2")["comment_id"].tolist() == ["c3", "c4"]
    assert queue(scored(), "heavily_up")["in_queue"].all()


def test_controversial_ties_broken_by_vote_total():
    """c2 and c4 share controversy 5; c4 has more votes (22 > 8) and comes first."""
    assert queue(scored(), "controversial")["comment_id"].tolist() == ["c4", "c2"]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"article": "a2"}, ["c3"]),
    ({"author": ["ann", "dee"]}, ["c3", "c5", "c1"]),
    ({"source": "reddit"}, ["c5"]),
    ({"since": "2020-01-02", "until": "2020-01-05"}, ["c3", "c5"]),  # both days inclusive
    ({"since": "2020-01-02", "until": "2020-01-04"}, ["c3"]),
    ({"min_votes": 20}, ["c5", "c1"]),  # c5 is score-only: |net| 30 counts as at least 30 votes
])
def test_queue_filters(filters, expected):
    """Filters by article, author, source, date range (calendar days, both inclusive) and minimum votes."""
    assert queue(scored(), "heavily_up", **filters)["comment_id"].tolist() == expected


def test_unknown_queue_names_the_known_ones():
    """An unknown name raises ValueError listing every known queue."""
    with pytest.raises(ValueError, match="known queues: heavily_up, heavily_down, controversial, anomalous, offtopic"):
        queue(scored(), "spicy")


def test_missing_stage_is_named():
    """A queue whose columns are absent says which stage must run first."""
    with pytest.raises(ValueError, match=r"is_offtopic_speculation.*off-topic stage"):
        queue(scored(), "offtopic")
    with pytest.raises(ValueError, match="vote stage"):
        queue(scored().drop(columns=["is_vote_anomaly"]), "anomalous")


def test_queues_match_the_contract_table():
    """The definitions are the ones in docs/CONTRACTS.md."""
    assert {name: (q.member, q.sort, q.reason) for name, q in QUEUES.items()} == {
        "heavily_up": ("is_heavily_up", ("vote_rank_up",), "vote_reason"),
        "heavily_down": ("is_heavily_down", ("vote_rank_down",), "vote_reason"),
        "controversial": ("is_controversial", ("controversy", "vote_total"), "vote_reason"),
        "anomalous": ("is_vote_anomaly", ("vote_anomaly",), "vote_reason"),
        "offtopic": ("is_offtopic_speculation", ("offtopic_speculation_score",), "offtopic_reason"),
    }


def test_every_vote_queue_runs_on_score_votes_output():
    """Each vote queue accepts what score_votes produces."""
    frame = schema.conform(pd.DataFrame({"comment_id": ["c1", "c2"], "article_id": "a", "source": "gnm",
                                         "upvotes": [40, 2], "downvotes": [2, 1]}), "comments")
    out = score_votes(frame)
    for name in ("heavily_up", "heavily_down", "controversial", "anomalous"):
        assert set(queue(out, name).columns) >= {"reason", "queue"}


def test_formulas_neutralised():
    """Text cells starting with = + - @ tab or CR get a leading quote; other cells and numbers stay as they are."""
    frame = pd.DataFrame({"text": pd.array(["=1+1", "+1", "-x", "@a", "\tq", "\rq", "ok", None], dtype="str"),
                          "net": [-1, 2, 3, 4, 5, 6, 7, 8]})
    out = neutralise_formulas(frame)
    assert out["text"].tolist()[:7] == ["'=1+1", "'+1", "'-x", "'@a", "'\tq", "'\rq", "ok"]
    assert pd.isna(out["text"].iloc[7]) and out["net"].tolist() == frame["net"].tolist()


def test_to_csv_writes_a_safe_queue(tmp_path):
    """A queue written to CSV reads back with every formula-like text cell quoted-neutralised and lists as text."""
    frame = queue(scored(), "heavily_up").assign(reactions=[[1, 2], None, [3]])
    path = to_csv(frame, tmp_path / "q.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["text"] for r in rows] == ["'+1 agreed", "'-sure", "'=HYPERLINK(\"http://x\")"]
    assert rows[0]["reactions"] == "[1, 2]" and rows[0]["reason"] == "reason 3"


def test_one_date_filter_counts_whole_days_at_both_ends():
    """created_between keeps 00:00 of since through 23:59:59.999999 of until (UTC); NaT is never kept."""
    from moderation.queues import created_between

    times = pd.Series(pd.to_datetime(["2024-01-01T23:59:59", "2024-01-02T00:00:00", "2024-01-02T23:59:59.999999",
                                      "2024-01-03T00:00:00", None], utc=True, format="ISO8601"))
    assert created_between(times, "2024-01-02", "2024-01-02").tolist() == [False, True, True, False, False]
    assert created_between(times, until="2024-01-01").tolist() == [True, False, False, False, False]
    assert created_between(times).tolist() == [True] * 5
    with pytest.raises(ValueError, match="not a date"):
        created_between(times, since="last tuesday")


def test_comments_without_readable_text_are_left_out_and_can_be_counted():
    """An image-only answer (empty text), a punctuation-only and a missing text leave every queue by default;
    without_text="only" gives just them (what callers count), "include" both; the review queue follows the
    same rule."""
    from moderation.queues import review_queue

    frame = scored()
    frame["text"] = pd.array(["", "fine", " ... ", "@admin", None], dtype="str")  # c1, c3, c5 have nothing to read
    assert queue(frame, "heavily_up")["comment_id"].tolist() == []
    assert queue(frame, "heavily_up", without_text="only")["comment_id"].tolist() == ["c3", "c5", "c1"]
    assert queue(frame, "heavily_up", without_text="include")["comment_id"].tolist() == ["c3", "c5", "c1"]
    assert queue(frame, "controversial")["comment_id"].tolist() == ["c4", "c2"]
    ranked = queue(frame, "heavily_up", members_only=False)
    assert ranked["comment_id"].tolist() == ["c4", "c2"] and not ranked["in_queue"].any()
    assert review_queue(frame)["comment_id"].tolist() == ["c4", "c2"]
    assert sorted(review_queue(frame, without_text="only")["comment_id"]) == ["c1", "c3", "c5"]
    with pytest.raises(ValueError, match="without_text must be one of leave_out, include, only"):
        queue(frame, "heavily_up", without_text="drop")
