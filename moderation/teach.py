"""Teach the off-topic and speculation scores a desk's notion: which comments to label next, and what it bought.

The Teach page shows :func:`candidates` (uncertainty sampling across articles), moderators label them
(the store's ``offtopic`` and ``speculative`` labels), :func:`measure` learns from every label so far and
measures the learned scores out of fold next to the current ones, and
:func:`moderation.pipeline.adopt_weights` makes later runs and imports into the results folder use them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moderation.schema import ARTICLE_KEY, COMMENT_KEY

SHOWN = ["source", "comment_id", "article_id", "author", "text", "offtopic_score", "speculation_score"]


def _uncertainty(scores: pd.Series) -> np.ndarray:
    """1 at a score of 0.5, 0 at 0 or 1 (and for a missing score)."""
    return (1.0 - 2.0 * (scores.astype("float64") - 0.5).abs()).fillna(0.0).to_numpy()


def candidates(comments: pd.DataFrame, offtopic_labels: pd.DataFrame, speculative_labels: pd.DataFrame,
               n: int = 10, articles: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``n`` comments whose labels would teach the scores most, spread over articles.

    A comment's uncertainty is the larger of its off-topic and speculation scores' closeness to 0.5 (the
    learned combiner and speculation model are logistic regressions: labels near their boundary move them
    most). Comments labelled on both questions and comments without text are left out. Each article
    contributes its most uncertain comment before any contributes its second, so one long discussion does
    not fill the list.

    Parameters
    ----------
    comments : scored comments (offtopic_score and speculation_score)
    offtopic_labels, speculative_labels : the store's latest labels (``Store.labels``): source, comment_id, value
    n : how many to return
    articles : the articles, for their titles (``title``; NA without it)

    Returns
    -------
    DataFrame
        :data:`SHOWN` columns (those ``comments`` have), ``title``, ``uncertainty`` (0..1), ``offtopic_label`` and
        ``speculative_label`` (True, False or NA where not labelled yet), most useful first, indexed like
        ``comments`` (the dashboard adds the text of these rows only).
    """
    given = {name: _label_values(comments, labels)
             for name, labels in (("offtopic_label", offtopic_labels), ("speculative_label", speculative_labels))}
    done = ~given["offtopic_label"].isna() & ~given["speculative_label"].isna()
    left = np.flatnonzero(comments["offtopic_score"].notna().to_numpy(dtype=bool) & ~done)
    uncertainty = np.maximum(_uncertainty(comments["offtopic_score"].iloc[left]),
                             _uncertainty(comments["speculation_score"].iloc[left]))
    by_uncertainty = left[np.argsort(-uncertainty, kind="stable")]
    picked = _spread_over_articles(comments, by_uncertainty, n)
    frame = comments.iloc[picked][[c for c in SHOWN if c in comments]].copy()
    for name, values in given.items():
        frame[name] = values[picked]
    frame["uncertainty"] = np.maximum(_uncertainty(frame["offtopic_score"]), _uncertainty(frame["speculation_score"]))
    titles = articles[[*ARTICLE_KEY, "title"]] if articles is not None else pd.DataFrame(columns=[*ARTICLE_KEY, "title"])
    by_article = titles.astype({key: "str" for key in ARTICLE_KEY}).set_index(ARTICLE_KEY)["title"]
    frame["title"] = by_article.reindex(pd.MultiIndex.from_frame(frame[ARTICLE_KEY].astype("str"))).to_numpy()
    return frame


def _label_values(comments: pd.DataFrame, labels: pd.DataFrame) -> pd.arrays.BooleanArray:
    """Each comment's label in ``labels`` (source, comment_id, value), NA where it has none; the keys are matched
    on the few comments whose id is labelled, not on every comment."""
    values = pd.arrays.BooleanArray(np.zeros(len(comments), dtype=bool), mask=np.ones(len(comments), dtype=bool))
    if len(labels):
        maybe = np.flatnonzero(comments["comment_id"].isin(labels["comment_id"]).to_numpy(dtype=bool))
        keys = pd.MultiIndex.from_frame(comments[COMMENT_KEY].iloc[maybe].astype("str"))
        values[maybe] = pd.array(labels.set_index(COMMENT_KEY)["value"].reindex(keys).to_numpy(), dtype="boolean")
    return values


def _spread_over_articles(comments: pd.DataFrame, by_uncertainty: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` of ``by_uncertainty`` (row positions, most uncertain first) ordered by their turn in their
    article (0 for its most uncertain, 1 for its second, ...), then by uncertainty.

    A row's earlier comments of the same article all come before it, so turns counted in any prefix are exact;
    once the prefix's first ``n`` all have turn 0, no later row (less uncertain) can come before them, and the
    rest of a million comments is never grouped.
    """
    size = 4 * n
    while True:
        prefix = by_uncertainty[:size]
        turn = comments[list(ARTICLE_KEY)].iloc[prefix].groupby(list(ARTICLE_KEY), sort=False).cumcount().to_numpy()
        first = np.argsort(turn, kind="stable")[:n]
        if size >= len(by_uncertainty) or not turn[first].any():
            return prefix[first]
        size *= 4


def label_counts(offtopic_labels: pd.DataFrame, speculative_labels: pd.DataFrame) -> pd.DataFrame:
    """Labels so far: one row per question with labelled, yes and no counts."""
    return pd.DataFrame([
        {"question": question, "labelled": len(labels), "yes": int(labels["value"].sum()),
         "no": int((~labels["value"].astype(bool)).sum())}
        for question, labels in (("off topic", offtopic_labels), ("speculative", speculative_labels))
    ])


BEFORE_AFTER_COLUMNS = ["question", "labelled", "yes", "before (current scores)", "before, 90 % range",
                        "after (learned, out of fold)", "after, 90 % range"]


def before_after(evaluation: pd.DataFrame) -> pd.DataFrame:
    """The learning evaluation of :func:`moderation.pipeline.learn_offtopic` as "before" (current scores) and
    "after" (learned, out of fold) ROC AUC per question, rounded for display, each with its 90 % range over
    resampled articles (``auc_low`` to ``auc_high``) and the number of comments labelled yes."""
    rows = []
    for question, before, after in (
        ("off topic", "current combiner", "learned"), ("speculative", "speculation: current", "speculation: learned"),
    ):
        current = evaluation[evaluation["scorer"] == before]
        learned = evaluation[evaluation["scorer"].str.startswith(after)]
        if len(current) and len(learned):
            current, learned = current.iloc[0], learned.iloc[0]
            rows.append({"question": question, "labelled": int(current["n"]), "yes": int(current["positives"]),
                         "before (current scores)": round(float(current["auc"]), 3),
                         "before, 90 % range": _range(current),
                         "after (learned, out of fold)": round(float(learned["auc"]), 3),
                         "after, 90 % range": _range(learned)})
    return pd.DataFrame(rows, columns=BEFORE_AFTER_COLUMNS)


def _range(row: pd.Series) -> str:
    return f"{row['auc_low']:.2f} to {row['auc_high']:.2f}"
