"""Hacker News items: the official API's JSON (array, object, JSON Lines) and Algolia search hits."""

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.ingest import hackernews as hn
from moderation.ingest import load
from tests.json_fuzz import assert_parses_or_refuses, json_values

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ITEMS = FIXTURES / "hackernews" / "items.json"
ORPHANS = FIXTURES / "hackernews" / "comments.jsonl"
ALGOLIA = FIXTURES / "hackernews" / "algolia_search.json"


@pytest.fixture(scope="module")
def items():
    return load(ITEMS)


def records(parsed):
    """The problems as (record, problem) pairs."""
    return [(p.record, p.problem) for p in parsed.problems]


def test_comments_values(items):
    """Ids as text, author from ``by``, UTC time from Unix seconds, every comment on the story found via parents."""
    comments = items.comments
    assert comments["comment_id"].tolist() == ["9224", "9300", "9400", "8917"]
    assert (comments["article_id"] == "8863").all()
    assert comments["author"].tolist()[:2] == ["norvig", "jl"]
    assert pd.isna(comments["author"].iloc[2])
    # 1175714500 s = 13607 days + 69700 s = 2007-04-04 19:21:40 UTC
    assert comments["created_at"].iloc[0] == pd.Timestamp("2007-04-04 19:21:40", tz="UTC")
    assert (comments["source"] == "hackernews").all()


def test_html_text_made_plain(items):
    """<p> becomes a paragraph break, tags go (link text stays), entities are decoded."""
    text = items.comments["text"].tolist()
    assert text[0] == ("Aw shucks, guys ... you make me blush.\n\nTell you what, I'll make a deal: "
                       "I'll keep writing if you keep reading. K?")
    assert text[1] == 'See the essay & "its notes"; 3 < 4.'


def test_html_to_text_keeps_escaped_markup_as_text():
    """Escaped tags are text, not markup; pre blocks and line breaks survive; NA stays NA."""
    values = pd.Series(["&lt;b&gt;not bold&lt;/b&gt;", "<pre><code>x = 1\ny = 2</code></pre>", "a<br>b", None])
    assert hn.html_to_text(values).tolist()[:3] == ["<b>not bold</b>", "x = 1\ny = 2", "a\nb"]
    assert pd.isna(hn.html_to_text(values).iloc[3])


def test_status_and_no_votes(items):
    """Deleted -> deleted, dead (killed) -> rejected; HN shows no comment votes, so they are NA."""
    comments = items.comments
    assert comments["status"].tolist() == ["published", "published", "deleted", "rejected"]
    for column in ("upvotes", "downvotes", "score"):
        assert comments[column].isna().all(), column


def test_tree(items):
    """A comment whose parent is the story is top level; load() derives depth and thread_id."""
    comments = items.comments
    assert comments["parent_id"].tolist()[1:3] == ["9224", "9300"]
    assert comments["parent_id"].iloc[[0, 3]].isna().all()
    assert comments["depth"].tolist() == [0, 1, 2, 0]
    assert comments["thread_id"].tolist() == ["9224", "9224", "9224", "8917"]


def test_pass_through_columns(items):
    """dead, deleted and the number of kids HN lists pass through (an item without kids has none)."""
    comments = items.comments
    assert comments["dead"].tolist() == [False, False, False, True]
    assert comments["deleted"].tolist() == [False, False, True, False]
    assert comments["kids_count"].tolist() == [1, 1, 0, 0]


def test_stories_and_polls_are_articles_polloptions_skipped(items):
    """Story and poll become articles with score and descendants; a poll option is reported and skipped."""
    articles = items.articles.set_index("article_id")
    assert articles.index.tolist() == ["8863", "126809"]
    assert articles.loc["8863", ["title", "author", "url", "score", "descendants", "hn_type"]].tolist() == [
        "My YC app: Dropbox - Throw away your USB drive", "dhouston", "http://www.getdropbox.com/u/2/screencast.html",
        111, 5, "story"]
    assert articles.loc["126809", "hn_type"] == "poll"
    assert records(items) == [("item 126810", "a poll option, not a comment")]


