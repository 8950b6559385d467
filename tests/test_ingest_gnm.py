"""Globe and Mail comment-API JSON ingest (moderation.ingest.gnm)."""

import json
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.ingest import gnm, load

OUTPUT = Path(__file__).parent / "fixtures" / "gnm" / "Output"
COMMENTS = OUTPUT / "CommentsRawData" / "article_100_comments.json"
ARTICLE_ALONE = OUTPUT / "ArticleRawData" / "article_200.json"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_sniff_claims_comment_article_and_output_folder():
    """Comment and article JSON, and a folder holding them, are recognised; other files are not."""
    assert gnm.sniff(COMMENTS)
    assert gnm.sniff(ARTICLE_ALONE)
    assert gnm.sniff(OUTPUT)
    assert not gnm.sniff(OUTPUT / "empty_comment_article_ids.txt")
    assert not gnm.sniff(Path(__file__))
    assert not gnm.sniff(OUTPUT / "missing.json")


def test_nested_replies_flattened_depth_first():
    """Replies follow their parent in page order; parentID gives the tree."""
    comments = load(COMMENTS).comments
    assert comments["comment_id"].tolist() == ["c1", "c2", "c3", "c4"]
    assert comments["position"].tolist() == [0, 1, 2, 3]
    assert comments["parent_id"].isna().tolist() == [True, False, False, True]
    assert comments["parent_id"].tolist()[1:3] == ["c1", "c2"]
    assert comments["thread_id"].tolist() == ["c1", "c1", "c1", "c4"]
    assert comments["depth"].tolist() == [0, 1, 2, 0]


def test_comment_values():
    """Votes, status, author, text and the millisecond timestamps in UTC."""
    comments = load(COMMENTS).comments
    assert comments["upvotes"].tolist()[:3] == [5, 1, 0]
    assert comments["downvotes"].tolist()[:3] == [2, 0, 4]
    assert comments["score"].tolist()[:3] == [3, 1, 4]
    assert comments["status"].tolist() == ["published", "published", "rejected", "deleted"]
    assert comments["author"].tolist() == ["alice", "bob", "carol", "dave"]
    assert comments["text"].iloc[0] == "Top & first"  # HTML entity decoded
    # 1454416301489 ms = 16833 days (2016-02-02) + 45101.489 s (12:31:41.489)
    assert comments["created_at"].iloc[0] == utc("2016-02-02 12:31:41.489")
    # 1454500000000 ms = 16834 days (2016-02-03) + 42400 s (11:46:40)
    assert comments["created_at"].iloc[3] == utc("2016-02-03 11:46:40")
    assert comments["article_id"].unique().tolist() == ["100"]
    assert comments["source"].unique().tolist() == ["gnm"]


def test_missing_votes_are_na_not_zero():
    """A comment without posVotes/negVotes/TotalVotes has NA votes."""
    last = load(COMMENTS).comments.iloc[3]
    assert pd.isna(last["upvotes"]) and pd.isna(last["downvotes"]) and pd.isna(last["score"])


def test_removed_comment_placeholder_is_neither_text_nor_votes(tmp_path):
    """The API shows a removed comment as "This comment has been deleted" with 0/0: not the reader's words or votes."""
    removed = {"ID": "r1", "parentID": "", "streamId": "7", "commentText": gnm.REMOVED_TEXT, "timestamp": 1454416301489,
               "posVotes": 0, "negVotes": 0, "TotalVotes": 0, "status": "rejected", "sender": {"name": "erin"}}
    kept = dict(removed, ID="r2", status="published")  # a published comment saying so is the reader's text
    path = tmp_path / "article_7_comments.json"
    path.write_text(json.dumps({"7": {"data_type": "comment", "comments": [removed, kept]}}))
    comments = load(path, format="gnm").comments
    assert pd.isna(comments["text"].iloc[0]) and pd.isna(comments["upvotes"].iloc[0])
    assert comments["text"].iloc[1] == gnm.REMOVED_TEXT and comments["upvotes"].iloc[1] == 0


def test_extra_columns_pass_through():
    """isModerator becomes is_staff; flagCount and edited are kept."""
    comments = load(COMMENTS).comments
    assert comments["is_staff"].tolist()[:3] == [False, True, False]
    assert comments["flag_count"].tolist() == [0, 2, 1, pd.NA]
    assert comments["edited"].tolist()[:3] == [False, True, False]


def test_net_total_mismatch_reported_and_kept():
    """TotalVotes is net: 4 with 0 up and 4 down disagrees (0 - 4 = -4) and is reported, the comment kept."""
    parsed = load(COMMENTS)
    mismatch = [p for p in parsed.problems if p.record == "comment_id c3"]
    assert len(mismatch) == 1 and mismatch[0].action == "kept" and "TotalVotes 4" in mismatch[0].problem
    assert "c3" in parsed.comments["comment_id"].tolist()


