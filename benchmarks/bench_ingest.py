"""Peak memory and time of ingesting one large canonical CSV, against pandas and pyarrow reading the same file.

    python benchmarks/bench_ingest.py [MEGABYTES] [--file PATH] [--keep]

Writes a synthetic ``comments.csv`` of about MEGABYTES (default 250) unless
``--file`` names one, then measures each reader in a fresh process (peak RSS
from ``getrusage``, so the numbers do not share a heap):

- ``pandas.read_csv``: the file into one frame, nothing checked (baseline);
- ``pyarrow.csv.read_csv``: the same with Arrow (baseline);
- ``ingest_paths``: what ``python -m moderation ingest FILE`` does: pieces of
  ``moderation.ingest.CHUNK_ROWS`` rows, every value checked, into SQLite;
- ``ingest.load``: the whole file as one validated frame (the path the
  command used before pieces; still what ``load()`` returns).

Memory of ``ingest_paths`` is bounded by a piece, so it should stay flat as
the file grows, while the whole-file readers grow with it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

READERS = {
    "pandas.read_csv (baseline)": "import pandas as pd; pd.read_csv(FILE)",
    "pyarrow.csv.read_csv (baseline)": "import pyarrow.csv as c; c.read_csv(FILE)",
    "moderation ingest (pieces, checked, SQLite)": (
        "from moderation.pipeline import ingest_paths; from moderation.store import Store; "
        "ingest_paths(Store('sqlite:///' + STORE), [FILE])"
    ),
    "ingest.load (whole file, checked)": "from moderation import ingest; ingest.load(FILE, resolve_threads=False)",
}


def write_csv(path: Path, megabytes: float, seed: int = 0) -> int:
    """A canonical comments CSV of about ``megabytes``, written in blocks; returns its row count."""
    rng = np.random.default_rng(seed)
    words = np.array(["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 6)) for _ in range(5000)])
    rows, block = 0, 50_000
    with path.open("w", newline="") as handle:
        header = True
        while path.stat().st_size < megabytes * 1e6:
            ids = np.arange(rows, rows + block)
            text = [" ".join(rng.choice(words, n)) for n in rng.integers(5, 40, block)]
            frame = pd.DataFrame({
                "comment_id": ids, "article_id": ids // 200, "parent_id": np.where(ids % 3 == 0, ids - 1, -1),
                "author": rng.choice(words[:2000], block), "created_at": "2024-03-01T10:00:00Z", "text": text,
                "upvotes": rng.integers(0, 50, block), "downvotes": rng.integers(0, 10, block),
            })
            frame["parent_id"] = frame["parent_id"].where(frame["parent_id"] >= 0, None).astype("Int64")
            frame.to_csv(handle, index=False, header=header)
            handle.flush()
            header, rows = False, rows + block
    return rows


def measure(code: str, file: Path, store: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of ``code`` run in a fresh interpreter."""
    program = (
        "import resource, time, json\n"
        f"FILE, STORE = {str(file)!r}, {str(store)!r}\n"
        "began = time.perf_counter()\n"
        f"{code}\n"
        "print(json.dumps([time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    seconds, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("megabytes", nargs="?", type=float, default=250)
    parser.add_argument("--file", type=Path, help="an existing canonical comments CSV instead of a synthetic one")
    parser.add_argument("--skip-whole", action="store_true", help="do not measure the whole-file ingest.load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        file = args.file or Path(folder) / "comments.csv"
        if args.file is None:
            began = time.perf_counter()
            rows = write_csv(file, args.megabytes)
            print(f"wrote {rows:,} rows, {file.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - began:.0f} s")
        print(f"{'reader':48} {'seconds':>8} {'peak RSS MiB':>13}")
        for name, code in READERS.items():
            if args.skip_whole and name.startswith("ingest.load"):
                continue
            store = Path(folder) / f"store_{len(name)}.db"
            seconds, peak = measure(code, file, store)
            print(f"{name:48} {seconds:8.1f} {peak:13.0f}", flush=True)


if __name__ == "__main__":
    main()
