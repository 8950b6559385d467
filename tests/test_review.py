"""The review workbench: the combined queue, cards in plain words, single undo, and its pages (AppTest)."""

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from moderation import queues, reports, schema
from moderation.store import DEFAULT_DECISION_REASONS, Store
from tests.dashboard_fixtures import HOSTILE, HOSTILE_TITLE, write_results

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "streamlit_app.py")


def flagged() -> pd.DataFrame:
    """Six comments by hand: c1 in two queues, c2..c4 in one, c5 image-only (no text), c6 in none."""
    frame = schema.conform(pd.DataFrame({
        "comment_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
        "article_id": "a1", "source": "s",
        "author": ["ann", "bob", "cy", "dee", "eve", "fay"],
        "created_at": pd.Timestamp("2024-01-01", tz="UTC"),
        "text": ["one", "two", "three", "four", "  ", "six"],
    }), "comments")
    return frame.assign(
        is_heavily_up=[True, True, False, False, True, False], vote_rank_up=[1.0, 2.0, 0, 0, 9.0, 0],
        is_offtopic_speculation=[True, False, True, True, False, False],
        offtopic_speculation_score=[0.1, 0, 0.9, 0.5, 0, 0],
    )


def test_review_queue_combines_every_flag_once_by_priority():
    """priority = best standing in any queue + (reasons - 1); c1 (two reasons) first; c5 (no text) and c6 out.

    heavily_up members c1, c2 (c5 dropped): by vote_rank_up c2 stands 1.0, c1 0.5.
    offtopic members c1, c3, c4: c3 1.0, c4 2/3, c1 1/3. So c1 = 0.5 + 1, then c2 = c3 = 1.0 (source order), c4.
    """
    out = queues.review_queue(flagged())
    assert out["comment_id"].tolist() == ["c1", "c2", "c3", "c4"]
    assert out["priority"].round(3).tolist() == [1.5, 1.0, 1.0, 0.667]
    assert out["reasons"].tolist() == ["heavily_up, offtopic", "heavily_up", "offtopic", "offtopic"]
    assert queues.review_queue(flagged(), ["heavily_up"])["comment_id"].tolist() == ["c2", "c1"]


def test_a_new_queue_joins_the_review_queue(monkeypatch):
    """A queue added to QUEUES (a later detection stage) is combined without touching review_queue."""
    monkeypatch.setitem(queues.QUEUES, "rumour", queues.Queue("is_rumour", ("rumour_score",), "rumour_reason", "x"))
    comments = flagged().assign(is_rumour=[False] * 5 + [True], rumour_score=1.0, rumour_reason="r")
    assert "c6" in queues.review_queue(comments)["comment_id"].tolist()


def test_highlighted_html_escapes_everything_and_marks_cues():
    """Markup in a comment becomes entities; only the cue phrases are wrapped in <mark>."""
    text = "Perhaps <img src=x onerror=alert(1)> **bold** & more"
    out = reports.highlighted_html(text, [{"phrase": "Perhaps", "start": 0, "end": 7}])
    assert out.startswith("<mark>Perhaps</mark>")
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out and "&amp; more" in out
    assert out.count("<") == 2  # the opening and closing mark only


def test_cues_are_marked_only_on_speculative_comments():
    """A hedge in a comment the score calls not speculative is not marked, and its reason does not say
    "speculative wording"; the same comment scored speculative gets its cues marked and named."""
    text = "Why is it only open to New York City-area riders?"
    thread = pd.DataFrame({"sim_article": [0.1, 0.3]})
    plain = pd.Series({"source": "s", "comment_id": "c1", "article_id": "a1", "text": text,
                       "speculation_cues": [{"phrase": "Why is", "start": 0, "end": 6}],
                       "speculation_score": 0.2, "is_speculative": False, "sim_article": 0.1})
    no_decisions = pd.DataFrame(columns=["source", "comment_id", "action", "moderator"])
    card = reports.review_card(plain, ["offtopic"], thread, pd.DataFrame(), no_decisions)
    assert "<mark>" not in card.text_html and card.text_html == reports.highlighted_html(text, None)
    assert "not speculative, speculation score 0.20" in card.explanations[0]
    assert "Why is" not in card.explanations[0]
    speculative = plain.copy()
    speculative[["speculation_score", "is_speculative"]] = [0.8, True]
    card = reports.review_card(speculative, ["offtopic"], thread, pd.DataFrame(), no_decisions)
    assert card.text_html.startswith("<mark>Why is</mark>")
    assert "speculative wording ('Why is'), speculation score 0.80" in card.explanations[0]


