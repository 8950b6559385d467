"""Synthetic comment threads of any size, for benchmarks (not for evaluation: the text is random words).

Authors follow a power law (a few regulars, a long tail), replies attach to an earlier comment of the same
article, votes are over-dispersed counts; every column is canonical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moderation import schema, threads

_SYLLABLES = np.array(["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "an", "el", "or", "us", "ip", "om"])


def _vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    parts = rng.choice(_SYLLABLES, size=(size, 3))
    return np.array(["".join(row) for row in parts])


def synthetic(
    n_comments: int, n_articles: int | None = None, n_authors: int = 100_000, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(articles, comments) with ``n_comments`` comments in canonical dtypes, reproducible by ``seed``."""
    rng = np.random.default_rng(seed)
    n_articles = n_articles or max(1, n_comments // 50)
    words = _vocabulary(rng, 4000)
    topic_words = rng.integers(0, len(words), size=(n_articles, 30))

    article_of = np.sort(rng.integers(0, n_articles, n_comments))
    start = np.searchsorted(article_of, np.arange(n_articles))
    index_in_article = np.arange(n_comments) - start[article_of]
    # about 60% replies, each to an earlier comment of the same article
    is_reply = (rng.random(n_comments) < 0.6) & (index_in_article > 0)
    parent = np.where(is_reply, np.arange(n_comments) - 1 - (rng.random(n_comments) * index_in_article).astype(int), -1)

    n_words = rng.integers(5, 60, n_comments)
    on_topic = rng.random(n_comments) < 0.85
    flat = rng.integers(0, 30, n_words.sum())
    owner_article = np.repeat(article_of, n_words)
    chosen = np.where(
        np.repeat(on_topic, n_words), topic_words[owner_article, flat], rng.integers(0, len(words), n_words.sum())
    )
    texts = [" ".join(ws) for ws in np.split(words[chosen], np.cumsum(n_words)[:-1])]

    ids = np.char.add("c", np.arange(n_comments).astype(str))
    base = pd.Timestamp("2024-01-01", tz="UTC")
    published = base + pd.to_timedelta(rng.integers(0, 365 * 24, n_articles), unit="h")
    # comments of an article arrive in order, minutes to hours apart
    elapsed = np.cumsum(rng.exponential(1800, n_comments))
    elapsed -= elapsed[start[article_of]]
    created = published[article_of] + pd.to_timedelta(elapsed, unit="s")
    # a long tail of occasional commenters and a few regulars: P(k-th handle) ~ 1 / k**0.9
    weights = 1 / np.arange(1, n_authors + 1) ** 0.9
    authors = pd.Series(np.char.add("user", rng.choice(n_authors, n_comments, p=weights / weights.sum()).astype(str)))
    # 2% of comments without an author, 1% by a deleted account, as real exports have
    kind = rng.random(n_comments)
    authors = authors.mask(kind < 0.02).mask((kind >= 0.02) & (kind < 0.03), "[deleted]").to_numpy()
    up = rng.negative_binomial(1, 0.2, n_comments)
    down = rng.negative_binomial(1, 0.5, n_comments)
    comments = pd.DataFrame({
        "comment_id": ids,
        "article_id": np.char.add("a", article_of.astype(str)),
        "parent_id": np.where(parent >= 0, ids[np.maximum(parent, 0)], None),
        "author": authors,
        "created_at": created,
        "text": texts,
        "upvotes": up,
        "downvotes": down,
        "status": np.where(rng.random(n_comments) < 0.02, "rejected", "published"),
        "source": "synthetic",
        "position": np.arange(n_comments),
    })
    articles = pd.DataFrame({
        "article_id": np.char.add("a", np.arange(n_articles).astype(str)),
        "source": "synthetic",
        "title": [" ".join(words[t[:6]]) for t in topic_words],
        "text": [" ".join(words[t]) for t in topic_words],
        "published_at": published,
    })
    comments, _ = threads.resolve(schema.conform(comments, "comments"))
    return schema.conform(articles, "articles"), comments


def write_synthetic_parts(folder, n_comments: int, part_comments: int = 250_000, n_authors: int = 100_000,
                          seed: int = 0) -> list:
    """Write ``n_comments`` synthetic comments as canonical Parquet folders ``folder/part-NNNNN`` (comments and
    their articles), generated one part at a time: memory holds one part, never the corpus.

    Parts have their own articles (ids prefixed with the part number) and share the author pool, so authors
    span parts as they span articles. Returns the part folders, in order.
    """
    from pathlib import Path

    folder = Path(folder)
    parts = []
    for index, first in enumerate(range(0, n_comments, part_comments)):
        size = min(part_comments, n_comments - first)
        articles, comments = synthetic(size, n_authors=n_authors, seed=seed + index)
        prefix = f"p{index}-"
        for column in ("comment_id", "parent_id", "thread_id"):
            comments[column] = prefix + comments[column]
        comments["article_id"] = prefix + comments["article_id"]
        articles["article_id"] = prefix + articles["article_id"]
        comments["position"] += first
        part = folder / f"part-{index:05d}"
        part.mkdir(parents=True, exist_ok=True)
        comments.drop(columns=["thread_id", "depth"]).to_parquet(part / "comments.parquet", index=False)
        articles.to_parquet(part / "articles.parquet", index=False)
        parts.append(part)
    return parts
