"""The store: idempotent ingest and the decision log, on SQLite and (when available) PostgreSQL."""

import os
import threading
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.ingest import Parsed, finish
from moderation.store import Store

POSTGRES_URL = os.environ.get("MODERATION_TEST_POSTGRES_URL")


def _postgres_store(folder) -> Store:
    """A store in a fresh PostgreSQL schema, so runs never see each other's rows, its corpus file in ``folder``."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with sa.create_engine(POSTGRES_URL).begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {name}"))
    return Store(f"{POSTGRES_URL}?options=-csearch_path%3D{name}", corpus=folder / "corpus.duckdb")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        return Store(f"sqlite:///{tmp_path / 'store.db'}")
    if not POSTGRES_URL:
        pytest.skip("MODERATION_TEST_POSTGRES_URL is not set (make test starts a server when it can)")
    return _postgres_store(tmp_path)


def parsed(comment_ids, article="a", extra=None):
    comments = pd.DataFrame({
        "comment_id": comment_ids, "article_id": article, "source": "s",
        "parent_id": [None] + [comment_ids[0]] * (len(comment_ids) - 1),
        "author": "ann", "created_at": "2020-01-01T10:00:00+01:00", "text": "hello",
        "upvotes": [1] * len(comment_ids), "reactions": [[1, 0]] * len(comment_ids),
        **(extra or {}),
    })
    articles = pd.DataFrame({"article_id": [article], "source": ["s"], "title": ["T"]})
    events = pd.DataFrame({"source": "s", "event_id": ["e1"], "article_id": article, "comment_id": comment_ids[0],
                           "vote": "up", "voted_at": "2020-01-02"})
    return finish(Parsed(articles, comments, events), "test")


def test_ingesting_twice_adds_nothing(store):
    """Keys are source + ids: the second ingest of the same rows adds no row."""
    first = store.ingest(parsed(["1", "2"]))
    second = store.ingest(parsed(["1", "2"]))
    assert first.added == {"articles": 1, "comments": 2, "vote_events": 1}
    assert second.added == {"articles": 0, "comments": 0, "vote_events": 0}
    assert second.known["comments"] == 2
    assert len(store.load()[1]) == 2


def test_new_comments_on_a_known_article_are_appended_in_order(store):
    """Later comments get later positions; the round trip keeps dtypes, reactions and extra columns."""
    store.ingest(parsed(["1", "2"], extra={"affiliation": ["x", None]}))
    store.ingest(parsed(["1", "3", "4"]))
    articles, comments, events = store.load()
    assert comments["comment_id"].tolist() == ["1", "2", "3", "4"]
    assert comments["position"].tolist() == [0, 1, 2, 3]
    assert comments["created_at"][0] == pd.Timestamp("2020-01-01 09:00", tz="UTC")
    assert comments["reactions"][0] == [1, 0]
    assert comments["affiliation"][0] == "x" and pd.isna(comments["affiliation"][1])
    assert comments["downvotes"].isna().all()
    assert len(articles) == 1 and len(events) == 1


def test_each_comment_keeps_the_file_and_line_it_was_read_from(store, tmp_path):
    """Comments ingested from a file come back with that file and their line; a piece of known and new rows adds
    only the new ones, after the stored positions."""
    from moderation.ingest import load_chunks

    path = tmp_path / "comments.csv"
    path.write_text("comment_id,article_id,text\n1,a,first\n2,a,\"two\nlines\"\n3,a,third\n")
    for piece in load_chunks(path):
        store.ingest(piece)
    path.write_text("comment_id,article_id,text\n0,a,new\n2,a,known\n4,a,also new\n")
    summary = next(store.ingest(piece) for piece in load_chunks(path))
    assert summary.added["comments"] == 2 and summary.known["comments"] == 1
    comments = store.load()[1]
    assert comments[["comment_id", "input_record", "position"]].values.tolist() == [
        ["1", "line 2", 0], ["2", "line 3", 1], ["3", "line 5", 2], ["0", "line 2", 3], ["4", "line 4", 4]]
    assert set(comments["input_file"]) == {str(path)} and comments["text"][1] == "two\nlines"


def test_decisions_latest_wins_and_undo_keeps_the_audit_trail(store):
    """A later decision supersedes; undo marks the moderator's last batch undone but keeps it logged."""
    store.record_decision([("s", "1"), ("s", "2")], "remove", "ann", "spam")
    store.record_decision([("s", "1")], "approve", "bob")
    current = store.current_decisions().set_index("comment_id")
    assert current.loc["1", "action"] == "approve" and current.loc["2", "action"] == "remove"
    undone = store.undo_last("bob")
    assert undone["comment_id"].tolist() == ["1"] and undone["undone_at"].notna().all()
    current = store.current_decisions().set_index("comment_id")
    assert current.loc["1", "action"] == "remove"
    log = store.decisions()
    assert len(log) == 3 and log["undone_by"].tolist().count("bob") == 1
    assert store.undo_last("nobody").empty


def test_bulk_decision_is_undone_as_one(store):
    """Undo after a bulk decision takes back every comment of that batch."""
    store.record_decision([("s", "1"), ("s", "2"), ("s", "3")], "flag", "ann")
    assert len(store.undo_last("ann")) == 3
    assert store.current_decisions().empty


