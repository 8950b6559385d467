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
        assert str(path) in str(error)
        expected = None
    if expected is None or not (len(expected.articles) + len(expected.comments) + len(expected.vote_events)):
        # nothing readable: the run fails naming the file, and writes no results folder
        with pytest.raises(pipeline.NothingRead, match="no record could be read") as failure:
            pipeline.run([path], tmp_path / "out")
        assert str(path) in str(failure.value)
        assert not (tmp_path / "out" / "comments.parquet").exists()
        return
    results = pipeline.run([path], tmp_path / "out")
    written = pd.read_parquet(tmp_path / "out" / "comments.parquet")
    assert len(written) == len(results.comments) == len(expected.comments)
    assert sorted(written["comment_id"]) == sorted(expected.comments["comment_id"])
    assert written["position"].is_monotonic_increasing
    problems = pd.read_csv(tmp_path / "out" / "problems.csv")
    assert len(problems) >= len(expected.problems)
