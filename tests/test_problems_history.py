"""Every run's problems are kept in the store; problems.csv and the dashboard show the ones behind the results."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from moderation import catalog, pipeline
from moderation.schema import Problem
from moderation.store import Store
from test_store import store  # noqa: F401 - the SQLite / PostgreSQL store fixture

ROOT = Path(__file__).resolve().parent.parent
CANONICAL = ROOT / "tests" / "fixtures" / "canonical" / "basic"  # 3 problems


def bad_votes(folder: Path) -> Path:
    """A canonical file of two comments, one with a negative vote count (one problem)."""
    path = folder / "comments.csv"
    folder.mkdir(parents=True)
    pd.DataFrame({"comment_id": ["x1", "x2"], "article_id": ["b", "b"], "author": ["ann", "bob"],
                  "created_at": ["2024-01-02", "2024-01-03"], "text": ["one", "two"],
                  "upvotes": [1, -4]}).to_csv(path, index=False)
    return folder


@pytest.fixture
def two_runs(tmp_path):
    """A folder after a run over CANONICAL and a later run (as the dashboard's import does) over another file."""
    out = tmp_path / "out"
    first = pipeline.run([CANONICAL], out)
    second = pipeline.run([bad_votes(tmp_path / "upload")], out, catalog.default_store_url(out))
    return out, first, second


def test_a_later_run_keeps_the_earlier_runs_problems(two_runs):
    """problems.csv after a second run lists its problem and the first run's three, each with its run id."""
    out, first, second = two_runs
    problems = pd.read_csv(out / "problems.csv", dtype="str")
    assert problems["run_id"].tolist() == [second.run_id] + [first.run_id] * 3
    assert "upvotes -4 is negative" in problems["problem"][0]
    assert second.run_problems == 1 and len(second.problems) == 4
    runs = Store(catalog.default_store_url(out)).runs()
    assert runs["run_id"].tolist() == [second.run_id, first.run_id]
    assert runs["status"].tolist() == ["done", "done"] and runs["problems"].tolist() == [1, 3]


def test_reading_a_file_again_replaces_its_problems(two_runs):
    """Re-running CANONICAL gives its three problems once, from the newest run; the other file's stay."""
    out, _, second = two_runs
    third = pipeline.run([CANONICAL], out)
    problems = pd.read_csv(out / "problems.csv", dtype="str")
    assert problems["run_id"].tolist() == [third.run_id] * 3 + [second.run_id]
    assert len(Store(catalog.default_store_url(out)).problems()) == 7  # the history keeps all of them


def test_problems_command_lists_the_history(two_runs, tmp_path):
    """`problems --all` prints every run with its problems; `--out` writes them to CSV."""
    out, first, second = two_runs
    run = [sys.executable, "-m", "moderation", "problems", "--results", str(out)]
    listed = subprocess.run([*run, "--all"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert f"run {second.run_id} (run, done" in listed.stdout and f"run {first.run_id}" in listed.stdout
    assert "upvotes -4 is negative" in listed.stdout and "expected 11 fields" in listed.stdout
    target = tmp_path / "history.csv"
    written = subprocess.run([*run, "--all", "--out", str(target)], capture_output=True, text=True, cwd=ROOT,
                             timeout=120)
    assert written.returncode == 0 and len(pd.read_csv(target)) == 4


def test_the_dashboard_shows_the_problems_and_their_history(two_runs, monkeypatch):
    """Overview lists the problems behind the results (both runs') and the run history with each run's problems."""
    from streamlit.testing.v1 import AppTest

    out, first, second = two_runs
    monkeypatch.setenv("MODERATION_RESULTS", str(out))
    monkeypatch.delenv("MODERATION_STORE", raising=False)
    app = AppTest.from_file(str(ROOT / "dashboards" / "streamlit_app.py"), default_timeout=60)
    app.run()
    app.switch_page("app_pages/overview.py").run()  # the app lands on Review
    assert not app.exception, app.exception
    behind, history, chosen = tables_with(app, "problem"), tables_with(app, "command"), tables_with(app, "problem")[-1]
    assert behind[0]["run_id"].tolist() == [second.run_id] + [first.run_id] * 3
    assert history[0]["run_id"].tolist() == [second.run_id, first.run_id]
    assert chosen["run_id"].tolist() == [second.run_id]  # the newest run's problems by default
    app.selectbox(key="history_run").select(first.run_id).run()
    assert len(tables_with(app, "problem")[-1]) == 3


def tables_with(app, column: str) -> list[pd.DataFrame]:
    """The page's tables having ``column``, in page order (AppTest does not expose a table's key)."""
    return [d.value for d in app.dataframe if column in d.value.columns]


def test_runs_and_problems_round_trip_in_the_store(store, tmp_path):  # noqa: F811 - the fixture
    """start/record/finish on SQLite and PostgreSQL: counts, statuses and problems_behind's rule."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    first = store.start_run("run", [a, b])
    store.record_problems(first, [Problem(str(a), "line 2", "bad date", "kept")], a)
    store.record_problems(first, [Problem(str(b), "line 3", "bad vote", "kept")], b)
    store.record_problems(first, [Problem("source s", "comment_id 9", "parent 1 not found", "kept")])
    store.finish_run(first, "done", records=10)
    failed = store.start_run("ingest", [a])
    store.record_problems(failed, [Problem(str(a), "file", "truncated")], a)
    store.finish_run(failed, "failed", message="no record could be read from any input")
    second = store.start_run("run", [a])
    store.record_problems(second, [Problem(str(a), "line 5", "bad id")], a)
    store.finish_run(second, "done", records=4)
    runs = store.runs()
    assert runs["run_id"].tolist() == [second, failed, first]
    assert runs["status"].tolist() == ["done", "failed", "done"] and runs["problems"].tolist() == [1, 1, 3]
    assert runs["inputs"][2] == [str(a.resolve()), str(b.resolve())]
    # a.csv was read again: its old problem goes; b.csv's stays; the old run's tree problem is superseded
    behind = store.problems_behind(second)
    assert behind[["run_id", "record"]].values.tolist() == [[second, "line 5"], [first, "line 3"]]
    assert len(store.problems()) == 5 and store.problems(failed)["problem"].tolist() == ["truncated"]
