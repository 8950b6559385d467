"""Fuzz every ingest format with mutated real files; print internal errors, hangs and peak memory per format.

    python scripts/fuzz_ingest.py [--per-format 1000] [--formats canonical,gnm,...] [--timeout 30]
                                  [--stages-every 10] [--seed 0] [--show 3]

Inputs are made from the fixtures and real samples (``tests/fixtures/``,
``seeds/``, ``data/stackexchange_bicycles_meta``): truncated, byte-flipped,
spans deleted or repeated, lines shuffled, hostile values spliced in (huge
numbers, fractions, unpaired surrogate escapes, deep nesting, year-202
dates, a field over 131,072 characters, NUL bytes, a DTD) and re-encoded
(Windows-1252, UTF-16, Latin-1). Each input goes through the code path of
``python -m moderation run`` in a worker process: ``pipeline.ingest_paths``
into a fresh SQLite store, ``Store.load``, and (every ``--stages-every``-th
input, since the text models take a while) ``pipeline.run_stages``.

An ``IngestError`` (the documented refusal: unknown format, broken JSON
document...) is an accepted outcome; any other exception is an internal
error and its traceback is collected. An input still running after
``--timeout`` seconds is a hang (the worker is killed and replaced).
Peak memory is the largest resident set a worker reached.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE = ROOT / "data" / "stackexchange_bicycles_meta"

# (format, seed file, files copied beside it unchanged): the mutated file keeps its name so detection works
SEEDS = {
    "canonical": [FIXTURES / "canonical/basic/comments.csv", FIXTURES / "canonical/basic/articles.csv",
                  FIXTURES / "canonical/jsonl/comments.jsonl", "parquet"],
    "disqus": [FIXTURES / "disqus/export.xml", FIXTURES / "disqus/truncated.xml"],
    "gnm": [FIXTURES / "gnm/Output/CommentsRawData/article_100_comments.json",
            FIXTURES / "gnm/Output/CommentsRawData/article_300_comments.json",
            FIXTURES / "gnm/Output/ArticleRawData/article_100.json", FIXTURES / "gnm/source1_comments.csv"],
    "hackernews": [FIXTURES / "hackernews/comments.jsonl", FIXTURES / "hackernews/items.json",
                   FIXTURES / "hackernews/algolia_search.json"],
    "reddit": [FIXTURES / "reddit/comments_dump.jsonl", FIXTURES / "reddit/thread_listing.json"],
    "stackexchange": [FIXTURES / "stackexchange/dump/Posts.xml", FIXTURES / "stackexchange/dump/Comments.xml",
                      FIXTURES / "stackexchange/dump/Votes.xml", SAMPLE / "Posts.xml", SAMPLE / "Comments.xml"],
    "page": [ROOT / "seeds" / "xinjiang_sanctions_article_page.txt"],
}
HOSTILE = [
    b"99999999999999999999", b"1e30", b"1.5", b"2.5", b"-1", b"NaN", b"abc", b"true", b"null", b"[]", b"{}",
    b'"\\ud800"', b"\\ud800", b"0202-05-01T00:00:00Z", b"9999-12-31", b"\x00", b"\r", b'"', b"'", b"<", b"&amp;",
    b"]]>", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"&e;", b"*****", b"(99999999999999999999)",
    b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000, b"x" * 140_000, b" =1+1", b"\xff\xfe",
    b"\xef\xbb\xbf", "\u2028".encode(), b"\n\n\n",
]


def _seed_bytes(seed: Path | str) -> tuple[str, bytes]:
    """(file name, content) of a seed; "parquet" is the canonical CSV written as Parquet; big samples are cut."""
    if seed == "parquet":
        import io

        import pandas as pd

        buffer = io.BytesIO()
        pd.read_csv(FIXTURES / "canonical/basic/comments.csv", dtype="str", on_bad_lines="skip").to_parquet(buffer)
        return "comments.parquet", buffer.getvalue()
    data = Path(seed).read_bytes()
    if len(data) > 60_000:  # the real sample's first rows, closed again
        cut = data[:60_000]
        cut = cut[: cut.rfind(b"/>") + 2]
        root = b"</posts>" if b"<posts" in data[:500] else b"</comments>"
        data = cut + b"\n" + root + b"\n"
    return Path(seed).name, data


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to three random mutations of ``data``."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["truncate", "flip", "delete", "repeat", "hostile", "hostile", "hostile", "lines",
                           "encode", "splice"])
        n = len(data)
        at = rng.randrange(n + 1) if n else 0
        if kind == "truncate":
            data = data[:at]
        elif kind == "flip" and n:
            data = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(n)] = rng.randrange(256)
            data = bytes(data)
        elif kind == "delete":
            data = data[:at] + data[at + rng.randint(1, 200):]
        elif kind == "repeat":
            data = data[:at] + data[at:at + rng.randint(1, 400)] * rng.randint(2, 5) + data[at:]
        elif kind == "hostile":
            # often at a value position: after a quote, comma, equals sign or colon
            marks = [i + 1 for i, byte in enumerate(data) if byte in b'",:=>'] or [at]
            at = rng.choice(marks) if rng.random() < 0.7 else at
            data = data[:at] + rng.choice(HOSTILE) + data[at + rng.choice([0, 0, 1, 3, 8]):]
        elif kind == "lines":
            lines = data.split(b"\n")
            head, rest = lines[:1], lines[1:]
            rng.shuffle(rest)
            data = b"\n".join(head + rest)
        elif kind == "encode":
            text = data.decode("utf-8", errors="replace")
            encoding = rng.choice(["cp1252", "utf-16", "latin-1", "utf-8-sig"])
            data = text.encode(encoding, errors="replace")
        elif kind == "splice" and others:
            other = rng.choice(others)
            data = data[:at] + other[rng.randrange(len(other) + 1):]
    return data


def _place(folder: Path, fmt: str, seed: Path | str, name: str, data: bytes) -> Path:
    """Write the mutated file where its format expects it; returns the path to ingest."""
    if fmt == "stackexchange" and Path(seed).parent == FIXTURES / "stackexchange/dump":
        dump = folder / "dump"
        shutil.copytree(FIXTURES / "stackexchange/dump", dump)
        (dump / name).write_bytes(data)
        return dump
    if fmt == "gnm" and name.startswith("article_") and name.endswith("_comments.json"):
        output = folder / "Output"
        shutil.copytree(FIXTURES / "gnm/Output", output)
        (output / "CommentsRawData" / name).write_bytes(data)
        return output / "CommentsRawData" / name
    path = folder / name
    path.write_bytes(data)
    return path


def _worker(connection) -> None:
    """Run inputs sent over ``connection`` through ingest, the store and (when asked) the stages."""
    from moderation import pipeline
    from moderation.ingest import IngestError
    from moderation.store import Store

    while True:
        job = connection.recv()
        if job is None:
            return
        path, store_file, stages = job
        began = time.perf_counter()
        outcome, detail = "ok", ""
        try:
            store = Store(f"sqlite:///{store_file}")
            pipeline.ingest_paths(store, [path])
            articles, comments, vote_events = store.load()
            if stages:
                pipeline.run_stages(articles, comments, vote_events, store.current_decisions())
            store.engine.dispose()
        except IngestError as error:
            outcome, detail = "refused", str(error)
        except BaseException:  # noqa: BLE001 - finding every internal error is the point
            outcome, detail = "error", traceback.format_exc()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        connection.send((outcome, detail, peak, time.perf_counter() - began))


class _Runner:
    """One worker process at a time; killed and replaced when an input hangs."""

    def __init__(self):
        self.context = multiprocessing.get_context("fork")
        self._start()

    def _start(self):
        self.parent, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()

    def run(self, job, timeout: float):
        self.parent.send(job)
        if self.parent.poll(timeout):
            return self.parent.recv()
        self.process.kill()
        self.process.join()
        self._start()
        return "hang", f"still running after {timeout:.0f} s", 0.0, timeout

    def close(self):
        self.parent.send(None)
        self.process.join(5)


def _signature(detail: str) -> str:
    """The last frame and the error line of a traceback: one crash site, however many inputs hit it."""
    lines = [line for line in detail.strip().splitlines() if line.strip()]
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    return f"{frames[-1] if frames else '?'} | {lines[-1][:160] if lines else '?'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-format", type=int, default=1000)
    parser.add_argument("--formats", default=",".join(SEEDS))
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--stages-every", type=int, default=10, help="run the analysis stages on every N-th input")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=3, help="tracebacks shown per crash site")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    runner = _Runner()
    table, crashes = [], defaultdict(list)
    started = time.perf_counter()
    for fmt in args.formats.split(","):
        seeds = [(seed, *_seed_bytes(seed)) for seed in SEEDS[fmt]]
        others = [data for _, _, data in seeds]
        outcomes, peak, slowest = Counter(), 0.0, 0.0
        for number in range(args.per_format):
            seed, name, data = rng.choice(seeds)
            mutated = mutate(data, rng, others)
            with tempfile.TemporaryDirectory() as folder:
                path = _place(Path(folder), fmt, seed, name, mutated)
                job = (str(path), str(Path(folder) / "store.db"), number % args.stages_every == 0)
                outcome, detail, rss, seconds = runner.run(job, args.timeout)
            outcomes[outcome] += 1
            peak, slowest = max(peak, rss), max(slowest, seconds)
            if outcome in ("error", "hang"):
                crashes[(fmt, _signature(detail) if outcome == "error" else "hang")].append((name, mutated, detail))
        sites = len({site for (f, site) in crashes if f == fmt})
        table.append((fmt, args.per_format, outcomes["ok"], outcomes["refused"], outcomes["error"], sites,
                      outcomes["hang"], peak, slowest))
        print(f"{fmt}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    runner.close()

    print(f"\n{'format':14} {'tried':>6} {'ok':>6} {'refused':>8} {'errors':>7} {'sites':>6} {'hangs':>6} "
          f"{'peak MiB':>9} {'slowest s':>10}")
    for fmt, tried, ok, refused, errors, sites, hangs, peak, slowest in table:
        print(f"{fmt:14} {tried:6} {ok:6} {refused:8} {errors:7} {sites:6} {hangs:6} {peak:9.0f} {slowest:10.1f}")
    for (fmt, site), cases in sorted(crashes.items(), key=lambda item: -len(item[1])):
        print(f"\n[{fmt}] {len(cases)} inputs: {site}")
        for name, mutated, detail in cases[: args.show]:
            print(f"  input {name} ({len(mutated)} bytes), starts {mutated[:120]!r}")
        print("  " + cases[0][2].strip().replace("\n", "\n  ")[-2500:])


if __name__ == "__main__":
    main()
