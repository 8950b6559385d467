"""The dashboard on a real run's folder: extreme dates, weights text, unreadable results and error details."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from moderation import catalog, pipeline, reports, schema
from tests.dashboard_fixtures import HOSTILE_AUTHOR, HOSTILE_TITLE, write_results

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboards" / "streamlit_app.py")
PAGES = [path.stem for path in sorted((ROOT / "dashboards" / "app_pages").glob("*.py"))]
HOSTILE_ORIGIN = "**bold** [a link](http://example.invalid) <b>tag</b>"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The seed page run through every stage."""
    out = tmp_path_factory.mktemp("results") / "out"
    pipeline.run([ROOT / "seeds"], out)
    return out


def app_on(folder: Path, monkeypatch, page: str = "overview", **query) -> AppTest:
    monkeypatch.setenv("MODERATION_RESULTS", str(folder))
    monkeypatch.delenv("MODERATION_STORE", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update(query)
    app.run()
    if page != "review":  # the landing page
        app.switch_page(f"app_pages/{page}.py").run()
    return app


@pytest.mark.parametrize("page", PAGES)
def test_a_link_to_the_last_day_there_is_opens_every_page(results, monkeypatch, page):
    """`?until=9999-12-31&since=0001-01-01` (a hand-made link) filters nothing out and raises nowhere."""
    app = app_on(results, monkeypatch, page, until="9999-12-31", since="0001-01-01")
    assert not app.exception, app.exception
    assert any("6 comments match the filters" in c.value for c in app.sidebar.caption)


@pytest.fixture(scope="module")
def hostile_names(tmp_path_factory) -> Path:
    """A run whose most active author is named in Markdown and whose first article's title holds tags."""
    return write_results(tmp_path_factory.mktemp("hostile"), n_comments=60, n_articles=3, hostile_author=True)


def _markdown_read(app: AppTest) -> list[str]:
    """What the page's elements that read Markdown (captions, notices, headings, metrics, labels) were given."""
    elements = [*app.markdown, *app.caption, *app.info, *app.warning, *app.error, *app.success, *app.title,
                *app.header, *app.subheader]
    labels = [*app.metric, *app.button, *app.checkbox, *app.expander, *app.tabs, *app.selectbox, *app.multiselect,
              *app.text_input, *app.slider]
    return [e.value for e in elements] + [getattr(e, "label", "") for e in labels]


@pytest.mark.parametrize("page", PAGES)
def test_authors_and_titles_never_reach_markdown(hostile_names, monkeypatch, page):
    """An author's name and an article's title are the poster's words: no page gives them to an element that
    reads Markdown (where `![x](url)` would load an image from anywhere and `[site](url)` make a link)."""
    app = app_on(hostile_names, monkeypatch, page)
    assert not app.exception, app.exception
    read = _markdown_read(app)
    for hostile in (HOSTILE_AUTHOR, "![x](", HOSTILE_TITLE):
        assert not [value for value in read if hostile in value], (page, hostile)


def test_the_teach_page_names_authors_and_titles_as_text(hostile_names, monkeypatch):
    """The Teach page's comment lines show the hostile author and title, literally."""
    app = app_on(hostile_names, monkeypatch, "teach")
    app.slider(key="teach_n").set_value(30).run()
    lines = [t.value for t in app.text]
    assert any(HOSTILE_AUTHOR in line for line in lines) and any(HOSTILE_TITLE in line for line in lines)


def test_the_last_day_there_is_keeps_every_comment(results):
    """filter_mask with until = date.max keeps every dated comment."""
    comments = reports.load_results(results).comments
    assert reports.filter_mask(comments, reports.Filters(until=date.max)).all()


def test_the_weights_origin_is_plain_text(results, monkeypatch, tmp_path):
    """A weights file's trained_on reaches the Off-topic page literally, never as Markdown."""
    folder = tmp_path / "out"
    import shutil

    shutil.copytree(results, folder, symlinks=True)
    combiner = catalog.current(folder) / catalog.COMBINER_FILE
    combiner.write_text(json.dumps({**json.loads(combiner.read_text()), "trained_on": HOSTILE_ORIGIN}))
    app = app_on(folder, monkeypatch, "offtopic")
    assert not app.exception, app.exception
    assert any(HOSTILE_ORIGIN in t.value for t in app.text)
    assert not any(HOSTILE_ORIGIN in m.value for m in [*app.markdown, *app.caption])


def test_results_with_a_missing_or_mistyped_column_are_a_clear_error(results, monkeypatch, tmp_path):
    """comments.parquet without vote_total and with a text wilson_lower: one error naming file and columns."""
    folder = tmp_path / "out"
    import shutil

    shutil.copytree(results, folder, symlinks=True)
    path = catalog.current(folder) / "comments.parquet"
    part, = catalog.comment_parts(catalog.current(folder))  # a folder of parts: one part here
    comments = pd.read_parquet(part)
    comments.drop(columns=["vote_total"]).assign(wilson_lower="high").to_parquet(part)
    with pytest.raises(schema.OutputError) as error:
        reports.load_results(folder)
    message = str(error.value)
    assert str(path) in message and "missing column vote_total" in message
    assert "column wilson_lower is str, not Float64" in message
    app = app_on(folder, monkeypatch)
    assert not app.exception
    assert len(app.error) == 1 and "missing column vote_total" in app.error[0].value
    assert any("run the pipeline into this folder again" in c.value for c in app.caption)


def test_visitors_get_no_error_details(tmp_path):
    """The app's own config (read wherever it is started from) hides tracebacks: client.showErrorDetails = none."""
    probe = (
        "from streamlit import config\n"
        f"config._main_script_path = {APP!r}\n"
        "config.get_config_options(force_reparse=True)\n"
        "print(config.get_option('client.showErrorDetails'))\n"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert shown.stdout.strip() == "none", shown.stderr


def test_a_damaged_results_file_is_named(results, monkeypatch, tmp_path):
    """A comments.parquet damaged outside the pipeline: one error naming the file, no traceback."""
    import shutil

    folder = tmp_path / "out"
    shutil.copytree(results, folder, symlinks=True)
    path = catalog.current(folder) / "comments.parquet"
    part, = catalog.comment_parts(catalog.current(folder))
    part.write_bytes(part.read_bytes()[:100])
    app = app_on(folder, monkeypatch)
    assert not app.exception
    assert len(app.error) == 1 and str(path) in app.error[0].value and "cannot be read" in app.error[0].value
