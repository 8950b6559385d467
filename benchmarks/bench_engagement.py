"""Speed of the author table and the insight tables on synthetic comments, next to a same-run baseline.

Usage: ``python benchmarks/bench_engagement.py [--rows 1000000] [--repeat 3]``

Prints seconds and rows/s for :func:`moderation.engagement.author_table`, for
:func:`moderation.engagement.insight_tables` (what a run adds for the
Engagement page; 1% of the authors are staff by name) and for a plain ``groupby(["source", "author"]).size()`` over the same frame, so
that the ratio can be read on a busy machine. Comments come from
``benchmarks/synthetic.py`` (replies to earlier comments of the same article,
votes, statuses, 100k author handles on a power law, 3% missing or ``[deleted]``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic  # noqa: E402
from timing import best_of  # noqa: E402

from moderation.engagement import EngagementParams, author_table, insight_tables  # noqa: E402


def synthetic_comments(rows: int, authors: int, articles: int, seed: int) -> pd.DataFrame:
    """The shared synthetic comments plus the flag columns other stages add."""
    rng = np.random.default_rng(seed)
    _, comments = synthetic(rows, articles, n_authors=authors, seed=seed)
    return comments.assign(
        is_heavily_up=rng.random(rows) < 0.02,
        is_controversial=rng.random(rows) < 0.01,
        wilson_lower=rng.random(rows),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--authors", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    comments = synthetic_comments(args.rows, args.authors, args.articles, args.seed)
    baseline, _ = best_of(args.repeat, lambda: comments.groupby(["source", "author"]).size())
    seconds, table = best_of(args.repeat, lambda: author_table(comments))
    staff = EngagementParams(staff_names=tuple(table["author"].iloc[:: 100]))
    insight_seconds, tables = best_of(args.repeat, lambda: insight_tables(comments, staff))
    rows = len(comments)
    print(f"comments {rows:,}  authors {len(table):,}  articles {comments['article_id'].nunique():,}  "
          f"best of {args.repeat}")
    print(f"author_table              {seconds:7.2f} s  {rows / seconds:12,.0f} rows/s")
    print(f"insight_tables            {insight_seconds:7.2f} s  {rows / insight_seconds:12,.0f} rows/s  "
          f"(reply network {len(tables['reply_network']):,} edges)")
    print(f"baseline groupby().size() {baseline:7.2f} s  {rows / baseline:12,.0f} rows/s")
    print(f"ratio author_table / baseline: {seconds / baseline:.1f}x; insight_tables / baseline: "
          f"{insight_seconds / baseline:.1f}x")


if __name__ == "__main__":
    main()
