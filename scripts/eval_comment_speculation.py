"""Speculation on real comments: ``python scripts/eval_comment_speculation.py [--errors K]``.

The Globe and Mail comments two annotators labelled speculative 0/1 (``eval_data.gnm_labelled``; gold where
they agree; the annotators' notion is conjecture), split there once into tuning (70 %) and held-out (30 %)
threads. Rows, on the held-out part, each scored by the speculation stage
(:func:`moderation.comment_speculation.score_comments`):

- ``speculation_score`` (the comment's score: ``is_speculative`` at 0.5, gates and ranks the off-topic
  speculation queue),
- ``sentence_speculation_score`` (the most speculative sentence, any hedge),
- the baseline: 1 if any of "perhaps", "maybe", "might", "probably", "possibly" occurs.

F1, precision and recall at 0.5, ROC AUC, and the share flagged next to the share labelled; F1 and each scorer's
F1 minus the baseline's with a 90 % interval over resampled threads (``moderation.label_evaluation.bootstrap_interval``).

Then, in the same table (:func:`table`; errors per set: :func:`show_errors`), the same rows on 150 Globe and Mail
comments under 31 other articles (:func:`gnm_other_articles`; resampled by article), drawn at random from
``socc_globe_and_mail/.../old_comments.csv`` and labelled by hand with the same guidelines, without seeing any score
(``scripts/data/gnm_other_articles_speculation.csv``: ids and labels only; one annotator): no tuning looked at them.
And on another community's comments (:func:`bicycles_meta`; resampled by question): 200 Stack Exchange Bicycles
Meta comments labelled speculative 0/1 by hand with the same guidelines (``scripts/data/bicycles_meta_speculation.csv``:
ids and labels only; 110 drawn at random, 90 among those the speculation score of 2026-12-01 put at 0.3 or more).
A check that the news-comment model travels, not a held-out set: it was looked at to choose the model's C.
And on the held-out 8 of 30 further Globe and Mail articles (:func:`gnm_more_articles`, 180 of 529 comments;
resampled by article), in neither set above, labelled by an annotator model blind to every score
(``eval_data.gnm_more_articles``); their other 22 articles are the tuning part (``gnm_more_articles("tuning")``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_data import DATA, gnm_labelled, is_tuning  # noqa: E402
from moderation.label_evaluation import bootstrap_interval  # noqa: E402
from eval_data import gnm_more_articles as more_articles  # noqa: E402

from moderation.comment_speculation import score_comments  # noqa: E402
from moderation.ingest import load  # noqa: E402

BASELINE = r"\b(?:perhaps|maybe|might|probably|possibly)\b"
BICYCLES_LABELS = Path(__file__).resolve().parent / "data" / "bicycles_meta_speculation.csv"
GNM_OTHER_LABELS = Path(__file__).resolve().parent / "data" / "gnm_other_articles_speculation.csv"
GNM_OTHER_COMMENTS = "socc_globe_and_mail/SFU_Comment_Extractor/Sample_Resources/Sample_Comments_CSVs/old_comments.csv"


@dataclass
class ScoredSet:
    """Labelled comments scored by the speculation stage: ``labels`` 0/1 per row of ``scored``; ``groups``
    (threads, articles, questions) are what the intervals resample."""

    name: str
    scored: pd.DataFrame
    labels: np.ndarray
    groups: np.ndarray


def _row(name: str, y: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> dict:
    flagged = scores >= 0.5
    low, high = bootstrap_interval(lambda rows: f1_score(y[rows], flagged[rows], zero_division=0), groups)
    return {"scorer": name, "n": len(y), "positives": int(y.sum()), "f1": round(f1_score(y, flagged), 3),
            "f1 [90 %]": f"[{low:.3f}, {high:.3f}]",
            "precision": round(precision_score(y, flagged, zero_division=0), 3),
            "recall": round(recall_score(y, flagged), 3), "auc": round(roc_auc_score(y, scores), 3),
            "flagged share": round(flagged.mean(), 3), "labelled share": round(y.mean(), 3)}


def _cue_phrases(cues) -> str:
    return ", ".join(f"'{cue['phrase']}'" for cue in list(cues)[:4]) if isinstance(cues, list) else ""


def _f1_minus_baseline(y: np.ndarray, scores: np.ndarray, baseline: np.ndarray, groups: np.ndarray) -> str:
    def difference(rows):
        return (f1_score(y[rows], scores[rows] >= 0.5, zero_division=0)
                - f1_score(y[rows], baseline[rows] >= 0.5, zero_division=0))
    low, high = bootstrap_interval(difference, groups)
    return f"{difference(np.arange(len(y))):+.3f} [{low:+.3f}, {high:+.3f}]"


def baseline_scores(texts: pd.Series) -> np.ndarray:
    """The hedge-word baseline: 1.0 where any word of :data:`BASELINE` occurs, else 0.0."""
    return texts.astype("str").fillna("").str.lower().str.contains(BASELINE).to_numpy(dtype=float)


def table(sets: list[ScoredSet]) -> pd.DataFrame:
    """One table: per set, the rows of the module docstring (every scorer, then the baseline)."""
    parts = []
    for labelled in sets:
        scored, y, groups = labelled.scored, labelled.labels, labelled.groups
        baseline = baseline_scores(scored["text"])
        scorers = {"speculation_score (shipped)": scored["speculation_score"].to_numpy(),
                   "sentence_speculation_score (shipped)": scored["sentence_speculation_score"].to_numpy(),
                   "baseline: perhaps/maybe/might/probably/possibly": baseline}
        part = pd.DataFrame([_row(name, y, scores, groups) for name, scores in scorers.items()])
        part["f1 - baseline [90 %]"] = [_f1_minus_baseline(y, scores, baseline, groups)
                                        if scores is not baseline else "" for scores in scorers.values()]
        part.insert(0, "dataset", labelled.name)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def show_errors(sets: list[ScoredSet], k: int) -> None:
    """Print the ``k`` highest-scored comments labelled not speculative and the ``k`` lowest-scored speculative
    ones of each set, with their speculation score and cues."""
    for labelled in sets:
        frame = labelled.scored.assign(label=labelled.labels)
        for title, picked in (("false positives", frame[frame.label == 0].nlargest(k, "speculation_score")),
                              ("misses", frame[frame.label == 1].nsmallest(k, "speculation_score"))):
            print(f"\nspeculation, {labelled.name}: {title} (speculation score [cues] text)")
            for _, row in picked.iterrows():
                print(f"- {row.speculation_score:.2f} [{_cue_phrases(row.speculation_cues)}] "
                      f"{' '.join(str(row.text).split())[:150]}")


def gnm_labelled_part(part: str = "held out") -> list[ScoredSet]:
    """The labelled Globe and Mail comments of the ``part`` ("held out" or "tuning") threads."""
    labelled = gnm_labelled()
    scored = score_comments(labelled.comments.assign(language="en"))
    rows = ~np.isnan(labelled.speculative) & (~labelled.tune if part == "held out" else labelled.tune)
    return [ScoredSet(f"{labelled.name}, {part}", scored[rows], labelled.speculative[rows].astype(int),
                      labelled.groups[rows])]


def gnm_other_articles() -> list[ScoredSet]:
    """The hand-labelled Globe and Mail comments of other articles than the labelled four."""
    labels = pd.read_csv(GNM_OTHER_LABELS, dtype={"comment_id": str, "article_id": str})
    raw = pd.read_csv(DATA / GNM_OTHER_COMMENTS, dtype={"ID": str}, usecols=["ID", "text"])
    comments = labels.merge(raw.rename(columns={"ID": "comment_id"}), on="comment_id", how="inner",
                            validate="one_to_one")
    if len(comments) != len(labels):
        raise ValueError(f"{GNM_OTHER_LABELS}: {len(labels) - len(comments)} labelled comment ids are not in "
                         f"{DATA / GNM_OTHER_COMMENTS}")
    scored = score_comments(comments.assign(source="globe_and_mail", language="en"))
    return [ScoredSet("globe_and_mail, other articles (hand-labelled)", scored,
                      scored["speculative"].to_numpy(dtype=int), scored["article_id"].to_numpy())]


def gnm_more_articles(part: str = "held out") -> list[ScoredSet]:
    """The Globe and Mail comments of the ``part`` ("held out" or "tuning") of 30 further articles, labelled blind
    to the scores; the parts are cut by article (``eval_data.is_tuning``): 8 held-out articles, 22 tuning."""
    comments = more_articles()
    tuning = is_tuning(comments["article_id"])
    comments = comments[~tuning if part == "held out" else tuning]
    scored = score_comments(comments.assign(source="globe_and_mail", language="en"))
    return [ScoredSet(f"globe_and_mail, 30 more articles (annotator model), {part}", scored,
                      scored["speculative"].to_numpy(dtype=int), scored["article_id"].to_numpy())]


def bicycles_meta() -> list[ScoredSet]:
    """The hand-labelled Bicycles Meta comments: the random sample, then all 200."""
    parsed = load(DATA / "stackexchange_bicycles_meta", format="stackexchange")
    labels = pd.read_csv(BICYCLES_LABELS, dtype={"comment_id": str, "article_id": str})
    comments = parsed.comments.merge(labels[["comment_id", "sample", "speculative"]], on="comment_id", how="inner",
                                     validate="one_to_one")
    if len(comments) != len(labels):
        raise ValueError(f"{BICYCLES_LABELS}: {len(labels) - len(comments)} labelled comment ids are not in "
                         f"{DATA / 'stackexchange_bicycles_meta'}")
    scored = score_comments(comments.assign(language="en"))
    random = (scored["sample"] == "random").to_numpy()
    y, questions = scored["speculative"].to_numpy(dtype=int), scored["article_id"].to_numpy()
    return [ScoredSet("bicycles meta (hand-labelled), random sample", scored[random], y[random], questions[random]),
            ScoredSet("bicycles meta (hand-labelled), all", scored, y, questions)]


def labelled_comment_sets() -> list[ScoredSet]:
    """Every set of the module docstring, in its order."""
    return [*gnm_labelled_part(), *gnm_other_articles(), *gnm_more_articles(), *bicycles_meta()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=0, metavar="K")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the speculation evaluation needs the shared data (set MODERATION_DATA)")
    sets = labelled_comment_sets()
    print(table(sets).to_string(index=False))
    show_errors(sets, args.errors)


if __name__ == "__main__":
    main()
