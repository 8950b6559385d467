"""Time and peak memory of ingesting one large canonical CSV into SQLite, against a floor measured in the same run.

    python benchmarks/bench_ingest.py [MEGABYTES] [--file PATH] [--skip-whole] [--quick] [--reddit]

Writes a synthetic ``comments.csv`` of about MEGABYTES (default 250) unless
``--file`` names one, then runs each reader in a fresh process (peak RSS from
``getrusage``, so the numbers do not share a heap; seconds exclude imports):

- ``pandas.read_csv``: the whole file into one frame, nothing checked (baseline for memory);
- ``pyarrow.csv.read_csv``: the same with Arrow;
- ``floor``: ``pandas.read_csv`` in pieces of ``moderation.ingest.CHUNK_ROWS`` rows and a plain
  ``sqlite3`` ``executemany`` of each piece's rows into a table keyed like the store's, one transaction per
  piece: reading and storing the same rows with nothing checked, what any ingest must at least do;
- ``moderation ingest``: what ``python -m moderation ingest FILE`` does: pieces of
  ``CHUNK_ROWS`` rows, every value checked and reported, known keys looked up, into the store;
- ``ingest.load``: the whole file as one validated frame (what ``load()`` returns).

With ``--reddit`` the same rows are written as Reddit dump lines and read by the Reddit loader (floor: ``json.loads``
of each line and the same ``executemany``), against ``pandas.read_json(lines=True)`` for memory.
The last lines give the ingest's rows per second and its time as a multiple of the floor. Memory of the
ingest is bounded by a piece, so it should stay flat as the file grows, while the whole-file readers grow.
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

FLOOR = "floor: read pieces + sqlite3 executemany"
INGEST = "moderation ingest (pieces, checked, SQLite)"
# name -> (imports, untimed; the work, timed: it sets ROWS to the rows it read)
READERS = {
    "pandas.read_csv (whole file)": ("import pandas as pd", "ROWS = len(pd.read_csv(FILE))"),
    "pyarrow.csv.read_csv (whole file)": ("import pyarrow.csv as c", "ROWS = c.read_csv(FILE).num_rows"),
    FLOOR: (
        "import sqlite3, pandas as pd; from moderation.ingest import CHUNK_ROWS",
        "database = sqlite3.connect(STORE)\n"
        "ROWS = 0\n"
        "for piece in pd.read_csv(FILE, chunksize=CHUNK_ROWS):\n"
        "    if not ROWS:\n"
        "        names = ', '.join(f'\"{c}\"' for c in piece.columns)\n"
        "        database.execute(f'CREATE TABLE comments ({names}, PRIMARY KEY (comment_id))')\n"
        "    rows = piece.astype(object).where(piece.notna(), None).itertuples(index=False, name=None)\n"
        "    with database:\n"
        "        database.executemany(f'INSERT INTO comments VALUES ({\", \".join(\"?\" * piece.shape[1])})', rows)\n"
        "    ROWS += len(piece)\n"
    ),
    INGEST: (
        "from moderation.pipeline import ingest_paths; from moderation.store import Store; "
        "from moderation import ingest; ingest.format_names()",
        "ROWS = ingest_paths(Store('sqlite:///' + STORE), [FILE])[1]",
    ),
    "ingest.load (whole file, checked)": (
        "from moderation import ingest; ingest.format_names()",
        "ROWS = len(ingest.load(FILE, resolve_threads=False).comments)",
    ),
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


# the same rows as Reddit dump lines: the JSON Lines readers stream too
JSON_READERS = {
    "pandas.read_json lines (whole file)": ("import pandas as pd", "ROWS = len(pd.read_json(FILE, lines=True))"),
    FLOOR: (
        "import json, sqlite3; from itertools import islice; from moderation.ingest import CHUNK_ROWS",
        "database = sqlite3.connect(STORE)\n"
        "database.execute('CREATE TABLE comments (id PRIMARY KEY, link_id, parent_id, author, body, score, "
        "created_utc)')\n"
        "ROWS = 0\n"
        "with open(FILE) as handle:\n"
        "    while piece := [json.loads(line) for line in islice(handle, CHUNK_ROWS)]:\n"
        "        with database:\n"
        "            database.executemany('INSERT INTO comments VALUES (:id, :link_id, :parent_id, :author, :body, "
        ":score, :created_utc)', piece)\n"
        "        ROWS += len(piece)\n"
    ),
    INGEST: READERS[INGEST],
}


def write_reddit(csv_path: Path, path: Path) -> int:
    """The rows of ``csv_path`` as Reddit dump lines (id, link_id, parent_id, author, body, score, created_utc)."""
    rows = 0
    with path.open("w") as handle:
        for piece in pd.read_csv(csv_path, chunksize=50_000):
            dump = pd.DataFrame({
                "id": piece["comment_id"].astype(str), "link_id": "t3_" + piece["article_id"].astype(str),
                "parent_id": ("t1_" + piece["parent_id"].astype("Int64").astype(str)).where(
                    piece["parent_id"].notna(), "t3_" + piece["article_id"].astype(str)),
                "author": piece["author"], "body": piece["text"], "score": piece["upvotes"] - piece["downvotes"],
                "created_utc": 1_709_287_200,
            })
            dump.to_json(handle, orient="records", lines=True)
            rows += len(dump)
    return rows


def measure(imports: str, work: str, file: Path, store: Path) -> tuple[float, float, float, int]:
    """(seconds of ``work``, its CPU seconds, peak RSS in MiB, rows read) of ``imports`` then ``work`` run in a fresh
    interpreter."""
    program = (
        "import resource, time, json\n"
        f"FILE, STORE = {str(file)!r}, {str(store)!r}\n"
        f"{imports}\n"
        "began, cpu = time.perf_counter(), time.process_time()\n"
        f"{work}\n"
        "print(json.dumps([time.perf_counter() - began, time.process_time() - cpu,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, ROWS]))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    seconds, cpu, peak, rows = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, cpu, peak, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("megabytes", nargs="?", type=float, default=250)
    parser.add_argument("--file", type=Path, help="an existing canonical comments CSV instead of a synthetic one")
    parser.add_argument("--skip-whole", action="store_true", help="do not measure the whole-file ingest.load")
    parser.add_argument("--quick", action="store_true", help="measure only the floor and the ingest")
    parser.add_argument("--reddit", action="store_true", help="the same rows as a Reddit dump (JSON Lines)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        file = args.file or Path(folder) / "comments.csv"
        if args.file is None:
            began = time.perf_counter()
            rows = write_csv(file, args.megabytes)
            print(f"wrote {rows:,} rows, {file.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - began:.0f} s")
        readers = READERS
        if args.reddit:
            dump = Path(folder) / "comments_dump.jsonl"
            rows = write_reddit(file, dump)
            print(f"as a Reddit dump: {rows:,} lines, {dump.stat().st_size / 1e6:.0f} MB")
            file, readers = dump, JSON_READERS
        # CPU seconds too: on a shared machine the wall clock also counts other processes' turns
        print(f"{'reader':48} {'seconds':>8} {'CPU s':>7} {'rows/s':>9} {'peak RSS MiB':>13}")
        timings = {}
        for name, (imports, work) in readers.items():
            if args.skip_whole and name.startswith("ingest.load"):
                continue
            if args.quick and name not in (FLOOR, INGEST):
                continue
            store = Path(folder) / f"store_{len(timings)}.db"
            seconds, cpu, peak, rows = measure(imports, work, file, store)
            store.unlink(missing_ok=True)
            timings[name] = seconds, cpu
            print(f"{name:48} {seconds:8.1f} {cpu:7.1f} {rows / seconds:9,.0f} {peak:13.0f}", flush=True)
        (wall, cpu), (floor_wall, floor_cpu) = timings[INGEST], timings[FLOOR]
        print(f"ingest takes {wall / floor_wall:.1f}x the floor's time ({wall:.1f} s against {floor_wall:.1f} s), "
              f"{cpu / floor_cpu:.1f}x its CPU ({cpu:.1f} s against {floor_cpu:.1f} s), for the same {rows:,} rows")


if __name__ == "__main__":
    main()