def test_card_explains_reasons_in_plain_words_with_rounded_figures(tmp_path):
    """A card says why in words, with whole percentages and at most two decimals, and names the parent."""
    data = write_results(tmp_path, n_comments=60, n_articles=3)
    comments = pd.read_parquet(data / "comments.parquet")
    articles = pd.read_parquet(data / "articles.parquet")
    queue = queues.review_queue(comments)
    reply = comments[comments["parent_id"].notna() & comments.index.isin(queue.index)].iloc[0]
    thread = comments[comments["article_id"] == reply["article_id"]]
    card = reports.review_card(reply, queue.loc[reply.name, "reasons"].split(", "), thread, articles,
                               Store(f"sqlite:///{tmp_path / 's.db'}").current_decisions())
    parent = comments[comments["comment_id"] == reply["parent_id"]].iloc[0]
    assert card.parent_opening == reports.opening_words(parent["text"])
    assert len(card.explanations) == len(card.reasons)
    for line in card.explanations:
        assert not re.search(r"\d\.\d{3,}", line), line  # no long floats
        assert "offset" not in line and "robust_z" not in line and "Wilson" not in line
    assert card.thread_link.startswith("thread?source=")
    hostile = comments.iloc[0]
    assert reports.review_card(hostile, ["offtopic"], comments[comments["article_id"] == "a0"], articles,
                               pd.DataFrame(columns=["source", "comment_id", "action", "moderator"])
                               ).article_title == HOSTILE_TITLE


def test_explain_names_the_place_in_the_thread():
    """Heavily up-voted: the counts and the comment's place among the thread's net votes."""
    thread = pd.DataFrame({"vote_net": [5, 9, 1]})
    row = pd.Series({"upvotes": 9, "downvotes": 0, "vote_net": 9})
    assert reports.explain(row, ["heavily_up"], thread) == (
        "Heavily up-voted: 9 up, 0 down: the highest net votes of 3 comments in this thread.",)
    row = pd.Series({"upvotes": 3, "downvotes": 2, "vote_net": 1})
    lowest = reports.explain(row, ["heavily_down"], thread)[0]
    assert lowest.endswith("the lowest net votes of 3 comments in this thread.")


def test_undo_one_decision_keeps_the_log(tmp_path):
    """Store.undo marks exactly the given decision undone (by whom); the others stay; nothing is deleted."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    first = store.record_decision([("s", "c1")], "remove", "ann")
    store.record_decision([("s", "c2")], "approve", "bob")
    undone = store.undo(first, "cy")
    assert undone[["comment_id", "undone_by"]].values.tolist() == [["c1", "cy"]]
    assert store.current_decisions()["comment_id"].tolist() == ["c2"]
    assert len(store.decisions()) == 2
    assert store.undo(first, "cy").empty  # already undone: left as it is
    with pytest.raises(ValueError, match="moderator"):
        store.undo(first, " ")


def test_history_lists_current_decisions_by_action(tmp_path):
    """history(..., 'remove') holds the comments whose latest live decision is remove, with their text."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.record_decision([("s", "c1"), ("s", "c2")], "remove", "ann", "spam")
    store.record_decision([("s", "c2")], "approve", "ann")
    removed = reports.history(store.current_decisions(), flagged(), "remove")
    assert removed[["comment_id", "reason", "text"]].values.tolist() == [["c1", "spam", "one"]]


