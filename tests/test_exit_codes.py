"""`run` and `ingest` exit codes: non-zero when nothing could be read or (with --strict) on any problem."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

from moderation import catalog
from moderation.store import Store

ROOT = Path(__file__).resolve().parent.parent
CANONICAL = ROOT / "tests" / "fixtures" / "canonical" / "basic"  # 3 problems, 4 good comments


def moderation(*args):
    return subprocess.run([sys.executable, "-m", "moderation", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def unreadable(folder: Path) -> list[Path]:
    """A file no format recognises, an empty file and a truncated Globe and Mail JSON."""
    folder.mkdir()
    (folder / "data.bin").write_bytes(b"\x00\x01 nothing here")
    (folder / "empty.csv").write_bytes(b"")
    return [folder / "data.bin", folder / "empty.csv", folder / "missing.xml"]


def test_nothing_readable_fails_with_one_line_naming_each_file(tmp_path):
    """`run` on inputs none of which gives a record exits 1 with one error line naming every input."""
    paths = unreadable(tmp_path / "in")
    result = moderation("run", *paths, "--out", tmp_path / "out")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no record could be read from any input")
    assert all(str(path) in lines[0] for path in paths)
    assert "not a recognised format" in lines[0] and "the file is empty" in lines[0]
    assert not (tmp_path / "out" / "comments.parquet").exists()
    runs = Store(catalog.default_store_url(tmp_path / "out")).runs()
    assert runs["status"].tolist() == ["failed"] and runs["message"][0].startswith("no record could be read")


def test_ingest_of_nothing_readable_fails_too(tmp_path):
    """`ingest` follows the same rule."""
    paths = unreadable(tmp_path / "in")
    result = moderation("ingest", *paths, "--store", f"sqlite:///{tmp_path / 's.db'}")
    assert result.returncode == 1 and "no record could be read from any input" in result.stderr


def test_partial_success_exits_0_with_the_problem_count(tmp_path):
    """One readable input among unreadable ones: exit 0, its comments scored, every problem counted."""
    paths = unreadable(tmp_path / "in")
    result = moderation("run", CANONICAL, *paths, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "4 comments" in result.stdout and "6 input problems" in result.stdout
    problems = pd.read_csv(tmp_path / "out" / "problems.csv")
    assert {str(p) for p in paths} <= set(problems["file"])


def test_strict_fails_on_any_problem_and_keeps_the_previous_results(tmp_path):
    """--strict: the input with problems exits 1 naming it, and the results folder is left as it was."""
    out = tmp_path / "out"
    clean = tmp_path / "clean" / "comments.csv"
    clean.parent.mkdir()
    pd.DataFrame({"comment_id": ["1"], "article_id": ["a"], "author": ["ann"], "created_at": ["2024-01-01"],
                  "text": ["hello"]}).to_csv(clean, index=False)
    assert moderation("run", clean.parent, "--out", out, "--strict").returncode == 0
    result = moderation("run", CANONICAL, "--out", out, "--strict")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --strict: 3 problem(s) in") and str(CANONICAL) in result.stderr
    assert len(pd.read_parquet(out / "comments.parquet")) == 1
    assert moderation("ingest", CANONICAL, "--store", f"sqlite:///{tmp_path / 's.db'}", "--strict").returncode == 1
    assert moderation("ingest", CANONICAL, "--store", f"sqlite:///{tmp_path / 's.db'}").returncode == 0


def test_strict_fails_on_reply_tree_problems(tmp_path):
    """A reply whose parent is nowhere is a problem too: --strict fails, recording the run as failed."""
    folder = tmp_path / "orphan"
    folder.mkdir()
    pd.DataFrame({"comment_id": ["1", "2"], "article_id": ["a", "a"], "parent_id": [None, "99"],
                  "author": ["ann", "bob"], "created_at": ["2024-01-01", "2024-01-02"],
                  "text": ["root", "reply"]}).to_csv(folder / "comments.csv", index=False)
    store = f"sqlite:///{tmp_path / 's.db'}"
    result = moderation("ingest", folder, "--store", store, "--strict")
    assert result.returncode == 1 and "reply-tree problem" in result.stderr and "parent 99 not found" in result.stderr
    assert Store(store).runs()["status"].tolist() == ["failed"]
    out = tmp_path / "out"
    result = moderation("run", folder, "--out", out, "--strict")
    assert result.returncode == 1 and "the results folder was left as it was" in result.stderr
    assert not (out / "comments.parquet").exists()
