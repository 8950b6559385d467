"""Print the evaluation table of the text stages: ``python scripts/evaluate.py`` (``make eval``).

Off-topic rows come from ``scripts/eval_offtopic.py``, speculation rows from
``scripts/eval_speculation.py``; each row carries its own naive baseline,
measured in the same run. Needs the shared data folder (``$MODERATION_DATA``,
default ``/work/shared/data``) and says so when it is missing.
"""

from __future__ import annotations

import sys
import time
import warnings

import pandas as pd

import eval_offtopic
import eval_speculation

# one table: the metrics each task reports, then the baseline's, then the published figure
COLUMNS = [
    "task", "dataset", "n", "positives", "balance", "auc", "ap", "p@10", "precision", "recall", "f1",
    "baseline_auc", "baseline_ap", "baseline_p@10", "baseline_precision", "baseline_recall", "baseline_f1",
    "published_f1", "p@10_threads",
]


def main() -> None:
    if not eval_offtopic.DATA.exists():
        sys.exit(f"{eval_offtopic.DATA} is missing: the evaluation needs the shared data (set MODERATION_DATA)")
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    offtopic = eval_offtopic.evaluate()
    speculation = eval_speculation.evaluate().rename(columns={"data": "dataset", "roc_auc": "auc"})
    speculation["balance"] = (speculation["positives"] / speculation["n"]).round(3)
    table = pd.concat([offtopic, speculation], ignore_index=True)
    table["p@10_threads"] = table["p@10_threads"].astype("Int64").astype("str").replace("<NA>", "")
    columns = [c for c in COLUMNS if c in table]
    with pd.option_context("display.width", 400, "display.max_columns", None, "display.float_format", "{:.3f}".format):
        print(table[columns].to_string(index=False, na_rep=""))
    for name in speculation["baseline"].unique():
        print(f"speculation baseline: {name}")
    print("off-topic baseline: 1 - cosine(TF-IDF of comment, TF-IDF of article), same features")
    print(f"{len(table)} rows in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
