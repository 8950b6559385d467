"""Canonical CSV / JSON Lines / Parquet ingest (moderation.ingest.canonical)."""

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.ingest import IngestError, canonical, load

FIXTURES = Path(__file__).parent / "fixtures" / "canonical"
MAX_FIELD = canonical.MAX_FIELD
BASIC = FIXTURES / "basic"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_sniff_claims_canonical_folder_and_files_only():
    """A comments folder, a comments file and an articles file are recognised; other files are not."""
    assert canonical.sniff(BASIC)
    assert canonical.sniff(BASIC / "comments.csv")
    assert canonical.sniff(BASIC / "articles.csv")
    assert canonical.sniff(FIXTURES / "jsonl" / "comments.jsonl")
    assert not canonical.sniff(FIXTURES)
    assert not canonical.sniff(Path(__file__))
    assert not canonical.sniff(FIXTURES / "missing.csv")


def test_csv_values_and_types():
    """Values of the good CSV rows, with time zones converted to UTC and missing votes left NA."""
    comments = load(BASIC).comments
    assert comments["comment_id"].tolist() == ["1", "2", "3", "5"]
    assert comments["text"].tolist() == ["First, with a comma", "Reply\nover two lines", "Deep reply", "Other article"]
    # 11:00+01:00 is 10:00 UTC; a value without zone is taken as UTC
    assert comments["created_at"].tolist() == [
        utc("2024-03-01 10:00"), utc("2024-03-01 10:00"), utc("2024-03-01 12:00"), utc("2024-03-02 09:30")]
    assert comments["upvotes"].tolist() == [3, 0, pd.NA, 2]
    assert comments["downvotes"].tolist() == [1, pd.NA, pd.NA, 2]
    assert comments["score"].isna().all()
    assert comments["source"].unique().tolist() == ["basic"]
    assert comments["position"].tolist() == [0, 1, 2, 3]


def test_reply_tree_from_parent_ids():
    """parent_id links give thread roots and depths."""
    comments = load(BASIC).comments
    assert comments["parent_id"].isna().tolist() == [True, False, False, True]
    assert comments["parent_id"].tolist()[1:3] == ["1", "2"]
    assert comments["thread_id"].tolist() == ["1", "1", "1", "5"]
    assert comments["depth"].tolist() == [0, 1, 2, 0]


def test_extra_columns_pass_through_as_numbers():
    """A label column that is not canonical is kept, as nullable integers."""
    comments = load(BASIC).comments
    assert comments["label_offtopic"].dtype == "Int64"
    assert comments["label_offtopic"].tolist() == [0, 1, pd.NA, 1]


def test_reactions_json_and_status_synonyms():
    """A JSON list in reactions is decoded; "online" means published; unknown values become NA and are reported."""
    parsed = load(BASIC)
    assert parsed.comments["reactions"].tolist()[0] == [3, 1]
    assert parsed.comments["reactions"].iloc[1:].isna().all()
    assert parsed.comments["status"].tolist()[:3] == ["published", "published", "deleted"]
    assert pd.isna(parsed.comments["status"].iloc[3])
    problems = [str(p) for p in parsed.problems]
    assert any("comment_id 5" in p and "reactions" in p and "(kept)" in p for p in problems)
    assert any("comment_id 5" in p and "status 'weird'" in p for p in problems)


def test_bad_csv_line_reported_by_number_and_others_kept():
    """A line with the wrong field count is named by file and line; the rest load."""
    parsed = load(BASIC)
    bad = [p for p in parsed.problems if p.record == "line 6"]
    assert len(bad) == 1
    assert bad[0].file.endswith("comments.csv") and "expected 11 fields, found 13" in bad[0].problem
    assert "4" not in parsed.comments["comment_id"].tolist()


def test_articles_file_beside_comments():
    """articles.csv gives the articles with their own source, section and UTC time."""
    articles = load(BASIC).articles
    assert articles["article_id"].tolist() == ["a1", "a2"]
    assert articles["section"].tolist() == ["News/Local", "Sport"]
    assert articles["published_at"].tolist() == [utc("2024-03-01 08:00"), utc("2024-03-02 13:00")]
    assert articles["text"].isna().tolist() == [False, True]


def test_single_articles_file():
    """An articles file on its own gives articles and no comments."""
    parsed = load(BASIC / "articles.csv")
    assert len(parsed.articles) == 2 and len(parsed.comments) == 0


