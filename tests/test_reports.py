"""The dashboard's read side: filters, queues with decisions, threads, cues, overview frames (moderation.reports)."""

import io
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.dashboard_fixtures import HOSTILE, build_results, write_results
from moderation import engagement, reports, schema, threads
from moderation.reports import Filters


def comments_frame(**columns) -> pd.DataFrame:
    """Canonical comments from a few columns (source 's', article 'a' unless given)."""
    n = len(next(iter(columns.values())))
    base = {"comment_id": [f"c{i}" for i in range(n)], "article_id": ["a"] * n, "source": ["s"] * n,
            "position": list(range(n))}
    return schema.conform(pd.DataFrame({**base, **columns}), "comments")


def decisions_frame(rows) -> pd.DataFrame:
    """Current decisions with the store's columns."""
    return pd.DataFrame(rows, columns=["source", "comment_id", "action", "moderator", "reason"])


NO_DECISIONS = decisions_frame([])


def test_filters_round_trip_through_query_parameters():
    """Filters written to the URL read back equal; unset filters are left out; a bad date is ignored."""
    filters = Filters(source="s", article="a1", since=date(2024, 1, 2), author="ann", text="ban")
    query = filters.to_query()
    assert query == {"source": "s", "article": "a1", "since": "2024-01-02", "author": "ann", "text": "ban"}
    assert Filters.from_query(query) == filters
    assert Filters.from_query({"until": "not a date"}) == Filters()
    assert not Filters().active


def test_filter_mask_applies_every_filter():
    """Each filter keeps exactly the rows it names; dates are whole UTC days, both ends inclusive."""
    comments = comments_frame(
        author=["ann", "bob", None, "ann"],
        created_at=["2024-01-01T23:59:00Z", "2024-01-02T00:00:00Z", "2024-01-03T12:00:00Z", None],
        text=["Perhaps a BAN", "no", None, "ban it"],
        article_id=["a", "a", "b", "a"],
    )
    assert filter_rows(comments, Filters(author="ann")) == [0, 3]
    assert filter_rows(comments, Filters(author="AN")) == [0, 3]  # part of a name, any case
    assert filter_rows(comments, Filters(article="b")) == [2]
    assert filter_rows(comments, Filters(since=date(2024, 1, 2))) == [1, 2]
    assert filter_rows(comments, Filters(until=date(2024, 1, 2))) == [0, 1]
    assert filter_rows(comments, Filters(text="ban")) == [0, 3]
    assert filter_rows(comments, Filters(text=".*")) == []  # a substring, never a pattern
    assert reports.filter_comments(comments, Filters()) is comments


def filter_rows(comments, filters) -> list[int]:
    return np.flatnonzero(reports.filter_mask(comments, filters)).tolist()


def test_queue_view_hides_decided_comments_unless_asked():
    """Decided comments leave the queue; the toggle shows them with their decision; order is kept."""
    members = comments_frame(author=["ann", "bob", "cy"], text=["x", "y", "z"])
    decisions = decisions_frame([("s", "c1", "remove", "mo", "spam")])
    shown = reports.queue_view(members, decisions)
    assert shown["comment_id"].tolist() == ["c0", "c2"]
    everything = reports.queue_view(members, decisions, show_decided=True)
    assert everything["comment_id"].tolist() == ["c0", "c1", "c2"]
    assert everything["decision"].isna().tolist() == [True, False, True]
    assert everything.loc[1, ["decision", "decided_by", "decision_reason"]].tolist() == ["remove", "mo", "spam"]
    assert everything.loc[0, "thread"] == "thread?source=s&article=a&comment=c0"
    assert everything.loc[1, "profile"] == "authors?profile=bob"
    assert reports.queue_view(members, NO_DECISIONS, limit=1)["comment_id"].tolist() == ["c0"]


def test_decisions_are_keyed_by_source_and_id():
    """A decision on comment c0 of one source does not hide c0 of another source."""
    members = comments_frame(source=["s", "t"], comment_id=["c0", "c0"], author=["a", "b"])
    assert reports.undecided(members, decisions_frame([("t", "c0", "flag", "mo", None)]))["source"].tolist() == ["s"]


def test_flag_labels_name_each_queue():
    """Flags list every queue the comment is in, in queue order; '' when none."""
    frame = pd.DataFrame({"is_heavily_up": [True, False, False], "is_offtopic_speculation": [True, False, pd.NA]})
    assert reports.flag_labels(frame).tolist() == ["heavily_up, offtopic", "", ""]


