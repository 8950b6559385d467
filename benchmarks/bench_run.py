"""End to end: ``python -m moderation run`` on N synthetic comments against the floor measured in the same run.

Usage: python benchmarks/bench_run.py [--sizes 200000,1000000] [--folder DIR]

For each size, N synthetic comments (``synthetic.py``) are written as a canonical Parquet folder
(``comments.parquet`` + ``articles.parquet``) and the real command runs on it as a child process, writing
every output into a fresh results folder: its wall seconds, comments/s and peak RSS (the child's own,
from ``os.wait4``, with its CPU seconds), and each step's share from the ``seconds`` the run records in ``run.json`` ("start-up"
is the rest: starting Python, imports, the summary line, the version swap), with the step's CPU seconds in the run's
own process (``cpu_seconds``; worker processes not counted): on a shared machine wall time varies with the load. The floor, measured in
the same run, in its own child process, is what any run must do at least: read the comments file with
pyarrow and fit one ``TfidfVectorizer.fit_transform`` (scikit-learn defaults) over the texts.
Targets (issue 13): end to end at most 2.0 x the floor at both sizes; peak at most 1 GB at 200k and 3 GB at 1M.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_RATIO = 2.0
TARGET_PEAK_GB = {200_000: 1.0, 1_000_000: 3.0}
GB = 1e9


def _write_input(n: int, folder: Path) -> Path:
    """A canonical Parquet folder of ``n`` synthetic comments (as an export has them: no reply-tree columns)."""
    from synthetic import synthetic

    articles, comments = synthetic(n)
    folder.mkdir(parents=True, exist_ok=True)
    comments.drop(columns=["thread_id", "depth", "position"]).to_parquet(folder / "comments.parquet", index=False)
    articles.to_parquet(folder / "articles.parquet", index=False)
    del articles, comments
    gc.collect()
    return folder


def _floor(comments_file: str) -> None:
    """In a child process: the floor's seconds as JSON (pyarrow read + one TF-IDF fit of the texts)."""
    began = time.perf_counter()
    import pyarrow.parquet as pq
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = pq.read_table(comments_file).column("text").to_pylist()
    read = time.perf_counter() - began
    TfidfVectorizer().fit_transform(texts)
    print(json.dumps({"seconds": time.perf_counter() - began, "read": read}))


def _child(command: list[str]) -> tuple[float, float, int, str]:
    """Run ``command``; its wall seconds, CPU seconds (user + system, with the worker processes it waited for:
    steadier than wall time on a shared machine), its peak RSS in bytes and its standard output."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if process.returncode:
            raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{err.read()[-3000:]}")
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out.read()


def bench(n: int, folder: Path) -> dict:
    """One size: the run's and the floor's figures."""
    data = _write_input(n, folder / f"input_{n}")
    results = folder / f"results_{n}"
    seconds, cpu, peak, _ = _child([sys.executable, "-m", "moderation", "run", str(data), "--out", str(results)])
    record = json.loads((results / "run.json").read_text())
    steps = {step: (seconds, record.get("cpu_seconds", {}).get(step)) for step, seconds in record["seconds"].items()}
    _, floor_cpu, floor_peak, floor_out = _child([sys.executable, __file__, "--floor", str(data / "comments.parquet")])
    floor = json.loads(floor_out.strip().splitlines()[-1])
    return {"n": n, "seconds": seconds, "cpu": cpu, "peak": peak, "steps": steps, "floor": floor["seconds"],
            "floor_read": floor["read"], "floor_cpu": floor_cpu, "floor_peak": floor_peak}


def report(figures: dict) -> None:
    n, seconds, floor = figures["n"], figures["seconds"], figures["floor"]
    ratio = seconds / floor
    peak_gb = figures["peak"] / GB
    target_peak = TARGET_PEAK_GB.get(n)
    print(f"\n{n:,} comments: run {seconds:.1f} s end to end, {n / seconds:,.0f} comments/s, "
          f"peak RSS {peak_gb:.2f} GB" + (f" (target <= {target_peak:.0f} GB: "
                                          f"{'met' if peak_gb <= target_peak else 'NOT met'})" if target_peak else ""))
    print(f"  floor (pyarrow read {figures['floor_read']:.1f} s + one TfidfVectorizer.fit_transform): {floor:.1f} s, "
          f"peak {figures['floor_peak'] / GB:.2f} GB")
    print(f"  ratio {ratio:.2f} x floor (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'}); "
          f"CPU {figures['cpu']:.1f} s against the floor's {figures['floor_cpu']:.1f} s (whole processes, "
          f"start-up included): {figures['cpu'] / figures['floor_cpu']:.2f} x")
    steps = dict(figures["steps"])
    steps["start-up, imports, summary, swap"] = (max(seconds - sum(wall for wall, _ in steps.values()), 0.0), None)
    print(f"    {'step':<34} {'wall':>9}  {'share':>6}  {'CPU (this process)':>18}")
    for step, (step_seconds, cpu) in steps.items():
        print(f"    {step:<34} {step_seconds:7.2f} s  {step_seconds / seconds:6.1%}"
              + (f"  {cpu:16.2f} s" if cpu is not None else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,1000000", help="comma-separated numbers of comments")
    parser.add_argument("--folder", type=Path, help="where to put inputs and results (default: a temporary one)")
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        _floor(args.floor)
        return
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",")]
    if args.folder:
        args.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        for n in sizes:
            report(bench(n, Path(folder)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
