"""Evaluate ``offtopic_score``: ``python scripts/eval_offtopic.py [--timing N]``.

Rows of the printed table (each with the naive baseline 1 - cosine(TF-IDF of
comment, TF-IDF of article) measured in the same run, on the same features):

- ``one_million_posts_dev``: Der Standard comments (German) with moderators'
  ``label_offtopic``; only annotated comments are scored against the label,
  but every comment is part of the discussions. Class balance is shown.
- ``globe_and_mail (injected)`` and ``stackexchange half B (injected)``: a
  tenth of each source's comments is moved to another article of the same
  source (:func:`inject`); the moved ones are the positives. Stack Exchange
  half A is what ``scripts/train_offtopic.py`` trained on: half B and the
  other sources were not tuned on.

``p@10`` is the mean positive share among the 10 top-scored comments of each
article that has at least 10 comments and one positive (``p@10_threads`` says
how many such articles there are: none in One Million Posts, whose labelled
comments sit 1.5 to an article).

``--timing N`` instead times :class:`TextFeatures` fitting and
:func:`score_offtopic` on N synthetic comments resampled from real sentences.
Data are read from ``$MODERATION_DATA`` (default ``/work/shared/data``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moderation.ingest import load  # noqa: E402
from moderation.topics import TextFeatures, score_offtopic  # noqa: E402

DATA = Path(os.environ.get("MODERATION_DATA", "/work/shared/data"))
SOURCES = {
    "stackexchange": ("stackexchange_bicycles_meta", "stackexchange"),
    "globe_and_mail": ("socc_globe_and_mail/SFU_Comment_Extractor/Output", "gnm"),
    "one_million_posts_dev": ("one_million_posts_dev", "canonical"),
}
INJECTED_SHARE = 0.1


def read_source(name: str):
    """Articles and comments of one evaluation source via :func:`moderation.ingest.load`."""
    folder, format_name = SOURCES[name]
    path = DATA / folder
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the evaluation needs the shared data folder ({DATA})")
    parsed = load(path, format=format_name)
    return parsed.articles, parsed.comments


def half(articles_or_comments: pd.DataFrame, which: int) -> pd.DataFrame:
    """Rows whose article falls in half ``which`` (0 = A, trained on; 1 = B) by a stable hash of its id."""
    hashed = articles_or_comments["article_id"].map(lambda value: zlib.crc32(value.encode()) % 2)
    return articles_or_comments[hashed.to_numpy() == which]


def inject(comments: pd.DataFrame, share: float = INJECTED_SHARE, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Move a random ``share`` of comments to another article of the same source.

    A moved top-level comment stays top-level; a moved reply becomes a reply
    to a random original comment of its new article, so the depth mix of the
    positives matches the rest. Returns the new frame (same rows and order)
    and a boolean array marking the moved comments.
    """
    rng = np.random.default_rng(seed)
    out = comments.copy()
    moved = np.zeros(len(out), bool)
    for _, rows in out.groupby("source", sort=False).indices.items():
        article_ids = out["article_id"].to_numpy()[rows]
        articles = np.unique(article_ids)
        if len(articles) < 2:
            continue
        chosen = rows[rng.random(len(rows)) < share]
        # a uniformly drawn *other* article: shift by 1..k-1 positions in the article list
        current = np.searchsorted(articles, out["article_id"].to_numpy()[chosen])
        target = articles[(current + rng.integers(1, len(articles), len(chosen))) % len(articles)]
        is_reply = out["parent_id"].notna().to_numpy()[chosen]
        by_article = pd.Series(rows).groupby(article_ids).apply(np.asarray)
        parents = [
            out["comment_id"].iat[rng.choice(by_article[t])] if reply else None for t, reply in zip(target, is_reply)
        ]
        out.iloc[chosen, out.columns.get_loc("article_id")] = target
        out.iloc[chosen, out.columns.get_loc("parent_id")] = parents
        moved[chosen] = True
    return out, moved


def precision_at_k_per_thread(scores: np.ndarray, labels: np.ndarray, articles: pd.Series, k: int = 10):
    """Mean positive share among the k top-scored comments of each article with at least k comments and one positive.

    Returns (mean precision, number of articles averaged); NaN when no article qualifies.
    """
    frame = pd.DataFrame({"score": scores, "label": labels, "article": articles.to_numpy()})
    grouped = frame.groupby("article")
    frame = frame[(grouped["label"].transform("max") > 0) & (grouped["label"].transform("size") >= k)]
    if frame.empty:
        return float("nan"), 0
    top = frame.sort_values("score", ascending=False, kind="stable").groupby("article").head(k)
    per_article = top.groupby("article")["label"].mean()
    return float(per_article.mean()), len(per_article)