def test_bracket_cues_marks_spans_in_plain_text():
    """Cue spans are wrapped in [[ ]]; overlapping spans merge; markup in the text stays literal."""
    text = "Perhaps it might be " + HOSTILE
    cues = [{"phrase": "it might", "start": 8, "end": 16}, {"phrase": "Perhaps", "start": 0, "end": 7},
            {"phrase": "might be", "start": 11, "end": 19}]
    assert reports.bracket_cues(text, cues) == "[[Perhaps]] [[it might]][[ be]] " + HOSTILE
    assert reports.bracket_cues(HOSTILE, None) == HOSTILE
    assert reports.cue_spans(np.array(cues, dtype=object))["start"].tolist() == [0, 8, 11]


def test_offtopic_evidence_lists_scores_and_similarities():
    """The evidence table names the off-topic scores, any similarity column and the reason, as text."""
    comment = pd.Series({"text": "x", "offtopic_score": 0.2500000001, "similarity_article": 0.04,
                         "offtopic_reason": "far", "vote_net": 3})
    evidence = reports.offtopic_evidence(comment)
    assert evidence.values.tolist() == [["offtopic_score", "0.25"], ["offtopic_reason", "far"],
                                        ["similarity_article", "0.04"]]


def test_topics_by_title_number_and_complete():
    """The mix names articles by title, topics sort as numbers, and every topic is in the weekly counts."""
    comments = comments_frame(article_id=["a", "a", "b"], topic_id=[10, 2, 2],
                              created_at=["2024-01-01", "2024-01-02", "2024-01-09"])
    articles = schema.conform(pd.DataFrame({"article_id": ["a"], "source": ["s"], "title": ["Bike lanes"]}),
                              "articles")
    topics = pd.DataFrame({"topic_id": [2, 10], "topic_terms": ["lane, bike, road, city", "tax, rent"]})
    mix = reports.topic_mix(comments, articles, topics)
    assert mix[["article", "topic", "share"]].values.tolist() == [
        ["Bike lanes", "topic 2: lane, bike, road", 0.5], ["Bike lanes", "topic 10: tax, rent", 0.5],
        ["(untitled) s/b", "topic 2: lane, bike, road", 1.0]]
    assert reports.topic_table(topics.iloc[::-1], comments)["topic_id"].tolist() == [2, 10]
    weekly = reports.topic_over_time(comments, topics)
    assert set(weekly["topic_id"]) == {2, 10} and weekly["comments"].sum() == 3


def test_insight_tables_honour_the_filters_that_apply():
    """Source, dates (weeks and cohorts inside From..To), article and author (either side of a pair) select rows."""
    frames = build_results(n_comments=200, n_articles=4)
    insights = engagement.insight_tables(frames["comments"], engagement.EngagementParams(staff_names=("user1",)))
    weekly = reports.weekly_activity(insights, Filters(since=date(2024, 1, 10)))
    assert len(weekly) and (weekly["week"] >= pd.Timestamp("2024-01-10", tz="UTC")).all()
    cohorts = reports.retention(insights, Filters(until=date(2024, 1, 31)), months=3)
    assert set(cohorts["cohort"]) == {"2024-01"} and cohorts["months_since"].max() <= 3
    per_article = reports.staff_by_article(insights, frames["articles"], Filters(article="a1"))
    assert per_article["article_id"].tolist() == ["a1"] and per_article["thread"].iloc[0].startswith("thread?")
    pairs = reports.reply_pairs(insights, Filters(author="USER0"))
    assert len(pairs) and (pairs["pair"].str.contains("user0")).all()
    assert reports.insight(insights, "staff_overall", Filters(source="elsewhere")).empty


def test_topic_table_counts_matching_comments():
    """Each topic keeps the pipeline's columns and gets the number of matching comments (0 when none)."""
    topics = pd.DataFrame({"topic_id": [0, 1], "topic_terms": ["a, b", "c, d"], "comments": [5, 7]})
    comments = pd.DataFrame({"topic_id": [1, 1, 0, 1]})
    table = reports.topic_table(topics, comments[comments["topic_id"] == 1])
    assert table[["topic_id", "comments", "comments_matching"]].values.tolist() == [[0, 5, 0], [1, 7, 3]]


def test_thread_view_orders_replies_under_parents():
    """Replies follow their parent depth-first, siblings in source order; inferred parents are marked."""
    comments = comments_frame(
        parent_id=[None, None, "c0", "c2", "c0"],
        parent_inferred=[False, False, False, True, False],
        text=["root0", "root1", "reply to 0", "reply to 2", "second reply to 0"],
    )
    comments, _ = threads.resolve(comments)
    tree = reports.thread_view(comments, NO_DECISIONS)
    assert tree["comment_id"].tolist() == ["c0", "c2", "c3", "c4", "c1"]
    assert tree["tree"].tolist() == ["root0", "· reply to 0", "· · reply to 2", "· second reply to 0", "root1"]
    assert tree["parent_link"].tolist() == ["", "reply", "inferred", "reply", ""]


