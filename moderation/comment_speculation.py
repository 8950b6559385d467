"""The speculation stage: sentence scores per comment, with the cue spans comments need.

The sentence classifiers of :mod:`moderation.speculation` score every sentence; a comment takes its most
speculative sentence's score (``speculation_score``: any hedge, Szeged's notion) and its most conjectural
one's (``conjecture_score``: epistemic and investigation cues, not opinions; ranks the off-topic speculation
queue). Readers' conjecture in news comments is often unhedged: hidden motives and plans ("a puppet",
"control behind the scenes", "X is a cover for Y"), rumours ("I heard that"), weasel attribution ("some
say", "it is believed") and insinuating questions ("could it be ...?"). Those are matched here as cue spans
(:data:`CUE_PATTERNS_EN`), shown to the moderator beside the sentence lexicon's cues.

A desk can teach the stage its own notion: :func:`learn_conjecture` fits a logistic regression on the
moderators' speculative / not labels over :data:`CALIBRATION_FEATURES` (so 0.5 means 0.5 on that desk's
comments), measured out of fold; ``train-offtopic`` stores it in the learned weights file under
``"conjecture"`` and :func:`score_comments` applies it. The shipped default keeps the sentence model: on the
labelled Globe and Mail comments such a comment-level model did not beat it on held-out threads
(``moderation/models/README.md``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from moderation.speculation import score_speculation_and_conjecture

CALIBRATION_FEATURES = ("sentence_conjecture", "sentence_speculation", "comment_cues")

# English comment cues the sentence lexicon lacks; each match is a cue span shown to the moderator
CUE_PATTERNS_EN = {
    "hidden motive": (
        r"\b(?:puppets?|propaganda|rigged|manipulat\w*|hidden agenda|agenda|behind the scenes|in the pocket of"
        r"|do(?:ing)? their bidding|takes? orders from|paid off|bought (?:off|out)|cover(?:-up| up| for)"
        r"|smokescreen|a distraction from|front for|real reason|secretly|conspir\w*|the goal is|their goal"
        r"|works? for the)\b"
    ),
    "rumour": r"\b(?:i (?:have |'ve )?heard (?:that|they|it)|rumou?r(?:s|ed)?|word is|reportedly)\b",
    "weasel": (
        r"\b(?:some|many|several|critics|experts|sources|insiders|people|others) (?:say|said|claim(?:ed)?|believe"
        r"|suggest(?:ed)?|argue|think)\b|\bit is (?:believed|said|thought|rumou?red|alleged|widely known)\b"
    ),
    "insinuating question": (
        r"\b(?:could it be|is it possible that|coincidence\??|who (?:paid|benefits|profits))\b"
        r"|\bwhy (?:is|are|does|do|did|would|has|have) (?:nobody|no one)\b"
    ),
}

def _cue_spans(text: str) -> list[dict]:
    """Spans {phrase, start, end} of the comment cues of :data:`CUE_PATTERNS_EN` in ``text``."""
    spans = []
    for pattern in CUE_PATTERNS_EN.values():
        spans += [{"phrase": m.group(0), "start": m.start(), "end": m.end()}
                  for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    return spans


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def calibration_features(scored: pd.DataFrame) -> pd.DataFrame:
    """:data:`CALIBRATION_FEATURES` of comments scored by :func:`score_comments` (sentence maxima as log-odds,
    log(1 + number of comment cues))."""
    texts = scored["text"].astype("str").fillna("")
    cues = sum(texts.str.count(f"(?i){pattern}") for pattern in CUE_PATTERNS_EN.values())
    return pd.DataFrame({
        "sentence_conjecture": _logit(scored["sentence_conjecture_score"]),
        "sentence_speculation": _logit(scored["speculation_score"]),
        "comment_cues": np.log1p(np.asarray(cues, dtype=np.float64)),
    }, index=scored.index)


def _conjecture_model() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _weights(model) -> dict:
    scaler, regression = model[0], model[1]
    return {"features": list(CALIBRATION_FEATURES), "mean": scaler.mean_.round(6).tolist(),
            "scale": scaler.scale_.round(6).tolist(), "coef": regression.coef_[0].round(6).tolist(),
            "intercept": round(float(regression.intercept_[0]), 6)}


def apply_conjecture(features: pd.DataFrame, weights: dict) -> np.ndarray:
    """Conjecture probability (n,), 0..1, of the learned model ``weights`` (see :func:`learn_conjecture`)."""
    z = (features[weights["features"]].to_numpy(dtype=np.float64) - np.asarray(weights["mean"])) / np.asarray(
        weights["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(weights["coef"]) + weights["intercept"])))


def learn_conjecture(
    scored: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, n_splits: int = 5, random_state: int = 0,
) -> tuple[dict, pd.DataFrame]:
    """Learn the desk's conjecture score from moderators' speculative 0/1 ``labels`` on ``scored`` comments.

    Unweighted logistic regression, so its probability is calibrated on the desk's own comments. Returns the
    weights (fitted on every row; ``cv_auc`` added) and an evaluation (rows "conjecture: learned (grouped
    k-fold CV)", out of fold with folds grouped by ``groups`` (articles), and "conjecture: current", the score
    the comments have now) with n, positives, balance, auc, ap and f1 at 0.5.
    """
    labels = np.asarray(labels, dtype=int)
    features = calibration_features(scored)[list(CALIBRATION_FEATURES)].reset_index(drop=True)
    learned = np.zeros(len(labels))
    folds = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(features, labels, groups):
        learned[test] = _conjecture_model().fit(features.iloc[train], labels[train]).predict_proba(
            features.iloc[test])[:, 1]
    rows = [(f"conjecture: learned (grouped {n_splits}-fold CV)", learned),
            ("conjecture: current", scored["conjecture_score"].to_numpy(dtype=float))]
    evaluation = pd.DataFrame([
        {"scorer": name, "n": len(labels), "positives": int(labels.sum()), "balance": round(float(labels.mean()), 3),
         "auc": roc_auc_score(labels, score), "ap": average_precision_score(labels, score),
         "f1": f1_score(labels, score >= 0.5)}
        for name, score in rows
    ])
    weights = _weights(_conjecture_model().fit(features, labels))
    weights["cv_auc"] = round(float(evaluation["auc"].iat[0]), 4)
    return weights, evaluation


def score_comments(comments: pd.DataFrame, conjecture: dict | None = None) -> pd.DataFrame:
    """The speculation stage: a copy of ``comments`` with the speculation columns.

    Columns: ``speculation_score`` (0..1, the most speculative sentence), ``is_speculative``,
    ``speculation_cues`` (list of {phrase, start, end} spans into the text, sorted by start: sentence-lexicon
    cues and, for English comments, the comment cues of :data:`CUE_PATTERNS_EN`), ``speculative_sentences``
    (sentences scoring >= 0.5), ``sentence_conjecture_score`` (0..1, the most conjectural sentence) and
    ``conjecture_score``: the sentence score, or with ``conjecture`` (weights of :func:`learn_conjecture`) the
    desk's learned score. The comments' ``language`` column (written by the off-topic stage from the shared
    text features) picks the lexicon; without it every comment is English.
    """
    language = comments["language"] if "language" in comments else None
    sentences = score_speculation_and_conjecture(comments["text"], language=language)
    out = comments.copy()
    for name in sentences.columns:
        out[name] = sentences[name].to_numpy()
    english = np.ones(len(comments), bool) if language is None else language.to_numpy(dtype=object) != "de"
    texts = comments["text"].astype("str").fillna("")
    has_cue = texts.str.contains("|".join(CUE_PATTERNS_EN.values()), case=False).to_numpy(dtype=bool) & english
    cues = out["speculation_cues"].to_numpy(dtype=object).copy()
    for row in np.flatnonzero(has_cue):
        cues[row] = sorted([*cues[row], *_cue_spans(texts.iat[row])], key=lambda cue: cue["start"])
    out["speculation_cues"] = cues
    out["sentence_conjecture_score"] = out["conjecture_score"]
    if conjecture is not None:
        out["conjecture_score"] = apply_conjecture(calibration_features(out), conjecture)
    return out
