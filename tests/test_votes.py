"""Vote-pattern measures: values computed by hand from the published formulas."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from moderation import schema
from moderation.votes import (
    VoteAnomaly, VoteParams, controversiality_agreement, controversy, robust_z, score_votes, vote_velocity,
    wilson_lower_bound,
)

Z = 1.281551565545  # 80% one-sided, Reddit's "best" sort
Z2 = Z * Z  # 1.642374


def comments(rows, **columns):
    """Canonical comments from (article_id, upvotes, downvotes, score) rows, one hour apart."""
    frame = pd.DataFrame(rows, columns=["article_id", "upvotes", "downvotes", "score"])
    frame["comment_id"] = [f"c{i}" for i in range(len(frame))]
    frame["source"] = columns.pop("source", "gnm")
    frame["author"] = [f"author{i % 3}" for i in range(len(frame))]
    frame["created_at"] = pd.date_range("2020-01-01", periods=len(frame), freq="h", tz="UTC")
    for name, values in columns.items():
        frame[name] = values
    return schema.conform(frame, "comments")


def thread_of_ten(up, down):
    """One article: the comment under test first, then nine comments at 2 up / 1 down (net 1)."""
    return comments([("a1", up, down, None)] + [("a1", 2, 1, None)] * 9)


# Wilson (1927) score interval, lower bound, as in Evan Miller, "How Not To Sort By Average Rating" (2009):
# (p + z²/2n − z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)

def test_wilson_lower_bound_by_hand():
    """37 up of 39: p = 37/39, z²/2n = z²/78, z²/4n² = z²/6084, divided by 1 + z²/39 -> 0.882680."""
    expected = (37 / 39 + Z2 / 78 - Z * math.sqrt((37 / 39) * (2 / 39) / 39 + Z2 / 6084)) / (1 + Z2 / 39)
    assert expected == pytest.approx(0.882680, abs=1e-6)
    assert wilson_lower_bound([37], [39], Z)[0] == pytest.approx(expected)


def test_wilson_one_sided_and_zero_votes():
    """1 up of 1: numerator 1 + z²/2 − z·z/2 = 1, so 1/(1 + z²) = 0.378447; 0 of 1 gives 0; n = 0 gives 0."""
    assert wilson_lower_bound([1, 0, 0], [1, 1, 0], Z) == pytest.approx([1 / (1 + Z2), 0.0, 0.0])
    assert 1 / (1 + Z2) == pytest.approx(0.378447, abs=1e-6)


def test_controversy_reddit_formula():
    """reddit _sorts.pyx: (up+down) ** (down/up if up > down else up/down); 0 if either side is 0."""
    assert controversy([5, 6, 4, 3, 0], [5, 4, 6, 0, 0]) == pytest.approx([10.0, 10 ** (4 / 6), 10 ** (4 / 6), 0, 0])
    assert 10 ** (4 / 6) == pytest.approx(4.641589, abs=1e-6)


def test_robust_z_median_mad_and_mean_fallback():
    """[35, 0, 0, 2]: median 1, MAD 1 -> (35−1)/1.4826 = 22.9327; [0, 0, 0, 10]: MAD 0, mean AD 2.5 -> 10/3.133285."""
    z = robust_z([35, 0, 0, 2, 0, 0, 0, 10], [0, 0, 0, 0, 1, 1, 1, 1])
    assert z == pytest.approx([34 / 1.4826, -1 / 1.4826, -1 / 1.4826, 1 / 1.4826, 0, 0, 0, 10 / (1.253314 * 2.5)])
    assert 10 / (1.253314 * 2.5) == pytest.approx(3.191539, abs=1e-6)


def test_score_votes_counts_and_measures():
    """37 up / 2 down: total 39, net 35, ratio 37/39, Wilson 0.882680, Wilson down of 2/39, controversy 39**(2/37)."""
    out = score_votes(comments([("a1", 37, 2, None)]))
    row = out.iloc[0]
    assert (row.vote_total, row.vote_net) == (39, 35)
    assert row.upvote_ratio == pytest.approx(37 / 39)
    assert row.wilson_lower == pytest.approx(0.882680, abs=1e-6)
    down = (2 / 39 + Z2 / 78 - Z * math.sqrt((2 / 39) * (37 / 39) / 39 + Z2 / 6084)) / (1 + Z2 / 39)
    assert row.wilson_lower_down == pytest.approx(down)
    assert row.controversy == pytest.approx(39 ** (2 / 37))


def test_zero_votes():
    """0 up / 0 down: totals 0, ratio NA (undefined), Wilson 0, controversy 0, not controversial, reason 'no votes'."""
    row = score_votes(comments([("a1", 0, 0, None)])).iloc[0]
    assert (row.vote_total, row.vote_net, row.wilson_lower, row.wilson_lower_down, row.controversy) == (0, 0, 0, 0, 0)
    assert pd.isna(row.upvote_ratio)
    assert not row.is_controversial and row.vote_reason == "no votes"


def test_missing_downvotes_stay_missing():
    """5 up with down-votes NA: total, net, ratio, Wilson and controversy are NA; nothing is invented."""
    row = score_votes(comments([("a1", 5, None, None)])).iloc[0]
    assert pd.isna(row.downvotes)
    for column in ("vote_total", "vote_net", "upvote_ratio", "wilson_lower", "wilson_lower_down", "controversy"):
        assert pd.isna(row[column]), column
    assert row.vote_reason == "5 up (down-votes not recorded)"


def test_is_controversial_thresholds():
    """At least 7 votes and 0.4 <= up share <= 0.6: 4/3 (0.571) yes, 3/3 (6 votes) no, 5/2 (0.714) no, 4/6 (0.4) yes."""
    out = score_votes(comments([("a1", 4, 3, None), ("a1", 3, 3, None), ("a1", 5, 2, None), ("a1", 4, 6, None)]))
    assert out["is_controversial"].tolist() == [True, False, False, True]
    stricter = score_votes(comments([("a1", 4, 3, None)]), params=VoteParams(controversial_min_votes=8))
    assert not stricter["is_controversial"].iloc[0]


def test_thread_relative_heavily_up_with_reason():
    """40/2 among nine 2/1: net 38 vs median 1, MAD 0, mean AD 3.7 -> z = 37/(1.253314·3.7) = 7.9888; top 10%."""
    out = score_votes(thread_of_ten(40, 2))
    first = out.iloc[0]
    assert first.vote_net_robust_z == pytest.approx(37 / (1.253314 * 3.7))
    assert first.vote_net_percentile == 1.0 and out["vote_net_percentile"].iloc[1] == 0.9  # share with net <= own
    assert first.is_heavily_up and not out["is_heavily_up"].iloc[1:].any()
    assert first.vote_flag == "heavily_up"
    wilson = (40 / 42 + Z2 / 84 - Z * math.sqrt((40 / 42) * (2 / 42) / 42 + Z2 / 7056)) / (1 + Z2 / 42)  # 0.890674
    assert wilson == pytest.approx(0.890674, abs=1e-6)
    assert first.vote_reason == "40 up / 2 down; top 10% of this thread by net votes; Wilson 0.89"
    assert first.vote_rank_up == pytest.approx(first.vote_net_robust_z)


def test_thread_relative_heavily_down_with_reason():
    """2/30 among nine 2/1: net −28, z = −29/(1.253314·2.9) = −7.9788; Wilson of the down share 30/32."""
    first = score_votes(thread_of_ten(2, 30)).iloc[0]
    assert first.vote_net_robust_z == pytest.approx(-29 / (1.253314 * 2.9))
    assert first.is_heavily_down and first.vote_flag == "heavily_down"
    down = (30 / 32 + Z2 / 64 - Z * math.sqrt((30 / 32) * (2 / 32) / 32 + Z2 / 4096)) / (1 + Z2 / 32)  # 0.865
    assert first.wilson_lower_down == pytest.approx(down)
    assert first.vote_reason == f"2 up / 30 down; bottom 10% of this thread by net votes; Wilson (down) {down:.2f}"


def test_controversial_reason():
    """12 up / 10 down among nine 2/1: 55% up, controversy 22**(10/12) = 13.14, top 10% by votes cast."""
    first = score_votes(thread_of_ten(12, 10)).iloc[0]
    assert first.vote_flag == "controversial"
    assert 22 ** (10 / 12) == pytest.approx(13.14, abs=0.01)
    assert first.vote_reason == "12 up / 10 down; top 10% of this thread by votes cast; 55% up, controversy 13.1"


def test_heavily_voted_is_relative_to_the_thread():
    """The same 40/2 is heavily up among 2/1 comments, but not in a thread where every comment has 40/2."""
    busy = comments([("a1", 40, 2, None)] * 10)
    assert score_votes(thread_of_ten(40, 2))["is_heavily_up"].iloc[0]
    assert not score_votes(busy)["is_heavily_up"].any()


def test_score_only_source_ranked_by_net_score():
    """Score-only rows (Reddit): up/down measures NA, no down count invented; net 120 vs median 1 is heavily up."""
    out = score_votes(comments([("t3_x", None, None, 120)] + [("t3_x", None, None, 1)] * 9, source="reddit"))
    first = out.iloc[0]
    assert pd.isna(first.downvotes) and pd.isna(first.upvotes)
    for column in ("vote_total", "upvote_ratio", "wilson_lower", "wilson_lower_down", "controversy",
                   "vote_total_percentile", "vote_total_robust_z"):
        assert out[column].isna().all(), column
    assert first.vote_net == 120 and first.is_heavily_up and not out["is_controversial"].any()
    assert first.vote_net_robust_z == pytest.approx(119 / (1.253314 * 11.9))
    assert first.vote_reason == "net score 120 (no up/down split); top 10% of this thread by net score"


def test_measures_computed_per_article():
    """An article scored alone gives the same thread-relative values as inside a larger frame (partition-safe)."""
    both = pd.concat([thread_of_ten(40, 2), comments([("a2", 1, 0, None), ("a2", 9, 9, None)])], ignore_index=True)
    both["comment_id"] = [f"c{i}" for i in range(len(both))]
    columns = ["vote_net_percentile", "vote_total_percentile", "vote_net_robust_z", "vote_total_robust_z",
               "is_heavily_up", "vote_reason"]
    alone = score_votes(both[both.article_id == "a1"])
    pd.testing.assert_frame_equal(score_votes(both)[both.article_id == "a1"][columns], alone[columns])


def test_score_votes_is_pure_and_keeps_index():
    """The input frame is unchanged; output has the same index and order."""
    frame = thread_of_ten(40, 2).set_axis(range(100, 110))
    before = frame.copy()
    out = score_votes(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out.index.tolist() == list(range(100, 110))
    assert out["comment_id"].tolist() == frame["comment_id"].tolist()


def test_anomaly_scores_in_unit_range_with_named_features():
    """On 300 ordinary comments plus one 900/5 comment, that one scores highest, is flagged, and its features named."""
    rng = np.random.default_rng(1)
    rows = [("a1", int(u), int(d), None) for u, d in zip(rng.integers(0, 8, 300), rng.integers(0, 5, 300))]
    out = score_votes(comments(rows + [("a1", 900, 5, None)]))
    assert out["vote_anomaly"].between(0, 1).all()
    last = out.iloc[-1]
    assert last.vote_anomaly == out["vote_anomaly"].max() and last.is_vote_anomaly
    assert "high log_votes" in last.vote_anomaly_features or "high vote_total_robust_z" in last.vote_anomaly_features
    assert "unusual voting (anomaly" in last.vote_reason
    assert out.loc[~out["is_vote_anomaly"], "vote_anomaly_features"].isna().all()
    again = score_votes(comments(rows + [("a1", 900, 5, None)]))
    pd.testing.assert_series_equal(out["vote_anomaly"], again["vote_anomaly"])  # random_state is fixed


def test_anomaly_needs_enough_comments():
    """Fewer comments than anomaly_min_comments: no model, vote_anomaly NA, nothing flagged as anomalous."""
    out = score_votes(thread_of_ten(40, 2))
    assert out["vote_anomaly"].isna().all() and not out["is_vote_anomaly"].any()


@parametrize_with_checks([VoteAnomaly(n_estimators=10, random_state=0)])
def test_vote_anomaly_follows_sklearn_contract(estimator, check):
    """VoteAnomaly passes scikit-learn's estimator checks."""
    check(estimator)


