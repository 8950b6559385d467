"""Results open by column: the dashboard reads the columns it computes with, and the rest for the comments in view."""

import html
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from moderation import catalog, queues, reports
from tests.dashboard_fixtures import build_results, write_results

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "streamlit_app.py")
NEVER_SHOWN = "lsa_article"  # an off-topic component no page shows or computes with


@pytest.fixture(scope="module")
def comments() -> pd.DataFrame:
    """Scored comments of two articles, every column the stages write."""
    return build_results(n_comments=50, n_articles=2)["comments"]


@pytest.fixture(scope="module")
def grouped(comments, tmp_path_factory) -> Path:
    """The comments in row groups of 8 rows, as a run writes a large corpus."""
    path = tmp_path_factory.mktemp("grouped") / "comments.parquet"
    comments.to_parquet(path, index=False, row_group_size=8)
    return path


def test_a_table_reads_each_column_once_when_asked(grouped):
    """Opening reads no column; frame() reads the ones asked for, equal to pd.read_parquet's, and keeps them."""
    table = catalog.Table(grouped)
    assert table.rows == 50 and table.loaded == [] and NEVER_SHOWN in table.names
    frame = table.frame(["text", "vote_net", "no_such_column"])
    pd.testing.assert_frame_equal(frame, pd.read_parquet(grouped, columns=["text", "vote_net"]))
    assert frame["text"].array.__arrow_array__().num_chunks == 1  # not one piece per row group: rows are taken
    assert table.loaded == ["text", "vote_net"]
    assert list(table.empty.dtypes) == list(pd.read_parquet(grouped).dtypes)


def test_rows_of_a_few_comments_read_only_their_row_groups(grouped):
    """rows_at() of rows in one or two row groups reads those groups only (nothing kept); rows spread over most of
    the table read the columns whole and keep them. Values and dtypes are pd.read_parquet's either way."""
    full = pd.read_parquet(grouped)
    table = catalog.Table(grouped)
    few = table.rows_at([9, 3, 10], ["speculation_cues", "sim_article", "offtopic_reason"])
    assert table.loaded == []
    expected = full[["speculation_cues", "sim_article", "offtopic_reason"]].iloc[[9, 3, 10]]
    pd.testing.assert_frame_equal(few, expected)
    spread = table.rows_at(np.arange(0, 50, 5), ["offtopic_reason"])
    assert table.loaded == ["offtopic_reason"]
    pd.testing.assert_frame_equal(spread, full[["offtopic_reason"]].iloc[::5])


def test_a_column_too_large_to_keep_is_read_for_some_rows_or_measured_a_row_group_at_a_time(grouped):
    """rows_at(keep=False) reads the row groups holding the rows however spread, and scan() measures each group's
    rows (all, or the positions given): both as pd.read_parquet's values say, and neither keeps the column."""
    full = pd.read_parquet(grouped)
    table = catalog.Table(grouped)
    spread = table.rows_at([49, 0, 17, 17, 33], ["text", "author"], keep=False)
    pd.testing.assert_frame_equal(spread, full[["text", "author"]].iloc[[49, 0, 17, 17, 33]])
    again = table.rows_at([0, 2, 49], ["text", "author"], keep=False)  # two rows held, one read
    pd.testing.assert_frame_equal(again, full[["text", "author"]].iloc[[0, 2, 49]])
    lengths = table.scan(["text"], lambda rows: rows["text"].str.len().to_numpy())
    np.testing.assert_array_equal(lengths, full["text"].str.len().to_numpy())
    some = np.array([2, 3, 20, 41])
    np.testing.assert_array_equal(table.scan(["text"], lambda rows: rows.index.to_numpy()), np.arange(50))
    np.testing.assert_array_equal(table.scan(["text"], lambda rows: rows["text"].to_numpy(), some),
                                  full["text"].to_numpy()[some])
    assert table.loaded == []


def test_rows_read_without_keeping_the_column_are_held(grouped, tmp_path):
    """A page drawn again (the same rows) reads nothing: the rows rows_at(keep=False) read are held."""
    copy = tmp_path / "comments.parquet"
    copy.write_bytes(grouped.read_bytes())
    table = catalog.Table(copy)
    first = table.rows_at([40, 1, 25], ["text"], keep=False)
    copy.unlink()
    pd.testing.assert_frame_equal(table.rows_at([1, 25, 40], ["text"], keep=False), first.loc[[1, 25, 40]])