def test_over_time_counts_comments_and_votes_per_week():
    """Comments and vote_total are summed per ISO week (weeks start on Monday)."""
    comments = comments_frame(created_at=["2024-01-01", "2024-01-07", "2024-01-08", None]).assign(
        vote_total=[3, 4, 5, 100])
    weekly = reports.over_time(comments)
    assert weekly.index.tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]
    assert weekly["comments"].tolist() == [2, 1] and weekly["votes"].tolist() == [7, 5]


def test_vote_distribution_counts_every_scored_comment():
    """The histogram holds every comment with a net score once (extremes in the end bins)."""
    comments = comments_frame(score=[1, 2, 3, None, 1000])
    assert reports.vote_distribution(comments, bins=4)["comments"].sum() == 4


def test_vote_distribution_bins_are_whole_votes():
    """Bins are whole net scores: one per value over a small range, labelled "3" or "3 to 5" over a wide one."""
    small = reports.vote_distribution(comments_frame(score=[-1, 0, 0, 2]))
    assert small["net_score"].tolist() == ["-1", "0", "1", "2"] and small["comments"].tolist() == [1, 2, 0, 1]
    wide = reports.vote_distribution(comments_frame(score=list(range(0, 100))), bins=10)
    assert wide["net_score"].iloc[0] == "0 to 9" and (wide["highest"] - wide["lowest"] == 9).all()
    assert wide["comments"].sum() == 100
    tail = reports.vote_distribution(comments_frame(score=[0] * 50 + [1] * 48 + [500, 900]))
    assert tail["net_score"].tolist()[-1].endswith("or more") and tail["comments"].sum() == 100


def test_kpis_count_what_the_cli_prints():
    """Articles with a comment, authors as identified handles per source; the missing author is not counted."""
    comments = comments_frame(author=["ann", "ann", None, "[deleted]", "ann"], article_id=["a", "a", "b", "b", "c"],
                              source=["s", "s", "s", "s", "t"])
    assert reports.kpis(comments) == {"comments": 5, "articles": 3, "authors": 2}  # s/ann and t/ann
    # names as written (a blank one is missing), anonymous handles counted; an article id per source
    comments = comments_frame(author=[" =1+1", "=1+1", "  ", "Anonymous", "ann", "ann"],
                              article_id=["a", "a", "a", "a", "a", "b"], source=["s", "s", "s", "s", "t", "t"])
    assert reports.kpis(comments) == {"comments": 6, "articles": 3, "authors": 4}


def test_pending_counts_each_comment_once():
    """A comment in two queues without a decision is one pending comment, not two."""
    comments = comments_frame(author=["a"] * 3, text=["one", "two", "three"]).assign(
        is_heavily_up=[True, True, False], is_vote_anomaly=[True, False, True])
    assert reports.queue_shares(comments, NO_DECISIONS)["pending"].sum() == 4
    assert reports.pending_comments(comments, NO_DECISIONS) == 3
    assert reports.pending_comments(comments, decisions_frame([("s", "c0", "approve", "mo", None)])) == 2


@pytest.mark.parametrize("state, hint", [
    ({"members": 3, "pending": 0, "shown_decided": False, "ranked_all": False, "min_votes": 0},
     "Switch on 'Show decided comments'"),
    ({"members": 0, "pending": 0, "shown_decided": False, "ranked_all": False, "min_votes": 0},
     "switch on 'Also comments below the threshold'"),
    ({"members": 0, "pending": 0, "shown_decided": False, "ranked_all": True, "min_votes": 7},
     "lower 'Minimum votes' (now 7)"),
])
def test_empty_queue_hint_names_the_control_that_helps(state, hint):
    """Decided-away queues point at 'Show decided'; otherwise the toggle that is still off, or the vote minimum."""
    text = reports.empty_queue_hint(**state, filters_active=False)
    assert hint in text
    if state["ranked_all"]:
        assert "below the threshold" not in text


def test_queue_shares_count_members_and_pending():
    """Members, share of all comments and pending (undecided) members per available queue."""
    comments = comments_frame(author=["a"] * 4, text=["one"] * 4).assign(is_heavily_up=[True, True, False, False])
    shares = reports.queue_shares(comments, decisions_frame([("s", "c0", "approve", "mo", None)]))
    assert shares.to_dict("records") == [{"queue": "heavily_up", "members": 2, "share": 0.5, "without_text": 0,
                                          "pending": 1}]


def test_pending_leaves_out_comments_without_text_as_review_does():
    """An image-only member is counted apart (without_text), not as pending: Overview agrees with Review."""
    comments = comments_frame(author=["a"] * 3).assign(is_heavily_up=[True, True, False])
    comments["text"] = pd.array(["", "words", "more"], dtype="str")
    assert reports.pending_comments(comments, NO_DECISIONS) == 1
    assert reports.queue_shares(comments, NO_DECISIONS)[["members", "without_text", "pending"]].values.tolist() == [
        [2, 1, 1]]


