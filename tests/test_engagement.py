"""Author engagement: author table, classes, staff, reply network, activity over time, participation.

Fixtures are built in code; every expected value is worked out by hand in the
comment next to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderation import schema, threads
from moderation.engagement import (
    INSIGHT_TABLES,
    EngagementParams,
    activity_by_week,
    article_participation,
    author_class,
    author_table,
    class_summary,
    insight_partials,
    insight_tables,
    merge_partials,
    reduce_authors,
    reciprocity,
    reduce_insights,
    reply_latency,
    reply_network,
    retention_by_cohort,
    staff_responsiveness,
    staff_changed,
    staff_responsiveness_by_month,
    top_pairs,
    with_staff_settings,
    without_articles,
)

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
SEED = Path(__file__).resolve().parents[1] / "seeds" / "xinjiang_sanctions_article_page.txt"


def make_comments(rows: list[tuple], columns: list[str], **extra) -> pd.DataFrame:
    """Canonical comments from tuples, with thread_id and depth resolved as ingest does."""
    frame = pd.DataFrame(rows, columns=columns)
    for name, values in extra.items():
        frame[name] = values
    frame["position"] = range(len(frame))
    comments, problems = threads.resolve(schema.conform(frame, "comments"))
    assert problems == []
    return comments


COLUMNS = ["source", "comment_id", "article_id", "parent_id", "author", "created_at", "upvotes", "downvotes", "status"]


@pytest.fixture
def comments() -> pd.DataFrame:
    """Two sources sharing comment and article ids; anonymous, missing and [deleted] authors; a staff flag."""
    rows = [
        ("site", "c1", "a1", None, "Alice", "2024-01-01 10:00", 5, 1, "published"),
        ("site", "c2", "a1", "c1", "Bob", "2024-01-01 12:00", 2, 0, "published"),
        ("site", "c3", "a1", "c2", "Alice", "2024-01-01 13:00", 1, 3, "rejected"),
        ("site", "c4", "a1", "c1", "Undisclosed Manufacturer #2", "2024-01-02 10:00", 0, 0, None),
        ("site", "c5", "a1", "c3", "Alice", "2024-01-02 13:00", None, None, "deleted"),
        ("site", "c6", "a2", None, "Undisclosed Manufacturer #1", "2024-01-08 09:00", 4, 0, "published"),
        ("site", "c7", "a2", "c6", None, "2024-01-08 10:00", 1, 1, "published"),
        ("site", "c8", "a2", "c6", "[deleted]", "2024-01-08 11:00", 0, 2, "deleted"),
        ("site", "c9", "a2", "c7", "Alice", "2024-01-09 10:00", 3, 0, "published"),
        ("site", "c10", "a2", "c6", "Dana", "2024-01-08 09:30", 2, 0, "published"),
        ("forum", "c1", "a1", None, "Alice", "2024-01-03 08:00", None, None, None),
    ]
    staff = pd.array([False] * 9 + [True, pd.NA], dtype="boolean")
    return make_comments(rows, COLUMNS, is_staff=staff)


@pytest.fixture
def decisions() -> pd.DataFrame:
    """Current decisions keyed by (source, comment_id); c1 on site was removed, then approved."""
    return pd.DataFrame(
        {
            "source": ["site", "site", "site", "site", "forum"],
            "comment_id": ["c3", "c9", "c1", "c1", "c1"],
            "action": ["remove", "approve", "remove", "approve", "remove"],
            "moderator": ["m"] * 5,
            "decided_at": pd.to_datetime(
                ["2024-02-01", "2024-02-01", "2024-02-01", "2024-02-02", "2024-02-01"], utc=True
            ),
        }
    )


def row(table: pd.DataFrame, source: str, author: str) -> pd.Series:
    found = table[(table["source"] == source) & (table["author"] == author)]
    assert len(found) == 1
    return found.iloc[0]


def test_author_class_patterns():
    """Anonymous handles, Reddit placeholders and empty names are classed; look-alike names are not."""
    authors = pd.Series(
        ["Alice", "Undisclosed Manufacturer #2", "Anonymous Coward", "guest 17", "Guestimate", "Anonymously",
         "[deleted]", "[removed]", "None", "", "  ", None],
        dtype="str",
    )
    expected = ["named", "anonymous", "anonymous", "anonymous", "named", "named",
                "missing", "missing", "missing", "missing", "missing", "missing"]
    assert author_class(authors).tolist() == expected


def test_author_class_configurable():
    """Patterns come from the parameters: an empty pattern list leaves only NA/blank as missing."""
    params = EngagementParams(anonymous_patterns=(r"^reader\d+$",), missing_patterns=())
    authors = pd.Series(["reader12", "Undisclosed Manufacturer #2", "[deleted]", None], dtype="str")
    assert author_class(authors, params).tolist() == ["anonymous", "named", "named", "missing"]


def test_author_table_one_row_per_source_and_author(comments):
    """Authors are keyed by source: the forum's Alice is not the site's; distinct anonymous handles stay distinct."""
    table = author_table(comments)
    keys = list(zip(table["source"], table["author"]))
    # sorted by source then author; NA author keyed "(missing)", "[deleted]" kept as its own handle
    assert keys == [
        ("forum", "Alice"),
        ("site", "(missing)"), ("site", "Alice"), ("site", "Bob"), ("site", "Dana"),
        ("site", "Undisclosed Manufacturer #1"), ("site", "Undisclosed Manufacturer #2"), ("site", "[deleted]"),
    ]
    assert table["author_class"].tolist() == [
        "named", "missing", "named", "named", "named", "anonymous", "anonymous", "missing"
    ]
    # no comment dropped: 1 + 1 + 4 + 1 + 1 + 1 + 1 + 1 = 11
    assert table["comments"].sum() == len(comments) == 11


def test_author_table_participation_counts(comments):
    """Comments, articles, threads started, replies made and received, distinct repliers."""
    alice = row(author_table(comments), "site", "Alice")
    # c1 (top level), c3, c5, c9 (replies) on a1 and a2
    assert (alice["comments"], alice["articles"], alice["threads_started"], alice["replies_made"]) == (4, 2, 1, 3)
    # replies to c1: c2 (Bob), c4 (UM #2); to c3: c5 (Alice herself, not counted) -> 2 from 2 people
    assert (alice["replies_received"], alice["distinct_repliers"]) == (2, 2)
    um1 = row(author_table(comments), "site", "Undisclosed Manufacturer #1")
    # c6 gets c7 (missing author), c8 ([deleted]) and c10 (Dana): 3 replies, 3 distinct repliers
    assert (um1["replies_received"], um1["distinct_repliers"]) == (3, 3)
    missing = row(author_table(comments), "site", "(missing)")
    # c7 gets c9 (Alice)
    assert (missing["replies_received"], missing["replies_made"]) == (1, 1)


def test_author_table_votes_nullable(comments):
    """Vote sums skip NA and are NA, not 0, where the source has no votes at all."""
    table = author_table(comments)
    alice = row(table, "site", "Alice")
    # up 5 + 1 + NA + 3 = 9; down 1 + 3 + NA + 0 = 4; net 9 - 4 = 5
    assert (alice["upvotes_received"], alice["downvotes_received"], alice["net_score_received"]) == (9, 4, 5)
    forum = row(table, "forum", "Alice")
    assert pd.isna(forum["upvotes_received"]) and pd.isna(forum["downvotes_received"])
    assert pd.isna(forum["net_score_received"])
    assert str(table["upvotes_received"].dtype) == "Int64"


def test_author_table_net_score_prefers_vote_net(comments):
    """A vote stage's vote_net replaces upvotes - downvotes in net_score_received."""
    scored = comments.assign(vote_net=np.arange(len(comments), dtype=float))
    # site Alice writes rows 0, 2, 4, 8 -> 0 + 2 + 4 + 8 = 14
    assert row(author_table(scored), "site", "Alice")["net_score_received"] == 14


