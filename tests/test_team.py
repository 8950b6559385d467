"""Team use of one store: roles enforced on every write, claims, conflicts and undo, on SQLite and PostgreSQL.

Every two-moderator test opens two stores on the same URL: two engines, two real connections.
"""

import threading
from datetime import timedelta

import pytest

from moderation import auth
from moderation.store import DEFAULT_DECISION_REASONS, DecisionConflict, Store, seen_states
from tests.test_store import POSTGRES_URL, _postgres_store

PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    """A fresh store's URL with users ann (moderator), bob (moderator), vera (viewer), ada (admin)."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'team.db'}")
    elif not POSTGRES_URL:
        pytest.skip("MODERATION_TEST_POSTGRES_URL is not set (make test starts a server when it can)")
    else:
        store = _postgres_store(tmp_path)
    for name, role in (("ann", "moderator"), ("bob", "moderator"), ("vera", "viewer"), ("ada", "admin")):
        store.add_user(name, role, PASSWORD)
    return store.url


def test_a_viewer_decides_nothing(url):
    """A viewer's crafted decision, label, claim or undo is refused by the store; nothing is written."""
    store = Store(url)
    for attempt in (
        lambda: store.record_decision([("s", "1")], "remove", "vera"),
        lambda: store.record_label([("s", "1")], "offtopic", True, "vera"),
        lambda: store.claim(("s", "1"), "vera"),
        lambda: store.undo_last("vera"),
    ):
        with pytest.raises(auth.Forbidden, match="vera is a viewer"):
            attempt()
    assert store.decisions().empty and store.labels().empty and store.claims().empty


def test_a_stranger_to_a_team_store_decides_nothing(url):
    """Once a store has users, a name that is not one of them cannot decide."""
    store = Store(url)
    with pytest.raises(auth.Forbidden, match="'mallory' is not a user"):
        store.record_decision([("s", "1")], "remove", "mallory")
    assert store.decisions().empty


def test_a_store_without_users_is_single_user(tmp_path):
    """Before any user is added, anyone named decides (local single-user use)."""
    store = Store(f"sqlite:///{tmp_path / 'solo.db'}")
    assert store.role("me") == auth.SINGLE_USER_ROLE
    assert len(store.record_decision([("s", "1")], "approve", "me")) == 1


def test_the_second_of_two_moderators_gets_a_conflict(url):
    """Both saw comment 1 undecided; ann decides first, bob's decision is refused and names ann's."""
    ann, bob = Store(url), Store(url)
    seen = seen_states(bob.current_decisions(), [("s", "1"), ("s", "2")])
    assert seen == {("s", "1"): None, ("s", "2"): None}
    first = ann.record_decision([("s", "1")], "remove", "ann", "spam", seen=seen)
    with pytest.raises(DecisionConflict, match="ann recorded remove") as refused:
        bob.record_decision([("s", "1"), ("s", "2")], "approve", "bob", seen=seen)
    conflict = refused.value.conflicts
    assert conflict[["comment_id", "current", "action", "moderator"]].values.tolist() == [
        ["1", first[0], "remove", "ann"]]
    assert pd_isna(conflict["seen"].iloc[0])
    assert ann.current_decisions()[["comment_id", "action"]].values.tolist() == [["1", "remove"]]
    # bob chooses, having now seen ann's decision: his replaces hers, and the log says so
    (mine,) = bob.record_decision([("s", "1")], "approve", "bob", seen=bob.comment_states([("s", "1")]))
    log = ann.decisions().set_index("id")
    assert log.loc[mine, "replaces"] == first[0] and len(log) == 2


def test_an_undo_since_seen_is_a_conflict_too(url):
    """A decision shown and then undone by its moderator is a change: deciding on the stale view conflicts."""
    ann, bob = Store(url), Store(url)
    ann.record_decision([("s", "1")], "remove", "ann")
    seen = bob.comment_states([("s", "1")])
    ann.undo_last("ann")
    with pytest.raises(DecisionConflict, match="its decision was undone"):
        bob.record_decision([("s", "1")], "approve", "bob", seen=seen)


def test_racing_moderators_one_wins_the_other_is_told(url):
    """Two connections deciding the same comment at the same instant: one decision, one conflict, never two."""
    stores = {"ann": Store(url), "bob": Store(url)}
    start, outcomes = threading.Barrier(2), {}

    def decide(name):
        start.wait()
        try:
            stores[name].record_decision([("s", "9")], "remove", name, seen={("s", "9"): None})
            outcomes[name] = "recorded"
        except DecisionConflict:
            outcomes[name] = "conflict"

    threads = [threading.Thread(target=decide, args=(name,)) for name in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "recorded"]
    assert len(stores["ann"].decisions()) == 1


def test_claims_keep_others_out_until_released_or_expired(url):
    """ann's claim shows as hers to bob, blocks his decision, and lapses at its expiry or on release."""
    ann, bob = Store(url), Store(url)
    key = ("s", "1")
    assert ann.claim(key, "ann").mine
    held = bob.claim(key, "bob")
    assert not held.mine and held.moderator == "ann"
    assert bob.claims()[["comment_id", "moderator"]].values.tolist() == [["1", "ann"]]
    with pytest.raises(DecisionConflict, match="claimed by ann"):
        bob.record_decision([key], "approve", "bob")
    assert ann.release(key, "ann") and not ann.release(key, "ann")
    assert bob.claim(key, "bob", duration=timedelta(seconds=-1)).mine  # already lapsed
    assert ann.claim(key, "ann").mine and ann.claims()["moderator"].tolist() == ["ann"]
    # deciding releases the decider's own claim
    ann.record_decision([key], "remove", "ann")
    assert ann.claims().empty
    assert ann.events(["claim", "release"])["event"].tolist() == ["claim", "claim", "release", "claim"]


