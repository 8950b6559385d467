"""Hostile values in every loader: each bad value is reported with file, record and column; good records kept."""

import json
from pathlib import Path

import pandas as pd
import pytest

from moderation import engagement, pipeline
from moderation.ingest import IngestError, load, load_chunks
from moderation.store import Store

LONG = "x" * 200_000  # beyond the csv module's default field limit of 131,072


def hostile_csv(path: Path) -> Path:
    """Good rows, values that must be reported, and rows that must be skipped with their line."""
    rows = [
        ["comment_id", "article_id", "author", "created_at", "text", "upvotes", "downvotes", "status"],
        ["1", "a1", "alice", "2024-03-01T10:00:00Z", "fine", "3", "1", "published"],
        ["2", "a1", "bob", "", "no date", "abc", "", ""],
        ["3", "a1", " =1+1", "2024-03-01T11:00:00Z", "spaced name", "1e30", "1.5", "published"],
        ["4", "a1", "=1+1", "0202-05-01T00:00:00Z", "year 202", "2.5", "-1", "weird"],
        ["", "a1", "nobody", "2024-03-01T12:00:00Z", "no id", "1", "1", "published"],
        ["5", "a1", "carol", "not a date", LONG, "7", "0", "published"],
        ["6", "a1", "dave", "2024-03-01T13:00:00Z", 'quote " and\nnewline', "0", "0", "published"],
    ]
    pd.DataFrame(rows[1:], columns=rows[0]).to_csv(path, index=False)
    return path


def test_hostile_csv_keeps_every_good_record_byte_exact_and_reports_each_bad_value(tmp_path):
    """Bad votes, dates, statuses and a missing id are each reported with file, line and column; text stays exact."""
    path = hostile_csv(tmp_path / "comments.csv")
    parsed = load(path)
    comments = parsed.comments.set_index("comment_id")
    assert comments.index.tolist() == ["1", "2", "3", "4", "5", "6"]
    assert comments.loc["5", "text"] == LONG and comments.loc["6", "text"] == 'quote " and\nnewline'
    assert comments.loc["3", "author"] == " =1+1" and comments.loc["4", "author"] == "=1+1"
    assert comments["upvotes"].tolist() == [3, pd.NA, pd.NA, pd.NA, 7, 0]
    assert comments["downvotes"].tolist() == [1, pd.NA, pd.NA, pd.NA, 0, 0]
    assert comments.loc["4", "created_at"].year == 202 and pd.isna(comments.loc["5", "created_at"])
    problems = {(p.record, p.problem.split(" ")[0] + " " + p.problem.split(" ")[1]): p for p in parsed.problems}
    for record, value in [("comment_id 2 (line 3)", "upvotes 'abc'"), ("comment_id 3 (line 4)", "upvotes '1e30'"),
                          ("comment_id 3 (line 4)", "downvotes '1.5'"), ("comment_id 4 (line 5)", "upvotes '2.5'"),
                          ("comment_id 4 (line 5)", "status 'weird'"), ("comment_id 5 (line 7)", "created_at 'not")]:
        assert (record, value) in problems, (record, value, list(problems))
        assert problems[(record, value)].action == "kept" and problems[(record, value)].file == str(path)
    negative = [p for p in parsed.problems if p.record == "comment_id 4 (line 5)" and "negative" in p.problem]
    assert negative and negative[0].action == "kept"
    no_id = [p for p in parsed.problems if p.record == "line 6"]
    assert len(no_id) == 1 and "comment_id" in no_id[0].problem and no_id[0].action == "skipped"
    assert not any("nan" in p.record for p in parsed.problems)


def test_hostile_csv_runs_and_authors_are_not_merged(tmp_path):
    """The whole run succeeds; " =1+1" and "=1+1" stay two authors; a comment dated in year 202 is scored."""
    hostile_csv(tmp_path / "comments.csv")
    results = pipeline.run([tmp_path / "comments.csv"], tmp_path / "out")
    assert len(results.comments) == 6
    authors = set(results.authors["author"])
    assert {" =1+1", "=1+1"} <= authors
    assert engagement.author_key(pd.Series([" =1+1", "=1+1", "  ", None])).tolist() == [
        " =1+1", "=1+1", engagement.MISSING_AUTHOR, engagement.MISSING_AUTHOR]


