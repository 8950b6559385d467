"""Reddit comment JSON: API thread listings and dump-style JSON Lines."""

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.ingest import IngestError, load, reddit
from tests.json_fuzz import assert_parses_or_refuses, json_values

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LISTING = FIXTURES / "reddit" / "thread_listing.json"
DUMP = FIXTURES / "reddit" / "comments_dump.jsonl"


@pytest.fixture(scope="module")
def listing():
    return load(LISTING)


@pytest.fixture(scope="module")
def dump():
    return load(DUMP)


def records(parsed):
    """The problems as (record, problem) pairs."""
    return [(p.record, p.problem) for p in parsed.problems]


def test_listing_comments_in_listing_order_without_prefixes(listing):
    """Nested replies come depth-first after their parent; ids lose t1_/t3_; a reply to the post is top level."""
    comments = listing.comments
    assert comments["comment_id"].tolist() == ["e1aaaa", "e1bbbb", "e1cccc", "e1dddd", "e1eeee"]
    assert comments["article_id"].unique().tolist() == ["9abcde"]
    assert comments["parent_id"].tolist()[1:3] == ["e1aaaa", "e1bbbb"]
    assert comments["parent_id"].iloc[[0, 3, 4]].isna().all()
    assert comments["position"].tolist() == [0, 1, 2, 3, 4]
    assert (comments["source"] == "reddit").all()


def test_listing_values(listing):
    """Author, UTC time from created_utc, text with the API's entities decoded, net score."""
    first = listing.comments.iloc[0]
    assert first["author"] == "alice"
    # 1538614800 s = 17808 days + 3600 s after 1970-01-01 = 2018-10-04 01:00 UTC
    assert first["created_at"] == pd.Timestamp("2018-10-04 01:00", tz="UTC")
    assert first["text"] == "Cleared lanes > cleared roads."
    assert listing.comments["score"].tolist()[:2] == [15, 3]
    assert listing.comments["score"].tolist()[3:] == [1, -4]


def test_hidden_score_is_na(listing):
    """While score_hidden is set the API's score is a placeholder: score is NA, the raw value stays in reddit_ups."""
    hidden = listing.comments.set_index("comment_id").loc["e1cccc"]
    assert hidden["score_hidden"] and pd.isna(hidden["score"]) and hidden["reddit_ups"] == 1


def test_votes_are_na_not_zero(listing, dump):
    """Reddit gives a fuzzed net score only: upvotes/downvotes are NA; the raw ups/downs pass through."""
    for parsed in (listing, dump):
        assert parsed.comments["upvotes"].isna().all()
        assert parsed.comments["downvotes"].isna().all()
    assert listing.comments["reddit_ups"].tolist() == [15, 3, 1, 1, -4]
    assert listing.comments["reddit_downs"].tolist() == [0, 0, 0, 0, 0]


def test_removed_and_deleted_status(listing):
    """Body "[removed]" is a moderator removal (rejected), "[deleted]" the author's deletion; text and author kept."""
    comments = listing.comments.set_index("comment_id")
    assert comments.loc["e1eeee", ["status", "text", "author"]].tolist() == ["rejected", "[removed]", "[deleted]"]
    assert comments.loc["e1cccc", ["status", "text", "author"]].tolist() == ["deleted", "[deleted]", "[deleted]"]
    assert comments.loc["e1aaaa", "status"] == "published"


def test_listing_tree(listing):
    """load() derives depth and thread_id from the nested replies."""
    assert listing.comments["depth"].tolist() == [0, 1, 2, 0, 0]
    assert listing.comments["thread_id"].tolist() == ["e1aaaa", "e1aaaa", "e1aaaa", "e1dddd", "e1eeee"]


def test_post_is_the_article(listing):
    """The t3 post becomes the article: title and selftext, subreddit as section, UTC time."""
    article = listing.articles.iloc[0]
    assert len(listing.articles) == 1
    assert article[["article_id", "title", "text", "author", "section"]].tolist() == [
        "9abcde", "Bike lanes & you", "Should lanes be cleared first?", "op_user", "cycling"]
    assert article["published_at"] == pd.Timestamp("2018-10-04 00:00", tz="UTC")
    assert article["url"] == "https://www.reddit.com/r/cycling/comments/9abcde/bike_lanes_you/"
    assert article["num_comments"] == 9


def test_pass_through_columns(listing):
    """Staff distinction, controversiality, gilding, edit/sticky/submitter flags pass through."""
    comments = listing.comments.set_index("comment_id")
    assert comments["is_staff"].tolist() == [False, False, False, True, False]
    assert comments.loc["e1dddd", "distinguished"] == "moderator"
    assert comments["controversiality"].tolist() == [0, 1, 0, 0, 0]
    assert comments["gilded"].tolist() == [1, 0, 0, 0, 0]
    assert comments["edited"].tolist() == [False, True, False, False, False]
    assert comments["stickied"].tolist() == [False, False, False, True, False]
    assert comments["is_submitter"].tolist() == [False, True, False, False, False]
    assert (comments["subreddit"] == "cycling").all()


def test_more_stubs_reported(listing):
    """A 'more' stub names how many comments the listing lacks; a 'continue this thread' stub is reported too."""
    found = records(listing)
    assert ("comment_id e1aaaa", "4 comment(s) not in the listing (a 'more' stub; fetch them with /api/morechildren)") \
        in found
    assert ("comment_id e1dddd", "deeper replies not in the listing (a 'continue this thread' stub)") in found
    assert {p.file for p in listing.problems} == {str(LISTING)}


