"""Learn the shipped off-topic combiner: ``python scripts/train_offtopic.py``.

Data: every set of ``eval_data.labelled_sets`` (the Globe and Mail comments two annotators labelled, Der
Standard moderators' labels, comments injected across Stack Exchange questions), each weighing the same
(``balanced_weights``). The component set and C are chosen on the tuning rows only (grouped 5-fold
cross-validation, mean ROC AUC over the sets, ``eval_offtopic.select``); the held-out rows are then measured
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
    columns, C, candidates = select(sets)
    print("tuning rows, grouped 5-fold ROC AUC per set:")
    print(candidates.round(3).to_string(index=False))
    X, y, names, _, _ = pooled(sets, "all")
    shipped = fit(X, y, names, columns, C, trained_on=", ".join(s.name for s in sets),
                  split=f"chosen on tuning rows (eval_data.SPLIT_SEED={SPLIT_SEED!r}), fitted on all labelled rows",
                  )
    table, _ = held_out_table(sets, columns, C, shipped)
    shipped["held_out_auc"] = dict(zip(table["dataset"], table["tuned auc"]))
    print(table.to_string(index=False))
    WEIGHTS_PATH.write_text(json.dumps(shipped, indent=1) + "\n")
    print(f"wrote {WEIGHTS_PATH}")


if __name__ == "__main__":
    main()
