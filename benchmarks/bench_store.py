"""Concurrent moderators on one store: decisions/s, conflicts detected, decisions lost (must be 0).

Usage: ``python benchmarks/bench_store.py [--moderators 20] [--actions 1000] [--comments 200]
[--seconds 300] [--ingest ROWS] [--postgres URL]``

Each moderator is a separate process with its own connection, signed up as a
user with the moderator role. It repeats: read a random comment's state
(``Store.comment_states``), record a decision carrying that state (``seen``),
and every fifth action undo its own last batch. A ``DecisionConflict`` (another
decision landed in between) is counted, not retried. ``--ingest ROWS`` also
ingests that many synthetic comments in one transaction while the moderators
work, as a long import does (into the corpus file, a throw-away one for PostgreSQL;
the moderators' decisions go to the SQL store). ``--seconds`` bounds each run.

Afterwards the log is checked against what every process was told:

- lost: decisions a process was told were recorded that are not in the log as theirs (must be 0)
- phantom: decisions in the log no process was told about (must be 0)
- undo mismatch: decisions a process was told it undid that are not undone in the log, plus undone ones
  no process was told about (must be 0; two processes never both "undo" one decision)
- out of order: per comment, a later decision stamped earlier than the one before (must be 0)
- failed: actions that ended in an error other than a conflict (must be 0; "database is locked" was one)

The same-run baseline is one moderator process alone on a fresh store.
SQLite always runs; PostgreSQL with ``--postgres URL`` or ``$MODERATION_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from moderation.store import ACTIONS, DecisionConflict, Store  # noqa: E402

PASSWORD = "bench password"
SOURCE = "bench"


def moderate(url: str, name: str, actions: int, comments: int, seconds: float, seed: int, results) -> None:
    """One moderator's session: decide with the state seen, undo every fifth action; report what it was told."""
    store = Store(url)
    rng = random.Random(seed)
    recorded, undone, conflicts, failed = [], [], 0, []
    deadline = time.monotonic() + seconds
    done = 0
    for done in range(1, actions + 1):
        try:
            if done % 5 == 0:
                undone += store.undo_last(name)["id"].tolist()
            else:
                key = (SOURCE, f"c{rng.randrange(comments)}")
                seen = store.comment_states([key])
                recorded += store.record_decision([key], rng.choice(ACTIONS), name, seen=seen)
        except DecisionConflict:
            conflicts += 1
        except Exception as error:  # noqa: BLE001 - every failure is counted and shown
            failed.append(f"{type(error).__name__}: {str(error).splitlines()[0]}")
        if time.monotonic() > deadline:
            break
    results.put({"name": name, "actions": done, "recorded": recorded, "undone": undone,
                 "conflicts": conflicts, "failed": failed})


def ingest(url: str, rows: int, results) -> None:
    """A long import: ``rows`` synthetic comments in one transaction."""
    from moderation import schema
    from moderation.ingest import Parsed, finish
    from synthetic import synthetic

    articles, comments = synthetic(rows, seed=1)
    parsed = finish(Parsed(articles, comments, schema.empty("vote_events")), "bench_ingest")
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as folder:
            Store(url, corpus=None if url.startswith("sqlite") else Path(folder) / "corpus.duckdb").ingest(parsed)
        results.put({"ingest_seconds": time.monotonic() - began})
    except Exception as error:  # noqa: BLE001
        results.put({"ingest_error": f"{type(error).__name__}: {error}"})


def run(url: str, moderators: int, actions: int, comments: int, seconds: float, ingest_rows: int) -> dict:
    """Run ``moderators`` processes on the store at ``url``; the figures and the checks."""
    store = Store(url)
    names = [f"mod{i:02d}" for i in range(moderators)]
    for name in names:
        store.add_user(name, "moderator", PASSWORD)
    store.engine.dispose()  # no pooled connection crosses into the forked processes
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=moderate, args=(url, name, actions, comments, seconds, i, results))
               for i, name in enumerate(names)]
    if ingest_rows:
        workers.append(context.Process(target=ingest, args=(url, ingest_rows, results)))
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    reports = [results.get() for _ in workers]
    wall = time.perf_counter() - began
    for worker in workers:
        worker.join()
    sessions = [r for r in reports if "name" in r]
    extra = {k: v for r in reports if "name" not in r for k, v in r.items()}

    log = store.decisions()
    by_id = log.set_index("id")
    told = {i: s["name"] for s in sessions for i in s["recorded"]}
    told_undone = [i for s in sessions for i in s["undone"]]
    lost = sum(1 for i, name in told.items() if i not in by_id.index or by_id.loc[i, "moderator"] != name)
    phantom = len(set(by_id.index) - set(told))
    undone_in_log = set(by_id.index[by_id["undone_at"].notna()])
    undo_mismatch = (len(told_undone) - len(set(told_undone))) + len(set(told_undone) ^ undone_in_log)
    ordered = log.sort_values("id")
    out_of_order = sum(not group["decided_at"].is_monotonic_increasing
                       for _, group in ordered.groupby(["source", "comment_id"]))
    return {
        "moderators": moderators, "actions": sum(s["actions"] for s in sessions), "seconds": wall,
        "decisions": len(told), "decisions_per_s": len(told) / wall, "undone": len(told_undone),
        "conflicts": sum(s["conflicts"] for s in sessions), "lost": lost, "phantom": phantom,
        "undo_mismatch": undo_mismatch, "out_of_order": out_of_order,
        "failed": sum(len(s["failed"]) for s in sessions),
        "failures": sorted({f for s in sessions for f in s["failed"]})[:3], **extra,
    }


def postgres_url(base: str) -> str:
    """A fresh schema on the server at ``base``, so runs never see each other's rows."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with sa.create_engine(base).begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {name}"))
    return f"{base}?options=-csearch_path%3D{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moderators", type=int, default=20)
    parser.add_argument("--actions", type=int, default=1000, help="decisions and undos per moderator")
    parser.add_argument("--comments", type=int, default=200, help="comments the moderators share")
    parser.add_argument("--seconds", type=float, default=300, help="stop each moderator after this long")
    parser.add_argument("--ingest", type=int, default=0, metavar="ROWS",
                        help="also ingest ROWS synthetic comments in one transaction meanwhile")
    parser.add_argument("--postgres", default=os.environ.get("MODERATION_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (default $MODERATION_TEST_POSTGRES_URL)")
    args = parser.parse_args()
    backends = [("sqlite", lambda folder: f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}")]
    if args.postgres:
        backends.append(("postgresql", lambda folder: postgres_url(args.postgres)))
    else:
        print("PostgreSQL: skipped (no --postgres URL and no $MODERATION_TEST_POSTGRES_URL)")
    columns = ["backend", "run", "moderators", "actions", "seconds", "decisions", "decisions_per_s", "undone",
               "conflicts", "lost", "phantom", "undo_mismatch", "out_of_order", "failed"]
    print("  ".join(f"{c:>10}" for c in columns))
    with tempfile.TemporaryDirectory() as folder:
        for backend, make_url in backends:
            for label, moderators, ingest_rows in (("baseline", 1, 0), ("team", args.moderators, args.ingest)):
                figures = run(make_url(Path(folder)), moderators, args.actions, args.comments, args.seconds,
                              ingest_rows)
                row = {"backend": backend, "run": label, **figures}
                print("  ".join(f"{row[c]:>10.1f}" if isinstance(row[c], float) else f"{row[c]:>10}"
                                for c in columns))
                for note in ("failures", "ingest_seconds", "ingest_error"):
                    if row.get(note):
                        print(f"{'':>10}  {note}: {row[note]}")


if __name__ == "__main__":
    main()
