"""How scores do on labelled comments: ROC AUC, average precision and F1, with an interval over resampled articles.

A desk teaches the scores with a few dozen labels (the Teach page, ``train-offtopic``); with so few, an AUC moves
by a tenth or more with a handful of comments, so every figure comes with the interval that says how far.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

RESAMPLES = 1000  # of each bootstrap interval
LEVEL = 0.9  # of each interval


def bootstrap_interval(statistic, groups: np.ndarray, n_resamples: int | None = None, level: float = LEVEL,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``statistic(rows)`` (a function of row positions) over ``n_resamples`` (default
    :data:`RESAMPLES`) resamples of whole ``groups`` (threads, articles) drawn with replacement; resamples where it
    is NaN (one class only) are skipped.

    With a few dozen positives a figure moves by several hundredths with a few comments: the interval
    says how far, so a difference inside it is not read as a gain.
    """
    codes = pd.factorize(pd.Series(groups).astype("str"))[0]
    members = [np.flatnonzero(codes == code) for code in range(codes.max() + 1)]
    rng = np.random.default_rng(seed)
    values = [statistic(np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))]))
              for _ in range(n_resamples or RESAMPLES)]
    values = np.asarray(values, dtype=float)
    tail = 50 * (1 - level)
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return round(float(low), 3), round(float(high), 3)


def auc_or_nan(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of ``scores`` for 0/1 ``y``; NaN when ``y`` holds one class only (a resample may).

    Computed as the Mann-Whitney U of the positives' ranks over n1 * n0 (ties count half): the value
    ``roc_auc_score`` gives, at a twentieth of its cost on a few dozen rows, which a thousand resamples need.
    """
    y = np.asarray(y, dtype=bool)
    positives = int(y.sum())
    if not 0 < positives < len(y):
        return float("nan")
    ranks = rankdata(scores)
    u = ranks[y].sum() - positives * (positives + 1) / 2
    return float(u / (positives * (len(y) - positives)))


def scorer_table(y: np.ndarray, scores: dict[str, np.ndarray], groups: np.ndarray) -> pd.DataFrame:
    """One row per scorer of ``scores`` (name -> score per labelled comment, 0..1) on the 0/1 labels ``y``.

    Columns: scorer, n, positives, balance, auc, auc_low and auc_high (the :data:`LEVEL` interval of the AUC over
    resampled ``groups``, the comments' articles), ap, f1 (at 0.5).
    """
    y = np.asarray(y, dtype=int)
    rows = []
    for name, score in scores.items():
        score = np.asarray(score, dtype=float)
        low, high = bootstrap_interval(lambda picked: auc_or_nan(y[picked], score[picked]), groups)
        rows.append({"scorer": name, "n": len(y), "positives": int(y.sum()), "balance": round(float(y.mean()), 3),
                     "auc": roc_auc_score(y, score), "auc_low": low, "auc_high": high,
                     "ap": average_precision_score(y, score), "f1": f1_score(y, score >= 0.5)})
    return pd.DataFrame(rows)
