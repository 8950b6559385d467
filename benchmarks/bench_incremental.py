"""Incremental import speed: a full run on N synthetic comments, then K more comments imported into its results.

Usage: python benchmarks/bench_incremental.py [N] [K] [--late any|recent] [--folder DIR]

The K comments are new arrivals: 80% on new articles (whole discussions), 20% as the latest comments of older
articles (about five each), so the import scores those articles again whole. The older articles are drawn from
the whole history (``--late any``, the default: the worst case for the results folder, whose comments are parts
in store order, since every part then holds a rescored article) or are the most recent ones (``--late recent``:
as a news site's late comments mostly come, on the last days' articles). Each phase
runs in its own process, so its peak RSS is its own. The floor, measured in the same run, is what any import
into that folder must do at least: read the current comments.parquet and write it again (pyarrow).
Targets (issue 13): 2k into 200k at most 15% of the full run; 10k into 1M at most 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _write_parts(n: int, k: int, folder: Path, late: str = "any") -> tuple[Path, Path, int]:
    """Canonical Parquet folders: the base corpus and the added comments; returns them and the articles touched."""
    import numpy as np

    from synthetic import synthetic

    articles, comments = synthetic(n + k)
    on_new = int(0.8 * k)
    # new articles: the last ones, whole, until they hold about 80% of the added comments
    sizes = comments.groupby("article_id", sort=False).size()
    new_articles = sizes.index[::-1][np.cumsum(sizes.to_numpy()[::-1]) <= on_new]
    is_new = comments["article_id"].isin(new_articles).to_numpy()
    # the rest: the latest five comments of older articles
    rng = np.random.default_rng(1)
    older = comments[~is_new]
    rank = older.groupby("article_id").cumcount(ascending=False)
    candidates = older[rank < 5]
    older_articles = candidates["article_id"].unique()  # in store order: the most recent last
    size = max(1, (k - is_new.sum()) // 5)
    chosen = older_articles[-size:] if late == "recent" else rng.choice(older_articles, size=size, replace=False)
    is_late = comments.index.isin(candidates.index[candidates["article_id"].isin(chosen)])
    added = is_new | is_late
    parts = []
    for name, rows, article_rows in (
        ("base", comments[~added], articles[~articles["article_id"].isin(new_articles)]),
        ("added", comments[added], articles[articles["article_id"].isin(new_articles)]),
    ):
        part = folder / name
        part.mkdir(parents=True, exist_ok=True)
        rows.drop(columns=["thread_id", "depth", "position"]).to_parquet(part / "comments.parquet", index=False)
        article_rows.to_parquet(part / "articles.parquet", index=False)
        parts.append(part)
    return parts[0], parts[1], len(new_articles) + len(chosen)


def _phase(name: str, paths: list[str], out: str) -> None:
    """One phase in this process: print seconds, peak RSS and what was scored as JSON."""
    from moderation import pipeline

    began, cpu = time.perf_counter(), _cpu()
    if name == "full":
        results = pipeline.run(paths, out)
        scored = str(results.scoring)
    elif name == "import":
        report = pipeline.import_files(paths, out)
        run = json.loads((Path(out) / "run.json").read_text())
        steps = ", ".join(f"{step} {run['seconds'][step]:.2f}/{run['cpu_seconds'][step]:.2f}"
                          for step in run["seconds"])
        scored = f"{report}\n  steps (s wall/CPU, run.json): {steps}"
    else:  # floor: read the current comments and write them again
        import pyarrow.parquet as pq

        table = pq.read_table(Path(out) / "comments.parquet")
        pq.write_table(table, Path(out) / "floor.parquet")
        scored = f"{table.num_rows:,} rows read and written"
    seconds, cpu = time.perf_counter() - began, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mib": peak, "scored": scored}))


def _cpu() -> float:
    """CPU seconds (user + system) of this process so far: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(name: str, paths: list[Path], out: Path) -> dict:
    """Run phase ``name`` in a new process; its figures, with ``process``: the process's wall seconds (starting
    Python and importing the modules too, as a command-line import pays them)."""
    command = [sys.executable, __file__, "--phase", name, "--out", str(out), "--paths", *map(str, paths)]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise RuntimeError(f"phase {name} failed:\n{done.stderr}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "process": time.perf_counter() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument("k", nargs="?", type=int, default=2_000)
    parser.add_argument("--late", choices=["any", "recent"], default="any",
                        help="which older articles the late comments go to (default: any, drawn from the history)")
    parser.add_argument("--folder", type=Path, help="where to put the data and results (default: a temporary one)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args.phase, args.paths, args.out)
        return
    if args.folder:
        args.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        folder = Path(folder)
        base, added, touched = _write_parts(args.n, args.k, folder, args.late)
        out = folder / "results"
        full = _child("full", [base], out)
        imported = _child("import", [added], out)
        floor = _child("floor", [], out)
    print(f"full run on {args.n:,} comments (canonical Parquet in, every output written): "
          f"{full['seconds']:.1f} s wall, {full['cpu']:.1f} s CPU, peak {full['peak_mib']:,.0f} MiB")
    print(f"import of {args.k:,} comments touching {touched:,} articles (late comments on {args.late} older "
          f"articles): {imported['seconds']:.2f} s wall, "
          f"{imported['cpu']:.2f} s CPU, peak {imported['peak_mib']:,.0f} MiB; the whole process (Python start "
          f"and module imports too) {imported['process']:.2f} s wall")
    print(f"  {imported['scored']}")
    print(f"  import / full run: {imported['seconds'] / full['seconds']:.1%} wall, "
          f"{imported['cpu'] / full['cpu']:.1%} CPU")
    print(f"  floor (read + write comments.parquet, {floor['scored']}): {floor['seconds']:.2f} s wall; "
          f"import = {imported['seconds'] / floor['seconds']:.1f} x floor")


if __name__ == "__main__":
    main()