def test_dump_lines(dump):
    """Dump records: prefixes stripped, created_utc as number or text, a submission line becomes the article."""
    comments = dump.comments.set_index("comment_id")
    assert comments.index.tolist() == ["f2aaaa", "f2bbbb", "f2dddd", "f2eeee"]
    assert comments.loc["f2bbbb", ["article_id", "parent_id", "author"]].tolist() == ["7xyz12", "f2aaaa", "dave"]
    # "1520000000" s = 17592 days + 51200 s = 2018-03-02 14:13:20 UTC
    assert comments.loc["f2aaaa", "created_at"] == pd.Timestamp("2018-03-02 14:13:20", tz="UTC")
    assert comments.loc["f2dddd", "is_staff"]
    assert dump.articles[["article_id", "title", "section"]].values.tolist() == [
        ["7xyz12", "Tubeless tyres?", "bicycling"]]
    assert comments["depth"].tolist() == [0, 1, 2, 0]


def test_dump_bad_records_reported_good_kept(dump):
    """Each bad line or record is named with its problem; the good records still load."""
    found = records(dump)
    assert ("line 3", "not valid JSON: Unterminated string starting at (column 76)") in found
    assert ("line 5", "comment without an id") in found
    assert ("line 9", "not a JSON object") in found
    assert ("comment_id f2dddd (line 6)", "created_utc 'yesterday' is not a valid timestamp; kept without a time") in found
    assert ("comment_id f2aaaa (line 8)", "duplicate comment_id: an earlier record has the same id") in found
    assert ("comment_id f2eeee (line 10)", "parent zzzzzz not found; treated as the root of its own thread") in found
    assert {p.file for p in dump.problems} == {str(DUMP)}
    assert pd.isna(dump.comments.set_index("comment_id").loc["f2dddd", "created_at"])
    # the first of the duplicated records is kept
    assert dump.comments.set_index("comment_id").loc["f2aaaa", "text"] == "Tubeless is worth it"


def test_lone_listing_without_post(tmp_path):
    """A single Listing of comments (/r/<sub>/comments.json) loads; its article_id comes from link_id."""
    thing = {"kind": "t1", "data": {"id": "x1", "parent_id": "t3_p1", "link_id": "t3_p1", "author": "a",
                                     "body": "hi", "score": 2, "created_utc": 0}}
    path = tmp_path / "comments.json"
    path.write_text(json.dumps({"kind": "Listing", "data": {"children": [thing]}}))
    parsed = load(path)
    assert parsed.comments[["comment_id", "article_id", "text"]].values.tolist() == [["x1", "p1", "hi"]]
    assert parsed.comments["created_at"].iloc[0] == pd.Timestamp("1970-01-01", tz="UTC")


def test_broken_json_array_is_an_ingest_error(tmp_path):
    """A JSON array that does not parse cannot be split into records: IngestError names the line."""
    path = tmp_path / "broken.json"
    path.write_text('[{"kind": "Listing",\n "data": {')
    with pytest.raises(IngestError, match="line 2"):
        reddit.parse(path)


def test_broken_pretty_printed_object_is_one_error(tmp_path):
    """A multi-line JSON object cut short is one IngestError naming where it broke, not one problem per line."""
    path = tmp_path / "cut.json"
    path.write_text('{\n  "kind": "Listing",\n  "data": {\n    "children": [\n')
    with pytest.raises(IngestError, match="line 5"):
        reddit.parse(path)


def test_non_utf8_repaired_and_reported(tmp_path):
    """A Windows-1252 byte is read as such and reported; the comment loads."""
    path = tmp_path / "dump.jsonl"
    line = json.dumps({"id": "c1", "parent_id": "t3_p1", "link_id": "t3_p1", "body": "caf\u00e9", "created_utc": 1},
                      ensure_ascii=False)
    path.write_bytes(line.encode("cp1252"))
    parsed = load(path)
    assert parsed.comments["text"].tolist() == ["caf\u00e9"]
    assert parsed.problems[0].action == "repaired"


def test_sniff_accepts_reddit_rejects_others(tmp_path):
    """Content decides: Reddit files are claimed, Hacker News, Disqus and empty files are not."""
    assert reddit.sniff(LISTING) and reddit.sniff(DUMP)
    for other in ("hackernews/items.json", "hackernews/comments.jsonl", "hackernews/algolia_search.json",
                  "disqus/export.xml"):
        assert not reddit.sniff(FIXTURES / other), other
    (tmp_path / "empty.json").write_text("")
    assert not reddit.sniff(tmp_path / "empty.json")
    assert not reddit.sniff(tmp_path)
    assert not reddit.sniff(tmp_path / "missing.json")


JSON_VALUES = json_values(
    ["kind", "data", "children", "replies", "id", "name", "parent_id", "link_id", "author", "body", "score", "ups",
     "created_utc", "distinguished", "edited", "title", "count"],
    ["Listing", "t1", "t3", "more", "t1_a", "t3_p", "[removed]"],
)


@settings(max_examples=40, deadline=None)
@given(st.lists(JSON_VALUES, max_size=6), st.booleans())
def test_no_json_input_crashes_the_parser(records, as_lines):
    """Any JSON records, as an array or as lines, parse to frames and problems or raise IngestError only."""
    assert_parses_or_refuses(reddit, records, as_lines)
