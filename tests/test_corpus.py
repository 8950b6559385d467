"""The corpus file (DuckDB): exact round trips, reads by article and range, one writer at a time, killed ingests,
and the move out of an SQL store made by the previous version."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from moderation import migrations
from moderation.cli import main
from moderation.corpus import CorpusBusy, CorpusStore
from moderation.ingest import Parsed, finish
from moderation.store import CORPUS_ENV, SchemaMismatch, Store, corpus_path
from tests.test_store import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent


def corpus_rows(first: int, n: int, article_of=lambda i: f"a{i % 3}") -> Parsed:
    """``n`` comments from id ``first`` on three articles, with pass-through columns, reactions, zoned times,
    and one vote event each."""
    ids = [str(i) for i in range(first, first + n)]
    comments = pd.DataFrame({
        "comment_id": ids, "article_id": [article_of(i) for i in range(first, first + n)], "source": "s",
        "author": [f"user{i % 4}" for i in range(first, first + n)],
        "created_at": [f"2024-03-01T10:{i % 60:02d}:00+02:00" for i in range(first, first + n)],
        "text": [f"comment {i} with =1+1 and 'quotes'; DROP TABLE comments;" for i in range(first, first + n)],
        "upvotes": [i % 5 for i in range(first, first + n)],
        "reactions": [[i % 3, 1] if i % 2 else None for i in range(first, first + n)],
        "flair": [None if i % 3 == 0 else f"flair {i}" for i in range(first, first + n)],
        "karma": [i * 10 for i in range(first, first + n)],
    })
    articles = pd.DataFrame({"article_id": ["a0", "a1", "a2"], "source": "s", "title": ["A", "B", "C"],
                             "published_at": "2024-03-01T08:00:00Z", "desk": ["home", "world", None]})
    events = pd.DataFrame({"source": "s", "event_id": [f"e{i}" for i in ids], "article_id": comments["article_id"],
                           "comment_id": ids, "vote": "up", "voted_at": "2024-03-02T00:00:00Z"})
    return finish(Parsed(articles, comments, events), "test")


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'moderation.db'}", busy_wait=30)


def test_the_corpus_file_sits_next_to_an_sqlite_store(tmp_path, monkeypatch):
    """data/x.db -> data/x.corpus.duckdb; a PostgreSQL store's is named explicitly or by MODERATION_CORPUS."""
    monkeypatch.delenv(CORPUS_ENV, raising=False)
    assert corpus_path(f"sqlite:///{tmp_path / 'x.db'}") == tmp_path / "x.corpus.duckdb"
    assert corpus_path("postgresql+psycopg://u@h/db") is None
    assert corpus_path("postgresql+psycopg://u@h/db", tmp_path / "c.duckdb") == tmp_path / "c.duckdb"
    monkeypatch.setenv(CORPUS_ENV, str(tmp_path / "team.duckdb"))
    assert corpus_path("postgresql+psycopg://u@h/db") == tmp_path / "team.duckdb"
    # an SQLite store (a throw-away one too) keeps its own corpus whatever the environment says
    assert corpus_path(f"sqlite:///{tmp_path / 'x.db'}") == tmp_path / "x.corpus.duckdb"


def test_a_reload_gives_back_exactly_what_was_ingested(store):
    """Every canonical and pass-through column, reactions and UTC times come back equal, in stored order; a second
    ingest of the same rows adds nothing."""
    rows = corpus_rows(0, 30)
    first = store.ingest(rows)
    assert first.added == {"articles": 3, "comments": 30, "vote_events": 30}
    again = store.ingest(rows)
    assert again.added == {"articles": 0, "comments": 0, "vote_events": 0}
    assert again.known == {"articles": 3, "comments": 30, "vote_events": 30}
    articles, comments, events = store.load()
    expected = rows.comments.assign(position=pd.array(range(30), dtype="Int64"))
    pd.testing.assert_frame_equal(comments[expected.columns], expected, check_dtype=True)
    assert comments["reactions"][1] == [1, 1] and comments["reactions"][0] is None
    assert comments["created_at"][0] == pd.Timestamp("2024-03-01 08:00", tz="UTC")
    pd.testing.assert_frame_equal(articles[rows.articles.columns], rows.articles.sort_values(["source", "article_id"],
                                                                                             ignore_index=True))
    pd.testing.assert_frame_equal(events[rows.vote_events.columns], rows.vote_events)
    assert store.counts() == {"articles": 3, "comments": 30, "vote_events": 30}