def metrics(name: str, scored: pd.DataFrame, labels: np.ndarray, mask: np.ndarray) -> dict:
    """ROC AUC, average precision and precision at 10 per thread of the model and the baseline.

    ``labels`` and ``mask`` are arrays over ``scored``'s rows; only masked rows are scored
    against their label (the others are context).
    """
    y = labels[mask].astype(int)
    row = {"task": "off-topic", "dataset": name, "n": int(mask.sum()), "positives": int(y.sum()),
           "balance": round(float(y.mean()), 3)}
    # the naive baseline: 1 - cosine(TF-IDF comment, TF-IDF article), same features
    for prefix, column in (("", "offtopic_score"), ("baseline_", "baseline")):
        score = scored[column].to_numpy()
        row[f"{prefix}auc"] = round(roc_auc_score(y, score[mask]), 3)
        row[f"{prefix}ap"] = round(average_precision_score(y, score[mask]), 3)
        precision, threads = precision_at_k_per_thread(score[mask], y, scored["article_id"][mask])
        row[f"{prefix}p@10"] = round(precision, 3)
    row["p@10_threads"] = threads
    return row


def score(comments: pd.DataFrame, articles: pd.DataFrame, features: dict | None = None) -> pd.DataFrame:
    """Scored comments with the baseline column added (speculation is not needed here: scored as zero)."""
    quiet = pd.DataFrame(
        {"speculation_score": 0.0, "is_speculative": False, "speculation_cues": [[]] * len(comments),
         "conjecture_score": 0.0},
        index=comments.index,
    )
    fitted = TextFeatures(**(features or {})).fit(comments, articles)
    scored = score_offtopic(comments, articles, fitted, speculation=quiet)
    scored["baseline"] = 1.0 - scored["sim_article"]
    return scored


def evaluate() -> pd.DataFrame:
    """One row per evaluation set (see the module docstring)."""
    rows = []
    articles, comments = read_source("one_million_posts_dev")
    scored = score(comments, articles)
    label = pd.to_numeric(comments["label_offtopic"], errors="coerce")
    annotated = label.notna().to_numpy()
    rows.append(metrics("one_million_posts_dev (labelled, de)", scored, label.fillna(0).to_numpy(), annotated))

    articles, comments = read_source("globe_and_mail")
    injected, moved = inject(comments, seed=1)
    scored = score(injected, articles)
    rows.append(metrics("globe_and_mail (injected)", scored, moved, np.ones(len(moved), bool)))

    articles, comments = read_source("stackexchange")
    injected, moved = inject(half(comments, 1).reset_index(drop=True), seed=1)
    scored = score(injected, half(articles, 1))
    rows.append(metrics("stackexchange half B (injected)", scored, moved, np.ones(len(moved), bool)))
    return pd.DataFrame(rows)


def synthetic_comments(n: int, comments_per_article: int = 100, seed: int = 0):
    """``n`` comments on ``n / comments_per_article`` articles, each a resample of 1-4 real sentences."""
    rng = np.random.default_rng(seed)
    texts = pd.concat([read_source(name)[1]["text"] for name in ("globe_and_mail", "stackexchange")])
    sentences = np.asarray(
        [s for t in texts.dropna() for s in re.split(r"(?<=[.!?])\s+", t) if 20 < len(s) < 400], dtype=object
    )
    lengths = rng.integers(1, 5, n)
    picked = sentences[rng.integers(0, len(sentences), lengths.sum())]
    owner = np.repeat(np.arange(n), lengths)
    text = pd.Series(picked).groupby(owner).agg(" ".join)
    n_articles = max(1, n // comments_per_article)
    article = rng.integers(0, n_articles, n).astype(str)
    comments = pd.DataFrame({
        "source": "synthetic", "comment_id": np.arange(n).astype(str), "article_id": article,
        "parent_id": None, "text": text.to_numpy(),
    })
    articles = pd.DataFrame({
        "source": "synthetic", "article_id": np.arange(n_articles).astype(str),
        "title": sentences[rng.integers(0, len(sentences), n_articles)],
        "text": [" ".join(sentences[rng.integers(0, len(sentences), 20)]) for _ in range(n_articles)],
    })
    return articles, comments


def timing(n: int) -> pd.DataFrame:
    """Seconds to fit :class:`TextFeatures` (tokenising on 2 processes) and to run :func:`score_offtopic`.

    On ``n`` synthetic comments (:func:`synthetic_comments`); speculation is not part of the timing.
    """
    articles, comments = synthetic_comments(n)
    quiet = pd.DataFrame(
        {"speculation_score": 0.0, "is_speculative": False, "speculation_cues": [[]] * n,
         "conjecture_score": 0.0}, index=comments.index
    )
    start = time.perf_counter()
    features = TextFeatures(n_jobs=2).fit(comments, articles)
    fitted = time.perf_counter()
    score_offtopic(comments, articles, features, speculation=quiet)
    done = time.perf_counter()
    return pd.DataFrame([{
        "comments": n, "articles": len(articles), "vocabulary": len(features.vocabulary_),
        "fit_s": round(fitted - start, 1), "score_s": round(done - fitted, 1),
    }])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing", type=int, metavar="N", help="time fit + score on N synthetic comments instead")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the off-topic evaluation needs the shared data (set MODERATION_DATA)")
    warnings.simplefilter("ignore")
    table = timing(args.timing) if args.timing else evaluate()
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
