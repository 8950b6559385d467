"""Real comment threads shown as article pages: does the page reader keep every comment?

Usage: ``python scripts/check_pages.py``

Each Globe and Mail article of the shared data (``$MODERATION_DATA``, default
``/work/shared/data``; SOCC sample, CC BY-NC-SA: read here, never copied into
the repository) is rendered in the page layout the seed has: title, body,
``Comments (N)``, then every comment in the source's order with its author,
its day (pages show no time) and its up/down counts. The page reader then
parses it. Per article it prints the comments rendered, the comments parsed,
their distinct ids, how many comments repeat an earlier one's author, day and
text (what a hash of those alone merged), and the problems reported.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from moderation.ingest import load  # noqa: E402
from tests.page_fixtures import render_page  # noqa: E402

DATA = Path(os.environ.get("MODERATION_DATA", "/work/shared/data"))
GNM = DATA / "socc_globe_and_mail" / "SFU_Comment_Extractor" / "Output"


def main() -> None:
    if not GNM.exists():
        sys.exit(f"{GNM} is missing: the page check needs the shared data (set MODERATION_DATA)")
    source = load(GNM, format="gnm")
    print(f"{'article':>10} {'rendered':>9} {'parsed':>7} {'ids':>5} {'repeats':>8} {'problems':>9}")
    totals = [0, 0, 0, 0]
    with tempfile.TemporaryDirectory() as folder:
        for article_id, comments in source.comments.groupby("article_id", sort=False):
            article = source.articles.set_index("article_id").loc[article_id]
            blocks = [
                (author if isinstance(author, str) and author.strip() else "Anonymous",
                 created.strftime("%b %d, %Y"), text if isinstance(text, str) else "",
                 [0 if pd.isna(up) else int(up), 0 if pd.isna(down) else int(down)])
                for author, created, text, up, down in zip(
                    comments["author"], comments["created_at"], comments["text"], comments["upvotes"],
                    comments["downvotes"])
            ]
            path = Path(folder) / f"{article_id}.txt"
            path.write_text(render_page(str(article["title"]), str(article["text"] or "(no text)"), blocks),
                            encoding="utf-8")
            parsed = load(path, format="page")
            repeats = sum(1 for k, block in enumerate(blocks) if block[:3] in {b[:3] for b in blocks[:k]})
            row = [len(blocks), len(parsed.comments), parsed.comments["comment_id"].nunique(), repeats]
            totals = [t + v for t, v in zip(totals, row)]
            print(f"{article_id:>10} {row[0]:>9} {row[1]:>7} {row[2]:>5} {row[3]:>8} {len(parsed.problems):>9}")
            for problem in parsed.problems[:3]:
                print(f"{'':>12}{problem.record}: {problem.problem[:100]} ({problem.action})")
            if len(parsed.problems) > 3:
                print(f"{'':>12}... and {len(parsed.problems) - 3} more")
    print(f"{'all':>10} {totals[0]:>9} {totals[1]:>7} {totals[2]:>5} {totals[3]:>8}")


if __name__ == "__main__":
    main()
