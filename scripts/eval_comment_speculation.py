"""Speculation on real comments: ``python scripts/eval_comment_speculation.py [--errors K]``.

The Globe and Mail comments two annotators labelled speculative 0/1 (``eval_data.gnm_labelled``; gold where
they agree; the annotators' notion is conjecture), split there once into tuning (70 %) and held-out (30 %)
threads. Rows, on the held-out part, each scored by the speculation stage
(:func:`moderation.comment_speculation.score_comments`):

- ``speculation_score`` (the comment's score: ``is_speculative`` at 0.5, gates and ranks the off-topic
  speculation queue),
- ``sentence_speculation_score`` (the most speculative sentence, any hedge),
- the baseline: 1 if any of "perhaps", "maybe", "might", "probably", "possibly" occurs.

F1, precision and recall at 0.5, ROC AUC, and the share flagged next to the share labelled; for each scorer the
difference of its F1 to the baseline's with a 90 % interval over resampled threads (``eval_data.bootstrap_interval``).

Then the same rows on 150 Globe and Mail comments under 31 other articles (:func:`gnm_other_articles`), drawn at
random from ``socc_globe_and_mail/.../old_comments.csv`` and labelled by hand with the same guidelines, without
seeing any score (``scripts/data/gnm_other_articles_speculation.csv``: ids and labels only; one annotator): no
tuning looked at them. And on another community's comments (:func:`bicycles_meta`): 200 Stack Exchange Bicycles Meta
comments labelled speculative 0/1 by hand with the same guidelines (``scripts/data/bicycles_meta_speculation.csv``:
ids and labels only; 110 drawn at random, 90 among those the speculation score of 2026-12-01 put at 0.3 or more).
A check that the news-comment model travels, not a held-out set: it was looked at to choose the model's C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_data import DATA, bootstrap_interval, gnm_labelled  # noqa: E402

from moderation.comment_speculation import score_comments  # noqa: E402
from moderation.ingest import load  # noqa: E402

BASELINE = r"\b(?:perhaps|maybe|might|probably|possibly)\b"
BICYCLES_LABELS = Path(__file__).resolve().parent / "data" / "bicycles_meta_speculation.csv"
GNM_OTHER_LABELS = Path(__file__).resolve().parent / "data" / "gnm_other_articles_speculation.csv"
GNM_OTHER_COMMENTS = "socc_globe_and_mail/SFU_Comment_Extractor/Sample_Resources/Sample_Comments_CSVs/old_comments.csv"


def _row(name: str, y: np.ndarray, scores: np.ndarray) -> dict:
    flagged = scores >= 0.5
    return {"scorer": name, "n": len(y), "positives": int(y.sum()), "f1": round(f1_score(y, flagged), 3),
            "precision": round(precision_score(y, flagged, zero_division=0), 3),
            "recall": round(recall_score(y, flagged), 3), "auc": round(roc_auc_score(y, scores), 3),
            "flagged share": round(flagged.mean(), 3), "labelled share": round(y.mean(), 3)}


def _cue_phrases(cues) -> str:
    return ", ".join(f"'{cue['phrase']}'" for cue in list(cues)[:4]) if isinstance(cues, list) else ""


def _f1_minus_baseline(y: np.ndarray, scores: np.ndarray, baseline: np.ndarray, groups: np.ndarray) -> str:
    def difference(rows):
        return f1_score(y[rows], scores[rows] >= 0.5) - f1_score(y[rows], baseline[rows] >= 0.5)
    low, high = bootstrap_interval(difference, groups)
    return f"{difference(np.arange(len(y))):+.3f} [{low:+.3f}, {high:+.3f}]"


def _table(dataset: str, scored: pd.DataFrame, y: np.ndarray, groups: np.ndarray, errors: int) -> pd.DataFrame:
    """The rows of the module docstring for ``scored`` comments with labels ``y`` (resampled by ``groups``);
    ``errors`` > 0 prints that many false positives and misses of ``speculation_score`` with their cues."""
    texts = scored["text"].astype("str").fillna("")
    baseline = texts.str.lower().str.contains(BASELINE).to_numpy(dtype=float)
    scorers = {"speculation_score (shipped)": scored["speculation_score"].to_numpy(),
               "sentence_speculation_score (shipped)": scored["sentence_speculation_score"].to_numpy(),
               "baseline: perhaps/maybe/might/probably/possibly": baseline}
    table = pd.DataFrame([_row(name, y, scores) for name, scores in scorers.items()])
    table["f1 - baseline [90 %]"] = [_f1_minus_baseline(y, scores, baseline, groups) if scores is not baseline else ""
                                     for scores in scorers.values()]
    table.insert(0, "dataset", dataset)
    if errors:
        frame = scored.assign(label=y)
        for title, picked in (("false positives", frame[frame.label == 0].nlargest(errors, "speculation_score")),
                              ("misses", frame[frame.label == 1].nsmallest(errors, "speculation_score"))):
            print(f"\nspeculation, {dataset}: {title} (speculation score [cues] text)")
            for _, row in picked.iterrows():
                print(f"- {row.speculation_score:.2f} [{_cue_phrases(row.speculation_cues)}] "
                      f"{' '.join(str(row.text).split())[:150]}")
    return table


def evaluate(errors: int = 0, part: str = "held out") -> pd.DataFrame:
    """The table of the module docstring on the Globe and Mail ``part`` ("held out" or "tuning") rows."""
    labelled = gnm_labelled()
    scored = score_comments(labelled.comments.assign(language="en"))
    rows = ~np.isnan(labelled.speculative) & (~labelled.tune if part == "held out" else labelled.tune)
    return _table(f"{labelled.name}, {part}", scored[rows], labelled.speculative[rows].astype(int),
                  labelled.groups[rows], errors)


def gnm_other_articles(errors: int = 0) -> pd.DataFrame:
    """The same rows on the hand-labelled Globe and Mail comments of other articles than the labelled four."""
    labels = pd.read_csv(GNM_OTHER_LABELS, dtype={"comment_id": str, "article_id": str})
    raw = pd.read_csv(DATA / GNM_OTHER_COMMENTS, dtype={"ID": str}, usecols=["ID", "text"])
    comments = labels.merge(raw.rename(columns={"ID": "comment_id"}), on="comment_id", how="inner",
                            validate="one_to_one")
    if len(comments) != len(labels):
        raise ValueError(f"{GNM_OTHER_LABELS}: {len(labels) - len(comments)} labelled comment ids are not in "
                         f"{DATA / GNM_OTHER_COMMENTS}")
    scored = score_comments(comments.assign(source="globe_and_mail", language="en"))
    return _table("globe_and_mail, other articles (hand-labelled)", scored,
                  scored["speculative"].to_numpy(dtype=int), scored["article_id"].to_numpy(), errors)


def bicycles_meta(errors: int = 0) -> pd.DataFrame:
    """The same rows on the hand-labelled Bicycles Meta comments: the random sample, then all 200."""
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
    return pd.concat([
        _table("bicycles meta (hand-labelled), random sample", scored[random], y[random], questions[random], 0),
        _table("bicycles meta (hand-labelled), all", scored, y, questions, errors),
    ], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=0, metavar="K")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the speculation evaluation needs the shared data (set MODERATION_DATA)")
    print(evaluate(args.errors).to_string(index=False))
    print(gnm_other_articles(args.errors).to_string(index=False))
    print(bicycles_meta(args.errors).to_string(index=False))


if __name__ == "__main__":
    main()