def test_author_table_stage_shares():
    """Shares of flagged comments and mean Wilson bound come from other stages' columns; NA when absent."""
    rows = [("s", "1", "a", None, "x", "2024-01-01", 1, 0, None),
            ("s", "2", "a", None, "x", "2024-01-02", 1, 0, None),
            ("s", "3", "a", None, "x", "2024-01-03", 1, 0, None)]
    comments = make_comments(
        rows, COLUMNS,
        is_heavily_up=pd.array([True, False, pd.NA], dtype="boolean"),
        wilson_lower=[0.2, 0.4, np.nan],
    )
    x = author_table(comments).iloc[0]
    # known flags True, False -> 1/2; Wilson (0.2 + 0.4) / 2 = 0.3
    assert x["share_heavily_up"] == pytest.approx(0.5)
    assert x["mean_wilson_lower"] == pytest.approx(0.3)
    assert pd.isna(x["share_controversial"]) and pd.isna(x["share_speculative"])


def test_author_table_moderation_outcomes(comments, decisions):
    """Rejected/deleted shares come from status (known statuses only); removed share from current decisions."""
    table = author_table(comments, decisions)
    alice = row(table, "site", "Alice")
    # statuses published, rejected, deleted, published -> 1/4 rejected, 1/4 deleted
    assert (alice["share_rejected"], alice["share_deleted"]) == (0.25, 0.25)
    # c3 removed; c1's latest decision is approve; c9 approved -> 1 of 4 comments removed
    assert alice["share_removed"] == 0.25
    # the forum's c1 is another comment than the site's c1
    assert row(table, "forum", "Alice")["share_removed"] == 1.0
    assert row(table, "site", "Bob")["share_removed"] == 0.0
    assert pd.isna(row(table, "site", "Undisclosed Manufacturer #2")["share_rejected"])  # status unknown
    assert author_table(comments)["share_removed"].isna().all()  # no decisions given


