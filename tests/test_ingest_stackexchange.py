"""Stack Exchange data dump ingest (moderation.ingest.stackexchange)."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.ingest import load, stackexchange

DUMP = Path(__file__).parent / "fixtures" / "stackexchange" / "dump"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def parsed():
    return load(DUMP)


def test_sniff_claims_dump_folder_and_posts_file():
    """A folder with Posts.xml and Posts.xml itself are recognised; the other dump files and other XML are not."""
    assert stackexchange.sniff(DUMP)
    assert stackexchange.sniff(DUMP / "Posts.xml")
    assert not stackexchange.sniff(DUMP / "Votes.xml")
    assert not stackexchange.sniff(DUMP.parent)
    assert not stackexchange.sniff(Path(__file__))


def test_page_order_and_tree(parsed):
    """Per question: its comments, then each answer followed by its comments; comments on answers are replies."""
    comments = parsed.comments
    assert comments["comment_id"].tolist() == ["c1", "3", "c2", "c3", "4", "7"]
    assert comments["article_id"].tolist() == ["1", "1", "1", "1", "1", "2"]
    assert comments["parent_id"].isna().tolist() == [True, True, False, False, True, True]
    assert comments["thread_id"].tolist() == ["c1", "3", "3", "3", "4", "7"]
    assert comments["depth"].tolist() == [0, 0, 1, 1, 0, 0]
    assert comments["position"].tolist() == list(range(6))


def test_authors_with_fallbacks(parsed):
    """Users.xml names first, then the row's own display name, else NA."""
    authors = parsed.comments["author"]
    assert authors.tolist()[:5] == ["Ben", "Ben", "Ann", "anon", "old name"]
    assert pd.isna(authors.iloc[5])


def test_votes_counted_from_votes_file(parsed):
    """Answers get up/down counts from Votes.xml; comments have up-votes = Score and no down-vote count."""
    comments = parsed.comments.set_index("comment_id")
    assert comments.loc[["3", "4", "7"], "upvotes"].tolist() == [2, 0, 1]
    assert comments.loc[["3", "4", "7"], "downvotes"].tolist() == [0, 1, 1]
    assert comments.loc[["3", "4", "7"], "score"].tolist() == [2, -1, 1]
    assert comments.loc[["c1", "c2", "c3"], "upvotes"].tolist() == [3, 0, 1]
    assert comments.loc[["c1", "c2", "c3"], "downvotes"].isna().all()


def test_answer_columns_pass_through(parsed):
    """PostTypeId and the accepted answer are kept."""
    comments = parsed.comments.set_index("comment_id")
    assert comments.loc[["3", "4", "7"], "accepted"].tolist() == [True, False, False]
    assert comments.loc[["3", "4", "7"], "PostTypeId"].tolist() == [2, 2, 2]
    assert comments.loc[["c1", "c2", "c3"], "PostTypeId"].isna().all()


def test_questions_become_articles(parsed):
    """Title, plain-text body, date, first tag as section, tags, closed date and vote counts of each question."""
    articles = parsed.articles.set_index("article_id")
    first, second = articles.loc["1"], articles.loc["2"]
    assert first["title"] == "Flat tyre"
    assert first["text"] == "How do I fix a flat?\n\nSecond & last."
    assert first["published_at"] == utc("2020-01-01 10:00")
    assert (first["section"], first["tags"], first["author"]) == ("repair", "repair tyres", "Ann")
    assert (second["section"], second["tags"], second["author"]) == ("gears", "gears shifting", "ghost")
    assert second["closed_at"] == utc("2020-03-01")
    assert (first["upvotes"], first["downvotes"], first["score"]) == (1, 0, 1)


def test_vote_events_on_answers(parsed):
    """One event per up/down vote on an answer, with its day and Votes.xml id."""
    events = parsed.vote_events
    assert events["event_id"].tolist() == ["2", "3", "5", "6", "7"]
    assert events["comment_id"].tolist() == ["3", "3", "4", "7", "7"]
    assert events["article_id"].tolist() == ["1", "1", "1", "2", "2"]
    assert events["vote"].tolist() == ["up", "up", "down", "up", "down"]
    assert events["voted_at"].iloc[0] == utc("2020-01-02")