def test_bad_decisions_are_refused(store):
    """Unknown actions and decisions without a moderator raise ValueError."""
    with pytest.raises(ValueError, match="unknown action"):
        store.record_decision([("s", "1")], "delete", "ann")
    with pytest.raises(ValueError, match="moderator"):
        store.record_decision([("s", "1")], "approve", " ")


def test_moderators_deciding_at_once_lose_nothing(store):
    """Decisions written from several threads at once are all in the log."""
    def decide(name):
        for i in range(10):
            store.record_decision([("s", str(i))], "approve", name)

    workers = [threading.Thread(target=decide, args=(f"mod{n}",)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(store.decisions()) == 40
    assert len(store.current_decisions()) == 10


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=50), min_size=1, max_size=5), votes=st.lists(st.integers(0, 10**6), min_size=5, max_size=5))
def test_store_round_trip_keeps_text_and_votes(tmp_path_factory, texts, votes):
    """Any comment text and vote counts come back from the store unchanged."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('rt') / 'store.db'}")
    ids = [str(i) for i in range(len(texts))]
    data = parsed(ids, extra={"text": texts, "upvotes": votes[: len(texts)]})
    store.ingest(data)
    comments = store.load()[1]
    assert comments["text"].tolist() == data.comments["text"].tolist()
    assert comments["upvotes"].tolist() == votes[: len(texts)]


def test_labels_latest_per_comment_wins(store):
    """Moderators' off-topic labels: the latest per comment counts, earlier ones stay in the table."""
    assert store.labels().empty and list(store.labels().columns) == [
        "source", "comment_id", "value", "moderator", "labelled_at"]
    store.record_label([("s", "1"), ("s", "2")], "offtopic", True, "ann")
    store.record_label([("s", "1")], "offtopic", False, " bob ")
    current = store.labels("offtopic").set_index("comment_id")
    assert current["value"].to_dict() == {"1": False, "2": True}
    assert current.loc["1", "moderator"] == "bob"
    assert str(current["labelled_at"].dtype).startswith("datetime64") and len(current) == 2


def test_bad_labels_are_refused(store):
    """An unknown label or a missing moderator name is refused; nothing is written."""
    with pytest.raises(ValueError, match="unknown label 'spam'"):
        store.record_label([("s", "1")], "spam", True, "ann")
    with pytest.raises(ValueError, match="moderator"):
        store.record_label([("s", "1")], "offtopic", True, "")
    assert store.labels().empty


def test_desk_settings_latest_wins_and_history_is_kept(store):
    """A desk setting is a list of strings; a later save wins, earlier ones stay as history; bad input is refused."""
    assert store.desk_settings() == {}
    store.set_desk_setting("staff_names", ["Jeff Atwood", " ", "Catija "], "ann")
    store.set_desk_setting("staff_names", ["Charles Rollet"], "bob")
    assert store.desk_settings() == {"staff_names": ["Charles Rollet"]}
    history = store.desk_settings_history()
    assert history["changed_by"].tolist() == ["bob", "ann"]
    assert history["value"].tolist()[1] == '["Jeff Atwood", "Catija"]'
    with pytest.raises(ValueError, match="unknown desk setting"):
        store.set_desk_setting("staf_names", ["x"], "ann")
    with pytest.raises(ValueError, match="not a regular expression"):
        store.set_desk_setting("staff_patterns", ["("], "ann")
    with pytest.raises(ValueError, match="name of who changes it"):
        store.set_desk_setting("staff_names", ["x"], " ")


def test_decision_reasons_are_the_desks_list_or_the_usual_one(store):
    """Until the desk saves its reasons the usual five are offered; a saved list keeps its order, drops blanks
    and repeats in any case; a reason of several lines or over 100 characters is refused and nothing is saved."""
    assert store.decision_reasons() == ["off topic", "speculation/rumour", "abuse", "spam", "other"]
    store.set_desk_setting("decision_reasons", ["Personal attack", " ", "spam ", "personal ATTACK", "off topic"], "ann")
    assert store.decision_reasons() == ["Personal attack", "spam", "off topic"]
    for bad in ("x" * 101, "two\nlines"):
        with pytest.raises(ValueError, match="one line of at most 100 characters"):
            store.set_desk_setting("decision_reasons", ["abuse", bad], "ann")
    assert store.decision_reasons() == ["Personal attack", "spam", "off topic"]
    store.set_desk_setting("decision_reasons", [], "ann")  # no list: moderators type their reasons
    assert store.decision_reasons() == []
def test_missing_and_far_dates_are_stored_and_loaded(store):
    """A comment without a date, one in year 202 and one in 2300 are kept as they are (NaT stays NaT)."""
    rows = parsed(["1", "2", "3"], extra={"created_at": [None, "0202-05-01T00:00:00Z", "2300-01-01T00:00:00Z"]})
    store.ingest(rows)
    created = store.load()[1].set_index("comment_id")["created_at"]
    assert pd.isna(created["1"])
    assert created["2"].year == 202 and created["3"].year == 2300


def test_a_huge_pass_through_key_loads_quickly(store):
    """A 10 MB column name (a hostile JSON key) passes through the store without a quadratic slowdown."""
    import time

    key = "k" * 10_000_000
    store.ingest(parsed(["1"], extra={key: ["v"]}))
    started = time.perf_counter()
    comments = store.load()[1]
    assert comments.loc[0, key] == "v"
    assert time.perf_counter() - started < 20