def test_author_table_time_measures(comments):
    """First/last seen, active days and the median reply latency (a Timedelta)."""
    table = author_table(comments)
    alice = row(table, "site", "Alice")
    assert alice["first_seen"] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert alice["last_seen"] == pd.Timestamp("2024-01-09 10:00", tz="UTC")
    # days with a comment: Jan 1 (c1, c3), Jan 2 (c5), Jan 9 (c9)
    assert alice["active_days"] == 3
    # c3 - c2 = 1 h; c5 - c3 = 24 h; c9 - c7 = 24 h -> median 24 h
    assert alice["median_reply_latency"] == DAY
    # c10 09:30 - c6 09:00
    assert row(table, "site", "Dana")["median_reply_latency"] == pd.Timedelta(minutes=30)
    assert pd.isna(row(table, "site", "Undisclosed Manufacturer #1")["median_reply_latency"])  # no replies
    assert str(table["median_reply_latency"].dtype) == "timedelta64[us]"


def test_reply_latency_rejects_negative_and_unknown_parents():
    """A reply dated before its parent, or whose parent is absent, has no latency."""
    rows = [("s", "1", "a", None, "x", "2024-01-02", 0, 0, None),
            ("s", "2", "a", "1", "y", "2024-01-01", 0, 0, None),
            ("s", "3", "a", "1", "y", "2024-01-04", 0, 0, None)]
    comments = make_comments(rows, COLUMNS)
    subset = comments.iloc[[1, 2]]  # a partition without the parent
    assert reply_latency(comments).tolist()[1:] == [pd.NaT, 2 * DAY]
    assert reply_latency(subset).isna().all()


def test_staff_from_field_and_names(comments):
    """Staff come from the source's flag column or the configured names; missing authors never are."""
    table = author_table(comments, params=EngagementParams(staff_names=(" bob ",)))
    staff = table.loc[table["is_staff"], "author"].tolist()
    assert staff == ["Bob", "Dana"]


