"""Learning the off-topic combiner from moderators' labels, and measuring it on articles it did not see."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from moderation.label_evaluation import scorer_table
from moderation.offtopic import COMPONENTS, OfftopicParams, combine, load_weights, offtopic_components
from moderation.schema import ARTICLE_KEY, Problem
from moderation.text import group_codes, has_text, row_keys
from moderation.topics import TextFeatures


def offtopic_combiner(C: float = 1.0) -> Pipeline:
    """Standardised logistic regression (inverse regularisation ``C``); balanced class weights make 0.5 its
    decision threshold."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000))


def balanced_weights(sets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Sample weights (mean 1) under which every labelled set, and each class within it, weighs the same.

    Pooling a few hundred moderators' labels with thousands of injected ones would otherwise learn the
    injected notion only.
    """
    weights = np.zeros(len(labels))
    for name in np.unique(sets):
        for cls in (0, 1):
            rows = (sets == name) & (labels == cls)
            weights[rows] = 1.0 / max(rows.sum(), 1)
    return weights * len(labels) / weights.sum()


def fit_combiner(components: pd.DataFrame, labels: np.ndarray, columns: list[str] = COMPONENTS,
                 sample_weight: np.ndarray | None = None, C: float = 1.0, **provenance) -> dict:
    """Weights (the format of :func:`load_weights`) of :func:`offtopic_combiner` fitted on ``components[columns]``.

    ``labels`` are 0/1 per row (1 = off topic); ``sample_weight`` (e.g. :func:`balanced_weights`) weighs
    the rows; ``provenance`` (what it was trained on) is stored alongside.
    """
    model = offtopic_combiner(C).fit(components[columns], np.asarray(labels, dtype=int),
                                     logisticregression__sample_weight=sample_weight)
    scaler, regression = model[0], model[1]
    return {
        "components": list(columns),
        "mean": scaler.mean_.round(6).tolist(),
        "scale": scaler.scale_.round(6).tolist(),
        "coef": regression.coef_[0].round(6).tolist(),
        "intercept": round(float(regression.intercept_[0]), 6),
        "rows": len(labels),
        "positives": int(np.sum(labels)),
        "C": C,
        **provenance,
    }


def cross_validated_scores(
    components: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, columns: list[str] = COMPONENTS,
    n_splits: int = 5, random_state: int = 0,
) -> np.ndarray:
    """Out-of-fold off-topic probabilities (n,): each row scored by a combiner that saw no comment of its article.

    Folds keep the class balance (``StratifiedGroupKFold``); comments of one article (``groups``) never
    sit on both sides, so similar comments of one discussion cannot leak the answer.
    """
    labels = np.asarray(labels, dtype=int)
    scores = np.zeros(len(labels))
    folds = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(components, labels, groups):
        model = offtopic_combiner().fit(components.iloc[train][columns], labels[train])
        scores[test] = model.predict_proba(components.iloc[test][columns])[:, 1]
    return scores


def offtopic_labels(comments: pd.DataFrame, column: str) -> tuple[pd.Series, list[Problem]]:
    """Moderators' off-topic labels from ``comments[column]``: 1.0, 0.0, or NaN where not labelled.

    Accepted: 1/0 (also "1.0"), true/false, yes/no (any case). Any other value is a problem naming the
    comment, and that comment counts as not labelled; so does a label on a comment without text (a removed
    one: nothing to learn from).
    """
    if column not in comments:
        extra = [c for c in comments.columns if c.startswith("label")] or list(comments.columns)
        raise ValueError(f"no label column {column!r} in the comments; columns: {', '.join(map(str, extra))}")
    words = {"1": 1.0, "1.0": 1.0, "true": 1.0, "yes": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0, "no": 0.0}
    raw = comments[column]
    given = raw.notna() & raw.astype("str").str.strip().ne("")
    labels = raw.astype("str").str.strip().str.lower().map(words).astype("float64").where(given)
    bad = given & labels.isna()
    textless = labels.notna() & ~has_text(comments["text"])
    problems = []
    for rows, why in ((bad, "is not 0/1, true/false or yes/no"), (textless, "is on a comment without text")):
        keys = zip(comments["source"][rows], comments["comment_id"][rows], raw[rows])
        problems += [Problem(f"label column {column}", f"{source}/{comment_id}", f"label {value!r} {why}",
                             "not used for learning") for source, comment_id, value in keys]
    return labels.where(~textless), problems


def learn_combiner(
    comments: pd.DataFrame, articles: pd.DataFrame, labels: pd.Series, features: TextFeatures | None = None,
    params: OfftopicParams = OfftopicParams(), n_splits: int = 5, **provenance,
) -> tuple[dict, pd.DataFrame]:
    """Learn the off-topic combiner from moderators' labels, and measure it on articles it did not see.

    Parameters
    ----------
    comments, articles : canonical frames; every comment is context (its discussion), labelled or not
    labels : Series aligned with ``comments``: 1 off topic, 0 not, NaN not labelled (:func:`offtopic_labels`)
    features : fitted :class:`TextFeatures`; fitted here when None
    params : :class:`OfftopicParams`; its ``weights_path`` is the combiner compared against
    n_splits : folds of the grouped cross-validation

    Returns
    -------
    weights : dict for :func:`load_weights` / ``OfftopicParams.weights_path``, fitted on every labelled comment
    evaluation : one row per scorer ("learned (grouped k-fold CV)", "current combiner", "baseline 1 - cosine to
        article") on the labelled comments (:func:`moderation.label_evaluation.scorer_table`: n, positives,
        balance, auc with its interval over articles, ap and f1 at 0.5); the learned row is out of fold.
    """
    labelled = labels.notna().to_numpy()
    y = labels.to_numpy(dtype=float)[labelled].astype(int)
    groups = group_codes(row_keys(comments, ARTICLE_KEY))[labelled]
    n_articles = {cls: len(set(groups[y == cls])) for cls in (0, 1)}
    if min(n_articles.values()) < n_splits:
        raise ValueError(
            f"learning needs labelled comments of each class on at least {n_splits} articles; "
            f"got off-topic on {n_articles[1]}, on-topic on {n_articles[0]} ({int(labelled.sum())} labelled comments)"
        )
    if features is None:
        features = TextFeatures(**params.features).fit(comments, articles)
    components = offtopic_components(comments, articles, features)[labelled].reset_index(drop=True)
    scores = {
        f"learned (grouped {n_splits}-fold CV)": cross_validated_scores(components, y, groups, n_splits=n_splits),
        "current combiner": combine(components, load_weights(params.weights_path)),
        "baseline 1 - cosine to article": 1.0 - components["sim_article"].to_numpy(),
    }
    evaluation = scorer_table(y, scores, groups)
    weights = fit_combiner(components, y, cv_auc=round(float(evaluation["auc"].iat[0]), 4), **provenance)
    return weights, evaluation
