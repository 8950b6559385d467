"""Article page text (the seed's format)."""

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.ingest import IngestError, load, page

SEED = Path(__file__).resolve().parent.parent / "seeds" / "xinjiang_sanctions_article_page.txt"

SMALL_PAGE = """A Title

Published Jan 02, 2020 09:05 AM

Body with a ***** mask.

Comments (3)
AB
Ann Bee
Jan 02, 2020

First comment about the title.

(2)
(1)
Avatar
Cid Dee
Jan 03, 2020
Staff

Reply about the first comment title.

"""


@pytest.fixture(scope="module")
def seed():
    return load(SEED)


def test_seed_comments_authors_dates_and_reactions(seed):
    """The seed gives the six comments with the issue's authors, dates, reactions and affiliation."""
    comments = seed.comments
    assert comments["author"].tolist() == [
        "Undisclosed Manufacturer #1", "Undisclosed Manufacturer #2", "Charles Rollet",
        "Rich Moore", "Robert Shih", "Charles Rollet",
    ]
    assert comments["created_at"].dt.strftime("%Y-%m-%d").tolist() == [
        "2018-10-04", "2018-10-04", "2018-10-05", "2018-10-04", "2018-10-05", "2018-10-06",
    ]
    assert comments["reactions"].tolist() == [[6], [1, 1], [3, 5], [1, 1], [], [1]]
    assert comments["affiliation"].tolist()[4] == "Independent"
    assert comments["affiliation"].isna().sum() == 5
    assert str(comments["created_at"].dtype) == "datetime64[us, UTC]"


def test_seed_votes_follow_the_default_reaction_mapping(seed):
    """First count = up, second = down; one count gives down 0; none gives 0 and 0."""
    assert seed.comments["upvotes"].tolist() == [6, 1, 3, 1, 0, 1]
    assert seed.comments["downvotes"].tolist() == [0, 1, 5, 1, 0, 0]


def test_seed_threads_are_inferred(seed):
    """Comments 1-3 form one thread and 4-6 another; parents are marked as inferred."""
    comments = seed.comments
    ids = comments["comment_id"].tolist()
    assert comments["thread_id"].tolist() == [ids[0]] * 3 + [ids[3]] * 3
    assert pd.isna(comments["parent_id"][0]) and pd.isna(comments["parent_id"][3])
    assert comments["parent_id"][1] == ids[0] and comments["parent_id"][2] == ids[1]
    assert comments["parent_id"][4] == ids[3]
    assert comments["depth"].tolist()[:3] == [0, 1, 2]
    assert comments["parent_inferred"].all()


def test_seed_article_and_paywall_mask(seed):
    """The article keeps its masked text, records the masked share and the 13:28 PM time."""
    article = seed.articles.iloc[0]
    assert article["title"].startswith("US Commerce Department Considers Sanctions")
    assert article["published_at"] == pd.Timestamp("2018-10-04 13:28", tz="UTC")
    assert "*****" in article["text"]
    assert 0.5 < article["masked_share"] < 0.9
    assert seed.problems == []


def test_links_title_stays_in_the_body(seed):
    """The linked article's title is part of comment 1's text, reaction lines are not."""
    text = seed.comments["text"][0]
    assert text.endswith("The Big Hack: How China Used a Tiny Chip to Infiltrate U.S. Companies")
    assert "(6)" not in text


def test_comment_count_mismatch_is_a_warning_naming_both_numbers(tmp_path):
    """`Comments (3)` over two parsed comments is reported, and both comments are kept."""
    path = tmp_path / "page.txt"
    path.write_text(SMALL_PAGE)
    parsed = load(path)
    assert len(parsed.comments) == 2
    [problem] = parsed.problems
    assert "Comments (3)" in problem.problem and "2 comments" in problem.problem
    assert problem.action == "warning" and problem.record == "line 7"


def test_small_page_values_and_affiliation(tmp_path):
    """Times with AM, affiliation lines and per-comment reactions are read."""
    path = tmp_path / "page.txt"
    path.write_text(SMALL_PAGE)
    parsed = load(path)
    assert parsed.articles["published_at"][0] == pd.Timestamp("2020-01-02 09:05", tz="UTC")
    assert parsed.comments["affiliation"].tolist()[1] == "Staff"
    assert parsed.comments["reactions"].tolist() == [[2, 1], []]
    assert parsed.comments["parent_id"][1] == parsed.comments["comment_id"][0]


def test_reaction_labels_are_configurable(tmp_path):
    """`up,ignore` counts only the first reaction; the second is kept in `reactions` only."""
    path = tmp_path / "page.txt"
    path.write_text(SMALL_PAGE)
    parsed = load(path, reaction_labels=("up", "ignore"))
    assert parsed.comments["upvotes"].tolist() == [2, 0]
    assert parsed.comments["downvotes"].isna().all()
    with pytest.raises(IngestError, match="reaction labels"):
        load(path, reaction_labels=("like",))


def test_reingest_gives_the_same_ids():
    """Ids are derived from content, so parsing the page again gives the same keys."""
    assert load(SEED).comments["comment_id"].tolist() == load(SEED).comments["comment_id"].tolist()


def test_non_utf8_page_is_read_and_reported(tmp_path):
    """A Windows-1252 page loads, with a problem saying it was repaired."""
    path = tmp_path / "page.txt"
    path.write_bytes(SMALL_PAGE.replace("First", "Caf\u00e9 first").encode("cp1252"))
    parsed = load(path)
    assert parsed.comments["text"][0].startswith("Caf\u00e9")
    assert any("UTF-8" in p.problem and p.action == "repaired" for p in parsed.problems)


def test_text_that_is_not_a_page_is_a_clear_error(tmp_path):
    """Plain prose is refused with the documented error, naming the file."""
    with pytest.raises(IngestError, match="not an article page"):
        page.parse_text("just some words\nand more", "notes.txt")
    with pytest.raises(IngestError, match="empty"):
        page.parse_text("\n \n", "blank.txt")


PAGE_LINES = st.sampled_from([
    "Comments (2)", "Published Oct 04, 2018 13:28 PM", "Published nonsense", "UM", "Avatar", "Rich Moore",
    "Oct 04, 2018", "Feb 31, 2018", "Xyz 99, 2018", "(3)", "(", "Independent", "", "****", "Body text.",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(PAGE_LINES, st.text(max_size=30)), max_size=40))
def test_no_text_breaks_the_parser_other_than_with_the_documented_error(lines):
    """Any text either parses to valid frames or raises IngestError."""
    from moderation.ingest import finish

    try:
        parsed = finish(page.parse_text("\n".join(lines), "fuzz.txt"), "fuzz.txt")
    except IngestError:
        return
    assert len(parsed.articles) == 1
    assert parsed.comments["comment_id"].is_unique