def test_class_summary_counts_every_comment(comments):
    """The class summary accounts for every comment and author, each class on one row."""
    summary = class_summary(author_table(comments)).set_index("author_class")
    # named: forum Alice 1 + site Alice 4 + Bob 1 + Dana 1 = 7 comments by 4 authors
    # anonymous: UM #1, UM #2 -> 2 comments; missing: (missing), [deleted] -> 2 comments
    assert summary["authors"].tolist() == [4, 2, 2]
    assert summary["comments"].tolist() == [7, 2, 2]
    assert summary.loc["named", "share_of_comments"] == pytest.approx(7 / 11)
    # received: named 2 (Alice) + 1 (Bob); anonymous 3 (UM #1); missing 1 -> 3, 3, 1 of 7
    assert summary["replies_received"].tolist() == [3, 3, 1]


def test_staff_responsiveness_per_article_and_overall():
    """Share of reader-started threads with a staff reply and median time to the first one."""
    rows = [
        ("s", "r1", "a1", None, "reader1", "2024-01-01 10:00", 0, 0, None),
        ("s", "m1", "a1", "r1", "Mod Team", "2024-01-01 11:00", 0, 0, None),
        ("s", "m2", "a1", "r1", "Mod Team", "2024-01-01 12:00", 0, 0, None),
        ("s", "r2", "a1", None, "reader2", "2024-01-01 10:00", 0, 0, None),
        ("s", "x2", "a1", "r2", "reader1", "2024-01-01 10:30", 0, 0, None),
        ("s", "d2", "a1", "x2", "Dana", "2024-01-01 13:00", 0, 0, None),
        ("s", "m3", "a1", None, "Mod Team", "2024-01-01 14:00", 0, 0, None),
        ("s", "r4", "a2", None, "reader3", "2024-01-02 10:00", 0, 0, None),
        ("s", "x4", "a2", "r4", "reader1", "2024-01-02 11:00", 0, 0, None),
    ]
    # Dana is marked by the source's (text) isModerator column, Mod Team by name
    flags = ["false"] * 5 + ["true"] + ["false"] * 3
    comments = make_comments(rows, COLUMNS, isModerator=pd.Series(flags, dtype="str"))
    per_article, overall = staff_responsiveness(comments, EngagementParams(staff_names=("mod team",)))
    overall = overall.set_index("source").loc["s"]
    a1 = per_article.set_index("article_id").loc["a1"]
    # a1: r1 answered by Mod Team after 1 h; r2 by Dana after 3 h (at depth 2); m3 is staff-started: not counted
    assert (a1["threads"], a1["threads_with_staff_reply"], a1["share_threads_with_staff_reply"]) == (2, 2, 1.0)
    assert a1["median_time_to_first_staff_reply"] == 2 * HOUR  # median(1 h, 3 h)
    a2 = per_article.set_index("article_id").loc["a2"]
    assert (a2["threads"], a2["threads_with_staff_reply"]) == (1, 0)
    assert pd.isna(a2["median_time_to_first_staff_reply"])
    # overall 2 of 3 threads; median(1 h, 3 h) = 2 h; staff: Mod Team, Dana
    assert overall["threads"] == 3 and overall["threads_with_staff_reply"] == 2
    assert overall["share_threads_with_staff_reply"] == pytest.approx(2 / 3)
    assert overall["median_time_to_first_staff_reply"] == 2 * HOUR
    assert overall["staff_authors"] == 2