@pytest.mark.parametrize("stored", [True, False])
def test_the_dashboard_asks_every_text_without_holding_them(comments, tmp_path, stored):
    """Results carry queues.readable of every comment (as the run stored it, or from every text for a folder
    written before runs stored it), and the text filter searches every text, as over a full read of the file;
    the text is read for the rows shown only (with_text), never kept."""
    unreadable = comments.copy()
    unreadable.loc[[3, 11, 30], "text"] = ["", "!!", None]
    unreadable.loc[[5, 28], "text"] = ["Ein Fahrrad", "ein FAHRRAD und mehr"]
    unreadable[queues.READABLE] = queues.readable(unreadable[["text"]])
    if not stored:
        unreadable = unreadable.drop(columns=queues.READABLE)
    unreadable.to_parquet(tmp_path / "comments.parquet", index=False, row_group_size=8)
    full = pd.read_parquet(tmp_path / "comments.parquet", columns=list(comments.columns.drop(queues.READABLE)))
    results = reports.load_results(tmp_path)
    np.testing.assert_array_equal(queues.readable(results.comments), queues.readable(full))
    assert not queues.readable(results.comments)[[3, 11, 30]].any() and queues.readable(full)[[5, 28]].all()
    assert (queues.READABLE in results.comment_table.loaded) == stored
    for filters in (reports.Filters(text="fahrrad"), reports.Filters(text="fahrrad", article=full["article_id"][5])):
        found = reports.filter_comments(results.comments, filters, results.comment_table)
        assert found.index.tolist() == reports.filter_comments(full, filters).index.tolist() != []
    rows = results.comments.iloc[[28, 5]]
    pd.testing.assert_series_equal(results.with_text(rows)["text"], full["text"].iloc[[28, 5]])
    assert "text" not in results.comments and "text" not in results.comment_table.loaded


def test_a_folder_of_parts_reads_as_one_table(comments, tmp_path):
    """The Dask engine's comments.parquet (a folder of parts) reads as pd.read_parquet reads it, rows by position."""
    folder = tmp_path / "comments.parquet"
    folder.mkdir()
    for index, start in enumerate((0, 20, 35)):
        comments.iloc[start:[20, 35, 50][index]].to_parquet(folder / f"part-{index:05d}.parquet", index=False)
    table = catalog.Table(folder)
    whole = pd.read_parquet(folder)
    assert table.rows == 50
    pd.testing.assert_frame_equal(table.frame(["comment_id", "text"]), whole[["comment_id", "text"]])
    pd.testing.assert_frame_equal(table.rows_at([21, 36], ["vote_reason"]), whole[["vote_reason"]].iloc[[21, 36]])


def test_results_open_with_the_working_columns_only(comments, tmp_path):
    """load_results reads the working columns; shown() adds what pages show for the given rows, as the file has it."""
    comments.to_parquet(tmp_path / "comments.parquet", index=False, row_group_size=8)
    full = pd.read_parquet(tmp_path / "comments.parquet")
    results = reports.load_results(tmp_path)
    assert set(results.comment_table.loaded) <= set(reports.WORKING_COLUMNS)
    assert NEVER_SHOWN not in results.comments and "speculation_cues" not in results.comments
    rows = results.comments.iloc[[4, 6]]
    shown = results.shown(rows)
    assert shown.index.tolist() == [4, 6]
    for column in ["speculation_cues", "vote_reason", "sim_article", "text", *rows.columns]:
        pd.testing.assert_series_equal(shown[column], full[column].iloc[[4, 6]])
    assert NEVER_SHOWN not in shown
    assert NEVER_SHOWN in results.comments_with([NEVER_SHOWN])


def test_reading_ahead_reads_in_the_background_once(grouped):
    """read_ahead() reads the columns in a thread (once per table), and frame() then finds them kept."""
    table = catalog.Table(grouped)
    thread = table.read_ahead(["vote_reason", "sim_article"])
    assert table.read_ahead(["text"]) is None
    thread.join(timeout=30)
    assert table.loaded == ["vote_reason", "sim_article"]
    pd.testing.assert_frame_equal(table.frame(["sim_article"]), pd.read_parquet(grouped, columns=["sim_article"]))


def test_a_mistyped_unread_column_is_still_an_error_at_open(comments, tmp_path):
    """Types are checked from the file's schema for every column, also those not read yet."""
    comments.assign(sim_article="close").to_parquet(tmp_path / "comments.parquet", index=False)
    with pytest.raises(reports.schema.OutputError, match="column sim_article is str, not float64"):
        reports.load_results(tmp_path)