def events(rows):
    """Canonical vote events from (comment_id, vote, voted_at) rows on article q1."""
    frame = pd.DataFrame(rows, columns=["comment_id", "vote", "voted_at"])
    frame["source"], frame["article_id"] = "se", "q1"
    return schema.conform(frame, "vote_events")


def burst_events():
    """Comment a: 6 up-votes within 5 hours on 10 Jan; comment b: 10 votes, one every 10 days from 1 Jan."""
    a = [("a", "up", pd.Timestamp("2020-01-10", tz="UTC") + pd.Timedelta(hours=h)) for h in range(6)]
    b = [("b", "down" if i % 2 else "up", pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(days=10 * i))
         for i in range(10)]
    return events(a + b)


def test_vote_velocity_and_burst():
    """16 votes over 90 days -> baseline 16/90 = 0.18 per day; a's 6 votes in one day >= 5 and >= 5 × 0.18: a burst."""
    pace = vote_velocity(burst_events())
    by_comment = pace.comments.set_index("comment_id")
    assert by_comment.loc["a", "peak_votes"] == 6 and by_comment.loc["b", "peak_votes"] == 1
    assert by_comment.loc["a", "baseline_per_window"] == pytest.approx(16 / 90)
    assert by_comment.loc["a", "votes_per_day"] == pytest.approx(6.0)  # 5 hours: counted as one day
    assert by_comment.loc["b", "votes_per_day"] == pytest.approx(10 / 90)
    assert (by_comment.loc["b", "up"], by_comment.loc["b", "down"]) == (5, 5)
    assert by_comment["is_burst"].tolist() == [True, False]
    assert by_comment.loc["a", "burst_reason"] == (
        "burst: 6 votes within 1 day from 2020-01-10 00:00 UTC (this article's baseline 0.18 per 1 day)")
    article = pace.articles.iloc[0]
    assert (article.votes, article.peak_votes, bool(article.is_burst)) == (16, 6, True)


