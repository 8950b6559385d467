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
    frame = comments[[c for c in SHOWN if c in comments]].copy()
    for name, labels in (("offtopic_label", offtopic_labels), ("speculative_label", speculative_labels)):
        values = labels.set_index(COMMENT_KEY)["value"] if len(labels) else pd.Series(dtype="boolean")
        keys = pd.MultiIndex.from_frame(frame[COMMENT_KEY].astype("str"))
        frame[name] = pd.array(values.reindex(keys).to_numpy(), dtype="boolean")
    has_text = frame["offtopic_score"].notna()
    done = frame["offtopic_label"].notna() & frame["speculative_label"].notna()
    frame = frame[has_text & ~done]
    frame["uncertainty"] = np.maximum(_uncertainty(frame["offtopic_score"]), _uncertainty(frame["speculation_score"]))
    frame = frame.sort_values("uncertainty", ascending=False, kind="stable")
    frame["turn"] = frame.groupby(ARTICLE_KEY, sort=False).cumcount()
    picked = frame.sort_values(["turn", "uncertainty"], ascending=[True, False], kind="stable").head(n)
    titles = articles[[*ARTICLE_KEY, "title"]] if articles is not None else pd.DataFrame(columns=[*ARTICLE_KEY, "title"])
    by_article = titles.astype({key: "str" for key in ARTICLE_KEY}).set_index(ARTICLE_KEY)["title"]
    picked = picked.drop(columns="turn")
    picked["title"] = by_article.reindex(pd.MultiIndex.from_frame(picked[ARTICLE_KEY].astype("str"))).to_numpy()
    return picked


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
