"""The Dask engine beyond one process's memory: N synthetic comments, time and peak memory per worker.

Usage: python benchmarks/bench_dask.py [N_COMMENTS] [--workers 2] [--memory-limit 4GiB]
       [--partition-comments 100000] [--part-comments 250000] [--work DIR] [--port 8701]

Each phase runs in its own process (so each peak is that phase's own):

1. generate: the input as canonical Parquet folders of ``--part-comments`` comments each, written one at a
   time by a streaming generator (``synthetic.write_synthetic_parts``): never the whole corpus in one process;
2. floor: reading every part's comments with pyarrow, one at a time (the I/O floor of the same data, same run);
3. ingest: ``pipeline.ingest_paths`` into the results folder's store (pieces of 50,000 records);
4. run: ``pipeline.run`` with ``engine="dask"`` on a ``LocalCluster`` of ``--workers`` worker processes with
   ``--memory-limit`` each (127.0.0.1, no dashboard, scheduler on ``--port``), fitting and scoring the store.

Prints each phase's seconds and peak RSS, comments/s of the run, and each worker's peak RSS (``ru_maxrss`` of
the worker process, asked through ``Client.run`` after the run) and restarts (a worker over its limit is
restarted by its nanny: then the run did not hold in that memory).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_peak() -> float:
    import resource as worker_resource

    return worker_resource.getrusage(worker_resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_generate(args) -> dict:
    from synthetic import write_synthetic_parts

    parts = write_synthetic_parts(args.work / "input", args.n, args.part_comments)
    return {"parts": len(parts)}


def phase_floor(args) -> dict:
    import pyarrow.parquet as pq

    rows = sum(pq.read_table(part / "comments.parquet").num_rows for part in _parts(args))
    return {"rows": rows}


def phase_ingest(args) -> dict:
    from moderation import catalog, pipeline
    from moderation.store import Store

    out = args.work / "results"
    out.mkdir(parents=True, exist_ok=True)
    problems, records = pipeline.ingest_paths(Store(catalog.default_store_url(out)), _parts(args), "canonical")
    return {"records": records, "problems": len(problems)}


def phase_run(args) -> dict:
    from distributed import Client, LocalCluster

    import logging

    from moderation import pipeline
    from moderation.dask_engine import LOG, DaskOptions

    logging.basicConfig(format="%(message)s")
    LOG.setLevel(logging.INFO)

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=args.memory_limit,
                      host="127.0.0.1", scheduler_port=args.port, dashboard_address=None,
                      worker_port=f"{args.port + 1}:{args.port + 20}", port=f"{args.port + 21}:{args.port + 40}",
                      ) as cluster, Client(cluster) as client:
        options = DaskOptions(scheduler=cluster.scheduler_address, partition_comments=args.partition_comments)
        workers = set(client.scheduler_info()["workers"])
        began = time.perf_counter()
        results = pipeline.run([], args.work / "results", engine="dask", dask=options)
        seconds = time.perf_counter() - began
        peaks = client.run(_worker_peak)
        # a restarted worker (over its limit) comes back on another address
        restarts = len(set(client.scheduler_info()["workers"]) - workers)
    return {"seconds": seconds, "comments": results.scoring.comments, "worker_peak_mib": list(peaks.values()),
            "restarts": restarts, "scoring": str(results.scoring)}


PHASES = {"generate": phase_generate, "floor": phase_floor, "ingest": phase_ingest, "run": phase_run}


def _parts(args) -> list[Path]:
    return sorted((args.work / "input").glob("part-*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--partition-comments", type=int, default=100_000)
    parser.add_argument("--part-comments", type=int, default=250_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_dask"))
    parser.add_argument("--port", type=int, default=8701, help="scheduler port; workers and nannies take the next 40")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)  # one phase, in a child process
    args = parser.parse_args()
    if args.phase:
        began = time.perf_counter()
        figures = PHASES[args.phase](args)
        print(json.dumps({"phase": args.phase, "seconds": time.perf_counter() - began, "peak_mib": _peak_mib(),
                          **figures}))
        return
    if (args.work / "results").exists() or (args.work / "input").exists():
        sys.exit(f"{args.work} exists: remove it or give another --work")
    report = {}
    for name in PHASES:
        command = [sys.executable, __file__, str(args.n), "--phase", name, *_forwarded(args)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"phase {name} failed:\n{done.stderr[-4000:]}")
        report[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name:9s} {report[name]['seconds']:8.1f} s   peak {report[name]['peak_mib']:7.0f} MiB", flush=True)
        steps = [line for line in done.stderr.splitlines() if line.endswith(" s") and ": " in line]
        print("".join(f"    {line}\n" for line in steps), end="")
    run = report["run"]
    print(f"\n{args.n:,} comments, Dask engine, {args.workers} workers x {args.memory_limit}, partitions of "
          f"{args.partition_comments:,} comments")
    print(f"run (fit + score + write): {run['seconds']:.1f} s, {run['comments'] / run['seconds']:,.0f} comments/s; "
          f"{run['seconds'] / report['floor']['seconds']:.1f}x the pyarrow read floor ({report['floor']['seconds']:.1f} s)")
    print("peak RSS per worker: " + ", ".join(f"{peak:,.0f} MiB" for peak in run["worker_peak_mib"])
          + f"; client process {run['peak_mib']:,.0f} MiB; worker restarts: {run['restarts']}")
    print(f"ingest into the store: {report['ingest']['seconds']:.1f} s (client process, peak "
          f"{report['ingest']['peak_mib']:,.0f} MiB); {run['scoring']}")


def _forwarded(args) -> list[str]:
    return ["--workers", str(args.workers), "--memory-limit", args.memory_limit, "--partition-comments",
            str(args.partition_comments), "--part-comments", str(args.part_comments), "--work", str(args.work),
            "--port", str(args.port)]


if __name__ == "__main__":
    main()