def test_no_burst_at_a_steady_pace():
    """10 votes a day for 10 days: peak 10 is >= 5 but below 5 × baseline (100 votes / 9 days = 11.1)."""
    steady = events([("c", "up", pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(days=d, hours=h))
                     for d in range(10) for h in range(10)])
    pace = vote_velocity(steady)
    assert pace.comments["peak_votes"].iloc[0] == 10
    assert pace.comments["baseline_per_window"].iloc[0] == pytest.approx(100 / (9 + 9 / 24))
    assert not pace.comments["is_burst"].any()


def test_burst_window_is_configurable():
    """With a 1-hour window a's peak is 1 vote, so no burst."""
    pace = vote_velocity(burst_events(), VoteParams(burst_window="1h"))
    assert not pace.comments["is_burst"].any()


def test_bursts_merged_into_score_votes():
    """With vote events, the burst comment is flagged, counted as anomalous, and its window is in its reason."""
    frame = comments([("q1", 6, 0, None), ("q1", 5, 5, None)], source="se")
    frame["comment_id"] = ["a", "b"]
    out = score_votes(frame, burst_events())
    assert out["vote_burst"].tolist() == [True, False] and out["is_vote_anomaly"].tolist() == [True, False]
    assert out["vote_reason"].iloc[0].endswith("burst: 6 votes within 1 day from 2020-01-10 00:00 UTC "
                                               "(this article's baseline 0.18 per 1 day)")
    assert out["vote_peak"].tolist() == [6, 1]


