"""Vote queues on the real Globe and Mail sample: where do moderators' removals fall, and what tops each queue?

Usage::

    .venv/bin/python scripts/vote_report.py [--data DIR]
    .venv/bin/python scripts/vote_report.py --time 1000000   # time score_votes on synthetic comments

Reads the SOCC comment-extractor output from ``../shared/data/socc_globe_and_mail``
(non-commercial data: read in place, never copied). Prints, per sample, (a) how
the comments moderators rejected or deleted distribute over the vote queues,
against the published ones, with Fisher's exact test per queue, and (b) the top
5 of each queue with their reasons. Exits 0 with a message when the data is missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moderation import schema  # noqa: E402
from moderation.ingest import load  # noqa: E402
from moderation.queues import queue  # noqa: E402
from moderation.threads import parent_positions  # noqa: E402
from moderation.votes import score_votes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "socc_globe_and_mail" / "SFU_Comment_Extractor"
SAMPLES = {
    "comment-API JSON (Output/)": "Output",
    "source1 CSV (old_comments.csv)": "Sample_Resources/Sample_Comments_CSVs/old_comments.csv",
}
VOTE_QUEUES = ("heavily_up", "heavily_down", "controversial", "anomalous")


def membership(scored: pd.DataFrame) -> dict[str, np.ndarray]:
    """Boolean membership per vote queue, plus 'in no vote queue' and 'all comments'."""
    members = {name: scored.index.isin(queue(scored, name).index) for name in VOTE_QUEUES}
    members["in no vote queue"] = ~np.logical_or.reduce(list(members.values()))
    members["all comments"] = np.ones(len(scored), dtype=bool)
    return members


def distribution(status: pd.Series, members: dict[str, np.ndarray], among: np.ndarray) -> pd.DataFrame:
    """Per queue, among the rows ``among``: members by status, share removed, Fisher's exact p against the rest."""
    removed = status.isin(["rejected", "deleted"]).to_numpy() & among
    kept = ~status.isin(["rejected", "deleted"]).to_numpy() & among
    rows = {}
    for name, inside in members.items():
        counts = status[inside & among].value_counts()
        table = [[(inside & removed).sum(), (inside & kept).sum()], [(~inside & removed).sum(), (~inside & kept).sum()]]
        rows[name] = {
            "comments": int((inside & among).sum()),
            "published": int(counts.get("published", 0)),
            "rejected": int(counts.get("rejected", 0)),
            "deleted": int(counts.get("deleted", 0)),
            "removed %": round(100 * (inside & removed).sum() / max((inside & among).sum(), 1), 1),
            "share of all removed %": round(100 * (inside & removed).sum() / max(removed.sum(), 1), 1),
            "Fisher p": round(fisher_exact(table)[1], 3) if name != "all comments" else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def votes_by_status(scored: pd.DataFrame) -> pd.DataFrame:
    """Median votes and thread-relative measures per moderation status."""
    columns = ["vote_total", "vote_net", "upvote_ratio", "vote_net_robust_z", "vote_anomaly"]
    numbers = scored[columns].astype("float64").assign(status=scored["status"])
    return numbers.groupby("status").median().round(2).assign(comments=scored["status"].value_counts())


def top(scored: pd.DataFrame, name: str, n: int = 5) -> pd.DataFrame:
    """The first ``n`` of queue ``name``: id, author, status, start of the text, reason."""
    rows = queue(scored, name).head(n)
    text = rows["text"].fillna("").str.replace(r"\s+", " ", regex=True).str.slice(0, 70)
    return pd.DataFrame({"comment_id": rows["comment_id"].str.slice(0, 8), "author": rows["author"],
                         "status": rows["status"], "text": text, "reason": rows["reason"]})


def report(data: Path) -> None:
    """Print the distribution table, votes per status and the queue tops for each sample present."""
    for label, relative in SAMPLES.items():
        path = data / relative
        if not path.exists():
            print(f"\n## {label}: {path} is missing, skipped")
            continue
        parsed = load(path, format="gnm")
        started = time.perf_counter()
        scored = score_votes(parsed.comments, parsed.vote_events)
        seconds = time.perf_counter() - started
        print(f"\n## {label}: {len(scored)} comments on {scored['article_id'].nunique()} articles "
              f"(score_votes {seconds:.2f} s; {len(parsed.problems)} ingest problems)")
        print(f"with both up and down counts: {scored['vote_total'].notna().sum()}; "
              f"statuses: {scored['status'].value_counts(dropna=False).to_dict()}")
        scored = scored.reset_index(drop=True)
        removed = scored["status"].isin(["rejected", "deleted"])
        print(f"removed (rejected + deleted) comments with at least one vote: "
              f"{int((removed & (scored['vote_total'].fillna(0) > 0)).sum())} of {int(removed.sum())}")
        members = membership(scored)
        everyone = np.ones(len(scored), dtype=bool)
        print("\n(a) moderators' removals (rejected + deleted) over the vote queues (a comment can be in several)")
        print(distribution(scored["status"], members, everyone).to_string())
        parent = parent_positions(scored)
        of_parent = {name: np.where(parent >= 0, inside[np.maximum(parent, 0)], False) & (parent >= 0)
                     for name, inside in members.items()}
        print("\n(a2) replies only, by the queue of the comment they reply to")
        print(distribution(scored["status"], of_parent, parent >= 0).to_string())
        print("\nmedians per status")
        print(votes_by_status(scored).to_string())
        for name in VOTE_QUEUES:
            print(f"\n(b) top 5 of queue {name} ({len(queue(scored, name))} comments)")
            print(top(scored, name).to_string(index=False, max_colwidth=150))


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` canonical comments on n/200 articles with negative-binomial up/down counts (no text)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "comment_id": np.arange(n).astype(str), "article_id": rng.integers(0, max(n // 200, 1), n).astype(str),
        "source": "synthetic", "author": rng.integers(0, max(n // 10, 1), n).astype(str),
        "created_at": pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
        "upvotes": rng.negative_binomial(1, 0.15, n), "downvotes": rng.negative_binomial(1, 0.25, n),
        "depth": rng.integers(0, 4, n),
    })
    return schema.conform(frame, "comments")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SFU_Comment_Extractor folder")
    parser.add_argument("--time", type=int, metavar="N", help="time score_votes on N synthetic comments instead")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 250)
    if args.time:
        frame = synthetic(args.time)
        started, cpu = time.perf_counter(), time.process_time()
        scored = score_votes(frame)
        print(f"score_votes on {args.time:,} synthetic comments ({frame['article_id'].nunique():,} articles): "
              f"{time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU; queue sizes: "
              + ", ".join(f"{name} {len(queue(scored, name)):,}" for name in VOTE_QUEUES))
        return 0
    if not args.data.exists():
        print(f"The Globe and Mail sample is missing ({args.data}); nothing to report.")
        return 0
    report(args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