def test_reply_network_counts_and_reciprocity():
    """Directed pair counts; reciprocity and top pairs ignore self-replies."""
    rows = [("s", "1", "a", None, "x", "2024-01-01 10:00", 0, 0, None),
            ("s", "2", "a", None, "y", "2024-01-01 10:00", 0, 0, None),
            ("s", "3", "a", "2", "x", "2024-01-01 11:00", 0, 0, None),
            ("s", "4", "a", "2", "x", "2024-01-01 12:00", 0, 0, None),
            ("s", "5", "a", "1", "y", "2024-01-01 13:00", 0, 0, None),
            ("s", "6", "a", "1", "x", "2024-01-01 14:00", 0, 0, None)]
    network = reply_network(make_comments(rows, COLUMNS))
    # x->y: comments 3, 4; y->x: 5; x->x: 6
    assert list(network[["author", "replied_to_author", "count"]].itertuples(index=False, name=None)) == [
        ("x", "y", 2), ("x", "x", 1), ("y", "x", 1)
    ]
    # edges without the self-loop: x->y, y->x, both reciprocated -> 2/2
    assert reciprocity(network) == 1.0
    pairs = top_pairs(network)
    assert pairs[["author_a", "author_b", "a_to_b", "b_to_a", "replies"]].values.tolist() == [["x", "y", 2, 1, 3]]


def test_reciprocity_leaves_out_missing_authors(comments):
    """Edges touching a missing author cannot be reciprocated knowingly and are left out."""
    network = reply_network(comments)
    # 8 replies, each its own pair: Bob->Alice, Alice->Bob, UM2->Alice, Alice->Alice, (missing)->UM1,
    # [deleted]->UM1, Alice->(missing), Dana->UM1
    assert len(network) == 8 and network["count"].eq(1).all()
    # identified, non-self edges: Bob->Alice, Alice->Bob, UM2->Alice, Dana->UM1 -> 2 of 4 reciprocated
    assert reciprocity(network) == 0.5
    assert top_pairs(network, n=1)[["author_a", "author_b", "replies"]].values.tolist() == [["Alice", "Bob", 2]]


def test_activity_by_week_new_and_returning(comments):
    """Comments and identified active authors per Monday-started week, split into new and returning."""
    weeks = activity_by_week(comments)
    jan1, jan8 = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-08", tz="UTC")
    assert list(weeks[["source", "week"]].itertuples(index=False, name=None)) == [
        ("forum", jan1), ("site", jan1), ("site", jan8)]
    # forum, week of Jan 1: its c1, by forum Alice (new)
    # site, week of Jan 1: c1-c5 = 5 comments; Alice, Bob, UM #2: all new
    # site, week of Jan 8: c6-c10 = 5 comments; UM #1, Alice, Dana (missing and [deleted] not counted);
    #   new: UM #1, Dana; returning: Alice
    assert weeks["comments"].tolist() == [1, 5, 5]
    assert weeks["active_authors"].tolist() == [1, 3, 3]
    assert weeks["new_authors"].tolist() == [1, 3, 2]
    assert weeks["returning_authors"].tolist() == [0, 0, 1]


def test_retention_by_cohort():
    """Share of each first-month cohort active n months later; missing authors are not a cohort."""
    rows = [("s", "1", "a", None, "p", "2024-01-05", 0, 0, None),
            ("s", "2", "a", None, "p", "2024-01-20", 0, 0, None),
            ("s", "3", "a", None, "q", "2024-01-07", 0, 0, None),
            ("s", "4", "a", None, "p", "2024-02-03", 0, 0, None),
            ("s", "5", "a", None, "r", "2024-02-10", 0, 0, None),
            ("s", "6", "a", None, "r", "2024-03-01", 0, 0, None),
            ("s", "7", "a", None, None, "2024-03-02", 0, 0, None),
            ("s", "8", "a", None, "p", "2024-04-30", 0, 0, None)]
    table = retention_by_cohort(make_comments(rows, COLUMNS))
    got = list(table[["cohort", "months_since", "active_authors", "cohort_authors", "share"]]
               .itertuples(index=False, name=None))
    # Jan cohort {p, q}: month 0 both; Feb (1) p; Apr (3) p.  Feb cohort {r}: Feb r, Mar (1) r.
    assert got == [("2024-01", 0, 2, 2, 1.0), ("2024-01", 1, 1, 2, 0.5), ("2024-01", 3, 1, 2, 0.5),
                   ("2024-02", 0, 1, 1, 1.0), ("2024-02", 1, 1, 1, 1.0)]