def test_reads_by_article_by_range_and_since_a_position(store):
    """load_articles gives whole articles in stored order, load_range a slice of positions or rows, and
    changed_since the articles with comments or votes after a run's last ones."""
    store.ingest(corpus_rows(0, 12))
    _, last_position, last_row = store.changed_since(None, None)
    assert (last_position, last_row) == (11, 12)  # vote event rows count from 1
    store.ingest(corpus_rows(12, 2))  # comments 12 (a0) and 13 (a1)
    changed, position, row = store.changed_since(last_position, last_row)
    assert sorted(changed["article_id"]) == ["a0", "a1"] and (position, row) == (13, 14)
    articles, comments, events = store.load_articles(pd.DataFrame({"source": ["s"], "article_id": ["a1"]}))
    assert articles["article_id"].tolist() == ["a1"]
    assert comments["comment_id"].tolist() == ["1", "4", "7", "10", "13"]
    assert comments["position"].is_monotonic_increasing and events["comment_id"].tolist() == ["1", "4", "7", "10", "13"]
    full = store.load()[1]
    pd.testing.assert_frame_equal(store.load_range("comments", 3, 5), full.iloc[3:6].reset_index(drop=True))
    assert store.load_range("vote_events", 13, 14)["comment_id"].tolist() == ["12", "13"]
    assert store.load_range("comments", 100, 200).empty


def test_an_empty_corpus_reads_as_empty_typed_frames(store):
    """Before the first ingest there is no file: reads give empty frames of the canonical types, and make none."""
    articles, comments, events = store.load()
    assert len(comments) == 0 and str(comments["created_at"].dtype) == "datetime64[us, UTC]"
    assert store.counts() == {"articles": 0, "comments": 0, "vote_events": 0}
    assert store.changed_since(None, None)[1:] == (None, None)
    assert not store.corpus_path.exists()


HOLD = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
connection.close()
"""


def _hold(path: Path, seconds: float, ready: Path) -> subprocess.Popen:
    """Another process holding the corpus file (as a long ingest does) for ``seconds``."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(ready), str(seconds)])
    while not ready.exists():
        assert holder.poll() is None, "the holder exited early"
        time.sleep(0.05)
    return holder


def test_a_second_writer_waits_for_the_first(store, tmp_path):
    """While another process writes the file, an ingest (and a read) waits and then succeeds; after busy_wait
    it fails saying why, and writes nothing."""
    store.ingest(corpus_rows(0, 3))
    holder = _hold(store.corpus_path, 2.0, tmp_path / "ready")
    began = time.monotonic()
    summary = store.ingest(corpus_rows(3, 3))
    assert time.monotonic() - began > 1.0 and summary.added["comments"] == 3
    holder.wait(timeout=30)
    holder = _hold(store.corpus_path, 20.0, tmp_path / "ready again")
    impatient = Store(store.url, busy_wait=0.5)
    with pytest.raises(CorpusBusy, match="stayed busy"):
        impatient.ingest(corpus_rows(6, 3))
    with pytest.raises(CorpusBusy):
        impatient.counts()
    holder.kill()
    holder.wait(timeout=30)
    assert store.counts()["comments"] == 6


KILLED_INGEST = """
import sys, time
sys.path.insert(0, sys.argv[1])
from moderation import corpus
from moderation.store import Store
from tests.test_corpus import corpus_rows
insert = corpus._insert
def pausing(connection, table, *args, **kwargs):
    insert(connection, table, *args, **kwargs)
    if table == "comments":
        open(sys.argv[3], "w").close()
        time.sleep(600)
corpus._insert = pausing
Store(sys.argv[2]).ingest(corpus_rows(100, 50))
"""


def test_a_killed_ingest_leaves_the_corpus_as_it_was(store, tmp_path):
    """SIGKILL while an ingest's comments are inserted (not committed): the file holds the earlier rows only, and
    the same ingest run again adds them all."""
    store.ingest(corpus_rows(0, 10))
    before = store.load()
    ready = tmp_path / "inserting"
    child = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(ROOT), store.url, str(ready)])
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the ingest never reached its insert"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    for kept, now in zip(before, store.load()):
        pd.testing.assert_frame_equal(now, kept)
    assert store.ingest(corpus_rows(100, 50)).added["comments"] == 50


KILLED_IN_A_HELD_INGEST = """
import sys, time
sys.path.insert(0, sys.argv[1])
from moderation import corpus
from moderation.store import Store
from tests.test_corpus import corpus_rows
store = Store(sys.argv[2])
with store.ingesting():
    store.ingest(corpus_rows(100, 50))
    insert = corpus._insert
    def pausing(connection, table, *args, **kwargs):
        insert(connection, table, *args, **kwargs)
        if table == "comments":
            open(sys.argv[3], "w").close()
            time.sleep(600)
    corpus._insert = pausing
    store.ingest(corpus_rows(150, 50))
"""


