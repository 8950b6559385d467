"""Which store for the corpus: the product's corpus file against bare DuckDB and Parquet parts, on one workload.

    python benchmarks/bench_corpus_store.py [N ...] [--repeat R]

Issue 13 asks for comments and scores in a columnar store, measured before choosing. For each N (default 200000
and 1000000 synthetic canonical comments, ``benchmarks/synthetic.py``) each candidate runs the same four steps in a
fresh process (peak RSS from ``getrusage``; seconds exclude imports; best of ``--repeat`` runs):

1. **first ingest**: all N comments into an empty store;
2. **import**: N/100 new comments together with N/100 already stored (a re-sent file: they must be left as they
   are, nothing duplicated);
3. **load all**: every comment back as a pandas frame in stored order (what a full run scores);
4. **load touched**: the comments of 1 % of the articles (what an incremental run re-scores).

Candidates: ``moderation Store`` (``Store.ingest`` / ``Store.load`` / ``Store.load_articles`` on an SQLite store, the
code in use: its corpus is a DuckDB file, ``moderation/corpus.py``, with key lookups, positions, JSON pass-through
columns and canonical pandas types on the way back); ``DuckDB`` (bare: a table keyed by (source, comment_id),
``INSERT ... ON CONFLICT DO NOTHING`` from Arrow, read back through Arrow); ``Parquet parts + key index`` (one Parquet
file per ingest, new keys found against the stored key columns, read with ``pyarrow.dataset``). The floor, in the
same run: ``pyarrow.parquet`` writing the N comments once and reading them back. Every candidate's row counts are
checked (N, then N + N/100).

Measured before choosing (the SQL corpus tables of the previous version, SQLite, 1M comments): first ingest 35 s,
load all 42 s, load touched 2.8 s, against bare DuckDB's 8.1, 2.3 and 0.23 s; that SQL code is gone since the corpus
moved into DuckDB (revision ``0007_corpus_file``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import resource, sys, time
sys.path[:0] = [ROOT, ROOT + "/benchmarks"]
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq, pyarrow.dataset as ds
from synthetic import synthetic
articles, comments = synthetic(N + N // 100)
comments = comments.assign(position=np.arange(len(comments)))
first, new = comments.iloc[:N], comments.iloc[N:]
again = pd.concat([new, first.iloc[: N // 100]])  # an import: new comments and a re-sent slice
keys = articles[["source", "article_id"]].drop_duplicates().iloc[::100]
seconds = {}
def timed(step, work):
    began = time.perf_counter()
    result = work()
    seconds[step] = round(time.perf_counter() - began, 3)
    return result
"""

CANDIDATES = {
    "floor: pyarrow.parquet write + read": """
table = pa.Table.from_pandas(first, preserve_index=False)
timed("first ingest", lambda: pq.write_table(table, WORK + "/floor.parquet"))
rows = timed("load all", lambda: pq.read_table(WORK + "/floor.parquet").to_pandas())
counts = [len(rows), len(rows)]
""",
    "moderation Store": """
from moderation.ingest import Parsed
from moderation.store import Store
store = Store("sqlite:///" + WORK + "/store.db")
timed("first ingest", lambda: store.ingest(Parsed(articles, first)))
timed("import", lambda: store.ingest(Parsed(articles.iloc[:0], again)))
loaded = timed("load all", lambda: store.load()[1])
touched = timed("load touched", lambda: store.load_articles(keys)[1])
counts = [N, len(loaded)]
""",
    "DuckDB": """
import duckdb
db = duckdb.connect(WORK + "/corpus.duckdb")
def create():
    batch = pa.Table.from_pandas(first, preserve_index=False)
    db.execute("CREATE TABLE comments AS SELECT * FROM batch")
    db.execute("ALTER TABLE comments ADD PRIMARY KEY (source, comment_id)")
timed("first ingest", create)
def add():
    batch = pa.Table.from_pandas(again, preserve_index=False)
    db.execute("INSERT INTO comments SELECT * FROM batch ON CONFLICT DO NOTHING")
timed("import", add)
loaded = timed("load all", lambda: db.execute("SELECT * FROM comments ORDER BY position").to_arrow_table().to_pandas())
wanted = pa.Table.from_pandas(keys, preserve_index=False)
touched = timed("load touched", lambda: db.execute(
    "SELECT c.* FROM comments c SEMI JOIN wanted w ON c.source = w.source AND c.article_id = w.article_id "
    "ORDER BY position").to_arrow_table().to_pandas())
counts = [N, len(loaded)]
""",
    "Parquet parts + key index": """
import os
parts = WORK + "/parts"
os.makedirs(parts, exist_ok=True)
def add(frame, part):
    batch = pa.Table.from_pandas(frame, preserve_index=False)
    if os.listdir(parts):
        stored = ds.dataset(parts).to_table(columns=["source", "comment_id"])
        rows = batch.select(["source", "comment_id"]).append_column("row", pa.array(range(len(batch))))
        unknown = rows.join(stored, ["source", "comment_id"], join_type="left anti")["row"]
        batch = batch.take(np.sort(unknown.to_numpy()))
    pq.write_table(batch, f"{parts}/{part:06d}.parquet")
timed("first ingest", lambda: add(first, 0))
timed("import", lambda: add(again, 1))
loaded = timed("load all", lambda: ds.dataset(parts).to_table().to_pandas())
touched = timed("load touched", lambda: ds.dataset(parts).to_table(
    filter=ds.field("article_id").isin(keys["article_id"].tolist())).to_pandas())
counts = [N, len(loaded)]
""",
}

REPORT = """
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mib": round(peak), "counts": counts}))
"""


def run(candidate: str, n: int, work: Path) -> dict:
    code = "\n".join([f"import json\nROOT, N, WORK = {str(ROOT)!r}, {n}, {str(work)!r}", SETUP,
                      textwrap.dedent(CANDIDATES[candidate]), REPORT])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{candidate} at {n}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    steps = ["first ingest", "import", "load all", "load touched"]
    for n in args.sizes:
        print(f"\n{n:,} comments (seconds, best of {args.repeat}; peak MiB of the whole process)")
        print(f"{'candidate':40}" + "".join(f"{step:>14}" for step in steps) + f"{'peak MiB':>10}")
        for candidate in CANDIDATES:
            best = None
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as work:
                    result = run(candidate, n, Path(work))
                if result["counts"] != [n, n + n // 100] and not candidate.startswith("floor"):
                    raise SystemExit(f"{candidate} at {n}: stored {result['counts']}, wanted {[n, n + n // 100]}")
                if best is None or sum(result["seconds"].values()) < sum(best["seconds"].values()):
                    best = result
            cells = "".join(f"{best['seconds'].get(step, float('nan')):>14.2f}" for step in steps)
            print(f"{candidate:40}{cells}{best['peak_mib']:>10}")


if __name__ == "__main__":
    main()