def test_article_participation(comments):
    """Participants, comments per participant and the top authors' share of each article's comments."""
    table = article_participation(comments).set_index(["source", "article_id"])
    site_a1, site_a2, forum_a1 = table.loc[("site", "a1")], table.loc[("site", "a2")], table.loc[("forum", "a1")]
    # site a1: Alice 3, Bob 1, UM #2 1 -> 3 participants, 5/3 each; top ceil(0.1 * 3) = 1 author: 3/5
    assert (site_a1["comments"], site_a1["unattributed_comments"], site_a1["participants"]) == (5, 0, 3)
    assert site_a1["comments_per_participant"] == pytest.approx(5 / 3)
    assert site_a1["top_authors_share"] == pytest.approx(0.6)
    # site a2: UM #1, Alice, Dana 1 each + 2 unattributed (NA, [deleted]); top 1 author: 1/3
    assert (site_a2["comments"], site_a2["unattributed_comments"], site_a2["participants"]) == (5, 2, 3)
    assert site_a2["comments_per_participant"] == 1.0
    assert site_a2["top_authors_share"] == pytest.approx(1 / 3)
    assert (forum_a1["participants"], forum_a1["top_authors_share"]) == (1, 1.0)
    # top half of site a1: ceil(0.5 * 3) = 2 authors, Alice 3 + Bob 1 (ties by name) = 4/5
    wider = article_participation(comments, EngagementParams(top_share=0.5)).set_index(["source", "article_id"])
    assert wider.loc[("site", "a1"), "top_authors_share"] == pytest.approx(0.8)


def test_stages_are_pure(comments, decisions):
    """No function changes its input frames."""
    before, decisions_before = comments.copy(), decisions.copy()
    author_table(comments, decisions)
    staff_responsiveness(comments)
    reciprocity(reply_network(comments))
    activity_by_week(comments)
    retention_by_cohort(comments)
    article_participation(comments)
    reply_latency(comments)
    pd.testing.assert_frame_equal(comments, before)
    pd.testing.assert_frame_equal(decisions, decisions_before)


def test_empty_comments():
    """Zero comments give zero-row tables, not errors."""
    comments = schema.empty("comments")
    assert len(author_table(comments)) == 0
    assert len(activity_by_week(comments)) == 0
    assert len(article_participation(comments)) == 0
    assert len(reply_network(comments)) == 0


SEED_AUTHORS = ["Undisclosed Manufacturer #1", "Undisclosed Manufacturer #2", "Charles Rollet",
                "Rich Moore", "Robert Shih", "Charles Rollet"]


def seed_comments() -> pd.DataFrame:
    """The seed page's six comments as the page parser reads them, with the reply tree the issue describes."""
    rows = [
        ("page", str(i + 1), "xinjiang", parent, author, date, None, None, None)
        for i, (parent, author, date) in enumerate(zip(
            [None, "1", "2", None, "4", "4"], SEED_AUTHORS,
            ["2018-10-04", "2018-10-04", "2018-10-05", "2018-10-04", "2018-10-05", "2018-10-06"],
        ))
    ]
    return make_comments(rows, COLUMNS)