def test_comment_without_id_reported_by_path():
    """A comment without ID is named by file and position in the JSON and skipped; the rest load."""
    parsed = load(COMMENTS)
    missing = [p for p in parsed.problems if "no ID" in p.problem]
    assert len(missing) == 1
    assert missing[0].file == str(COMMENTS) and missing[0].record == "article_id 100 comments[0].replies[1]"
    assert len(parsed.comments) == 4


def test_article_found_beside_comments():
    """The article JSON in ../ArticleRawData gives title (site suffix dropped), plain text, EST date, url, author."""
    articles = load(COMMENTS).articles
    assert articles["article_id"].tolist() == ["100"]
    row = articles.iloc[0]
    assert row["title"] == "Test title"
    assert row["text"] == "First para & more.\n\nSecond para."
    assert row["published_at"] == utc("2016-02-02 05:00")  # midnight EST = UTC-5
    assert row["url"] == "http://example.com/article100/"
    assert row["author"] == "Jane Writer"


def test_article_file_alone():
    """An article JSON alone gives one article (EDT = UTC-4) and no comments."""
    parsed = load(ARTICLE_ALONE)
    assert parsed.articles["article_id"].tolist() == ["200"]
    assert parsed.articles["published_at"].tolist() == [utc("2016-07-01 04:00")]
    assert len(parsed.comments) == 0


def test_output_folder_reads_all_and_reports_the_rest():
    """The extractor's Output folder: each article once, good comments kept, broken and foreign files reported."""
    parsed = load(OUTPUT)
    assert parsed.articles["article_id"].tolist() == ["100", "200"]
    assert len(parsed.comments) == 4
    skipped = {Path(p.file).name: p.problem for p in parsed.problems if p.record == "file"}
    assert "not valid JSON" in skipped["article_300_comments.json"]
    assert "empty_comment_article_ids.txt" in skipped


def test_parent_from_nesting_when_parent_id_empty(tmp_path):
    """A reply with an empty parentID takes the comment it is nested in as parent."""
    document = {"5": {"data_type": "comment", "comments": [
        {"ID": "a", "parentID": "", "timestamp": 0, "replies": [{"ID": "b", "parentID": "", "timestamp": 1}]},
    ]}}
    path = tmp_path / "article_5_comments.json"
    path.write_text(json.dumps(document))
    comments = load(path).comments
    assert comments["parent_id"].tolist()[1] == "a"
    assert comments["depth"].tolist() == [0, 1]
    assert comments["created_at"].iloc[0] == utc("1970-01-01")


def test_reparse_gives_equal_frames():
    """Parsing the same folder twice gives equal frames."""
    first, second = load(OUTPUT), load(OUTPUT)
    pd.testing.assert_frame_equal(first.comments, second.comments)
    pd.testing.assert_frame_equal(first.articles, second.articles)
    assert first.problems == second.problems


def test_source1_csv():
    """The SOCC source1 CSV: API fields as columns, empty vote cells NA, bad rows reported and the rest kept."""
    path = Path(__file__).parent / "fixtures" / "gnm" / "source1_comments.csv"
    assert gnm.sniff(path)
    parsed = load(path)
    comments = parsed.comments
    assert comments["comment_id"].tolist() == ["t1", "t2", "t3"]
    assert comments["depth"].tolist() == [0, 1, 0]
    assert comments["upvotes"].tolist() == [3, pd.NA, 0]
    assert comments["downvotes"].tolist() == [1, pd.NA, pd.NA]
    assert comments["score"].tolist() == [2, 0, 1]
    assert comments["is_staff"].tolist() == [False, True, False]
    assert comments["status"].tolist() == ["published", "rejected", "published"]
    # 1380087105710 ms = 15973 days (2013-09-25) + 19905.710 s (05:31:45.710)
    assert comments["created_at"].iloc[0] == utc("2013-09-25 05:31:45.710")
    records = {p.record: p for p in parsed.problems}
    assert records["line 5 (comment_counter source1_500_2)"].problem == "comment has no ID"
    assert records["comment_id t3 (line 4)"].action == "kept" and "downvotes -1" in records["comment_id t3 (line 4)"].problem


FIELDS = ["ID", "parentID", "streamId", "commentText", "timestamp", "posVotes", "negVotes", "TotalVotes", "status",
          "sender", "isModerator", "flagCount", "edited", "replies"]
SCALARS = st.none() | st.booleans() | st.integers(-5, 2**45) | st.text(max_size=5) | st.sampled_from(["c1", "deleted"])
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(FIELDS + ["name"]), inner, max_size=6), max_leaves=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(comments=st.lists(JSON_VALUES, max_size=4))
def test_any_comment_json_gives_problems_not_errors(tmp_path, comments):
    """Arbitrary values in a comment list give rows or reported problems, never an exception."""
    path = tmp_path / "article_1_comments.json"
    path.write_text(json.dumps({"1": {"data_type": "comment", "comments": comments}}))
    assert gnm.sniff(path)
    parsed = gnm.parse(path)
    assert len(parsed.comments) <= len(json.dumps(comments))
