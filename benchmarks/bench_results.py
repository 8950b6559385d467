"""What all-or-nothing results cost: schema checks and the version swap next to writing and reading the files.

Usage: python benchmarks/bench_results.py [N_COMMENTS]

Scores N synthetic comments once (a small sample through every stage, repeated
to N rows), then times, in the same run: writing comments.parquet (the
baseline), the full schema check ``Results.write`` does, reading it back, the
columns-and-types check the dashboard does on reading, and publishing a
version (flush, rename, swap of ``current``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moderation import catalog, schema  # noqa: E402
from tests.dashboard_fixtures import build_results  # noqa: E402


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    args = parser.parse_args()
    sample = build_results(n_comments=2000, n_articles=20)["comments"]
    comments = pd.concat([sample] * -(-args.n // len(sample)), ignore_index=True).head(args.n)
    comments["comment_id"] = comments.index.astype("str").astype("str")  # keys stay unique
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = folder / "comments.parquet"
        figures = {
            "write comments.parquet (baseline)": timed(comments.to_parquet, path, index=False),
            "full schema check (on write)": timed(schema.check_output, comments, "scored_comments", "c"),
            "read comments.parquet": timed(pd.read_parquet, path),
            "columns and types check (on read)": timed(
                schema.check_output, comments, "scored_comments", "c", data=False),
        }

        def publish() -> None:
            with catalog.exclusive(folder / "out"), catalog.new_version(folder / "out", "bench") as version:
                path.rename(version / "comments.parquet")

        figures["publish a version (flush, rename, swap)"] = timed(publish)
    baseline = figures["write comments.parquet (baseline)"]
    print(f"{len(comments):,} scored comments")
    for label, seconds in figures.items():
        print(f"  {label:<42} {seconds:7.2f} s  ({seconds / baseline:5.2f} x baseline)")


if __name__ == "__main__":
    main()