def test_a_run_writes_row_groups_a_page_can_read_alone(tmp_path, monkeypatch):
    """comments.parquet comes in parts of catalog.PART_ROWS rows, each in row groups of catalog.ROW_GROUP_ROWS."""
    monkeypatch.setattr(catalog, "ROW_GROUP_ROWS", 16)
    monkeypatch.setattr(catalog, "PART_ROWS", 32)
    folder = write_results(tmp_path, n_comments=40, n_articles=2)
    parts = catalog.comment_parts(catalog.current(folder))
    assert [part.name for part in parts] == ["part-00000.parquet", "part-00001.parquet"]
    groups = [[metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
              for metadata in (pq.ParquetFile(part).metadata for part in parts)]
    assert groups == [[16, 16], [8]]


def test_the_review_page_reads_the_working_columns_and_the_rows_it_shows(tmp_path, monkeypatch):
    """Opening /review reads the working columns for every comment, the card's and its thread's other columns
    from their row groups only, and never a column no page shows."""
    monkeypatch.setattr(catalog, "ROW_GROUP_ROWS", 16)
    folder = write_results(tmp_path / "results", n_comments=80, n_articles=5)
    monkeypatch.setenv("MODERATION_RESULTS", str(folder))
    monkeypatch.setenv("MODERATION_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Review"] and app.get("html")
    data = sys.modules["_data"]
    folder = str(folder.resolve())
    loaded = data.results(folder, data.version(folder)).comment_table.loaded
    # the working columns first; then (read ahead, in the background) only what pages show
    assert loaded[:len(set(loaded) & set(reports.WORKING_COLUMNS))] == [
        c for c in dict.fromkeys(reports.WORKING_COLUMNS) if c in loaded]
    assert NEVER_SHOWN not in loaded and "text" not in loaded
    # the card says what a full read of the folder says
    full = pd.read_parquet(folder + "/comments.parquet")
    queue = queues.review_queue(full)
    row = full.loc[queue.index[0]]
    thread = full[(full["article_id"] == row["article_id"]).to_numpy()]
    expected = reports.explain(row, queue["reasons"].iloc[0].split(", "), thread)
    drawn = [element.proto.body for element in app.get("html")]
    assert any(all(html.escape(line) in body for line in expected) for body in drawn), (expected, drawn)


def test_the_landing_page_can_be_prepared_before_anyone_opens_it(tmp_path, monkeypatch):
    """_data.prepare_landing (what the dashboard command does while the server starts) fills the caches the first
    /review visit asks for: the visit then reads nothing more of every comment, nor the text of its card and Up
    next, and shows the same card."""
    folder = write_results(tmp_path / "results", n_comments=60, n_articles=3)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("MODERATION_RESULTS", str(folder))
    monkeypatch.setenv("MODERATION_STORE", store_url)
    monkeypatch.syspath_prepend(str(Path(APP).parent))
    import _data

    resolved = str(folder.resolve())
    _data.prepare_landing(resolved, store_url)
    prepared = _data.results(resolved, _data.version(resolved))
    # the working columns, and what the first card's thread shows (here the whole table: one row group)
    assert set(prepared.comment_table.loaded) <= {*reports.WORKING_COLUMNS, *reports.SHOWN_COLUMNS,
                                                  *(c for c in prepared.comment_table.names if c.startswith("sim_"))}
    read = []
    read_row_group = pq.ParquetFile.read_row_group
    monkeypatch.setattr(pq.ParquetFile, "read_row_group",
                        lambda self, i, columns=None, **kw: read.append(columns) or read_row_group(self, i, columns,
                                                                                                    **kw))
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert not [columns for columns in read if "text" in columns], read
    assert _data.results(resolved, _data.version(resolved)) is prepared
    assert app.get("html") and any("Comment 1 of" in c.value for c in app.caption)


def test_opening_results_imports_no_dask(tmp_path):
    """Reading a results folder and checking it against its schemas imports no Dask (pandera's DataFrameModel
    classes import it when they build a schema: 0.6 s of the dashboard's cold start)."""
    folder = write_results(tmp_path / "results", n_comments=30, n_articles=2)
    opened = subprocess.run(
        [sys.executable, "-c", "import sys; from moderation import reports; "
         f"reports.load_results({str(folder)!r}).comments; print(sorted(m for m in sys.modules if m == 'dask' "
         "or m.startswith('dask.')))"],
        capture_output=True, text=True, check=True, cwd=Path(APP).parents[1])
    assert opened.stdout.strip() == "[]", opened.stdout