def test_controversiality_agreement_table():
    """Reddit's own flag against ours: counts per (controversiality, is_controversial) with totals."""
    frame = comments([("a1", 4, 3, None), ("a1", 9, 1, None), ("a1", 5, 5, None)], controversiality=[1, 1, 0])
    table = controversiality_agreement(score_votes(frame))
    assert table.loc[1, True] == 1 and table.loc[1, False] == 1 and table.loc[0, True] == 1
    assert table.loc["all", "all"] == 3
    with pytest.raises(ValueError, match="controversiality"):
        controversiality_agreement(score_votes(comments([("a1", 1, 1, None)])))


def test_empty_inputs():
    """No comments and no vote events give empty frames with every column, not an error."""
    out = score_votes(schema.empty("comments"), schema.empty("vote_events"))
    assert len(out) == 0 and {"vote_reason", "vote_flag", "is_vote_anomaly", "vote_burst"} <= set(out.columns)
    pace = vote_velocity(schema.empty("vote_events"))
    assert len(pace.comments) == 0 and str(pace.comments["peak_start"].dtype) == schema.TIMESTAMP


def test_dates_outside_the_nanosecond_range_are_scored():
    """A comment dated in year 202 or 2300 does not end scoring (no nanosecond overflow)."""
    from datetime import datetime

    from moderation.votes import _epoch_seconds

    times = pd.Series(pd.to_datetime(["0202-01-01", "2300-01-01", None], utc=True, format="mixed")).astype(
        "datetime64[us, UTC]")
    seconds = _epoch_seconds(times)
    assert seconds[0] == (datetime(202, 1, 1) - datetime(1970, 1, 1)).total_seconds()
    assert seconds[1] > 1e10 and np.isnan(seconds[2])
