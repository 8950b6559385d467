"""A small corpus in two parts for incremental-run tests: part B adds comments to some of part A's articles
and two new articles (canonical Parquet folders, as an export would come)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOPICS = [
    "bike lanes council street traffic cyclists road safety parking",
    "camera firmware vulnerability patch vendor security update exploit",
    "school budget teachers classes parents funding district board",
    "river flood water levels rain warning residents bridge",
    "election ballot candidates polls voters campaign debate turnout",
    "stadium team season coach players fans match league",
    "housing rent prices tenants landlord market apartments city",
    "hospital nurses patients wait emergency staff health care",
]
CHATTER = "thanks great point agree weather lunch weekend holiday movie recipe garden cat".split()
SPECULATION = ["Perhaps they knew all along and covered it up.", "I suspect the vendor has to be behind this.",
               "Maybe the real reason is something else entirely."]


def _comments(rng, article_ids, topics, first_id, n_per_article, created_from, authors):
    rows = []
    next_id = first_id
    for article, topic in zip(article_ids, topics):
        words = TOPICS[topic].split()
        ids = []
        for k in range(n_per_article):
            kind = rng.random()
            if kind < 0.08:
                text = " ".join(rng.choice(CHATTER, 8))
            elif kind < 0.12:
                text = str(rng.choice(SPECULATION))
            elif kind < 0.15:
                text = "Thanks for sharing this article!"  # the same text on many articles
            else:
                text = " ".join(rng.choice(words, int(rng.integers(6, 20)))).capitalize() + "."
            parent = str(rng.choice(ids)) if ids and rng.random() < 0.5 else None
            comment_id = f"c{next_id}"
            rows.append({
                "comment_id": comment_id, "article_id": article, "parent_id": parent,
                "author": str(authors[min(int(rng.zipf(1.6)) - 1, len(authors) - 1)]),
                "created_at": created_from + pd.Timedelta(minutes=int(next_id) * 7),
                "text": text, "upvotes": int(rng.negative_binomial(1, 0.15)), "downvotes": int(rng.negative_binomial(1, 0.5)),
                "status": "published", "source": "forum",
            })
            ids.append(comment_id)
            next_id += 1
    return pd.DataFrame(rows), next_id


def write_parts(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Folders A (12 articles, 40 comments each) and B (15 more comments on 3 of A's articles, 2 new articles)."""
    rng = np.random.default_rng(seed)
    authors = np.array([f"user{k}" for k in range(40)], dtype=object)
    start = pd.Timestamp("2024-03-01", tz="UTC")
    articles = pd.DataFrame({
        "article_id": [f"a{k}" for k in range(14)], "source": "forum",
        "title": [f"{TOPICS[k % 8].split()[0].title()} news {k}" for k in range(14)],
        "text": [TOPICS[k % 8] + " " + TOPICS[k % 8] for k in range(14)],
        "published_at": [start + pd.Timedelta(days=k) for k in range(14)],
    })
    first, next_id = _comments(rng, articles["article_id"][:12], [k % 8 for k in range(12)], 0, 40, start, authors)
    more, next_id = _comments(rng, ["a2", "a5", "a9"], [2, 5, 1], next_id, 5, start + pd.Timedelta(days=30), authors)
    fresh, _ = _comments(rng, ["a12", "a13"], [4, 5], next_id, 12, start + pd.Timedelta(days=40), authors)
    # a reply in B to a comment of A; in A, a reply whose parent is missing (a reply-tree problem)
    more.loc[more.index[0], "parent_id"] = first.loc[first["article_id"] == "a2", "comment_id"].iloc[3]
    first.loc[first.index[10], "parent_id"] = "c99999"
    parts = []
    for name, comments, article_rows in (("A", first, articles[:12]), ("B", pd.concat([more, fresh]), articles[12:])):
        part = folder / name
        part.mkdir(parents=True, exist_ok=True)
        comments.to_parquet(part / "comments.parquet", index=False)
        article_rows.to_parquet(part / "articles.parquet", index=False)
        parts.append(part)
    return parts[0], parts[1]
