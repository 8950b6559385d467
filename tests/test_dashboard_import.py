"""The Overview page's import goes through ``pipeline.import_files``: it scores the touched article only."""

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_fixtures import write_results
from moderation import catalog

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "streamlit_app.py")
UPLOAD = (
    "comment_id,article_id,author,created_at,text,article_title\n"
    "n1,fresh,reader1,2024-03-01T10:00,Trade talks resume next week,Trade talks resume\n"
    "n2,fresh,reader2,2024-03-01T11:00,About time the talks resumed,Trade talks resume\n"
)


def import_on_overview(folder, monkeypatch, file_name: str, source_name: str) -> AppTest:
    """A fixture run in ``folder``, then :data:`UPLOAD` imported as ``file_name`` on the Overview page."""
    results = write_results(folder, n_comments=60, n_articles=3)
    monkeypatch.setenv("MODERATION_RESULTS", str(results))
    monkeypatch.setenv("MODERATION_STORE", f"sqlite:///{(results / catalog.STORE_FILE).resolve()}")
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("app_pages/overview.py").run()
    app.file_uploader(key="import_file").set_value((file_name, UPLOAD.encode(), "text/csv"))
    app.text_input(key="import_source").input(source_name)
    app.run()
    app.button(key="import_run").click().run()
    assert not app.exception, app.exception
    return app


def test_the_import_message_says_what_was_added_and_scored(tmp_path, monkeypatch):
    """Two comments on a new article: added, and only that article scored with the run's fitted state."""
    app = import_on_overview(tmp_path / "results", monkeypatch, "comments.csv", "uploaded")
    messages = [element.value for element in app.success]
    assert any(message.startswith("2 comments added (0 already known), 1 new article, 0 problems; scored 2 "
                                  "comments in 1 touched article with the fitted state of run ")
               for message in messages), messages


@pytest.mark.parametrize("typed, stored", [("desk", "desk"), ("", "desk_export")])
def test_the_source_name_typed_is_the_comments_source(tmp_path, monkeypatch, typed, stored):
    """A file not called comments.*: the source name the moderator typed is the comments' source (it was
    ignored: the file's stem won); left empty, the stem names it."""
    import_on_overview(tmp_path / "results", monkeypatch, "desk_export.csv", typed)
    comments = pd.read_parquet(tmp_path / "results" / "comments.parquet", columns=["source", "comment_id"])
    assert comments[comments["comment_id"].isin(["n1", "n2"])]["source"].tolist() == [stored, stored]