def test_an_ingest_of_nothing_leaves_a_readable_corpus(store):
    """An ingest block that stores nothing (``train-offtopic --results`` reads no paths) leaves a file whose reads
    give empty frames, not a missing table."""
    with store.ingesting():
        pass
    assert store.corpus_path.exists() and store.counts() == {"articles": 0, "comments": 0, "vote_events": 0}
    assert all(frame.empty for frame in store.load())


def test_an_ingest_holding_the_file_commits_each_piece(store, tmp_path):
    """Within ``ingesting()`` reads in the process see each committed piece; SIGKILL during the second piece keeps
    the first (committed, not yet checkpointed) and none of the second."""
    with store.ingesting():
        store.ingest(corpus_rows(0, 10))
        assert store.counts()["comments"] == 10 and len(store.reply_tree()) == 10
        store.ingest(corpus_rows(10, 5))
    assert store.counts()["comments"] == 15
    ready = tmp_path / "inserting"
    child = subprocess.Popen([sys.executable, "-c", KILLED_IN_A_HELD_INGEST, str(ROOT), store.url, str(ready)])
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the ingest never reached its insert"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    ids = set(store.load()[1]["comment_id"])
    assert {str(i) for i in range(100, 150)} <= ids and not ids & {str(i) for i in range(150, 200)}
    assert len(ids) == 65


def test_the_corpus_can_be_read_while_no_one_writes_by_many_processes(store, tmp_path):
    """Read-only connections of several processes at once (Dask workers reading ranges)."""
    store.ingest(corpus_rows(0, 20))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from moderation.corpus import CorpusStore; "
            "print(len(CorpusStore(sys.argv[2], 30).load_range('comments', 0, 9)))")
    readers = [subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(store.corpus_path)],
                                stdout=subprocess.PIPE, text=True) for _ in range(3)]
    assert [reader.communicate(timeout=120)[0].strip() for reader in readers] == ["10"] * 3


# ---- the move out of SQL (revision 0007_corpus_file) ---------------------------

