"""Print the evaluation of the text stages: ``python scripts/evaluate.py [--errors K]`` (``make eval``).

1. Off-topic, one table over every labelled set the repository can read (``eval_data``: the two-annotator Globe
   and Mail threads, Der Standard, Stack Exchange injected, the 30 further Globe and Mail articles; split once into
   tuning and held-out parts): on the held-out part the combiner tuned on the tuning parts, the
   leave-one-dataset-out combiner, the shipped combiner and the naive baselines (1 - cosine of TF-IDF comment
   vs article, and vs the rest of the discussion), all measured in this run, with 90 % intervals over resampled
   groups (``eval_offtopic``); then K false positives and K misses per set with the components that pushed each
   score.
2. Speculation on real comments, one table: the labelled Globe and Mail comments' held-out threads,
   hand-labelled Globe and Mail comments of other articles and Stack Exchange Bicycles Meta comments, shipped
   scores next to a hedge-word baseline with 90 % intervals, then K false positives and misses per set
   (``eval_comment_speculation``).
3. Speculation on sentence corpora (Szeged, FactBank, SFU; German One Million Posts sentences), each row
   with its baseline (``eval_speculation``).

Needs the shared data folder (``$MODERATION_DATA``, default ``/work/shared/data``) and says so when it is missing.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import pandas as pd

import eval_comment_speculation
import eval_offtopic
import eval_speculation
from eval_data import DATA, labelled_sets

from moderation.offtopic import load_weights

SENTENCE_COLUMNS = ["task", "data", "n", "positives", "precision", "recall", "f1", "roc_auc", "baseline_precision",
                    "baseline_recall", "baseline_f1", "published_f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=5, metavar="K", help="false positives and misses per set")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the evaluation needs the shared data (set MODERATION_DATA)")
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    with pd.option_context("display.width", 400, "display.max_columns", None, "display.float_format", "{:.3f}".format):
        sets = labelled_sets()
        choice, _ = eval_offtopic.select(sets)
        table, tuned = eval_offtopic.held_out_table(sets, choice, load_weights())
        emphasis = f", {choice.emphasised} weighing {choice.emphasis:g}x" if choice.emphasised else ""
        print(f"OFF-TOPIC, held-out parts (tuned on tuning parts: {choice.label!r}, {len(choice.columns)} "
              f"components, C={choice.C}{emphasis})")
        print(table.to_string(index=False))
        print("baseline: 1 - cosine(TF-IDF of comment, TF-IDF of article), same features, same rows; discussion "
              "baseline: 1 - cosine to the rest of the discussion (the naive score where articles have no text)")
        eval_offtopic.show_errors(sets, tuned, args.errors)

        print("\nSPECULATION on real comments: the labelled Globe and Mail comments' held-out threads; Globe and Mail "
              "comments of other articles (hand-labelled, never tuned on); another community's comments "
              "(hand-labelled; a check, not held out)")
        comment_sets = eval_comment_speculation.labelled_comment_sets()
        print(eval_comment_speculation.table(comment_sets).to_string(index=False))
        eval_comment_speculation.show_errors(comment_sets, args.errors)

        print("\nSPECULATION on sentence corpora (held-out parts)")
        sentences = eval_speculation.evaluate()
        print(sentences[[c for c in SENTENCE_COLUMNS if c in sentences]].to_string(index=False, na_rep=""))
        for name in sentences["baseline"].unique():
            print(f"speculation baseline: {name}")
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