def test_author_drawer_counts_decisions_and_flags(tmp_path):
    """The drawer's figures: comments, decisions on them, share removed, queue counts."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    own = flagged().iloc[:4].assign(author="ann")
    store.record_decision([("s", "c1")], "remove", "mod")
    figures, recent = reports.author_drawer(own, pd.DataFrame(), store.current_decisions())
    values = dict(figures.values.tolist())
    assert values["comments"] == "4" and values["decisions on them"] == "1 remove"
    assert values["share removed"] == "25%"
    assert values["in queue: off-topic speculation"] == "3"
    assert len(recent) == 4


# ---- the pages (AppTest) ----------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("results"), n_comments=60, n_articles=3)


@pytest.fixture
def app(results, monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("MODERATION_RESULTS", str(results))
    monkeypatch.setenv("MODERATION_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def card_author_line(app: AppTest) -> str:
    return app.text[0].value


def named(app: AppTest) -> AppTest:
    app.text_input(key="moderator").input("alice").run()
    return app


def test_review_is_the_landing_page_with_a_plain_text_card(app):
    """The app opens on Review; the hostile comment (found with the text filter) is escaped, never Markdown."""
    assert app.title[0].value == "Review"
    assert "Comment 1 of" in " ".join(c.value for c in app.caption)
    app.text_input(key="filter_text").input("onerror").run()
    assert "Comment 1 of 1 " in " ".join(c.value for c in app.caption)
    bodies = [h.proto.body for h in app.get("html")]
    assert any("&lt;img src=x onerror=alert(1)&gt;" in b for b in bodies)
    assert all("<img" not in b for b in bodies)
    assert all(HOSTILE not in m.value for m in app.markdown)


def test_ten_decisions_in_a_row_then_undo(app, tmp_path):
    """Ten decisions advance card by card, each stored; undo puts the last back as the current card."""
    named(app)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    seen = []
    for i in range(10):
        seen.append(card_author_line(app) + app.get("html")[0].proto.body)
        app.button(key=("review_approve", "review_remove", "review_flag", "review_escalate")[i % 4]).click().run()
        assert not app.exception, app.exception
        assert len(store.current_decisions()) == i + 1
    assert len(set(seen)) == 10  # ten different cards
    last = store.decisions().iloc[0]
    app.button(key="review_undo").click().run()
    assert len(store.current_decisions()) == 9
    assert store.decisions().iloc[0]["undone_by"] == "alice"
    assert card_author_line(app) + app.get("html")[0].proto.body == seen[-1]
    assert last["action"] == "remove"  # the tenth: approve, remove, flag, escalate, ... remove


def test_decision_needs_a_moderator(app, tmp_path):
    """Without a moderator name the decision keys are disabled and nothing is stored."""
    app.text_input(key="moderator").input("").run()
    assert app.button(key="review_approve").disabled and app.button(key="review_undo").disabled
    assert Store(f"sqlite:///{tmp_path / 'store.db'}").current_decisions().empty


def test_reason_from_the_list_or_typed(app, tmp_path):
    """A listed reason (the usual list until the desk saves one) and a typed one are recorded with the decision;
    a reason is not carried over to the next card."""
    assert app.selectbox(key="review_reason").options == [*DEFAULT_DECISION_REASONS, "type a reason…"]
    named(app)
    app.selectbox(key="review_reason").select("spam").run()
    app.button(key="review_remove").click().run()
    assert app.selectbox(key="review_reason").value is None  # the next card starts without the last reason
    app.selectbox(key="review_reason").select("type a reason…").run()
    app.text_input(key="review_reason_typed").input("doxxing").run()
    app.button(key="review_remove").click().run()
    log = Store(f"sqlite:///{tmp_path / 'store.db'}").decisions()
    assert log["reason"].tolist() == ["doxxing", "spam"]


def test_the_card_offers_the_desks_reasons_and_an_admin_changes_them_on_the_page(results, monkeypatch, tmp_path):
    """The Reason list is the desk's (saved in the store); an admin (single-user mode) edits it on Review, every
    picker offers the new list at once, and a refused list says why and changes nothing."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.set_desk_setting("decision_reasons", ["doxxing", "spam"], "ada")
    monkeypatch.setenv("MODERATION_RESULTS", str(results))
    monkeypatch.setenv("MODERATION_STORE", store.url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert app.selectbox(key="review_reason").options == ["doxxing", "spam", "type a reason…"]
    named(app)
    app.text_area(key="desk_decision_reasons").input("personal attack\nspam\n").run()
    app.button(key="desk_reasons_save").click().run()
    assert not app.exception, app.exception
    assert store.decision_reasons() == ["personal attack", "spam"]
    assert app.selectbox(key="review_reason").options == ["personal attack", "spam", "type a reason…"]
    app.selectbox(key="review_reason").select("personal attack").run()
    app.button(key="review_remove").click().run()
    app.switch_page("app_pages/votes.py").run()  # the queue pages' Decide panel offers the same list
    assert app.selectbox(key="votes_heavily_up_reason").options == ["personal attack", "spam", "type a reason…"]
    app.switch_page("app_pages/review.py").run()
    app.text_area(key="desk_decision_reasons").input("x" * 150).run()
    app.button(key="desk_reasons_save").click().run()
    assert any("one line of at most 100 characters" in e.value for e in app.error)
    assert store.decision_reasons() == ["personal attack", "spam"]
    app.button(key="desk_reasons_default").click().run()
    assert store.decision_reasons() == list(DEFAULT_DECISION_REASONS)
    assert store.decisions()["reason"].tolist() == ["personal attack"]


def test_image_only_answers_are_counted_where_they_are_left_out(tmp_path, monkeypatch):
    """Review and Vote review both leave out the two image-only answers and say so."""
    folder = write_results(tmp_path / "results", n_comments=60, n_articles=3, image_only=2)
    monkeypatch.setenv("MODERATION_RESULTS", str(folder))
    monkeypatch.setenv("MODERATION_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    note = "2 comments without readable text (image-only answers) not shown"
    assert any(note in c.value for c in app.caption), [c.value for c in app.caption]
    app.switch_page("app_pages/votes.py").run()
    assert not app.exception, app.exception
    assert any(note in c.value for c in app.caption), [c.value for c in app.caption]
    shown = app.dataframe[0].value
    assert not shown["comment_id"].isin(["c58", "c59"]).any()


def test_next_previous_and_reason_filter(app):
    """j/k buttons move through the queue; a reason filter narrows it."""
    first = card_author_line(app) + app.get("html")[0].proto.body
    app.button(key="review_next").click().run()
    assert "Comment 2 of" in " ".join(c.value for c in app.caption)
    app.button(key="review_previous").click().run()
    assert card_author_line(app) + app.get("html")[0].proto.body == first
    app.multiselect(key="review_reasons").set_value(["controversial"]).run()
    assert not app.exception, app.exception
    assert app.query_params["reasons"] == "controversial"  # a link to this view keeps the reason


def test_reasons_come_from_the_url(app):
    """/review?reasons=controversial,nonsense opens on that reason alone (an unknown one is dropped)."""
    app.query_params["reasons"] = "controversial,nonsense"
    app.run()
    assert not app.exception, app.exception
    assert app.multiselect(key="review_reasons").value == ["controversial"]
    assert "Controversial" in " ".join(c.value for c in app.caption)


def test_bulk_needs_confirmation(app, tmp_path):
    """'Decide many at once' records nothing until the confirmation is ticked."""
    named(app)
    assert app.button(key="review_bulk").disabled
    app.checkbox(key="review_bulk_confirm").check().run()
    app.button(key="review_bulk").click().run()
    assert len(Store(f"sqlite:///{tmp_path / 'store.db'}").current_decisions()) == 10


def test_history_undo_and_re_review(app, tmp_path):
    """History lists a removal; undo of that one decision brings it back; re-review opens it on Review."""
    named(app)
    app.button(key="review_remove").click().run()
    app.switch_page("app_pages/history.py").run()
    assert not app.exception, app.exception
    assert app.title[0].value == "History"
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    decision = int(store.decisions()["id"].iloc[0])
    app.selectbox(key="history_pick").set_value(decision).run()
    app.button(key="history_undo").click().run()
    assert store.current_decisions().empty and store.decisions()["undone_by"].tolist() == ["alice"]
    app.switch_page("app_pages/review.py").run()
    app.button(key="review_flag").click().run()
    app.switch_page("app_pages/history.py").run()
    app.segmented_control(key="history_view").set_value("flag").run()
    assert app.query_params["view"] == "flag"
    app.selectbox(key="history_pick").set_value(int(store.decisions()["id"].iloc[0])).run()
    app.button(key="history_re_review").click().run()
    assert not app.exception, app.exception
    assert "Re-review" in " ".join(c.value for c in app.caption)


def test_author_drawer_opens_from_the_card(app):
    """'Author details' shows the author's figures and latest comments."""
    app.button(key="review_author").click().run()
    assert not app.exception, app.exception
    figures = next(d.value for d in app.dataframe if "measure" in d.value.columns)
    assert {"comments", "share removed"} <= set(figures["measure"])


def test_vote_review_two_decisions_in_a_row(app):
    """The Vote review picker takes a second comment after a first decision (it crashed before)."""
    named(app)
    app.switch_page("app_pages/votes.py").run()
    for _ in range(2):
        first = next(app.dataframe[0].value[["source", "comment_id"]].itertuples(index=False, name=None))
        app.multiselect(key="votes_heavily_up_pick").select(first).run()
        app.button(key="votes_heavily_up_record").click().run()
        assert not app.exception, app.exception
        assert app.multiselect(key="votes_heavily_up_pick").value == []


def test_a_queue_page_hands_over_to_review(app):
    """'Review this queue one comment at a time' opens Review filtered to that queue's reason."""
    app.switch_page("app_pages/votes.py").run()
    app.button(key="votes_heavily_up_to_review").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Review"
    assert app.multiselect(key="review_reasons").value == ["heavily_up"]


def test_undo_stays_when_a_queue_page_empties(app, tmp_path):
    """Deciding every comment shown (with the confirmation) empties the queue; its undo button is still there."""
    named(app)
    app.switch_page("app_pages/votes.py").run()
    app.checkbox(key="votes_heavily_up_all").check().run()
    assert app.button(key="votes_heavily_up_record").disabled  # not before the yes
    app.checkbox(key="votes_heavily_up_confirm").check().run()
    app.button(key="votes_heavily_up_record").click().run()
    assert any("No comments in this queue" in i.value for i in app.info)
    app.button(key="votes_heavily_up_undo").click().run()
    assert Store(f"sqlite:///{tmp_path / 'store.db'}").current_decisions().empty


def test_local_moderator_defaults_to_the_user_and_is_remembered(results, monkeypatch, tmp_path):
    """In single-user mode (127.0.0.1) the Moderator box starts with the OS user's name; a name chosen in one
    tab is the next tab's default; served elsewhere, the sign-in form comes instead of any name box."""
    import getpass

    from streamlit import config

    monkeypatch.setenv("MODERATION_RESULTS", str(results))
    monkeypatch.setenv("MODERATION_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.syspath_prepend(str(Path(APP).parent))
    import _ui

    _ui._local_moderator().clear()
    first = AppTest.from_file(APP, default_timeout=60)
    first.run()
    assert first.text_input(key="moderator").value == getpass.getuser()
    first.text_input(key="moderator").input("bea").run()
    second = AppTest.from_file(APP, default_timeout=60)
    second.run()
    assert second.text_input(key="moderator").value == "bea"
    config.set_option("server.address", "127.0.0.2")
    try:
        remote = AppTest.from_file(APP, default_timeout=60)
        remote.run()
        assert [t.value for t in remote.title] == ["Comment moderation: sign in"]
        assert "moderator" not in [w.key for w in remote.text_input]
    finally:
        config.set_option("server.address", "127.0.0.1")
    _ui._local_moderator().clear()


def test_history_view_comes_from_the_url(app):
    """/history?view=approve opens the Approved view; an unknown view keeps Removed."""
    app.switch_page("app_pages/history.py")
    app.query_params["view"] = "approve"
    app.run()
    assert not app.exception, app.exception
    assert app.segmented_control(key="history_view").value == "approve"