def _previous_version_store(url: str) -> None:
    """A store as the previous version made it (revision 0006): its corpus in SQL tables, as that version wrote
    rows (times as SQLite's text or PostgreSQL's timestamptz, JSON text for extra and reactions)."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        command.upgrade(migrations.config(connection), "0006_comment_origin")
        sqlite = connection.dialect.name == "sqlite"

        def at(text: str):
            moment = pd.Timestamp(text, tz="UTC")
            return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment.to_pydatetime()

        connection.execute(sa.text(
            "INSERT INTO articles (article_id, source, title, published_at, masked_share, extra) "
            "VALUES ('a', 's', 'T', :published, 0.25, '{\"desk\":\"home\"}')"), {"published": at("2024-03-01 08:00")})
        connection.execute(sa.text(
            "INSERT INTO comments (comment_id, article_id, parent_id, author, created_at, text, upvotes, reactions, "
            "source, parent_inferred, position, extra, input_file, input_record) VALUES "
            "(:id, 'a', :parent, 'ann', :created, :text, :up, :reactions, 's', :inferred, :position, :extra, "
            "'comments.csv', :record)"),
            [{"id": "1", "parent": None, "created": at("2024-03-01 10:00"), "text": "first; DROP TABLE x", "up": 3,
              "reactions": "[2, 1]", "inferred": False, "position": 0, "extra": '{"karma":10}', "record": "line 2"},
             {"id": "2", "parent": "1", "created": None, "text": "second", "up": None, "reactions": None,
              "inferred": True, "position": 1, "extra": '{"karma":null}', "record": "line 3"}])
        connection.execute(sa.text(
            "INSERT INTO vote_events (source, event_id, article_id, comment_id, vote, voted_at) VALUES "
            "('s', 'e1', 'a', '1', 'up', :voted)"), {"voted": at("2024-03-02 00:00")})
    engine.dispose()


def _scratch_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    if not POSTGRES_URL:
        pytest.skip("MODERATION_TEST_POSTGRES_URL is not set (make test starts a server when it can)")
    name = f"c_{uuid.uuid4().hex[:12]}"
    with sa.create_engine(POSTGRES_URL).begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {name}"))
    return f"{POSTGRES_URL}?options=-csearch_path%3D{name}"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_store_upgrade_moves_the_sql_corpus_into_the_file(backend, tmp_path, monkeypatch, capsys):
    """A store of the previous version is refused until `store upgrade`, which copies every corpus row (order,
    pass-through columns, reactions, times) into the corpus file and drops the SQL tables; again it does nothing."""
    monkeypatch.delenv(CORPUS_ENV, raising=False)
    url = _scratch_url(backend, tmp_path)
    _previous_version_store(url)
    with pytest.raises(SchemaMismatch, match="0006_comment_origin, this version needs .*store upgrade"):
        Store(url)
    corpus = ["--corpus", str(tmp_path / "team.duckdb")] if backend == "postgresql" else []
    if backend == "postgresql":  # without a corpus file named, nothing moves and the store stays as it was
        assert main(["store", "upgrade", "--store", url]) == 1
        assert "--corpus PATH" in capsys.readouterr().err
        with pytest.raises(SchemaMismatch):
            Store(url)
    assert main(["store", "upgrade", "--store", url, *corpus]) == 0
    assert f"0006_comment_origin -> {migrations.head()}" in capsys.readouterr().out
    store = Store(url, corpus=tmp_path / "team.duckdb" if corpus else None)
    articles, comments, events = store.load()
    assert articles[["article_id", "title", "masked_share", "desk"]].values.tolist() == [["a", "T", 0.25, "home"]]
    assert articles["published_at"][0] == pd.Timestamp("2024-03-01 08:00", tz="UTC")
    assert comments["comment_id"].tolist() == ["1", "2"] and comments["position"].tolist() == [0, 1]
    assert comments["reactions"].tolist() == [[2, 1], None] and comments["karma"].tolist()[0] == 10
    assert comments["created_at"][0] == pd.Timestamp("2024-03-01 10:00", tz="UTC") and pd.isna(comments["created_at"][1])
    assert comments["parent_inferred"].tolist() == [False, True] and comments["text"][0] == "first; DROP TABLE x"
    assert comments["input_record"].tolist() == ["line 2", "line 3"] and comments["upvotes"].isna().tolist() == [False, True]
    assert events[["event_id", "comment_id"]].values.tolist() == [["e1", "1"]]
    assert store.changed_since(None, None)[1:] == (1, 1)
    tables = set(sa.inspect(store.engine).get_table_names())
    assert not tables & {"articles", "comments", "vote_events"}
    # ingesting after the move appends after the moved positions, and the upgrade is idempotent
    assert store.ingest(corpus_rows(10, 2)).added["comments"] == 2
    assert store.load()[1]["position"].tolist() == [0, 1, 2, 3]
    assert main(["store", "upgrade", "--store", url, *corpus]) == 0
    assert "already at" in capsys.readouterr().out


@pytest.mark.postgres
def test_a_postgresql_store_without_a_corpus_file_says_how_to_name_one(monkeypatch):
    """Decisions work without one; the corpus methods say to give --corpus or MODERATION_CORPUS."""
    if not POSTGRES_URL:
        pytest.skip("MODERATION_TEST_POSTGRES_URL is not set (make test starts a server when it can)")
    monkeypatch.delenv(CORPUS_ENV, raising=False)
    store = Store(_scratch_url("postgresql", Path("/nonexistent")))
    store.record_decision([("s", "1")], "approve", "ann")
    with pytest.raises(ValueError, match="--corpus PATH or set MODERATION_CORPUS"):
        store.ingest(corpus_rows(0, 1))


def test_copy_in_leaves_known_keys_alone(tmp_path):
    """The upgrade's copy, run twice (an upgrade killed after the copy, before the SQL tables went), adds nothing
    the second time."""
    corpus = CorpusStore(tmp_path / "c.duckdb", 5)
    rows = pd.DataFrame({"source": ["s"], "article_id": ["a"], "title": ["T"]})
    assert corpus.copy_in({"articles": [rows]}) == {"articles": 1}
    assert corpus.copy_in({"articles": [rows]}) == {"articles": 0}


def test_a_load_keeps_position_order_whatever_the_file_order(store):
    """Loads read without an SQL sort and check the order: rows stored out of position order still come back in it."""
    import duckdb

    store.ingest(corpus_rows(0, 5))
    with duckdb.connect(str(store.corpus_path)) as connection:
        connection.execute("UPDATE comments SET position = 10 - position")
        connection.execute("UPDATE vote_events SET row = 10 - row")
    _, comments, events = store.load()
    assert comments["comment_id"].tolist() == ["4", "3", "2", "1", "0"] and comments["position"].is_monotonic_increasing
    assert events["comment_id"].tolist() == ["4", "3", "2", "1", "0"]
    assert store.reply_tree()["comment_id"].tolist() == ["4", "3", "2", "1", "0"]
