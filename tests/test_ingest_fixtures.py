"""Every fixture goes through the whole run (store included), not only through its parser."""

from pathlib import Path

import pandas as pd
import pytest

from moderation import ingest, pipeline

FIXTURES = Path(__file__).parent / "fixtures"
FOLDERS = [FIXTURES / "canonical" / "basic", FIXTURES / "gnm" / "Output", FIXTURES / "stackexchange" / "dump"]
PATHS = sorted(p for p in FIXTURES.rglob("*") if p.is_file()) + FOLDERS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_runs_and_keeps_what_its_parser_read(path, tmp_path):
    """``run`` over a fixture stores and scores every comment ``load`` reads; an unreadable one fails as it does."""
    try:
        expected = ingest.load(path, resolve_threads=False)
    except ingest.IngestError as error:
        with pytest.raises(ingest.IngestError, match="not a recognised format|no such|empty"):
            pipeline.run([path], tmp_path / "out")
        assert str(path) in str(error)
        return
    results = pipeline.run([path], tmp_path / "out")
    written = pd.read_parquet(tmp_path / "out" / "comments.parquet")
    assert len(written) == len(results.comments) == len(expected.comments)
    assert sorted(written["comment_id"]) == sorted(expected.comments["comment_id"])
    assert written["position"].is_monotonic_increasing
    problems = pd.read_csv(tmp_path / "out" / "problems.csv")
    assert len(problems) >= len(expected.problems)
