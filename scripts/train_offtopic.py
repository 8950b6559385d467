"""Learn the off-topic combiner: ``python scripts/train_offtopic.py``.

Training data: the Stack Exchange Bicycles Meta dump (CC BY-SA; ``$MODERATION_DATA/
stackexchange_bicycles_meta``), half A of its questions (stable hash of the
question id). A tenth of the comments and answers is moved to another question
(:func:`eval_offtopic.inject`), in several rounds with different seeds; a
logistic regression with balanced class weights then learns to tell the moved
ones from the rest from the components of
:func:`moderation.topics.offtopic_components`. Which components enter is
decided on the same data: the smallest candidate set whose grouped
cross-validated ROC AUC is within 0.002 of the best. Standardisation and
coefficients are written to ``moderation/models/offtopic_weights.json`` (a few
hundred bytes). Nothing of the other evaluation sets is used here.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from eval_offtopic import DATA, half, inject, read_source

from moderation.topics import (
    COMPONENTS,
    WEIGHTS_PATH,
    TextFeatures,
    cross_validated_scores,
    fit_combiner,
    offtopic_components,
)

ROUNDS = 5
# candidate component sets, smallest first; the cross-validated AUC on the training source picks one
CANDIDATES = {
    "similarities": ["sim_article", "sim_parent", "sim_discussion", "log_tokens"],
    "similarities + novelty": ["sim_article", "sim_parent", "sim_discussion", "novelty", "log_tokens"],
    "similarities + novelty + relative": [
        "sim_article", "sim_parent", "sim_discussion", "novelty", "sim_article_relative", "log_tokens",
    ],
    "similarities + novelty + relative + lift": [
        "sim_article", "sim_parent", "sim_discussion", "novelty", "sim_article_relative", "sim_article_lift",
        "log_tokens",
    ],
    "similarities + topics": [
        "sim_article", "sim_parent", "sim_discussion", "topic_article", "topic_discussion", "log_tokens",
    ],
    "all": COMPONENTS,
}


def training_set(seed_count: int = ROUNDS) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Components, injected labels and article groups of ``seed_count`` injection rounds on half A."""
    articles, comments = read_source("stackexchange")
    articles, comments = half(articles, 0), half(comments, 0).reset_index(drop=True)
    parts, labels, groups = [], [], []
    for seed in range(seed_count):
        injected, moved = inject(comments, seed=100 + seed)
        features = TextFeatures().fit(injected, articles)
        parts.append(offtopic_components(injected, articles, features))
        labels.append(moved)
        groups.append(injected["article_id"].to_numpy())
    return pd.concat(parts, ignore_index=True), np.concatenate(labels), np.concatenate(groups)


def cross_validated_auc(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, columns: list[str]) -> float:
    """ROC AUC of out-of-fold predictions, folds grouped by article (no question on both sides)."""
    return float(roc_auc_score(y, cross_validated_scores(X, y, groups, columns)))


def main() -> None:
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: training needs the shared data (set MODERATION_DATA)")
    warnings.simplefilter("ignore")
    X, y, groups = training_set()
    scores = {name: cross_validated_auc(X, y, groups, columns) for name, columns in CANDIDATES.items()}
    for name, auc in scores.items():
        print(f"cross-validated ROC AUC {auc:.4f}  {name}: {', '.join(CANDIDATES[name])}")
    # the smallest set within 0.002 of the best: more components must earn their place
    best = max(scores.values())
    chosen = next(name for name in CANDIDATES if scores[name] >= best - 0.002)
    weights = fit_combiner(
        X, y, CANDIDATES[chosen], cv_auc=round(scores[chosen], 4),
        trained_on=f"stackexchange_bicycles_meta half A, {ROUNDS} injection rounds of 10%",
    )
    WEIGHTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    WEIGHTS_PATH.write_text(json.dumps(weights, indent=1) + "\n")
    print(json.dumps(weights, indent=1))


if __name__ == "__main__":
    main()
