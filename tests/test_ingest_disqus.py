"""Disqus XML export: threads, posts, status flags, privacy, malformed and hostile XML."""

import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.ingest import IngestError, disqus, finish, load

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPORT = FIXTURES / "disqus" / "export.xml"
TRUNCATED = FIXTURES / "disqus" / "truncated.xml"


@pytest.fixture(scope="module")
def export():
    return load(EXPORT)


def records(parsed):
    """The problems as (record, problem) pairs."""
    return [(p.record, p.problem) for p in parsed.problems]


def test_posts_values(export):
    """dsq:ids are the ids, the thread reference the article, the display name the author, HTML made plain."""
    comments = export.comments
    assert comments["comment_id"].tolist() == ["9001", "9002", "9003", "9004", "9006"]
    assert (comments["article_id"] == "5001").all()
    assert comments["author"].tolist()[:3] == ["Ann Rider", "Guest Rider", "Pill Seller"]
    assert comments["text"].tolist()[:2] == [
        "Yes, & the paths too.\n\nSee the map.", "Only on weekdays.\nWeekends wait."]
    assert (comments["source"] == "disqus").all()


def test_times_converted_to_utc(export):
    """createdAt with Z and with an offset both become UTC (12:30+02:00 is 10:30 UTC)."""
    times = export.comments["created_at"]
    assert times.iloc[0] == pd.Timestamp("2019-04-01 09:00", tz="UTC")
    assert times.iloc[1] == pd.Timestamp("2019-04-01 10:30", tz="UTC")


def test_status_flags_and_no_votes(export):
    """isSpam -> spam, isDeleted -> deleted, else published; the export has no votes, so they are NA."""
    comments = export.comments
    assert comments["status"].tolist() == ["published", "published", "spam", "deleted", "published"]
    assert comments["is_spam"].tolist() == [False, False, True, False, False]
    assert comments["is_deleted"].tolist() == [False, False, False, True, False]
    for column in ("upvotes", "downvotes", "score"):
        assert comments[column].isna().all(), column


def test_tree(export):
    """Parent references give the reply tree; load() derives depth and thread_id."""
    comments = export.comments
    assert comments["parent_id"].tolist()[1] == "9001" and comments["parent_id"].tolist()[3] == "9002"
    assert comments["depth"].tolist() == [0, 1, 0, 2, 0]
    assert comments["thread_id"].tolist() == ["9001", "9001", "9003", "9001", "9006"]


def test_author_pass_through(export):
    """Username and isAnonymous pass through; a guest has no username."""
    comments = export.comments
    assert comments["author_username"].iloc[0] == "annrider" and pd.isna(comments["author_username"].iloc[1])
    assert comments["author_is_anonymous"].tolist() == [False, True, False, False, False]


def test_thread_is_article(export):
    """The thread becomes the article: title, link, plain message, category title as section, site identifier."""
    article = export.articles.iloc[0]
    assert len(export.articles) == 1
    assert article[["article_id", "title", "text", "url", "author", "section", "disqus_identifier"]].tolist() == [
        "5001", "Bike lanes in winter", "Should the city clear them first?",
        "https://blog.example.org/2019/04/bike-lanes/", "Editor", "Cycling", "post-42"]
    assert article["published_at"] == pd.Timestamp("2019-04-01 08:00", tz="UTC")


def test_ip_addresses_and_emails_not_kept(export):
    """Privacy: no column and no value carries an IP address or an email."""
    for frame in (export.comments, export.articles):
        assert not {"ipAddress", "email", "ip_address"} & set(frame.columns)
        everything = " ".join(map(str, frame.to_numpy().ravel()))
        assert "198.51.100.7" not in everything and "192.0.2.1" not in everything and "@example.org" not in everything


def test_bad_posts_reported_good_kept(export):
    """A post without a dsq:id (by line), without a thread, or with a bad date is named; the rest load."""
    found = records(export)
    assert ("line 112", "post without a dsq:id") in found
    assert ("comment_id 9005", "post (line 87) names no thread") in found
    assert ("comment_id 9006", "time 'not a date' is not a valid timestamp; kept without a time") in found
    assert len(found) == 3
    assert {p.file for p in export.problems} == {str(EXPORT)}


def test_thread_named_by_site_identifier(tmp_path):
    """A post naming its thread by the site's identifier (<thread>post-42</thread>) gets that thread's dsq:id."""
    path = tmp_path / "identifier.xml"
    path.write_text(EXPORT.read_text().replace('<thread dsq:id="5001" />\n    <parent dsq:id="9001" />',
                                               '<thread>post-42</thread>\n    <parent dsq:id="9001" />'))
    comments = load(path).comments.set_index("comment_id")
    assert comments.loc["9002", ["article_id", "parent_id", "depth"]].tolist() == ["5001", "9001", 1]