def test_story_outside_file_and_bad_lines_reported():
    """Comments whose story is absent take the farthest ancestor as article; bad lines are named, good ones load."""
    parsed = load(ORPHANS)
    comments = parsed.comments
    assert comments["comment_id"].tolist() == ["5001", "5002", "5004"]
    assert (comments["article_id"] == "5000").all()
    assert comments["parent_id"].tolist()[1:] == ["5001", "5002"] and pd.isna(comments["parent_id"].iloc[0])
    assert comments["depth"].tolist() == [0, 1, 2]
    assert comments["text"].iloc[1] == "A reply\n\nin two paragraphs"
    found = records(parsed)
    assert ("line 3", "not valid JSON: Unterminated string starting at (column 92)") in found
    assert ("line 4", "no id") in found
    assert ("line 6", "not a JSON object") in found
    assert ("item 5004", "time 'soon' is not a valid timestamp; kept without a time") in found
    assert ("item 5000", "story not in the file; taken as the story of 3 comment(s) (5001, 5002, 5004)") in found
    assert {p.file for p in parsed.problems} == {str(ORPHANS)}


def test_algolia_hits():
    """Algolia search hits: story_id is the article (titled from story_title), parent_id the parent, HTML made plain."""
    parsed = load(ALGOLIA)
    comments = parsed.comments
    assert comments[["comment_id", "article_id", "author"]].values.tolist() == [
        ["38000001", "38000000", "pat"], ["38000002", "38000000", "quinn"]]
    assert pd.isna(comments["parent_id"].iloc[0]) and comments["parent_id"].iloc[1] == "38000001"
    assert comments["text"].iloc[0] == "Short & sweet.\n\nSecond paragraph."
    # 1700000000 s = 19675 days + 80000 s = 2023-11-14 22:13:20 UTC
    assert comments["created_at"].iloc[0] == pd.Timestamp("2023-11-14 22:13:20", tz="UTC")
    assert parsed.articles[["article_id", "title"]].values.tolist() == [["38000000", "Ask HN: What do you ride?"]]
    assert comments["upvotes"].isna().all() and comments["downvotes"].isna().all()
    assert parsed.problems == []


def test_algolia_item_tree(tmp_path):
    """An Algolia item (/api/v1/items/<id>) with nested children: the story is the article, children its comments."""
    reply = {"id": 3, "created_at_i": 300, "type": "comment", "author": "c", "text": "re", "parent_id": 2,
             "story_id": 1, "children": []}
    comment = {"id": 2, "created_at_i": 200, "type": "comment", "author": "b", "text": "<p>hi</p>", "parent_id": 1,
               "story_id": 1, "points": None, "children": [reply]}
    story = {"id": 1, "created_at_i": 100, "type": "story", "author": "a", "title": "T", "url": None, "points": 5,
             "parent_id": None, "story_id": 1, "children": [comment]}
    path = tmp_path / "item.json"
    path.write_text(json.dumps(story))
    parsed = load(path)
    assert parsed.articles[["article_id", "title", "score"]].values.tolist() == [["1", "T", 5]]
    comments = parsed.comments
    assert comments[["comment_id", "article_id", "author", "text"]].values.tolist() == [
        ["2", "1", "b", "hi"], ["3", "1", "c", "re"]]
    assert comments["depth"].tolist() == [0, 1] and comments["kids_count"].tolist() == [1, 0]


def test_single_item_object(tmp_path):
    """One item object (the API's /v0/item/<id>.json) loads on its own."""
    path = tmp_path / "item.json"
    path.write_text(json.dumps({"by": "a", "id": 2, "parent": 1, "time": 0, "type": "comment", "text": "x"}))
    parsed = load(path)
    assert parsed.comments[["comment_id", "article_id", "text"]].values.tolist() == [["2", "1", "x"]]


def test_sniff_accepts_hackernews_rejects_others(tmp_path):
    """Content decides: HN files are claimed, Reddit, Disqus and empty files are not."""
    for own in (ITEMS, ORPHANS, ALGOLIA):
        assert hn.sniff(own), own
    for other in ("reddit/thread_listing.json", "reddit/comments_dump.jsonl", "disqus/export.xml"):
        assert not hn.sniff(FIXTURES / other), other
    (tmp_path / "empty.json").write_text("")
    assert not hn.sniff(tmp_path / "empty.json")
    assert not hn.sniff(tmp_path)


JSON_VALUES = json_values(
    ["id", "type", "by", "time", "text", "parent", "kids", "score", "dead", "deleted", "title", "objectID",
     "author", "created_at_i", "parent_id", "story_id", "story_title", "_tags", "children", "hits"],
    ["story", "comment", "poll", "pollopt", "<p>a &amp; b", "1", "2"],
)


@settings(max_examples=40, deadline=None)
@given(st.lists(JSON_VALUES, max_size=6), st.booleans())
def test_no_json_input_crashes_the_parser(records, as_lines):
    """Any JSON records, as an array or as lines, parse to frames and problems or raise IngestError only."""
    assert_parses_or_refuses(hn, records, as_lines)