def test_undo_own_only_admins_undo_others(url):
    """A moderator undoes their own batch, not another's; an admin undoes anyone's, and each undo is logged."""
    ann, bob, ada = Store(url), Store(url), Store(url)
    ann.record_decision([("s", "1"), ("s", "2")], "remove", "ann")
    bob.record_decision([("s", "3")], "flag", "bob")
    with pytest.raises(auth.Forbidden, match="bob is a moderator"):
        bob.undo_last("bob", of="ann")
    undone = ada.undo_last("ada", of="ann")
    assert undone["comment_id"].tolist() == ["1", "2"] and set(undone["undone_by"]) == {"ada"}
    assert ada.undo_last("ada", of="ann").empty  # nothing left: not a success
    assert len(bob.undo_last("bob")) == 1 and bob.undo_last("bob").empty
    events = ann.events(["undo"])
    assert events[["actor", "subject"]].values.tolist() == [["bob", "bob"], ["ada", "ann"]]


def test_undo_by_id_checks_whose_decisions_they_are(url):
    """Undoing chosen decisions: one's own as a moderator, others' only as an admin; undone ones are not redone."""
    ann, bob, ada = Store(url), Store(url), Store(url)
    (first,) = ann.record_decision([("s", "1")], "remove", "ann")
    (second,) = bob.record_decision([("s", "2")], "flag", "bob")
    with pytest.raises(auth.Forbidden):
        ann.undo([first, second], "ann")
    assert ann.undo([first], "ann")["id"].tolist() == [first]
    assert ann.undo([first], "ann").empty
    assert ada.undo([first, second], "ada")["id"].tolist() == [second]
    assert ann.current_decisions().empty


def test_two_tabs_undoing_at_once_undo_two_batches(url):
    """The same moderator undoing from two connections at once: each undo takes back a different batch."""
    tabs = [Store(url), Store(url)]
    for comment in ("1", "2", "3"):
        tabs[0].record_decision([("s", comment)], "remove", "ann")
    start, results = threading.Barrier(2), []

    def undo(store):
        start.wait()
        results.append(store.undo_last("ann"))

    threads = [threading.Thread(target=undo, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    undone = sorted(frame["comment_id"].iloc[0] for frame in results)
    assert undone == ["2", "3"]
    assert tabs[0].current_decisions()["comment_id"].tolist() == ["1"]


def test_decided_at_follows_the_log_order(url):
    """Decisions from several connections at once: per comment, a later id never has an earlier time."""
    stores = [Store(url) for _ in range(4)]

    def decide(store, name):
        for i in range(15):
            store.record_decision([("s", str(i % 3))], "approve", name)

    threads = [threading.Thread(target=decide, args=(store, name))
               for store, name in zip(stores, ("ann", "bob", "ada", "ann"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = stores[0].decisions().sort_values("id")
    assert len(log) == 60
    for _, comment in log.groupby("comment_id"):
        assert comment["decided_at"].is_monotonic_increasing


def test_user_management_is_logged_and_never_keeps_a_password(url):
    """Adding, re-roling and removing users are events; the store holds only argon2 hashes."""
    store = Store(url)
    store.set_role("vera", "moderator")
    store.set_password("vera", "another long one")
    store.remove_user("bob")
    assert store.users()[["name", "role"]].values.tolist() == [
        ["ada", "admin"], ["ann", "moderator"], ["vera", "moderator"]]
    assert store.user("vera")["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(store.user("ann")) and PASSWORD not in store.events().to_string()
    assert store.events(["role_changed"])["detail"].tolist() == ["viewer -> moderator"]
    with pytest.raises(auth.Forbidden):
        store.add_user("eve", "admin", PASSWORD, actor="ann")  # only an admin manages users
    store.add_user("eve", "viewer", PASSWORD, actor="ada")
    with pytest.raises(ValueError, match="exists already"):
        store.add_user("eve", "viewer", PASSWORD)
    with pytest.raises(ValueError, match="unknown role"):
        store.add_user("zed", "owner", PASSWORD)


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_only_admins_change_the_desks_staff_settings(url):
    """A moderator's or viewer's change of who is staff is refused by the store; an admin's is kept with their name."""
    store = Store(url)
    for name in ("ann", "vera"):
        with pytest.raises(auth.Forbidden):
            store.set_desk_setting("staff_names", ["Charles Rollet"], name)
    assert store.desk_settings() == {}
    store.set_desk_setting("staff_names", ["Charles Rollet"], "ada")
    assert store.desk_settings() == {"staff_names": ["Charles Rollet"]}
    assert store.desk_settings_history()["changed_by"].tolist() == ["ada"]


def test_only_admins_change_the_desks_decision_reasons(url):
    """A moderator's or viewer's list of decision reasons is refused by the store; an admin's is in force."""
    store = Store(url)
    for name in ("ann", "vera"):
        with pytest.raises(auth.Forbidden):
            store.set_desk_setting("decision_reasons", ["doxxing"], name)
    assert store.decision_reasons() == list(DEFAULT_DECISION_REASONS)
    store.set_desk_setting("decision_reasons", ["doxxing", "spam"], "ada")
    assert store.decision_reasons() == ["doxxing", "spam"]
