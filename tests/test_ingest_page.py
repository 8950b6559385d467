"""Article page text (the seed's format)."""

import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation import threads
from moderation.ingest import IngestError, finish, load, page
from moderation.store import Store
from tests.page_fixtures import dense_infer_parents, render_page

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


# --- Nothing lost: identical blocks, hostile lines, huge counts, long pages -----------------------------------

DELETED = "This comment has been deleted"
# a discussion as a local-news site shows it: deleted comments leave the same placeholder under the same name,
# and a reader who pressed "post" twice has two identical comments
PLACEHOLDER_COMMENTS = [
    ("Maria Lopez", "Mar 03, 2021", "The council should publish the budget figures before the vote.", [3, 0]),
    ("Anonymous", "Mar 03, 2021", DELETED, []),
    ("Tom Baker", "Mar 03, 2021", "Agreed, the budget figures were promised in January.", [2]),
    ("Tom Baker", "Mar 03, 2021", "Agreed, the budget figures were promised in January.", [0, 1]),
    ("Anonymous", "Mar 03, 2021", DELETED, []),
    ("Anonymous", "Mar 04, 2021", DELETED, []),
    ("Ann Chu", "Mar 02, 2021", "Who sits on the council's finance committee this year?", [5, 1]),
    ("Anonymous", "Mar 03, 2021", DELETED, []),
    ("Maria Lopez", "Mar 04, 2021", "The finance committee list is on the council website.", [1]),
]


def placeholder_page(comments=PLACEHOLDER_COMMENTS, **kwargs) -> str:
    return render_page("Council budget vote delayed", "The council delayed its budget vote.", comments, **kwargs)