def test_top_articles_and_labels():
    """Most-discussed articles come first with title and distinct authors; labels name title and id."""
    comments = comments_frame(article_id=["a", "b", "b"], author=["x", "y", "y"])
    articles = schema.conform(pd.DataFrame({"article_id": ["b"], "source": ["s"], "title": ["Bee"]}), "articles")
    top = reports.top_articles(comments, articles)
    assert top[["article_id", "title", "comments", "authors"]].values.tolist()[0] == ["b", "Bee", 2, 1]
    # authors of that source's article only, a missing author not counted
    other = comments_frame(article_id=["a", "b", "b", "b", "b"], author=["x", "y", "y", None, "z"],
                           source=["s", "s", "s", "s", "t"])
    assert reports.top_articles(other, articles, n=1)[["source", "article_id", "comments", "authors"]].values \
        .tolist() == [["s", "b", 3, 1]]
    assert reports.article_labels(comments, articles, None, 5) == {"b": "Bee (s/b)", "a": "(untitled) (s/a)"}


def test_author_history_and_neighbourhood():
    """An author's history holds only their comments; the neighbourhood adds their parents and replies."""
    comments = comments_frame(author=["ann", "bob", "ann", "cy"], parent_id=[None, "c0", "c1", None],
                              created_at=["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"])
    recent = reports.recent_comments(comments, "ann")
    assert reports.author_history(recent, NO_DECISIONS)["comment_id"].tolist() == ["c2", "c0"]
    assert reports.reply_neighbourhood(comments, "ann")["comment_id"].tolist() == ["c0", "c1", "c2"]


def test_decision_log_filters_and_adds_context():
    """The log is filtered by moderator, action and undone state, with the comment's author and text joined."""
    comments = comments_frame(author=["ann", "bob"], text=["t0", "t1"])
    log = pd.DataFrame({
        "id": [2, 1], "source": ["s", "s"], "comment_id": ["c1", "c0"], "action": ["flag", "remove"],
        "reason": [None, "spam"], "moderator": ["mo", "jo"],
        "decided_at": pd.to_datetime(["2024-01-02", "2024-01-01"], utc=True),
        "undone_at": pd.to_datetime([None, "2024-01-03"], utc=True), "undone_by": [None, "jo"],
    })
    shown = reports.decision_log(log, comments, reports.LogFilters(include_undone=False))
    assert shown[["id", "author", "text"]].values.tolist() == [[2, "bob", "t1"]]
    assert reports.decision_log(log, comments, reports.LogFilters(moderators=("jo",)))["id"].tolist() == [1]
    assert reports.decision_log(log, comments, reports.LogFilters(actions=("flag",)))["id"].tolist() == [2]


def test_csv_export_neutralises_formulas():
    """Exported cells starting with = + - @ cannot run as spreadsheet formulas."""
    csv = reports.csv_bytes(pd.DataFrame({"text": ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "fine"]}))
    cells = pd.read_csv(io.BytesIO(csv), dtype="str")["text"].tolist()
    assert cells[-1] == "fine"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_load_results_tolerates_missing_parts(tmp_path):
    """A folder with only comments opens: the other tables are empty, canonical ones with their columns."""
    build_results(n_comments=5, n_articles=1)["comments"].to_parquet(tmp_path / "comments.parquet")
    loaded = reports.load_results(tmp_path)
    assert len(loaded.comments) == 5 and loaded.authors.empty and loaded.topics.empty
    assert list(loaded.articles.columns) == schema.columns("articles")


@pytest.mark.parametrize("n", [1, 3])
def test_fixture_folder_has_every_queue(tmp_path, n):
    """The dashboard fixture carries every queue column and the hostile comment first."""
    folder = write_results(tmp_path, n_comments=30, n_articles=n)
    loaded = reports.load_results(folder)
    assert reports.available_queues(loaded.comments) == list(reports.QUEUE_MEMBER)
    assert loaded.with_text(loaded.comments.iloc[[0]]).loc[0, "text"] == HOSTILE


def test_article_thread_is_every_comment_of_one_article_of_one_source():
    """article_rows maps (source, article) to row positions once; a thread is those rows, in frame order; without a
    source the first source having the article; an unknown article is an empty frame."""
    comments = pd.DataFrame({"source": ["s", "t", "s", "s"], "article_id": ["a", "a", "b", "a"],
                             "comment_id": ["1", "2", "3", "4"]})
    rows = reports.article_rows(comments)
    assert reports.article_thread(comments, rows, "s", "a")["comment_id"].tolist() == ["1", "4"]
    assert reports.article_thread(comments, rows, "t", "a")["comment_id"].tolist() == ["2"]
    assert reports.article_thread(comments, rows, None, "b")["comment_id"].tolist() == ["3"]
    assert reports.article_thread(comments, rows, "s", "zz").empty
