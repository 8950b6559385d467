"""The Streamlit dashboard, page by page and through the decision flow (streamlit.testing AppTest)."""

import getpass
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_fixtures import HOSTILE, HOSTILE_TITLE, SOURCE, write_results
from moderation.store import Store

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "streamlit_app.py")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A small results folder with every score column and a hostile comment."""
    return write_results(tmp_path_factory.mktemp("results"), n_comments=60, n_articles=3)


@pytest.fixture
def app(results, monkeypatch, tmp_path) -> AppTest:
    """The app on the fixture folder with a fresh store of its own."""
    monkeypatch.setenv("MODERATION_RESULTS", str(results))
    monkeypatch.setenv("MODERATION_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    return AppTest.from_file(APP, default_timeout=60)


def open_page(app: AppTest, page: str, **query) -> AppTest:
    app.query_params.update(query)
    app.run()
    if page != "review":  # the landing page
        app.switch_page(f"app_pages/{page}.py").run()
    assert not app.exception, app.exception
    return app


def first_row(app: AppTest) -> tuple[str, str]:
    """(source, comment_id) of the first row of the page's first table."""
    return next(app.dataframe[0].value[["source", "comment_id"]].itertuples(index=False, name=None))


def table_with(app: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page having all ``columns``."""
    return next(d.value for d in app.dataframe if set(columns) <= set(d.value.columns))


def test_overview_shows_kpis_and_queues(app):
    """Overview shows the comment, article and author counts and one row per queue."""
    open_page(app, "overview")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Comments"] == "60" and metrics["Articles"] == "3"
    assert "Decisions pending" in metrics
    queues = ["heavily_up", "heavily_down", "controversial", "anomalous", "offtopic"]
    assert list(app.dataframe[0].value["queue"]) == queues


@pytest.mark.parametrize("page, title", [
    ("votes", "Vote review"), ("offtopic", "Off-topic speculation"), ("authors", "Authors"), ("thread", "Thread"),
    ("topics", "Topics"), ("decisions", "Decisions"),
])
def test_every_page_renders(app, page, title):
    """Every page runs without an exception and shows its title."""
    open_page(app, page)
    assert app.title[0].value == title


def test_vote_queue_lists_members_with_reasons(app, results):
    """The vote page's default queue shows its members, each with its reason, highest rank first."""
    open_page(app, "votes")
    table = app.dataframe[0].value
    comments = pd.read_parquet(results / "comments.parquet")
    assert set(table["comment_id"]) == set(comments.loc[comments["is_heavily_up"], "comment_id"])
    assert table["reason"].notna().all()


def test_offtopic_evidence_is_escaped_text_in_plain_words(app):
    """The off-topic evidence shows the hostile comment escaped (never Markdown), reasons in words, rounded."""
    open_page(app, "offtopic")
    app.selectbox(key="offtopic_evidence").select((SOURCE, "c0")).run()
    bodies = [h.proto.body for h in app.get("html")]
    assert any("&lt;img src=x onerror=alert(1)&gt;" in b for b in bodies) and all("<img" not in b for b in bodies)
    assert all(HOSTILE not in m.value for m in app.markdown)
    assert any("Off-topic speculation: shares" in b for b in bodies)
    evidence = table_with(app, "measure", "value")
    assert all(len(v) <= 6 for m, v in evidence.values.tolist() if m.endswith("score"))


def test_thread_page_reads_article_from_url(app):
    """A thread link (source, article, comment in the URL) opens that thread with the comment shown as text."""
    open_page(app, "thread", source=SOURCE, article="a0", comment="c0")
    texts = [t.value for t in app.text]
    assert any(HOSTILE_TITLE in t for t in texts) and HOSTILE in texts
    tree = app.dataframe[0].value
    assert tree["tree"].iloc[0] == HOSTILE  # first root, depth 0
    assert set(tree["parent_link"]) <= {"", "reply", "inferred"}


def test_filters_survive_in_the_url(app):
    """Filters given in the URL fill the sidebar, restrict the data and stay in the query parameters."""
    open_page(app, "overview", author="user0", since="2024-01-01")
    assert app.text_input(key="filter_author").value == "user0"
    assert app.query_params["author"] == "user0"
    assert app.query_params["since"] == "2024-01-01"
    comments = int(next(m.value for m in app.metric if m.label == "Comments"))
    assert 0 < comments < 60


def test_author_profile_from_link(app):
    """A profile link (``authors?profile=NAME``) shows that author's history and does not filter other pages."""
    open_page(app, "authors", profile="user0")
    assert "Author: user0" in [t.value for t in app.text]
    history = table_with(app, "comment_id", "author")
    assert len(history) > 0 and set(history["author"]) == {"user0"}
    partners = table_with(app, "replied_to_author", "count")  # the run's reply network, not recomputed
    assert len(partners) and ((partners["author"] == "user0") | (partners["replied_to_author"] == "user0")).all()
    assert not app.text_input(key="filter_author").value
    app.switch_page("app_pages/overview.py").run()
    assert next(m.value for m in app.metric if m.label == "Comments") == "60"


def test_decision_flow(app, tmp_path):
    """Decide -> stored -> gone from the queue -> in the audit log -> undo brings it back."""
    open_page(app, "votes")
    app.text_input(key="moderator").input("alice").run()
    chosen = first_row(app)
    app.multiselect(key="votes_heavily_up_pick").select(chosen).run()
    app.selectbox(key="votes_heavily_up_action").select("remove").run()
    app.selectbox(key="votes_heavily_up_reason").select("type a reason…").run()
    app.text_input(key="votes_heavily_up_reason_typed").input("insults").run()
    app.button(key="votes_heavily_up_record").click().run()
    assert not app.exception, app.exception

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    decided = store.current_decisions()
    assert decided[["source", "comment_id", "action", "moderator", "reason"]].values.tolist() == [
        [chosen[0], chosen[1], "remove", "alice", "insults"]]
    assert chosen[1] not in set(app.dataframe[0].value["comment_id"])

    app.toggle(key="votes_heavily_up_show_decided").set_value(True).run()
    shown = app.dataframe[0].value
    assert shown.loc[shown["comment_id"] == chosen[1], "decision"].tolist() == ["remove"]

    app.switch_page("app_pages/decisions.py").run()
    log = table_with(app, "moderator", "undone_at")
    latest = log[["comment_id", "action", "moderator", "reason"]].values.tolist()[0]
    assert latest == [chosen[1], "remove", "alice", "insults"]

    app.button(key="log_undo").click().run()
    assert store.current_decisions().empty
    assert store.decisions()["undone_by"].tolist() == ["alice"]
    app.switch_page("app_pages/votes.py").run()
    assert chosen[1] in set(app.dataframe[0].value["comment_id"])


def test_decision_needs_a_moderator_name(app, tmp_path, monkeypatch):
    """Single-user mode starts with this computer's user name; cleared, deciding is disabled and nothing stored."""
    monkeypatch.syspath_prepend(str(Path(APP).parent))
    import _ui

    _ui._local_moderator().clear()  # no name chosen in an earlier test's tab
    open_page(app, "votes")
    assert app.text_input(key="moderator").value == getpass.getuser()
    assert any("Single-user mode" in c.value for c in app.sidebar.caption)
    app.text_input(key="moderator").input("").run()
    app.multiselect(key="votes_heavily_up_pick").select(first_row(app)).run()
    assert app.button(key="votes_heavily_up_record").disabled and app.button(key="votes_heavily_up_undo").disabled
    assert Store(f"sqlite:///{tmp_path / 'store.db'}").decisions().empty


def test_offtopic_queue_can_rank_comments_below_the_threshold(app, results):
    """Switching on 'Also comments below the threshold' ranks every comment by the queue's score."""
    open_page(app, "offtopic")
    app.toggle(key="offtopic_ranked_all").set_value(True).run()
    assert not app.exception, app.exception
    table = table_with(app, "comment_id", "in_queue")
    comments = pd.read_parquet(results / "comments.parquet")
    assert len(table) == min(len(comments), 200) and not table["in_queue"].all()
    top = comments.sort_values("offtopic_speculation_score", ascending=False, kind="stable")["comment_id"]
    assert table["comment_id"].tolist()[:5] == top.tolist()[:5]


def test_offtopic_labels_are_stored_for_learning(app, tmp_path):
    """'Off topic' / 'On topic' on the comment in view goes to the store; the latest label is shown."""
    open_page(app, "offtopic")
    app.text_input(key="moderator").input("").run()
    assert app.button(key="offtopic_label_True").disabled  # no moderator name
    app.text_input(key="moderator").input("alice").run()
    chosen = app.selectbox(key="offtopic_evidence").value
    app.button(key="offtopic_label_True").click().run()
    assert not app.exception, app.exception
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.labels()[["source", "comment_id", "value", "moderator"]].values.tolist() == [
        [chosen[0], chosen[1], True, "alice"]]
    assert any(t.value.startswith("Labelled off topic by alice") for t in app.text)
    app.button(key="offtopic_label_False").click().run()
    assert store.labels()["value"].tolist() == [False]
    assert store.current_decisions().empty  # a label is not a moderation decision


def test_engagement_page_plots_the_tables_the_run_wrote(app, results):
    """The Engagement page draws staff, reply-pair, weekly, retention and participation plots from engagement_*."""
    open_page(app, "engagement")
    assert app.title[0].value == "Engagement"
    metrics = {m.label: m.value for m in app.metric}
    overall = pd.read_parquet(results / "engagement_staff_overall.parquet").iloc[0]
    assert metrics["Threads readers started"] == f"{overall['threads']:,}"
    assert metrics["Staff authors seen"] == "1"  # user1, the fixture desk's staff
    charts = [e for e in app.get("plotly_chart")]
    assert len(charts) >= 7, len(charts)
    staff = table_with(app, "author", "replies_made")
    assert staff["author"].tolist() == ["user1"]


def test_staff_settings_are_saved_from_the_dashboard(app, tmp_path):
    """Names typed on the Engagement page go to the store's desk settings (applied on the next run)."""
    open_page(app, "engagement")
    app.text_input(key="moderator").input("").run()  # single-user mode starts with the local user's name
    assert app.button(key="desk_save").disabled  # no moderator name
    app.text_input(key="moderator").input("alice").run()
    app.text_area(key="desk_staff_names").input("Charles Rollet\nJeff Atwood").run()
    app.text_area(key="desk_staff_patterns").input("(").run()
    app.button(key="desk_save").click().run()
    assert any("not a regular expression" in e.value for e in app.error)
    app.text_area(key="desk_staff_patterns").input(r"\(staff\)$").run()
    app.button(key="desk_save").click().run()
    assert not app.exception, app.exception
    settings = Store(f"sqlite:///{tmp_path / 'store.db'}").desk_settings()
    assert settings["staff_names"] == ["Charles Rollet", "Jeff Atwood"]
    assert settings["staff_patterns"] == [r"\(staff\)$"]
    assert "staff_columns" not in settings  # unchanged settings are not written again


def test_queue_and_toggles_live_in_the_url(app):
    """The chosen queue and the queue's toggles come from the URL and are written back to it."""
    open_page(app, "votes", queue="controversial", show_decided="true", min_votes="2")
    assert app.segmented_control(key="votes_queue").value == "controversial"
    assert app.toggle(key="votes_controversial_show_decided").value is True
    assert app.number_input(key="votes_controversial_min_votes").value == 2
    app.segmented_control(key="votes_queue").set_value("anomalous").run()
    assert app.query_params["queue"] == "anomalous"
    app.toggle(key="votes_anomalous_ranked_all").set_value(True).run()
    assert app.query_params["below_threshold"] == "true"


def test_empty_queue_hint_names_the_toggle_that_helps(app):
    """A queue emptied by a high 'Minimum votes' says to lower it (not to switch on a toggle that is on)."""
    open_page(app, "votes", queue="controversial", min_votes="5000", below_threshold="true")
    hints = [i.value for i in app.info]
    assert any("lower 'Minimum votes' (now 5000)" in h for h in hints), hints
    assert not any("Also comments below the threshold" in h for h in hints)


def test_decisions_page_respects_the_sidebar(app, tmp_path, results):
    """With an author filter, the audit log lists only decisions on that author's comments."""
    comments = pd.read_parquet(results / "comments.parquet")
    user0 = comments.loc[comments["author"] == "user0", "comment_id"].iloc[0]
    other = comments.loc[comments["author"] != "user0", "comment_id"].dropna().iloc[0]
    Store(f"sqlite:///{tmp_path / 'store.db'}").record_decision([(SOURCE, user0), (SOURCE, other)], "flag", "bo")
    open_page(app, "decisions")
    assert set(table_with(app, "moderator", "undone_at")["comment_id"]) == {user0, other}
    open_page(app, "decisions", author="USER0")  # part of a name, any case
    assert table_with(app, "moderator", "undone_at")["comment_id"].tolist() == [user0]


PAGE_FILES = {"overview": "overview", "votes": "votes", "offtopic": "offtopic", "authors": "authors",
              "engagement": "engagement", "thread": "thread", "topics": "topics", "decisions": "decisions"}


def test_every_internal_link_opens_its_page(app, results):
    """Every link a page shows (thread, profile) names a page of the app and opens it without an exception."""
    from urllib.parse import parse_qsl, urlsplit

    links = set()
    for page in ("overview", "votes", "offtopic", "engagement", "thread"):
        open_page(app, page)
        for frame in app.dataframe:
            for column in ("thread", "profile", "profile_a", "profile_b"):
                if column in frame.value:
                    links |= set(frame.value[column].dropna())
    assert any(link.startswith("thread?") for link in links) and any(link.startswith("authors?") for link in links)
    for link in sorted(links)[:12]:
        url = urlsplit(link)
        assert url.path in PAGE_FILES, link
        query = dict(parse_qsl(url.query))
        page = AppTest.from_file(APP, default_timeout=60)
        page.query_params.update(query)
        page.run()
        page.switch_page(f"app_pages/{PAGE_FILES[url.path]}.py").run()
        assert not page.exception, (link, page.exception)
        if url.path == "thread":
            assert not page.warning and not page.info, link
        if url.path == "authors":
            assert f"Author: {query['profile']}" in [t.value for t in page.text], link


def test_every_page_has_the_url_path_its_links_use():
    """Pages are registered under the paths internal links and the README use (url_path, not the title)."""
    source = (Path(APP).read_text())
    for path, file in PAGE_FILES.items():
        assert f'st.Page("app_pages/{file}.py"' in source and f'url_path="{path}"' in source, path


def test_thread_comment_lives_in_the_url(app):
    """The comment read on the Thread page comes from ?comment= and stays in the URL (written back by its id)."""
    open_page(app, "thread", source=SOURCE, article="a0", comment="c1")
    tree = table_with(app, "tree", "comment_id")
    position = tree["comment_id"].tolist().index("c1")
    assert app.selectbox(key="thread_read").value == position
    app.run()
    assert app.query_params["comment"] == "c1" and app.selectbox(key="thread_read").value == position
    app.selectbox(key="thread_read").set_value(position + 1).run()
    assert app.query_params["comment"] == tree["comment_id"].iloc[position + 1]


def test_teach_page_labels_both_questions(app, tmp_path):
    """The Teach page lists uncertain comments; its buttons store off-topic and speculative labels."""
    open_page(app, "teach")
    assert app.title[0].value == "Teach"
    app.text_input(key="moderator").input("alice").run()
    off = next(b for b in app.button if b.key.startswith("teach_offtopic_True_"))
    comment_id = off.key.rsplit("_", 1)[1]
    off.click().run()
    assert not app.exception, app.exception
    spec = next(b for b in app.button if b.key.startswith("teach_speculative_False_"))
    spec.click().run()
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.labels("offtopic")[["comment_id", "value"]].values.tolist() == [[comment_id, True]]
    assert store.labels("speculative")["value"].tolist() == [False]
    app.button(key="teach_measure").click().run()
    assert not app.exception, app.exception
    assert any("Not enough labels yet" in i.value for i in app.info)  # two labels teach nothing yet
