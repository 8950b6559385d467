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
from moderation.topics import (  # noqa: E402
    COMPONENTS,
    TextFeatures,
    _group_codes,
    _keys,
    cross_validated_scores,
    score_offtopic,
)

DATA = Path(os.environ.get("MODERATION_DATA", "/work/shared/data"))
SOURCES = {
    "stackexchange": ("stackexchange_bicycles_meta", "stackexchange"),
    "globe_and_mail": ("socc_globe_and_mail/SFU_Comment_Extractor/Output", "gnm"),
    "one_million_posts_dev": ("one_million_posts_dev", "canonical"),
}
INJECTED_SHARE = 0.1
REPEATS = 5  # cross-validations averaged for the learned-from-labels row


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


def metrics(
    name: str, scored: pd.DataFrame, labels: np.ndarray, mask: np.ndarray, column: str = "offtopic_score"
) -> dict:
    """ROC AUC, average precision and precision at 10 per thread of ``column`` and of the baseline.

    ``labels`` and ``mask`` are arrays over ``scored``'s rows; only masked rows are scored
    against their label (the others are context).
    """
    y = labels[mask].astype(int)
    row = {"task": "off-topic", "dataset": name, "n": int(mask.sum()), "positives": int(y.sum()),
           "balance": round(float(y.mean()), 3)}
    # the naive baseline: 1 - cosine(TF-IDF comment, TF-IDF article), same features
    for prefix, scores in (("", column), ("baseline_", "baseline")):
        score = scored[scores].to_numpy()
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


def learned_from_labels(scored: pd.DataFrame, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Out-of-fold scores of a combiner learned from the masked rows' labels (NaN elsewhere).

    :func:`moderation.topics.cross_validated_scores`, as ``python -m moderation train-offtopic``
    measures itself: 5 folds by article, so no prediction comes from a model that saw its discussion.
    With a few hundred labels the fold split moves ROC AUC by about 0.02, so the scores are the mean of
    ``REPEATS`` differently shuffled cross-validations (each score still out of fold).
    """
    learned = np.full(len(scored), np.nan)
    groups = _group_codes(_keys(scored, ["source", "article_id"]))[mask]
    components = scored[mask][COMPONENTS].reset_index(drop=True)
    learned[mask] = np.mean([
        cross_validated_scores(components, labels[mask], groups, random_state=seed) for seed in range(REPEATS)
    ], axis=0)
    return learned


def evaluate(errors: int = 0) -> pd.DataFrame:
    """One row per evaluation set (see the module docstring); ``errors`` > 0 prints that many of each error kind."""
    rows = []
    articles, comments = read_source("one_million_posts_dev")
    scored = score(comments, articles)
    label = pd.to_numeric(comments["label_offtopic"], errors="coerce")
    annotated = label.notna().to_numpy() & scored["offtopic_score"].notna().to_numpy()
    y = label.fillna(0).to_numpy()
    scored["learned"] = learned_from_labels(scored, y, annotated)
    rows.append(metrics("one_million_posts_dev (labelled, de; shipped combiner)", scored, y, annotated))
    rows.append(metrics("one_million_posts_dev (labelled, de; learned from its labels, 5-fold CV by article)",
                        scored, y, annotated, column="learned"))
    show_errors("one_million_posts_dev, learned from its labels", scored, y, annotated, "learned", errors)

    articles, comments = read_source("globe_and_mail")
    injected, moved = inject(comments, seed=1)
    scored = score(injected, articles)
    with_text = scored["offtopic_score"].notna().to_numpy()  # removed comments are context, not candidates
    rows.append(metrics("globe_and_mail (injected)", scored, moved, with_text))
    show_errors("globe_and_mail (injected), shipped combiner", scored, moved, with_text, "offtopic_score", errors)

    articles, comments = read_source("stackexchange")
    injected, moved = inject(half(comments, 1).reset_index(drop=True), seed=1)
    scored = score(injected, half(articles, 1))
    rows.append(metrics("stackexchange half B (injected)", scored, moved, scored["offtopic_score"].notna().to_numpy()))
    return pd.DataFrame(rows)


def show_errors(name: str, scored: pd.DataFrame, labels: np.ndarray, mask: np.ndarray, column: str, k: int) -> None:
    """Print the ``k`` top-scored negatives (false positives) and ``k`` lowest-scored positives (misses)."""
    if k <= 0:
        return
    frame = scored[mask].assign(label=labels[mask], score=scored[column].to_numpy()[mask])
    shown = ["score", "sim_article", "sim_discussion", "novelty", "log_tokens"]
    for title, picked in (
        ("false positives (highest-scored on-topic comments)", frame[frame["label"] == 0].nlargest(k, "score")),
        ("misses (lowest-scored off-topic comments)", frame[frame["label"] == 1].nsmallest(k, "score")),
    ):
        print(f"\n{name}: {title}")
        for _, row in picked.iterrows():
            values = ", ".join(f"{c} {row[c]:.2f}" for c in shown)
            text = " ".join(str(row["text"]).split())[:160]
            print(f"- [{values}] article {row['article_id']}: {text}")
    print()


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
    parser.add_argument("--errors", type=int, default=0, metavar="K",
                        help="also print the K worst false positives and misses of the labelled and injected sets")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the off-topic evaluation needs the shared data (set MODERATION_DATA)")
    warnings.simplefilter("ignore")
    table = timing(args.timing) if args.timing else evaluate(args.errors)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
