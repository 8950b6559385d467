"""Pipeline speed on synthetic comments: seconds per stage, comments/s, peak memory.

Usage: python benchmarks/bench_pipeline.py [N_COMMENTS] [--out DIR]

The baseline, measured in the same run, is one plain pandas pass over the same
frame (sort by article + group-by count): the machine is shared and noisy, so
read the stage times as multiples of it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic  # noqa: E402

from moderation import (  # noqa: E402
    comment_speculation, engagement, offtopic, pipeline, threads, topics, votes,
)
from moderation.schema import empty, problems_frame  # noqa: E402


def timed(label: str, timings: dict, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    timings[label] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, help="also write a results folder (for the dashboard benchmark)")
    args = parser.parse_args()

    timings: dict[str, float] = {}
    articles, comments = timed("generate", timings, synthetic, args.n)
    timed("baseline: sort + group-by count", timings,
          lambda: comments.sort_values(["source", "article_id"]).groupby(["source", "article_id"]).size())
    params = pipeline.Params()
    resolved, _ = timed("threads", timings, threads.resolve, comments)
    scored = timed("votes", timings, votes.score_votes, resolved, None, params.votes)
    features = timed("text features (TF-IDF + topics)", timings,
                     lambda: topics.TextFeatures(**params.offtopic.features).fit(scored, articles))
    scored = timed("off-topic", timings, offtopic.score_offtopic, scored, articles, features, params=params.offtopic)
    scored = timed("speculation", timings, comment_speculation.score_comments, scored)
    scored = timed("off-topic speculation queue", timings, offtopic.flag_offtopic_speculation, scored, params.offtopic)
    authors = timed("authors", timings, engagement.author_table, scored, None, params.engagement)
    stages = sum(v for k, v in timings.items() if k not in ("generate", "baseline: sort + group-by count"))
    if args.out:
        pipeline.Results(articles, scored, authors, empty("vote_events"), features.topics_frame(),
                         problems_frame([])).write(args.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    baseline = timings["baseline: sort + group-by count"]
    print(f"{args.n:,} comments, {len(articles):,} articles")
    for label, seconds in timings.items():
        print(f"  {label:<36} {seconds:8.2f} s  ({seconds / baseline:6.1f} x baseline)")
    print(f"  {'all stages':<36} {stages:8.2f} s  ({args.n / stages:,.0f} comments/s)")
    print(f"  peak memory {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