def test_jsonl_bad_lines_and_integer_ids():
    """JSON Lines: bad lines are named, integer ids become text without ".0", a source option applies."""
    parsed = load(FIXTURES / "jsonl", source="forum")
    comments = parsed.comments
    assert comments["comment_id"].tolist() == ["10", "11", "12"]
    assert comments["parent_id"].tolist()[1:] == ["10", "10"]
    assert comments["reactions"].iloc[0] == [2, 0]
    assert comments["source"].unique().tolist() == ["forum"]
    assert {p.record for p in parsed.problems} == {"line 3", "line 4"}


def test_parquet_with_source_column(tmp_path):
    """Parquet is read; a source column in the file wins over the default."""
    frame = pd.DataFrame({
        "comment_id": [1, 2], "article_id": [9, 9], "parent_id": [None, 1], "text": ["a", "b"],
        "source": ["site", "site"], "upvotes": [1, 2], "flagged": [True, False],
    })
    frame.to_parquet(tmp_path / "comments.parquet")
    comments = load(tmp_path).comments
    assert comments["parent_id"].tolist()[1] == "1"
    assert comments["source"].tolist() == ["site", "site"]
    assert comments["flagged"].tolist() == [True, False]
    assert comments["depth"].tolist() == [0, 1]


def test_column_mapping_and_named_files(tmp_path):
    """Other column names are mapped, and files with other names are chosen by option."""
    (tmp_path / "posts.csv").write_text("id,story,reply_to,body,likes\nx,s1,,hello,4\ny,s1,x,hi,0\n")
    (tmp_path / "stories.csv").write_text("story,headline\ns1,A story\n")
    mapping = {"id": "comment_id", "story": "article_id", "reply_to": "parent_id", "body": "text",
               "likes": "upvotes", "headline": "title"}
    parsed = load(tmp_path, format="canonical", comments_file="posts.csv", articles_file="stories.csv",
                  columns=mapping)
    assert parsed.comments["comment_id"].tolist() == ["x", "y"]
    assert parsed.comments["upvotes"].tolist() == [4, 0]
    assert parsed.comments["depth"].tolist() == [0, 1]
    assert parsed.articles["title"].tolist() == ["A story"]


def test_empty_and_non_utf8_files(tmp_path):
    """An empty comments file is reported; Windows-1252 bytes are repaired and reported."""
    (tmp_path / "comments.csv").write_bytes(b"")
    assert [p.problem for p in load(tmp_path, format="canonical").problems] == ["the file is empty"]
    (tmp_path / "comments.csv").write_bytes("comment_id,article_id,text\n1,a,caf\u00e9\n".encode("cp1252"))
    parsed = load(tmp_path)
    assert parsed.comments["text"].tolist() == ["caf\u00e9"]
    assert [p.action for p in parsed.problems] == ["repaired"]


def test_duplicate_ids_reported(tmp_path):
    """A repeated comment id keeps the first record and reports the second."""
    (tmp_path / "comments.csv").write_text("comment_id,article_id,text\n1,a,first\n1,a,again\n")
    parsed = load(tmp_path)
    assert parsed.comments["text"].tolist() == ["first"]
    assert any("duplicate" in p.problem for p in parsed.problems)


@pytest.mark.parametrize("path", [BASIC, FIXTURES / "jsonl"])
def test_reparse_gives_equal_frames(path):
    """Parsing the same input twice gives equal frames."""
    first, second = load(path), load(path)
    pd.testing.assert_frame_equal(first.comments, second.comments)
    pd.testing.assert_frame_equal(first.articles, second.articles)
    assert first.problems == second.problems


CSV_TOKENS = list(',"\n\r ;') + ["comment_id", "article_id", "parent_id", "reactions", "status", "upvotes", "1", "2",
                                 "[1, 2]", "{}", "online", "2024-01-01", "-3", "x"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.sampled_from(CSV_TOKENS), max_size=40).map("".join))
def test_any_csv_gives_problems_not_errors(tmp_path, body):
    """Any text under a canonical header parses to frames and problems; sniff never raises."""
    path = tmp_path / "comments.csv"
    path.write_text("comment_id,article_id,parent_id,reactions,status,upvotes\n" + body)
    assert canonical.sniff(path)
    parsed = canonical.parse(path)
    assert len(parsed.comments) <= body.count("\n") + body.count("\r") + 1