def charles_rollet(comments: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    table = author_table(comments)
    mine = comments[comments["author"] == "Charles Rollet"]
    return table[table["author"] == "Charles Rollet"].iloc[0], mine.assign(latency=reply_latency(comments))


def test_seed_charles_rollet():
    """On the seed, Charles Rollet writes 2 replies in 2 threads: 1 day after comment 2, 2 days after comment 4."""
    comments = seed_comments()
    charles, mine = charles_rollet(comments)
    assert (charles["comments"], charles["replies_made"], charles["threads_started"]) == (2, 2, 0)
    assert mine["thread_id"].nunique() == 2
    # comment 3 (Oct 5) replies to comment 2 (Oct 4): 1 day; comment 6 (Oct 6) to comment 4 (Oct 4): 2 days
    assert mine["latency"].tolist() == [DAY, 2 * DAY]
    assert charles["median_reply_latency"] == 1.5 * DAY
    assert author_class(pd.Series(SEED_AUTHORS, dtype="str")).tolist()[:2] == ["anonymous", "anonymous"]


def test_seed_page_loaded():
    """Through the page parser: Charles Rollet's two replies are 1 day, and 1 or 2 days, after their parents."""
    pytest.importorskip("moderation.ingest.page")
    from moderation.ingest import load

    comments = load(SEED).comments
    assert comments["author"].tolist() == SEED_AUTHORS
    charles, mine = charles_rollet(comments)
    assert (charles["comments"], charles["replies_made"]) == (2, 2)
    assert mine["thread_id"].nunique() == 2
    # comment 6's parent is inferred: comment 4 (Oct 4) or 5 (Oct 5)
    assert mine["latency"].iloc[0] == DAY and mine["latency"].iloc[1] in (DAY, 2 * DAY)


def test_staff_responsiveness_by_month_and_staff_patterns():
    """Per month of the thread's start: threads, staff-answered share, median time; staff found by a pattern."""
    rows = [
        ("s", "r1", "a1", None, "reader1", "2024-01-05 10:00", 0, 0, None),
        ("s", "m1", "a1", "r1", "Ann (staff)", "2024-01-05 12:00", 0, 0, None),
        ("s", "r2", "a1", None, "reader2", "2024-01-20 10:00", 0, 0, None),
        ("s", "r3", "a2", None, "reader1", "2024-02-01 09:00", 0, 0, None),
        ("s", "m3", "a2", "r3", "ann (STAFF)", "2024-02-01 10:00", 0, 0, None),
    ]
    comments = make_comments(rows, COLUMNS)
    params = with_staff_settings(EngagementParams(), {"staff_patterns": [r"[(]staff[)]$"]})
    monthly = staff_responsiveness_by_month(comments, params)
    # January: r1 answered after 2 h, r2 not -> 1 of 2, median 2 h; February: r3 answered after 1 h
    assert monthly["month"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-02"]
    assert monthly["threads"].tolist() == [2, 1] and monthly["threads_with_staff_reply"].tolist() == [1, 1]
    assert monthly["share_threads_with_staff_reply"].tolist() == [0.5, 1.0]
    assert monthly["median_time_to_first_staff_reply"].tolist() == [2 * HOUR, HOUR]
    with pytest.raises(ValueError, match="not a regular expression"):
        with_staff_settings(EngagementParams(), {"staff_patterns": ["("]})


def test_insight_tables_cover_every_table_per_source(comments):
    """The run's insight tables: every named table, each with a source column, authors never mixed across sources."""
    tables = insight_tables(comments, EngagementParams(staff_names=("bob",)))
    assert list(tables) == list(INSIGHT_TABLES)
    assert all("source" in frame for frame in tables.values())
    weekly = tables["activity_by_week"]
    for source, group in comments.groupby("source"):
        alone = activity_by_week(group)
        assert weekly.loc[weekly["source"] == source, "active_authors"].tolist() == alone["active_authors"].tolist()
        assert set(alone["source"]) == {source}
    assert set(tables["staff_overall"]["source"]) == set(comments["source"])


def test_insight_partials_of_article_groups_reduce_to_the_tables_of_all(comments, decisions):
    """Partials of disjoint article groups, merged, reduce to the tables and the author table of all comments;
    so do the partials of all with one article's rows made again (an import). Dana is staff by her flag on site
    a2, so her reply on a1 is a staff reply in a group that does not hold the flag."""
    params = EngagementParams(staff_names=("bob",))
    more = schema.conform(pd.DataFrame([
        ("site", "c11", "a1", "c1", "Dana", "2024-01-01 11:00", 0, 0, None),
        ("site", "c12", "a3", None, "Erin", "2024-02-05 10:00", 0, 0, None),
        ("site", "c13", "a3", "c12", "Alice", "2024-02-05 11:00", 0, 0, None),
    ], columns=COLUMNS).assign(is_staff=pd.array([False] * 3, dtype="boolean")), "comments")
    every, _ = threads.resolve(pd.concat([comments.drop(columns=["thread_id", "depth"]), more], ignore_index=True)
                               .assign(position=lambda frame: range(len(frame))))
    expected = insight_tables(every, params)
    # the author table with votes, a stage's flags and means, statuses, decisions and dates of every kind
    rng = np.random.default_rng(0)
    every = every.assign(vote_net=pd.array(rng.integers(-3, 9, len(every)), dtype="Float64"),
                         wilson_lower=pd.array(rng.random(len(every)), dtype="Float64"),
                         is_offtopic=pd.array(rng.random(len(every)) < 0.5, dtype="boolean"))
    authors = author_table(every, decisions, params)
    # Alice on site writes c1, c3, c5 (a1), c9 (a2), c13 (a3): three articles, first 01-01 10:00, last 02-05 11:00
    alice = row(authors, "site", "Alice")
    assert (alice["comments"], alice["articles"], alice["active_days"]) == (5, 3, 4)
    assert alice["last_seen"] == pd.Timestamp("2024-02-05 11:00", tz="UTC")
    # site a1's one reader thread, c1 (Alice, 10:00), answered by Dana (staff) at 11:00 and Bob (staff by name) at
    # 12:00: 1 h
    assert expected["staff_by_article"].set_index(["source", "article_id"]).loc[
        ("site", "a1"), "median_time_to_first_staff_reply"] == HOUR
    whole = insight_partials(every, params)
    staff = whole.authors.loc[whole.authors["is_staff"], ["source", "author"]]
    assert sorted(staff["author"]) == ["Bob", "Dana"]
    by_article = every.groupby(["source", "article_id"]).ngroup() % 2
    parts = [insight_partials(every[by_article == group], params, staff, decisions=decisions) for group in (0, 1)]
    merged = reduce_insights(merge_partials(parts))
    a1 = every[(every["source"] == "site") & (every["article_id"] == "a1")]
    whole = insight_partials(every, params, decisions=decisions)
    again = merge_partials([without_articles(whole, a1[["source", "article_id"]]),
                            insight_partials(a1, params, staff, decisions=decisions)])
    for name in INSIGHT_TABLES:
        pd.testing.assert_frame_equal(merged[name], expected[name])
        pd.testing.assert_frame_equal(reduce_insights(again)[name], expected[name])
    for partials in (merge_partials(parts), again):
        pd.testing.assert_frame_equal(reduce_authors(partials), authors, check_exact=True)
    # a1 alone does not hold Dana's flag: there Bob's reply would be the first, which is why partials take the
    # corpus's staff
    alone = reduce_insights(insight_partials(a1, params))["staff_by_article"]
    assert alone["median_time_to_first_staff_reply"].iloc[0] == 2 * HOUR and not staff_changed(whole, staff)
    assert staff_changed(whole, staff[staff["author"] == "Bob"])


def test_a_reply_to_another_articles_comment_is_no_edge():
    """A parent on another article makes a thread root (threads.resolve), so the reply is no edge of the network:
    each article's edges are its own, whatever group it is reduced in."""
    frame = pd.DataFrame([
        ("s", "1", "a", None, "x", "2024-01-01 10:00", 0, 0, None),
        ("s", "2", "b", "1", "y", "2024-01-01 11:00", 0, 0, None),
        ("s", "3", "a", "1", "y", "2024-01-01 12:00", 0, 0, None),
    ], columns=COLUMNS).assign(position=range(3))
    comments, problems = threads.resolve(schema.conform(frame, "comments"))
    assert len(problems) == 1
    network = reply_network(comments)
    assert list(network[["author", "replied_to_author", "count"]].itertuples(index=False, name=None)) == [
        ("y", "x", 1)]
    # nor a reply received or a latency of the author table: y's reply on b made a thread of its own
    x, y = author_table(comments).itertuples(index=False)
    assert (x.replies_received, x.distinct_repliers, y.replies_made, y.threads_started) == (1, 1, 2, 0)
    assert y.median_reply_latency == 2 * HOUR
