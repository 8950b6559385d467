"""Speculation on real comments: ``python scripts/eval_comment_speculation.py [--errors K]``.

The Globe and Mail comments two annotators labelled speculative 0/1 (``eval_data.gnm_labelled``; gold where
they agree; the annotators' notion is conjecture), split there once into tuning (70 %) and held-out (30 %)
threads. Rows, on the held-out part, each scored by the speculation stage
(:func:`moderation.comment_speculation.score_comments`):

- ``speculation_score`` (the comment's score: ``is_speculative`` at 0.5, gates and ranks the off-topic
  speculation queue),
- ``sentence_speculation_score`` (the most speculative sentence, any hedge),
- the baseline: 1 if any of "perhaps", "maybe", "might", "probably", "possibly" occurs.

F1, precision and recall at 0.5, ROC AUC, and the share flagged next to the share labelled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_data import DATA, gnm_labelled  # noqa: E402

from moderation.comment_speculation import score_comments  # noqa: E402

BASELINE = r"\b(?:perhaps|maybe|might|probably|possibly)\b"


def _row(name: str, y: np.ndarray, scores: np.ndarray) -> dict:
    flagged = scores >= 0.5
    return {"scorer": name, "n": len(y), "positives": int(y.sum()), "f1": round(f1_score(y, flagged), 3),
            "precision": round(precision_score(y, flagged, zero_division=0), 3),
            "recall": round(recall_score(y, flagged), 3), "auc": round(roc_auc_score(y, scores), 3),
            "flagged share": round(flagged.mean(), 3), "labelled share": round(y.mean(), 3)}


def _cue_phrases(cues) -> str:
    return ", ".join(f"'{cue['phrase']}'" for cue in list(cues)[:4]) if isinstance(cues, list) else ""


def evaluate(errors: int = 0, part: str = "held out") -> pd.DataFrame:
    """The table of the module docstring on the ``part`` ("held out" or "tuning") rows; ``errors`` > 0 prints
    that many false positives and misses of ``speculation_score`` with their cues."""
    labelled = gnm_labelled()
    scored = score_comments(labelled.comments.assign(language="en"))
    rows = ~np.isnan(labelled.speculative) & (~labelled.tune if part == "held out" else labelled.tune)
    y = labelled.speculative[rows].astype(int)
    texts = scored["text"].astype("str").fillna("")[rows]
    table = pd.DataFrame([
        _row("speculation_score (shipped)", y, scored["speculation_score"].to_numpy()[rows]),
        _row("sentence_speculation_score (shipped)", y, scored["sentence_speculation_score"].to_numpy()[rows]),
        _row("baseline: perhaps/maybe/might/probably/possibly", y,
             texts.str.lower().str.contains(BASELINE).to_numpy(dtype=float)),
    ])
    table.insert(0, "dataset", f"{labelled.name}, {part}")
    if errors:
        frame = scored[rows].assign(label=y)
        for title, picked in (("false positives", frame[frame.label == 0].nlargest(errors, "speculation_score")),
                              ("misses", frame[frame.label == 1].nsmallest(errors, "speculation_score"))):
            print(f"\nspeculation, {labelled.name}, {part}: {title} (speculation score [cues] text)")
            for _, row in picked.iterrows():
                print(f"- {row.speculation_score:.2f} [{_cue_phrases(row.speculation_cues)}] "
                      f"{' '.join(str(row.text).split())[:150]}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=0, metavar="K")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the speculation evaluation needs the shared data (set MODERATION_DATA)")
    print(evaluate(args.errors).to_string(index=False))


if __name__ == "__main__":
    main()