def test_a_record_without_a_date_does_not_end_the_run(tmp_path):
    """The issue's reproduction: two rows, one without created_at, both stored and written."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "comments.csv").write_text(
        "comment_id,article_id,author,created_at,text\n1,a1,alice,2024-03-01T10:00:00Z,hi\n2,a1,bob,,x\n")
    results = pipeline.run([folder], tmp_path / "o")
    assert results.comments["comment_id"].tolist() == ["1", "2"]
    assert pd.isna(results.comments["created_at"].iloc[1])


def test_problems_of_a_folder_name_the_file(tmp_path):
    """A bad record in one file of a folder is reported against that file, also for a key repeated across files."""
    (tmp_path / "first.csv").write_text("comment_id,article_id,upvotes\n1,a,x\n")
    (tmp_path / "second.csv").write_text("comment_id,article_id\n1,a\n")
    parsed = load(tmp_path, source="forum")
    files = {Path(p.file).name for p in parsed.problems}
    assert files == {"first.csv", "second.csv"}
    assert any(p.record == "comment_id 1 (line 2)" and "duplicate" in p.problem and p.file.endswith("second.csv")
               for p in parsed.problems)


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("name, good", [
    ("comments.jsonl", '{"comment_id": "1", "article_id": "a", "text": "ok"}'),
    ("dump.jsonl", '{"id": "c1", "link_id": "t3_p", "parent_id": "t3_p", "body": "ok", "created_utc": 1}'),
    ("items.jsonl", '{"id": 2, "type": "comment", "by": "x", "parent": 1, "time": 1, "text": "ok"}'),
])
def test_deep_json_lines_and_surrogates_are_reported_not_fatal(tmp_path, name, good):
    """A line nested 100,000 deep is skipped and reported; an unpaired \\ud800 is repaired; the store takes the rest."""
    surrogate = good.replace('"ok"', '"bad \\ud800 text"').replace('"1"', '"2"').replace('"c1"', '"c2"').replace(
        '"id": 2', '"id": 3')
    path = tmp_path / name
    path.write_text("\n".join([good, deep(100_000), surrogate]) + "\n")
    parsed = load(path)
    assert len(parsed.comments) == 2
    assert "\ufffd" in parsed.comments["text"].iloc[1]
    records = {p.record: p for p in parsed.problems}
    assert "nested deeper than 100 levels" in records["line 2"].problem
    assert records["line 3"].action == "repaired"
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.ingest(parsed)
    assert len(store.load()[1]) == 2


def test_gnm_fractional_votes_are_reported_and_the_comment_kept(tmp_path):
    """posVotes 1.5 is no count: reported (never rounded) and left empty; the comment and the others load."""
    document = {"100": {"data_type": "comment", "comments": [
        {"ID": "c1", "posVotes": 1.5, "negVotes": 0, "TotalVotes": 1, "timestamp": 1380087105710,
         "commentText": "x", "status": "published", "sender": {"name": "a"}},
        {"ID": "c2", "posVotes": 2, "negVotes": 1, "TotalVotes": 1, "timestamp": 1380087105710,
         "commentText": "y", "status": "online-ish", "sender": {"name": "b"}},
    ]}}
    path = tmp_path / "article_100_comments.json"
    path.write_text(json.dumps(document))
    parsed = load(path)
    assert parsed.comments["upvotes"].tolist() == [pd.NA, 2]
    problems = [str(p) for p in parsed.problems]
    assert any("upvotes 1.5 is not a whole number" in p and "(kept)" in p for p in problems)
    assert any("status 'online-ish'" in p for p in problems)


@pytest.mark.parametrize("make, name", [
    (lambda: '{"100": {"data_type": "comment", "comments": [{"ID": "c1"', "article_100_comments.json"),
    (lambda: '<?xml version="1.0"?>\n<posts>\n  <row Id="1" PostTypeId="1" CreationDate="2020-01-01" Ti', "Posts.xml"),
    (lambda: "PAR1" + "\x00" * 50 + "garbage", "comments.parquet"),
])
def test_unreadable_input_is_a_problem_naming_the_file(tmp_path, make, name):
    """A truncated GNM JSON, a truncated Posts.xml and a damaged Parquet file each give a problem naming the file."""
    path = tmp_path / name
    path.write_text(make())
    try:
        parsed = load(path)
    except IngestError as error:
        assert str(path) in str(error)
        return
    assert len(parsed.comments) == 0
    assert any(p.file == str(path) and p.action == "skipped" for p in parsed.problems)


def test_disqus_export_without_namespace_is_read_and_said_so(tmp_path):
    """An export without xmlns (and without the dsq prefix declared) is read by element names, with a note."""
    path = tmp_path / "export.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<disqus>\n <thread dsq:id="t1"><id>x</id><title>T</title></thread>\n'
        ' <post dsq:id="p1"><message>hi</message><createdAt>2020-01-01T00:00:00Z</createdAt>'
        '<isDeleted>maybe</isDeleted><thread dsq:id="t1"/></post>\n</disqus>\n')
    parsed = load(path)
    assert parsed.comments["comment_id"].tolist() == ["p1"]
    assert parsed.comments["text"].tolist() == ["hi"]
    problems = [str(p) for p in parsed.problems]
    assert any("without the Disqus namespace" in p for p in problems)
    assert any("isDeleted 'maybe' is not true or false" in p for p in problems)


def test_disqus_file_with_no_threads_or_posts_is_not_silent(tmp_path):
    """A Disqus root with nothing readable under it is reported, not 0 comments and 0 problems."""
    path = tmp_path / "export.xml"
    path.write_text('<?xml version="1.0"?>\n<disqus xmlns="http://disqus.com"><other/></disqus>\n')
    parsed = load(path)
    assert len(parsed.comments) == 0 and any("nothing read" in p.problem for p in parsed.problems)


def test_pieces_keep_source_order_and_catch_keys_repeated_across_pieces(tmp_path):
    """With two rows per piece, positions count on, a repeated id in a later piece is reported, and the store
    gets the same comments as from one piece."""
    lines = ["comment_id,article_id,text"] + [f"{i},a,t{i}" for i in (1, 2, 3, 4, 2, 5)]
    path = tmp_path / "comments.csv"
    path.write_text("\n".join(lines) + "\n")
    pieces = list(load_chunks(path, chunk_rows=2))
    assert len(pieces) == 3
    assert [c for p in pieces for c in p.comments["comment_id"]] == ["1", "2", "3", "4", "5"]
    assert [int(v) for p in pieces for v in p.comments["position"]] == [0, 1, 2, 3, 5]
    repeated = [p for piece in pieces for p in piece.problems if "duplicate" in p.problem]
    assert [p.record for p in repeated] == ["comment_id 2 (line 6)"]
    chunked, whole = Store(f"sqlite:///{tmp_path / 'a.db'}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    pipeline.ingest_paths(chunked, [path], chunk_rows=2)
    pipeline.ingest_paths(whole, [path])
    pd.testing.assert_frame_equal(chunked.load()[1], whole.load()[1])
    pipeline.ingest_paths(chunked, [path], chunk_rows=2)  # idempotent
    assert len(chunked.load()[1]) == 5


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("path", [FIXTURES / "reddit" / "comments_dump.jsonl", FIXTURES / "hackernews" / "comments.jsonl"],
                         ids=["reddit", "hackernews"])
@pytest.mark.parametrize("chunk_rows", [1, 2])
def test_json_lines_stream_in_pieces_with_the_same_records_and_problems(path, chunk_rows):
    """Reddit and Hacker News JSON Lines read a few lines at a time give the comments, articles and problems (with
    their line numbers) of the whole file read at once; reply chains and a missing story span pieces."""
    pieces = list(load_chunks(path, chunk_rows=chunk_rows))
    whole = load(path, resolve_threads=False)
    assert len(pieces) > 2
    columns = ["comment_id", "article_id", "parent_id", "text", "position", "input_record"]
    streamed = pd.concat([p.comments for p in pieces], ignore_index=True)
    pd.testing.assert_frame_equal(streamed[columns], whole.comments[columns], check_dtype=False)
    assert sorted(a for p in pieces for a in p.articles["article_id"]) == sorted(whole.articles["article_id"])
    problems = sorted((p.record, p.problem) for piece in pieces for p in piece.problems)
    assert problems == sorted((p.record, p.problem) for p in whole.problems)
    assert any(record.startswith("line ") for record, _ in problems)


def test_hacker_news_story_found_late_in_the_file_is_not_reported_missing(tmp_path):
    """A story after its comments (another piece) is the comments' article, and is not called missing."""
    items = [{"id": 2, "parent": 1, "type": "comment", "by": "a", "time": 1700000000, "text": "top"},
             {"id": 3, "parent": 2, "type": "comment", "by": "b", "time": 1700000100, "text": "reply"},
             {"id": 1, "type": "story", "by": "c", "time": 1699999000, "title": "The story"}]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items) + "\n")
    pieces = list(load_chunks(path, chunk_rows=1))
    comments = pd.concat([p.comments for p in pieces])
    assert comments["article_id"].tolist() == ["1", "1"]
    assert not [p for piece in pieces for p in piece.problems]


def test_a_date_before_year_one_is_reported_and_the_record_stored(tmp_path):
    """ISO 8601 allows "-1024-03-01", which no store holds: reported, kept without a time, the rest stored."""
    path = tmp_path / "articles.csv"
    path.write_text("article_id,title,published_at\na1,First,-1024-03-01T08:00:00Z\na2,Second,2024-03-01T08:00:00Z\n")
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    problems, _ = pipeline.ingest_paths(store, [path])
    assert [(p.record, p.action) for p in problems] == [("article_id a1 (line 2)", "kept")]
    assert store.load()[0]["published_at"].isna().tolist() == [True, False]


def test_sniffing_a_json_line_nested_too_deep_refuses_it_without_a_recursion_error(tmp_path):
    """A first line nested 5,000 deep is no recognised format (a one-line refusal), never a RecursionError."""
    path = tmp_path / "comments.jsonl"
    path.write_text('{"comment_id": ' + "[" * 5000 + "]" * 5000 + ', "article_id": 1}\n')
    with pytest.raises(IngestError, match="not a recognised format"):
        load(path)