def write(tmp_path, text: str, name: str = "page.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_comment_ids_are_the_ones_stores_already_hold(seed):
    """The seed's ids are unchanged by numbering copies, so a store filled before keeps its keys."""
    assert seed.comments["comment_id"].tolist() == [
        "fb4954c98b8408ce", "523773de3cc77b36", "d5a21a2bd9567eb3",
        "16d9bb27340afaf5", "bd0b005abd1b9ecb", "77e4cd46b279b976",
    ]


def test_identical_blocks_stay_distinct_comments(tmp_path):
    """Three identical placeholders and a double post are all kept: Comments (9) matches, nothing is reported."""
    parsed = load(write(tmp_path, placeholder_page()))
    comments = parsed.comments
    assert len(comments) == 9 and parsed.problems == []
    assert comments["comment_id"].is_unique
    assert (comments["text"] == DELETED).sum() == 4
    assert comments["reactions"].tolist()[2:4] == [[2], [0, 1]]


def test_copies_keep_their_ids_when_the_page_is_captured_again(tmp_path):
    """The same page gives the same ids; a later capture with one more placeholder adds exactly one id."""
    first = load(write(tmp_path, placeholder_page(), "first.txt")).comments["comment_id"].tolist()
    assert load(write(tmp_path, placeholder_page(), "again.txt")).comments["comment_id"].tolist() == first
    later = placeholder_page([*PLACEHOLDER_COMMENTS, ("Anonymous", "Mar 04, 2021", DELETED, [])])
    recaptured = load(write(tmp_path, later, "later.txt")).comments["comment_id"].tolist()
    assert recaptured[:-1] == first and recaptured[-1] not in first


def test_a_copy_id_cannot_equal_a_comment_whose_text_ends_in_its_copy_number(tmp_path):
    """A second "x" and a comment reading "x" then "1" on the next line get different ids."""
    comments = [("Al", "Mar 03, 2021", "x", []), ("Al", "Mar 03, 2021", "x", []), ("Al", "Mar 03, 2021", "x\n1", [])]
    parsed = load(write(tmp_path, placeholder_page(comments)))
    assert len(parsed.comments) == 3 and parsed.comments["comment_id"].is_unique and parsed.problems == []


def test_reingesting_a_page_with_copies_adds_nothing(tmp_path):
    """Into a store twice: the second ingest adds no comment, and every copy is stored once."""
    path = write(tmp_path, placeholder_page())
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.ingest(load(path, resolve_threads=False)).added["comments"] == 9
    assert store.ingest(load(path, resolve_threads=False)).added["comments"] == 0
    _, stored, _ = store.load()
    assert len(stored) == 9 and (stored["text"] == DELETED).sum() == 4


def test_a_count_that_does_not_match_is_reported_even_when_too_large_for_an_int(tmp_path):
    """`Comments (10)` over 9 comments, and a 5,000-digit count, are each reported with the parsed number."""
    [problem] = load(write(tmp_path, placeholder_page(stated=10))).problems
    assert "Comments (10) but 9 comments were parsed" in problem.problem and problem.record == "line 7"
    huge = placeholder_page().replace("Comments (9)", f"Comments ({'9' * 5000})")
    [problem] = load(write(tmp_path, huge, "huge.txt")).problems
    assert "9 comments were parsed" in problem.problem and "5,000 characters" in problem.problem


def test_a_reaction_count_too_large_to_store_is_reported_and_kept_empty(tmp_path):
    """(99999999999999999999) is reported on its line; that comment's reactions and up count are NA, the rest kept."""
    comments = [("Al", "Mar 03, 2021", "First.", [99999999999999999999, 3]), ("Bo", "Mar 03, 2021", "Second.", [2])]
    path = write(tmp_path, placeholder_page(comments))
    parsed = load(path)
    [problem] = parsed.problems
    assert problem.record == "line 14" and "99999999999999999999" in problem.problem and "too large" in problem.problem
    assert "empty" in problem.action
    first, second = parsed.comments.iloc[0], parsed.comments.iloc[1]
    assert pd.isna(first["reactions"]) and pd.isna(first["upvotes"]) and first["downvotes"] == 3
    assert second["reactions"] == [2] and second["upvotes"] == 2
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.ingest(load(path, resolve_threads=False))
    assert store.load()[1]["upvotes"].tolist() == [pd.NA, 2]


def test_digit_runs_past_pythons_int_limit_and_summed_overflows_are_reported(tmp_path):
    """A 5,000-digit reaction, and two counts whose sum no Int64 holds, are reported instead of raising."""
    comments = [("Al", "Mar 03, 2021", "First.", ["9" * 5000]), ("Bo", "Mar 03, 2021", "Second.", [2**62, 2**62])]
    parsed = load(write(tmp_path, placeholder_page(comments)), reaction_labels=("up", "up"))
    assert ["too large to store" in p.problem for p in parsed.problems] == [True, False]
    assert "add up to more than can be stored" in parsed.problems[1].problem
    assert parsed.comments["upvotes"].isna().all() and parsed.comments["reactions"].tolist()[1] == [2**62, 2**62]


def test_time_zone_options_and_daylight_saving_gaps(tmp_path):
    """An unknown zone is the documented error; a midnight skipped by daylight saving reads as the next hour."""
    path = write(tmp_path, placeholder_page([("Al", "Aug 12, 2018", "In Santiago.", [])]))
    with pytest.raises(IngestError, match="unknown time zone"):
        load(path, timezone="Mars/Olympus_Mons")
    parsed = load(path, timezone="America/Santiago")
    assert parsed.comments["created_at"][0] == pd.Timestamp("2018-08-12 04:00", tz="UTC") and parsed.problems == []


def parse_in_child(path: Path, report: str, timeout: float = 60) -> str:
    """Load ``path`` in a child Python and print ``report`` (an expression of ``parsed``); fails, never hangs.

    A quadratic pattern would take minutes on the hostile inputs below (a 100,000-character word took 13.7 s):
    the timeout fails the test instead of hanging it.
    """
    script = f"from moderation.ingest import load\nparsed = load({str(path)!r})\nprint({report})"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_hostile_lines_parse_in_linear_time(tmp_path):
    """1 MB words and lines that made the old patterns backtrack quadratically parse within 60 s."""
    megabyte = 1_000_000
    comments = [
        ("Al", "Mar 03, 2021", "x" * megabyte, []),  # no "**": the old \S*\*\*\S* tried every start
        ("Bo", "Mar 03, 2021", "y" * megabyte + "**", [1]),
        ("Cy", "Mar 03, 2021", "word " * (megabyte // 5), [2]),  # a 1 MB comment of ordinary words
        ("Di", "Mar 03, 2021", "(" + "9" * megabyte + ")", []),
    ]
    text = placeholder_page(comments, published="x" + " " * megabyte + "y")
    text = text.replace("Comments (4)", "Comments (4)\nComments (" + " " * megabyte + "x")
    out = parse_in_child(write(tmp_path, text), 'len(parsed.comments), len(parsed.comments["text"][2]), '
                                                 'sorted(p.record for p in parsed.problems)')
    # the unreadable Published date, and the comment whose only body line reads as a reaction, are reported
    assert out.split(maxsplit=2)[:2] == ["4", str(len("word " * (megabyte // 5)) - 1)]
    assert "line 3" in out


def test_a_huge_single_line_comment_is_kept_whole(tmp_path):
    """A 20 MB one-line comment is kept character for character; reply inference compares only its start."""
    body = "z" * 20_000_000
    path = write(tmp_path, placeholder_page([("Al", "Mar 03, 2021", "short", []), ("Bo", "Mar 03, 2021", body, [])]))
    out = parse_in_child(path, 'parsed.comments["text"][1] == "z" * 20_000_000, parsed.problems')
    assert out.strip() == "True []"


def seed_comments() -> pd.DataFrame:
    return page.parse_text(SEED.read_text(encoding="utf-8")).comments


def test_reply_inference_is_the_dense_computation_on_the_seed():
    """The seed's inferred parents are exactly those of the dense n x n similarity the reader used before."""
    comments = seed_comments()
    assert page._infer_parents(comments, 0.1) == dense_infer_parents(comments, 0.1)


WORDS = ["council", "budget", "vote", "figures", "the", "a", "committee", "****", "ban**", "deleted", "comment"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.lists(st.sampled_from(WORDS), max_size=6), st.integers(0, 3)), min_size=1, max_size=30),
    st.sampled_from([0.1, 0.0, -0.1, 0.5, 1e-9]),
)
def test_reply_inference_is_the_dense_computation_on_small_pages(rows, recency_bonus):
    """On pages shorter than the window, parents (ties included) are those of the dense computation."""
    comments = pd.DataFrame({
        "text": [" ".join(words) for words, _ in rows],
        "created_at": [pd.Timestamp("2021-03-01", tz="UTC") + pd.Timedelta(days=day) for _, day in rows],
        "comment_id": [f"c{i}" for i in range(len(rows))],
    })
    assert page._infer_parents(comments, recency_bonus) == dense_infer_parents(comments, recency_bonus)


def long_thread(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(300)])
    return pd.DataFrame({
        "text": [" ".join(rng.choice(vocabulary, 8)) for _ in range(n)],
        "created_at": pd.Timestamp("2021-03-01", tz="UTC"),
        "comment_id": [f"c{i}" for i in range(n)],
    })


def test_reply_inference_across_blocks_is_the_dense_computation():
    """A 1,300-comment thread (three similarity blocks) within the window gets the dense computation's parents."""
    comments = long_thread(1300)
    assert page._infer_parents(comments, 0.1, window=1300) == dense_infer_parents(comments, 0.1)


def test_the_reply_window_bounds_how_far_back_a_parent_is():
    """With a window of 5, every parent is one of the 5 comments before; with 1, the one just before."""
    comments = long_thread(60)
    position = {c: i for i, c in enumerate(comments["comment_id"])}
    parents = page._infer_parents(comments, 0.1, window=5)
    assert all(1 <= k - position[p] <= 5 for k, p in enumerate(parents) if p is not None)
    assert page._infer_parents(comments, 0.1, window=1) == [None, *comments["comment_id"][:-1]]
    with pytest.raises(IngestError, match="reply window"):
        page.parse_text(SEED.read_text(encoding="utf-8"), reply_window=0)


def test_reply_inference_memory_does_not_grow_with_the_square_of_the_page():
    """6,000 comments in one thread stay under 100 MB traced (the dense matrix alone was 288 MB)."""
    comments = long_thread(6000)
    tracemalloc.start()
    try:
        page._infer_parents(comments, 0.1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB"


HOSTILE_LINES = st.sampled_from([
    "Comments (2)", "Comments (0)", "Comments (99999999999999999999)", "Comments (" + "9" * 5000 + ")",
    "Published Oct 04, 2018 13:28 PM", "Published now", "Published NaT", "Published " + "1 " * 200,
    "UM", "Avatar", "AB", "Rich Moore", "Oct 04, 2018", "Aug 12, 2018", "Nov 04, 2018", "Jan 01, 1000",
    "Dec 31, 9999", "Feb 31, 2018", "(3)", "(0)", "(99999999999999999999)", "(" + "9" * 5000 + ")", "(\u0663)",
    "(", "Independent", "", "****", "a**b", "x" * 3000, "Body text.", "\u2028", "\x1e", "\x00", "\r", " \u00a0 ",
])
OPTIONS = st.fixed_dictionaries({
    "timezone": st.sampled_from(["UTC", "Europe/Berlin", "America/Santiago", "Pacific/Kiritimati", "Nowhere/Else"]),
    "reaction_labels": st.sampled_from([("up", "down"), ("up", "up"), ("ignore",), ("down", "like")]),
    "reply_window": st.integers(0, 3),
})


def check_documented(text: str, options: dict) -> None:
    """Parsing ``text`` raises IngestError or gives valid frames whose problems name this file and a line."""
    try:
        parsed = finish(page.parse_text(text, "fuzz.txt", **options), "fuzz.txt")
    except IngestError:
        return
    assert len(parsed.articles) == 1 and parsed.comments["comment_id"].is_unique
    lines = len(text.splitlines())
    for problem in parsed.problems:
        assert problem.file == "fuzz.txt" and re.fullmatch(r"line \d+", problem.record), problem
        assert 1 <= int(problem.record.split()[1]) <= lines
    # every inferred parent is an earlier comment of the same page: the tree needs no repair
    assert threads.resolve(parsed.comments, "fuzz.txt")[1] == []
    stated = [line.strip() for line in text.splitlines() if page._COMMENTS.match(line.replace("\u00a0", " ").strip())]
    counted = any("comments were parsed" in p.problem for p in parsed.problems)
    assert counted == bool(stated and stated[0] != f"Comments ({len(parsed.comments)})")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(HOSTILE_LINES, st.text(max_size=30)), max_size=40), OPTIONS)
def test_hostile_text_gives_only_documented_problems(lines, options):
    """Any lines, with any options: the documented IngestError, or frames whose every problem names file and line."""
    check_documented("\n".join(lines), options)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8401), st.integers(0, 255)), min_size=1, max_size=20),
       st.sampled_from(["keep", "truncate"]))
def test_damaged_seed_bytes_give_only_documented_problems(tmp_path_factory, flips, damage):
    """The seed with bytes changed, or cut short there: read (repairing non-UTF-8) or refused, never a traceback."""
    data = bytearray(SEED.read_bytes())
    for at, value in flips:
        data[at % len(data)] = value
    if damage == "truncate":
        data = data[: flips[0][0] % len(data)]
    path = tmp_path_factory.mktemp("fuzz") / "page.txt"
    path.write_bytes(bytes(data))
    try:
        parsed = load(path, format="page")
    except IngestError:
        return
    assert parsed.comments["comment_id"].is_unique
    assert all(p.file == str(path) and re.fullmatch(r"(line|byte) \d+", p.record) for p in parsed.problems)