def test_reactions_object_of_named_counts(tmp_path):
    """A JSON object of named counts gives its counts in order; an empty object gives no reactions."""
    (tmp_path / "comments.csv").write_text(
        'comment_id,article_id,reactions\n1,a,"{""like"": 2, ""sad"": 1}"\n2,a,{}\n')
    assert load(tmp_path).comments["reactions"].tolist() == [[2, 1], []]


def test_missing_id_column_is_an_ingest_error(tmp_path):
    """A comments file without comment_id (and no mapping) fails with one error naming the column."""
    (tmp_path / "comments.csv").write_text("id,article_id,text\n1,a,x\n")
    with pytest.raises(IngestError, match="no column comment_id"):
        load(tmp_path, format="canonical")
    with pytest.raises(IngestError, match="no such file"):
        load(tmp_path, format="canonical", comments_file="other.csv")


def test_timezone_option_for_times_without_offset(tmp_path):
    """With timezone=Europe/Vienna, 12:00 without offset is 11:00 UTC (CET = UTC+1); a written offset is kept."""
    (tmp_path / "comments.csv").write_text(
        "comment_id,article_id,created_at\n1,a,2024-03-01 12:00:00\n2,a,2024-03-01T12:00:00Z\n"
        "3,a,2024-03-31 02:30:00\n")
    parsed = load(tmp_path, timezone="Europe/Vienna")
    times = parsed.comments["created_at"]
    assert times.tolist()[:2] == [utc("2024-03-01 11:00"), utc("2024-03-01 12:00")]
    # 02:30 on 31 March 2024 does not exist in Vienna (clocks jump from 02:00 to 03:00)
    assert pd.isna(times.iloc[2])
    assert any("comment_id 3" in p.record and "Europe/Vienna" in p.problem for p in parsed.problems)
    with pytest.raises(IngestError, match="unknown time zone"):
        load(tmp_path, timezone="Mars/Olympus")


def _lines_by_csv_module(path: Path) -> tuple[list[str], list[str]]:
    """The reference: each record's first line as the csv module counts, walking record by record."""
    csv.field_size_limit(canonical.MAX_FIELD)
    labels, refused = [], []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        line = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                refused.append(f"line {line + 1}")
                line = reader.line_num
                continue
            if row:
                labels.append(f"line {line + 1}")
            line = reader.line_num
    return labels, refused


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(["a", ",", '"', "\n", "\r", "\r\n", " ", "é", '""', "x" * 40]), max_size=60),
       chunk_rows=st.sampled_from([1, 2, 3, 50_000]), field_limit=st.sampled_from([30, canonical.MAX_FIELD]))
def test_csv_records_are_labelled_with_the_line_they_start_on(tmp_path, monkeypatch, pieces, chunk_rows, field_limit):
    """Records read in bulk get the same line numbers as the csv module counts record by record, in pieces of any
    size, with quoted line breaks (\\r, \\n, \\r\\n), blank lines, wrong field counts and over-long fields."""
    path = tmp_path / "comments.csv"
    path.write_bytes(("comment_id,article_id,text\n" + "".join(pieces)).encode())
    monkeypatch.setattr(canonical, "MAX_FIELD", field_limit)
    problems = []
    try:
        frames = list(canonical._csv_chunks(path, problems, chunk_rows))
        labels, refused = _lines_by_csv_module(path)
    finally:
        csv.field_size_limit(MAX_FIELD)  # the limit is the process's: leave it as the module sets it
    found = [label for frame in frames for label in frame[canonical.schema.RECORD]]
    wrong_width = {p.record for p in problems if p.problem.startswith("expected")}
    assert found == [label for label in labels if label not in wrong_width]
    assert [p.record for p in problems if p.problem.startswith("not a CSV record")] == refused


def test_json_lines_whose_first_record_is_longer_than_the_sniffed_head(tmp_path):
    """A first comment of 200,000 characters (beyond the 64 KiB read to detect the format) is still recognised."""
    path = tmp_path / "comments.jsonl"
    records = [{"comment_id": "1", "article_id": "a", "text": "word " * 40_000}, {"comment_id": "2", "article_id": "a"}]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    comments = load(path).comments
    assert comments["comment_id"].tolist() == ["1", "2"] and comments["text"][0] == records[0]["text"]
