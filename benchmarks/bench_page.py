"""Page reader on one page of N comments in one flattened thread: seconds and peak memory, next to baselines.

Usage: ``python benchmarks/bench_page.py [--sizes 10000,20000,100000] [--dense-sizes 2000,5000] [--huge-mb 100]``

Each measurement runs in a fresh Python process, so its peak resident memory
(``ru_maxrss``) is its own. Every row reports, for the same page text:

- ``parse_text``: the whole page reader (ids, reactions, sparse windowed reply inference);
- ``baseline tfidf``: only the TF-IDF vectors of the comment texts, the floor any
  similarity-based reply inference pays;
- ``dense (previous)``: the reply inference the reader had before, with its
  n x n similarity matrix, at the smaller ``--dense-sizes`` only (20k comments
  need 7.7 GiB: 8 bytes x n x n, three times over while it is built).

``--huge-mb M`` adds a page whose one comment is a single line of M MB
(``huge line``), next to reading and splitting that file into lines
(``baseline read``).

The comments come from ``benchmarks/synthetic.py`` (one article: most words on
its topic, so most pairs of comments share words, the worst case for sparse
similarities) and are dated on non-decreasing days, so the page is one thread.
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

KINDS = ("parse_text", "baseline tfidf", "dense (previous)", "huge line", "baseline read")


def page(n: int) -> tuple[str, "pd.DataFrame"]:
    """The page text of ``n`` synthetic comments, and the comments as the reader's reply inference sees them."""
    from synthetic import synthetic

    from tests.page_fixtures import render_page

    _, comments = synthetic(n, n_articles=1, n_authors=max(n // 5, 1), seed=0)
    comments["author"] = comments["author"].fillna("Anonymous")
    comments["created_at"] = comments["created_at"].dt.floor("D")  # the page shows days only
    days = comments["created_at"].dt.strftime("%b %d, %Y")
    rows = zip(comments["author"], days, comments["text"], zip(comments["upvotes"], comments["downvotes"]))
    text = render_page("A long discussion", "The article text.", ((a, d, t, list(r)) for a, d, t, r in rows))
    return text, comments


def measure(n: int, kind: str) -> dict:
    """Run one measurement in this process; returns seconds, peak RSS and comments handled."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from moderation.ingest import page as page_format
    from tests.page_fixtures import dense_infer_parents

    if kind in ("huge line", "baseline read"):
        return measure_huge_line(n, kind)
    text, comments = page(n)
    began = time.perf_counter()
    if kind == "parse_text":
        comments = page_format.parse_text(text).comments
    elif kind == "baseline tfidf":
        TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(comments["text"])
    else:
        dense_infer_parents(comments, 0.1)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "comments": len(comments)}


def measure_huge_line(megabytes: int, kind: str) -> dict:
    """Parse (or only read) a page whose second comment is one line of ``megabytes`` MB, from a temporary file."""
    import tempfile

    from moderation.ingest import format_names, load, read_text
    from tests.page_fixtures import render_page

    format_names()  # imports the format modules (and scikit-learn) before the clock starts

    line = "word " * (megabytes * 200_000)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "page.txt"
        path.write_text(render_page("A long comment", "The article text.", [
            ("Al", "Mar 03, 2021", "A short comment.", [1]), ("Bo", "Mar 03, 2021", line, [2])]))
        del line
        began = time.perf_counter()
        if kind == "huge line":
            handled = len(load(path).comments)
        else:
            handled = len(read_text(path, []).splitlines())
        seconds = time.perf_counter() - began
    return {"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "comments": handled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,20000,100000")
    parser.add_argument("--dense-sizes", default="2000,5000")
    parser.add_argument("--huge-mb", type=int, default=100, help="0 to skip the single-line page")
    parser.add_argument("--one", nargs=2, metavar=("N", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(int(args.one[0]), args.one[1])))
        return

    runs = [(int(n), kind) for n in args.sizes.split(",") for kind in KINDS[:2]]
    runs += [(int(n), kind) for n in args.dense_sizes.split(",") if n for kind in KINDS[:3]]
    runs = sorted(set(runs), key=lambda r: (r[0], KINDS.index(r[1])))
    if args.huge_mb:
        runs += [(args.huge_mb, "huge line"), (args.huge_mb, "baseline read")]
    print(f"{'size':>9}  {'what':<17} {'seconds':>8}  {'peak RSS MiB':>12}  {'handled':>9}")
    for n, kind in runs:
        done = subprocess.run([sys.executable, __file__, "--one", str(n), kind], capture_output=True, text=True)
        if done.returncode:
            print(f"{n:>9,}  {kind:<17} failed: {done.stderr.strip().splitlines()[-1]}")
            continue
        result = json.loads(done.stdout)
        print(f"{n:>9,}  {kind:<17} {result['seconds']:8.2f}  {result['peak_mib']:12.0f}  {result['comments']:>9,}")
    print("peak RSS includes the page text and the synthetic frame, built the same way in every row of a size;")
    print("size: comments on the page, or MB of the huge line; handled: comments parsed (lines for baseline read)")


if __name__ == "__main__":
    main()
