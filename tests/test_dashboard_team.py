"""The dashboard served beyond this machine: sign-in first, roles, claims and conflicts (AppTest)."""

from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from moderation.store import Store
from tests.dashboard_fixtures import write_results

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "streamlit_app.py")
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("results"), n_comments=40, n_articles=2)


@pytest.fixture
def store(tmp_path) -> Store:
    """A team store: ann and bob moderate, vera views."""
    store = Store(f"sqlite:///{tmp_path / 'team.db'}")
    for name, role in (("ann", "moderator"), ("bob", "moderator"), ("vera", "viewer")):
        store.add_user(name, role, PASSWORD)
    return store


@pytest.fixture
def app(results, store, monkeypatch):
    """The app as a server on 127.0.0.2 (not 127.0.0.1: sign-in required) would run it."""
    monkeypatch.setenv("MODERATION_RESULTS", str(results))
    monkeypatch.setenv("MODERATION_STORE", store.url)
    config.set_option("server.address", "127.0.0.2")
    yield AppTest.from_file(APP, default_timeout=60)
    config.set_option("server.address", "127.0.0.1")


def sign_in(app: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    app.text_input(key="sign_in_name").input(name)
    app.text_input(key="sign_in_password").input(password)
    next(b for b in app.button if b.label == "Sign in").click().run()
    assert not app.exception, app.exception
    return app


def test_the_sign_in_form_comes_before_any_content(app, store):
    """Nothing but the form until someone signs in; a wrong password and an unknown name read the same."""
    app.run()
    assert [t.value for t in app.title] == ["Comment moderation: sign in"]
    assert not app.metric and not app.dataframe
    sign_in(app, "ann", "wrong password")
    sign_in(app, "nobody", "wrong password")
    assert [e.value for e in app.error] == ["Unknown user name or wrong password."]
    assert not app.metric
    assert store.events(["sign_in_failed"])["subject"].tolist() == ["nobody", "ann"]


def test_failed_sign_ins_are_rate_limited_per_name(app):
    """After five failures for a name even the right password is refused for a while."""
    app.run()
    for _ in range(5):
        sign_in(app, "ann", "wrong password")
    sign_in(app, "ann")
    assert "Too many failed sign-ins" in app.error[0].value
    assert not app.metric


def test_a_moderator_decides_under_their_name_and_signs_out(app, store):
    """Signed in as ann, a decision is recorded as ann's; after sign-out the form is back."""
    sign_in(app.run(), "ann")
    assert "Signed in as ann (moderator)" in [t.value for t in app.sidebar.text]
    app.switch_page("app_pages/votes.py").run()
    chosen = next(app.dataframe[0].value[["source", "comment_id"]].itertuples(index=False, name=None))
    app.multiselect(key="votes_heavily_up_pick").select(chosen).run()
    assert store.claims()[["comment_id", "moderator"]].values.tolist() == [[chosen[1], "ann"]]
    app.multiselect(key="votes_heavily_up_pick").unselect(chosen).run()
    assert store.claims().empty  # unpicking releases
    app.multiselect(key="votes_heavily_up_pick").select(chosen).run()
    assert "sign_in_password" not in app.session_state
    app.button(key="votes_heavily_up_record").click().run()
    assert not app.exception, app.exception
    assert store.decisions()[["comment_id", "moderator"]].values.tolist() == [[chosen[1], "ann"]]
    assert store.claims().empty  # deciding released the claim
    app.button(key="sign_out").click().run()
    assert [t.value for t in app.title] == ["Comment moderation: sign in"]
    assert store.events(["sign_in", "sign_out"])["event"].tolist() == ["sign_out", "sign_in"]


def test_a_viewer_sees_but_cannot_decide(app, store):
    """Vera (viewer) gets the queues, with deciding and labelling disabled; the store refuses her anyway."""
    sign_in(app.run(), "vera")
    app.switch_page("app_pages/votes.py").run()
    assert app.dataframe and app.button(key="votes_heavily_up_record").disabled
    assert app.button(key="votes_heavily_up_undo").disabled
    assert any("signed in as a viewer" in c.value for c in app.caption)
    app.switch_page("app_pages/offtopic.py").run()
    assert app.button(key="offtopic_label_True").disabled
    assert store.decisions().empty and store.labels().empty


def test_a_comment_claimed_by_another_is_marked_and_not_taken(app, store):
    """bob picks a comment (claiming it); in ann's browser it shows "claimed by bob" and picking it fails."""
    sign_in(app.run(), "bob")
    app.switch_page("app_pages/votes.py").run()
    chosen = next(app.dataframe[0].value[["source", "comment_id"]].itertuples(index=False, name=None))
    app.multiselect(key="votes_heavily_up_pick").select(chosen).run()
    app = AppTest.from_file(APP, default_timeout=60)  # ann, in another browser
    sign_in(app.run(), "ann")
    app.switch_page("app_pages/votes.py").run()
    picker = app.multiselect(key="votes_heavily_up_pick")
    assert picker.format_func(chosen).startswith("[claimed by bob] ")
    picker.select(chosen).run()
    assert app.multiselect(key="votes_heavily_up_pick").value == []
    assert any("claimed by bob" in e.value for e in app.error)


def test_a_decision_that_landed_meanwhile_is_shown_and_the_moderator_chooses(app, store, monkeypatch):
    """ann's view is stale (bob decided since): nothing is overwritten; she sees bob's decision and replaces it."""
    monkeypatch.setenv("MODERATION_CLAIM_MINUTES", "0")  # ann's claim lapses at once, so bob can decide
    sign_in(app.run(), "ann")
    app.switch_page("app_pages/votes.py").run()
    chosen = next(app.dataframe[0].value[["source", "comment_id"]].itertuples(index=False, name=None))
    app.multiselect(key="votes_heavily_up_pick").select(chosen).run()
    app.selectbox(key="votes_heavily_up_action").select("approve").run()
    (theirs,) = store.record_decision([chosen], "remove", "bob", "spam")
    app.button(key="votes_heavily_up_record").click().run()
    assert not app.exception, app.exception
    assert any("changed since you saw them" in w.value for w in app.warning)
    shown = next(d.value for d in app.dataframe if "now" in d.value.columns)
    assert shown[["comment_id", "now", "by"]].values.tolist() == [[chosen[1], "remove", "bob"]]
    assert store.current_decisions()["moderator"].tolist() == ["bob"]
    app.button(key="votes_heavily_up_replace").click().run()
    current = store.current_decisions()
    assert current[["action", "moderator", "replaces"]].values.tolist() == [["approve", "ann", theirs]]


def card_key(app: AppTest) -> tuple[str, str]:
    """The (source, comment_id) of the review card shown: the one this session claimed."""
    return app.session_state["review_claimed"]


def test_review_a_viewer_cannot_decide_a_card(app, store):
    """On /review a viewer's decision keys and undo are disabled and no card is claimed."""
    sign_in(app.run(), "vera")
    assert app.title[0].value == "Review"
    for action in ("approve", "remove", "flag", "escalate", "undo"):
        assert app.button(key=f"review_{action}").disabled, action
    assert store.claims().empty and store.decisions().empty


def test_review_skips_a_card_another_moderator_has_open(app, store):
    """bob's open card is claimed; ann's review skips it and says who has it."""
    sign_in(app.run(), "bob")
    bobs = card_key(app)
    assert store.claims()[["comment_id", "moderator"]].values.tolist() == [[bobs[1], "bob"]]
    ann = sign_in(AppTest.from_file(APP, default_timeout=60).run(), "ann")
    anns = card_key(ann)
    assert anns != bobs
    assert any("1 claimed by bob" in c.value for c in ann.caption)
    ann.button(key="review_approve").click().run()
    assert store.current_decisions()[["comment_id", "moderator"]].values.tolist() == [[anns[1], "ann"]]


def test_review_a_decision_that_landed_meanwhile_is_shown_and_chosen(app, store, monkeypatch):
    """ann's card was decided by bob after she opened it: nothing overwritten; she sees his and replaces it."""
    monkeypatch.setenv("MODERATION_CLAIM_MINUTES", "0")  # ann's claim lapses at once, so bob can decide
    sign_in(app.run(), "ann")
    shown = card_key(app)
    (theirs,) = store.record_decision([shown], "remove", "bob", "spam")
    app.button(key="review_approve").click().run()
    assert not app.exception, app.exception
    assert any("changed since you opened it" in w.value for w in app.warning)
    table = next(d.value for d in app.dataframe if "now" in d.value.columns)
    assert table[["comment_id", "now", "by"]].values.tolist() == [[shown[1], "remove", "bob"]]
    assert store.current_decisions()["moderator"].tolist() == ["bob"]
    app.button(key="review_replace").click().run()
    current = store.current_decisions()
    assert current[["comment_id", "action", "moderator", "replaces"]].values.tolist() == [
        [shown[1], "approve", "ann", theirs]]


def test_only_an_admin_edits_the_desks_reasons_on_review(app, store):
    """A signed-in moderator sees the desk's reasons but cannot save them; an admin can."""
    store.add_user("ada", "admin", PASSWORD)
    sign_in(app.run(), "ann")
    assert app.text_area(key="desk_decision_reasons").disabled and app.button(key="desk_reasons_save").disabled
    assert any("Only an admin" in c.value for c in app.caption)
    app.button(key="sign_out").click().run()
    sign_in(app.run(), "ada")
    app.text_area(key="desk_decision_reasons").input("doxxing\nspam").run()
    app.button(key="desk_reasons_save").click().run()
    assert store.decision_reasons() == ["doxxing", "spam"]
    assert store.desk_settings_history()["changed_by"].tolist() == ["ada"]
