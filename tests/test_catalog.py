"""The results folder is replaced all at once: a real run killed (SIGKILL) at any point leaves the previous results."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from moderation import catalog, pipeline, reports
from moderation.store import Store

ROOT = Path(__file__).resolve().parent.parent
HOOK = Path(__file__).resolve().parent / "kill_hook"
# in the order a run reaches them (tests/kill_hook/sitecustomize.py); from after_swap on the new results are current
KILL_POINTS = ["ingesting", "ingested", "stages", "comments_half_written", "between_files", "before_rename",
               "before_swap", "after_swap"]
NEW_RESULTS_FROM = KILL_POINTS.index("after_swap")


def write_part(folder: Path, name: str, first: int, n: int) -> Path:
    """A canonical comments file of ``n`` comments with ids from ``first``, on two articles."""
    path = folder / name / "comments.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame({
        "comment_id": [str(i) for i in range(first, first + n)],
        "article_id": [f"a{i % 2}" for i in range(first, first + n)],
        "author": [f"user{i % 7}" for i in range(first, first + n)],
        "created_at": [f"2024-03-01T10:{i % 60:02d}:00Z" for i in range(first, first + n)],
        "text": [f"Comment number {i} about the council's budget and the new bridge." for i in range(first, first + n)],
        "upvotes": [i % 5 for i in range(first, first + n)],
        "downvotes": [i % 3 for i in range(first, first + n)],
    }).to_csv(path, index=False)
    return path.parent


def moderation(*args, env=None, wait=True):
    command = [sys.executable, "-m", "moderation", *map(str, args)]
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [env and env.get("PYTHONPATH"), str(ROOT)]))
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)


def consistent(out: Path) -> tuple[str, int]:
    """Read the folder as the dashboard does and check its files belong together; returns (run id, comments)."""
    results = reports.load_results(out)
    run = json.loads((catalog.current(out) / catalog.RUN_FILE).read_text())
    assert len(results.comments) == run["comments"]
    assert results.authors["comments"].sum() == len(results.comments)  # authors describe these very comments
    assert len(pd.read_parquet(out / "comments.parquet")) == len(results.comments)  # the documented path too
    return run["run_id"], len(results.comments)


def dashboard_count(out: Path, monkeypatch) -> int:
    """The Comments figure the dashboard's Overview shows for ``out``."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MODERATION_RESULTS", str(out))
    monkeypatch.delenv("MODERATION_STORE", raising=False)
    app = AppTest.from_file(str(ROOT / "dashboards" / "streamlit_app.py"), default_timeout=60)
    app.run()
    app.switch_page("app_pages/overview.py").run()
    assert not app.exception and not app.error, (app.exception, app.error)
    return int(next(m.value for m in app.metric if m.label == "Comments").replace(",", ""))


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A results folder after one good run of 40 comments, and the input it read."""
    base = tmp_path_factory.mktemp("previous")
    inputs = write_part(base, "first", 0, 40)
    result = moderation("run", inputs, "--out", base / "out", "--source", "forum")
    assert result.returncode == 0, result.stderr
    return base / "out", inputs


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_at_any_point_leaves_readable_consistent_results(previous, point, tmp_path, monkeypatch):
    """SIGKILL at each point of a real run: the folder reads whole (old or new, never mixed); the next run succeeds."""
    # 25 comments, more than half the 40 fitted on: the killed run fits and scores everything again
    _killed_and_run_again(previous, point, 25, tmp_path, monkeypatch)


@pytest.mark.parametrize("point", ["stages", "comments_half_written", "before_swap"])
def test_an_incremental_run_killed_leaves_readable_consistent_results(previous, point, tmp_path, monkeypatch):
    """The same for a run that scores only the touched articles with the fitted state (comments written from
    Arrow): killed, the previous results stay whole; run again, it is incremental."""
    assert _killed_and_run_again(previous, point, 10, tmp_path, monkeypatch)["full_fit"] is None


def _killed_and_run_again(previous, point: str, added: int, tmp_path: Path, monkeypatch) -> dict:
    """Kill a run adding ``added`` comments at ``point``, check the folder, run again; the rerun's scoring."""
    out = tmp_path / "out"
    shutil.copytree(previous[0], out, symlinks=True)
    before_id, before_count = consistent(out)
    extra = write_part(tmp_path, "second", 1000, added)
    ready = tmp_path / "ready"
    process = moderation(
        "run", previous[1], extra, "--out", out, "--source", "forum", wait=False,
        env={"PYTHONPATH": str(HOOK), "MODERATION_KILL_POINT": point, "MODERATION_KILL_READY": str(ready)},
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, f"the run never reached {point}"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL

    run_id, count = consistent(out)
    assert dashboard_count(out, monkeypatch) == count  # the dashboard shows that same complete set
    if KILL_POINTS.index(point) < NEW_RESULTS_FROM:
        assert (run_id, count) == (before_id, before_count)
    else:
        assert run_id != before_id and count == before_count + added
    killed = Store(catalog.default_store_url(out)).runs().iloc[0]
    assert killed["status"] == "running"  # it never finished: the history says so

    again = moderation("run", previous[1], extra, "--out", out, "--source", "forum")
    assert again.returncode == 0, again.stderr
    assert consistent(out)[1] == before_count + added
    versions = sorted(p.name for p in (out / catalog.VERSIONS).iterdir())
    assert len(versions) <= 2 and not [v for v in versions if v.endswith(catalog.PARTIAL)]
    return json.loads((catalog.current(out) / catalog.RUN_FILE).read_text())["scoring"]


def test_an_import_that_keeps_parts_killed_leaves_readable_consistent_results(tmp_path, monkeypatch):
    """Comments in parts of 10, an article each: an import adding to the last article keeps the other parts
    (hard links into the new version). Killed while writing the part it rescores, the previous results stay
    whole and unchanged; run again, it keeps the same parts and writes that one and one of the new comments."""
    def articles_in_order(name, first, n, article=None):
        path = tmp_path / name / "comments.csv"
        path.parent.mkdir()
        ids = range(first, first + n)
        pd.DataFrame({"comment_id": [str(i) for i in ids], "article_id": [article or f"a{i // 10}" for i in ids],
                      "author": [f"user{i % 7}" for i in ids], "created_at": "2024-03-01T10:00:00Z",
                      "text": [f"Comment {i} on the council budget and the bridge." for i in ids]}).to_csv(path, index=False)
        return path.parent

    out, small = tmp_path / "out", {"PYTHONPATH": str(HOOK), "MODERATION_PART_ROWS": "10"}
    first = articles_in_order("first", 0, 40)
    assert moderation("run", first, "--out", out, "--source", "forum", env=small).returncode == 0
    before_id, before_count = consistent(out)
    files = {part.name: part.read_bytes() for part in catalog.comment_parts(catalog.current(out))}
    extra = articles_in_order("second", 1000, 3, "a3")
    ready = tmp_path / "ready"
    process = moderation("run", first, extra, "--out", out, "--source", "forum", wait=False,
                         env={**small, "MODERATION_KILL_POINT": "comments_half_written",
                              "MODERATION_KILL_READY": str(ready)})
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the run never reached comments_half_written"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert consistent(out) == (before_id, before_count) and dashboard_count(out, monkeypatch) == before_count
    assert {part.name: part.read_bytes() for part in catalog.comment_parts(catalog.current(out))} == files

    again = moderation("run", first, extra, "--out", out, "--source", "forum", env=small)
    assert again.returncode == 0, again.stderr
    assert consistent(out)[1] == before_count + 3
    parts = catalog.comment_parts(catalog.current(out))
    # a0-a2 kept; a3's part rescored, and (being full) the new comments in a part of their own
    assert [part.stat().st_nlink for part in parts] == [2, 2, 2, 1, 1]
    assert [part.read_bytes() for part in parts[:3]] == [files[part.name] for part in parts[:3]]


def test_the_store_in_the_folder_is_never_moved_or_copied(previous, tmp_path):
    """A decision written to DIR/moderation.db before a run is still in the same file after it."""
    out = tmp_path / "out"
    shutil.copytree(previous[0], out, symlinks=True)
    store_file = out / catalog.STORE_FILE
    Store(catalog.default_store_url(out)).record_decision([("forum", "3")], "remove", "ann", "spam")
    inode = store_file.stat().st_ino
    pipeline.run([write_part(tmp_path, "more", 500, 5)], out, source="forum")
    assert store_file.stat().st_ino == inode and not store_file.is_symlink()
    assert Store(catalog.default_store_url(out)).current_decisions()["comment_id"].tolist() == ["3"]


def test_a_folder_of_the_flat_layout_is_taken_over(tmp_path):
    """Results written before versions existed (real files in DIR) are replaced by the new layout on the next run."""
    out = tmp_path / "out"
    out.mkdir()
    pd.DataFrame({"comment_id": ["old"]}).to_parquet(out / "comments.parquet")
    (out / "problems.csv").write_text("file,record,problem,action\n")
    pipeline.run([write_part(tmp_path, "part", 0, 6)], out, source="forum")
    assert (out / "comments.parquet").is_symlink() and (out / "problems.csv").is_symlink()
    assert consistent(out)[1] == 6


def test_a_second_run_on_the_same_folder_is_refused_while_one_is_writing(tmp_path):
    """Two runs never write one folder at once: the second fails at once and names the folder."""
    out = tmp_path / "out"
    with catalog.exclusive(out):
        with pytest.raises(catalog.FolderBusy, match="another run is writing"):
            pipeline.run([write_part(tmp_path, "part", 0, 3)], out, source="forum")


def test_a_failing_run_leaves_the_previous_results(previous, tmp_path, monkeypatch):
    """A run whose results fail their schema publishes nothing: the previous version stays current."""
    out = tmp_path / "out"
    shutil.copytree(previous[0], out, symlinks=True)
    before = consistent(out)
    stages = pipeline.run_stages

    def drop_a_column(*args, **kwargs):
        comments, partials, topic_table, problems = stages(*args, **kwargs)
        return comments.drop(columns=["wilson_lower"]), partials, topic_table, problems

    monkeypatch.setattr(pipeline, "run_stages", drop_a_column)
    with pytest.raises(pipeline.schema.OutputError, match="comments.parquet: missing column wilson_lower"):
        pipeline.run([write_part(tmp_path, "part", 900, 3)], out, source="forum")
    assert consistent(out) == before
    assert not list((out / catalog.VERSIONS).glob(f"*{catalog.PARTIAL}"))
    assert Store(catalog.default_store_url(out)).runs().iloc[0]["status"] == "failed"


def test_an_upload_is_kept_inside_the_folder(tmp_path):
    """import_path keeps an upload under DIR/imports/SOURCE/, whatever its names contain."""
    path = catalog.import_path(tmp_path, "../../etc", "../../.bashrc")
    assert path == tmp_path / catalog.IMPORTS / "_.._etc" / "bashrc" and path.parent.is_dir()
    assert catalog.import_path(tmp_path, "forum", "comments.csv") == tmp_path / "imports" / "forum" / "comments.csv"


def test_a_kept_part_is_a_hard_link_or_else_a_copy(tmp_path, monkeypatch):
    """catalog.keep links a previous version's file into the new one; where the file system refuses hard links
    it copies it, and either way the new version's file reads as the old one and is not the same name."""
    old = tmp_path / "old.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(old)
    catalog.keep(old, tmp_path / "linked.parquet")
    assert (tmp_path / "linked.parquet").stat().st_ino == old.stat().st_ino

    def refused(*args):
        raise OSError("no hard links here")

    monkeypatch.setattr(catalog.os, "link", refused)
    catalog.keep(old, tmp_path / "copied.parquet")
    assert (tmp_path / "copied.parquet").stat().st_ino != old.stat().st_ino
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "copied.parquet"), pd.read_parquet(old))