def test_post_on_thread_outside_file_kept_and_reported(tmp_path):
    """Posts whose thread the export lacks keep that thread's dsq:id as article_id; one problem names the thread."""
    path = tmp_path / "no_thread.xml"
    path.write_text(EXPORT.read_text().replace('<thread dsq:id="5001">', '<thread dsq:id="5000">'))
    parsed = load(path)
    assert len(parsed.comments) == 5 and (parsed.comments["article_id"] == "5001").all()
    assert ("article_id 5001", "thread not in the file; its 5 post(s) are kept") in records(parsed)


def test_truncated_export_keeps_what_was_read():
    """An export cut off mid-post keeps the posts before the fault and names the line where reading stopped."""
    parsed = load(TRUNCATED)
    assert parsed.comments["comment_id"].tolist() == ["9001", "9002"]
    assert len(parsed.articles) == 1
    [problem] = parsed.problems
    assert problem.record == "line 63" and "not well-formed XML" in problem.problem


def test_external_entity_not_expanded(tmp_path):
    """XXE: an entity pointing at a local file is left unexpanded (the file is never read) and the DTD is reported."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    text = EXPORT.read_text().replace(
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE disqus [<!ENTITY xxe SYSTEM "file://{secret}">]>',
    ).replace("<![CDATA[<p>Never mind.</p>]]>", "Never &xxe; mind")
    path = tmp_path / "hostile.xml"
    path.write_text(text)
    parsed = load(path)
    assert parsed.comments.set_index("comment_id").loc["9004", "text"] == "Never &xxe; mind"
    for frame in (parsed.comments, parsed.articles):
        assert "TOPSECRET" not in " ".join(map(str, frame.to_numpy().ravel()))
    assert ("DOCTYPE", "the file declares a DTD, which a Disqus export never does; its entities were left unexpanded") \
        in records(parsed)


def test_non_utf8_export_repaired_and_reported(tmp_path):
    """A Latin-1 byte in a UTF-8 export is read as Windows-1252 and reported; all posts load."""
    path = tmp_path / "latin.xml"
    latin = "Only on weekdays, caf\u00e9.".encode("latin-1")
    path.write_bytes(EXPORT.read_bytes().replace(b"Only on weekdays.", latin))
    parsed = load(path)
    assert parsed.comments["text"].iloc[1] == "Only on weekdays, caf\u00e9.\nWeekends wait."
    assert len(parsed.comments) == 5
    assert parsed.problems[0].action == "repaired"


def test_sniff_accepts_disqus_rejects_others(tmp_path):
    """Content decides: Disqus exports are claimed, Reddit and HN JSON and other XML are not."""
    assert disqus.sniff(EXPORT) and disqus.sniff(TRUNCATED)
    for other in ("reddit/thread_listing.json", "hackernews/items.json"):
        assert not disqus.sniff(FIXTURES / other), other
    (tmp_path / "other.xml").write_text('<?xml version="1.0"?><posts><row Id="1"/></posts>')
    assert not disqus.sniff(tmp_path / "other.xml")
    assert not disqus.sniff(tmp_path)


IDS = st.none() | st.sampled_from(["1", "2", "3"])
VALUES = st.text(st.characters(exclude_categories=("Cs",)), max_size=15).map(escape) | st.sampled_from(
    ["true", "false", "2019-01-01T00:00:00Z", "2019-01-01T02:00:00+02:00", "<![CDATA[<p>a &amp; b</p>]]>"])
FIELDS = st.lists(st.tuples(st.sampled_from(["id", "message", "createdAt", "isDeleted", "isSpam", "title", "link"]),
                            VALUES), max_size=4)
REFERENCES = st.lists(st.tuples(st.sampled_from(["thread", "parent", "category"]), IDS), max_size=2)
ELEMENTS = st.tuples(st.sampled_from(["category", "thread", "post"]), IDS, FIELDS, REFERENCES)


def render(tag, dsq_id, fields, references):
    """One export element as XML text."""
    attribute = f' dsq:id="{dsq_id}"' if dsq_id else ""
    body = "".join(f"<{name}>{value}</{name}>" for name, value in fields)
    body += "".join(f'<{name} dsq:id="{ref}"/>' if ref else f"<{name}/>" for name, ref in references)
    return f"<{tag}{attribute}>{body}</{tag}>"


@settings(max_examples=40, deadline=None)
@given(st.lists(ELEMENTS, max_size=8), st.none() | st.floats(0, 1))
def test_no_export_crashes_the_parser(elements, cut):
    """Any mix of categories, threads and posts, whole or cut off anywhere, parses to frames and problems."""
    text = ('<?xml version="1.0" encoding="utf-8"?><disqus xmlns="http://disqus.com" '
            'xmlns:dsq="http://disqus.com/disqus-internals">' + "".join(render(*e) for e in elements) + "</disqus>")
    if cut is not None:
        text = text[: int(cut * len(text))]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.xml"
        path.write_text(text, encoding="utf-8")
        try:
            parsed = finish(disqus.parse(path), str(path))
        except IngestError:
            return
    assert parsed.comments["comment_id"].notna().all()
