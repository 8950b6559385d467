"""Learn the shipped off-topic combiner: ``python scripts/train_offtopic.py``.

Data: every set of ``eval_data.labelled_sets`` (the Globe and Mail comments two annotators labelled, Der
Standard moderators' labels, comments injected across Stack Exchange questions), each weighing the same
(``balanced_weights``), or one set more when that helps the worst set. The component set, C and that emphasis
are chosen on the tuning rows only (grouped 5-fold cross-validation: the largest margin of ROC AUC over the
naive baseline on the set where it is smallest, ``eval_offtopic.select``); the held-out rows are then measured
once (printed, with leave-one-dataset-out and the naive baseline), and the shipped weights are fitted on
every labelled row. Writes ``moderation/models/offtopic_weights.json``.
"""

from __future__ import annotations

import json
import sys

from eval_data import DATA, SPLIT_SEED, labelled_sets
from eval_offtopic import fit, held_out_table, pooled, select

from moderation.offtopic import WEIGHTS_PATH


def main() -> None:
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: training needs the shared data (set MODERATION_DATA)")
    sets = labelled_sets()
    choice, candidates = select(sets)
    print("tuning rows, grouped 5-fold ROC AUC per set:")
    print(candidates.round(3).to_string(index=False))
    X, y, names, _, _ = pooled(sets, "all")
    shipped = fit(X, y, names, choice, trained_on=", ".join(s.name for s in sets),
                  split=f"chosen on tuning rows (eval_data.SPLIT_SEED={SPLIT_SEED!r}), fitted on all labelled rows",
                  candidate=choice.label, emphasised=choice.emphasised, emphasis=choice.emphasis)
    table, _ = held_out_table(sets, choice, shipped)
    shipped["held_out_auc"] = dict(zip(table["dataset"], table["tuned auc"]))
    print(table.to_string(index=False))
    WEIGHTS_PATH.write_text(json.dumps(shipped, indent=1) + "\n")
    print(f"wrote {WEIGHTS_PATH}")


if __name__ == "__main__":
    main()