def test_malformed_rows_reported_with_file_and_line(parsed):
    """Rows without Id or with a bad date are named by file and line and skipped; mismatched Score is kept."""
    problems = {(Path(p.file).name, p.record): p for p in parsed.problems}
    assert "not a date" in problems[("Posts.xml", "line 7 (Id 5)")].problem
    assert problems[("Posts.xml", "line 8")].problem == "row has no Id"
    assert "not a date" in problems[("Comments.xml", "line 7 (Id 5)")].problem
    assert "not a date" in problems[("Votes.xml", "line 11 (Id 9)")].problem
    assert problems[("Posts.xml", "Id 7")].action == "kept"
    assert "PostTypeId 4" in problems[("Posts.xml", "Id 6")].problem
    assert "1 comments on posts" in problems[("Comments.xml", "PostId 6")].problem
    assert "1 up/down votes on posts" in problems[("Votes.xml", "PostId 999")].problem
    assert "5" not in parsed.comments["comment_id"].tolist()


def test_posts_file_alone_has_na_votes():
    """Posts.xml alone: answers keep Score, up/down counts are NA, no vote events."""
    parsed = load(DUMP / "Posts.xml")
    assert parsed.comments["comment_id"].tolist() == ["3", "4", "7"]
    assert parsed.comments["upvotes"].isna().all() and parsed.comments["downvotes"].isna().all()
    assert parsed.comments["score"].tolist() == [2, -1, 1]
    assert len(parsed.vote_events) == 0


def test_broken_xml_keeps_rows_before_the_break(tmp_path):
    """A truncated Posts.xml is reported at the line where it breaks; earlier rows load."""
    shutil.copy(DUMP / "Users.xml", tmp_path / "Users.xml")
    lines = (DUMP / "Posts.xml").read_text().splitlines()
    (tmp_path / "Posts.xml").write_text("\n".join(lines[:6]) + '\n  <row Id="8" PostTypeId="2" Body="cut')
    parsed = load(tmp_path)
    assert parsed.comments["comment_id"].tolist() == ["3", "4"]
    assert any(Path(p.file).name == "Posts.xml" and "XML error" in p.problem for p in parsed.problems)


def test_reparse_gives_equal_frames(parsed):
    """Parsing the same dump again gives equal frames."""
    again = load(DUMP)
    pd.testing.assert_frame_equal(parsed.comments, again.comments)
    pd.testing.assert_frame_equal(parsed.articles, again.articles)
    pd.testing.assert_frame_equal(parsed.vote_events, again.vote_events)
    assert parsed.problems == again.problems


TOKENS = list('<>/="\n ') + ["row", "posts", "Id=", "PostTypeId=", "ParentId=", "CreationDate=", '"1"', '"2"',
                                "2020-01-01", "&amp;", "&bogus;"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_any_posts_file_gives_problems_not_errors(tmp_path, body):
    """Whatever follows a <posts> root, sniff answers and parse returns frames and problems instead of raising."""
    path = tmp_path / "Posts.xml"
    path.write_text(f'<?xml version="1.0"?>\n<posts>\n<row {body}')
    assert stackexchange.sniff(path) in (True, False)
    parsed = stackexchange.parse(path)
    assert len(parsed.comments) + len(parsed.articles) <= body.count("row") + 1


def test_votes_and_comments_without_post_id_are_reported(tmp_path):
    """A Votes.xml or Comments.xml row without PostId is reported as on an unknown post; the dump still loads."""
    dump = tmp_path / "dump"
    shutil.copytree(DUMP, dump)
    for name, tag in (("Votes.xml", "votes"), ("Comments.xml", "comments")):
        text = (dump / name).read_text()
        (dump / name).write_text(text.replace(f"</{tag}>", f'  <row Id="900" CreationDate="2020-01-02"/>\n</{tag}>'))
    parsed = load(dump)
    assert len(parsed.comments) == len(load(DUMP).comments)
    assert any("(none)" in p.record for p in parsed.problems)
