"""Off-topic figures on every labelled set: ``python scripts/eval_offtopic.py [--errors K]``.

Per set of ``eval_data.labelled_sets`` (split there once, 70 % tuning / 30 % held out), on the held-out rows:

- ``tuned``: the combiner chosen and fitted on the tuning rows of every set (what the held-out part
  measures honestly);
- ``leave-one-dataset-out``: the same columns fitted on the other sets only (does the default travel?);
- ``shipped``: ``moderation/models/offtopic_weights.json``, fitted on every labelled row, held-out ones
  included (so this row is optimistic; it is the model a desk gets);
- ``baseline``: 1 - cosine(TF-IDF of comment, TF-IDF of article), same features, same rows;
- ``discussion baseline``: 1 - cosine to the rest of the discussion, the naive score where articles have no text
  (17 of the 30 further Globe and Mail articles: their baseline cosine is 0);
- ``tuned - baseline`` and ``leave-one-dataset-out - baseline``: the differences of ROC AUC.

Every ROC AUC but the shipped one's, and both differences, come with a 90 % interval over resampled groups
(threads, articles, questions: ``moderation.label_evaluation.bootstrap_interval``).

``--errors K`` prints the K highest-scored on-topic comments and K lowest-scored off-topic ones of each
held-out part, each with the components that pushed its score most (standardised value x weight).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_data import DATA, LabelledSet, labelled_sets  # noqa: E402
from moderation.label_evaluation import auc_or_nan, bootstrap_interval  # noqa: E402

from moderation.offtopic import COMPONENTS, DRIFT_IN_DISCUSSION, combine, load_weights  # noqa: E402
from moderation.offtopic import WITH_TEXT as WITH_TEXT_NAMES  # noqa: E402
from moderation.offtopic_learning import balanced_weights, fit_combiner  # noqa: E402

# candidate component sets; the pooled cross-validated ROC AUC on the tuning rows picks one (and C)
SIMILARITIES = ["sim_article", "sim_parent", "sim_discussion", "novelty", "sim_article_relative", "sim_article_lift",
                "log_tokens"]
LSA = ["lsa_article", "lsa_parent", "lsa_discussion", "lsa_article_relative"]
CONTEXT = ["is_reply", "log_thread_size", "log_discussion_size", "log_article_terms"]
WITH_TEXT = ["article_has_text", *(f"{name}_with_text" for name in WITH_TEXT_NAMES)]
CHATTER = ["second_person", "first_person", "has_link", "repeated_text", "is_question"]
ADDRESSING = ["addresses_poster", "agreement"]
DRIFT = ["parent_sim_article", "root_sim_article", "sim_parent_minus_discussion", *DRIFT_IN_DISCUSSION]
CANDIDATES = {
    "similarities": SIMILARITIES,
    "similarities by article text": SIMILARITIES + WITH_TEXT,
    "+ chatter": SIMILARITIES + WITH_TEXT + CHATTER,
    "+ chatter + context": SIMILARITIES + WITH_TEXT + CHATTER + CONTEXT,
    "+ chatter + context + addressing": SIMILARITIES + WITH_TEXT + CHATTER + CONTEXT + ADDRESSING,
    "+ chatter + context + addressing + drift in the discussion": SIMILARITIES + WITH_TEXT + CHATTER + CONTEXT + ADDRESSING
    + DRIFT,
    "+ chatter + context + LSA": SIMILARITIES + WITH_TEXT + CHATTER + CONTEXT + LSA,
    "all": COMPONENTS,
}
C_VALUES = (0.1, 1.0)
# how much more one set weighs than the others (1 = all the same); the selection may emphasise the set
# whose notion the pooled combiner learns worst
EMPHASIS = (2.0, 4.0)


@dataclass(frozen=True)
class Choice:
    """What :func:`select` picks on the tuning rows: components, C, and which set weighs more, by how much."""

    label: str
    columns: tuple[str, ...]
    C: float
    emphasised: str = ""
    emphasis: float = 1.0


def pooled(sets: list[LabelledSet], part: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Components, labels, set names, groups and row texts of the ``part`` ("tune", "held_out", "all") rows."""
    frames, labels, names, groups, texts = [], [], [], [], []
    for labelled in sets:
        rows = ~np.isnan(labelled.offtopic)
        if part != "all":
            rows &= labelled.tune if part == "tune" else ~labelled.tune
        frames.append(labelled.components[rows])
        labels.append(labelled.offtopic[rows].astype(int))
        names.append(np.full(rows.sum(), labelled.name, dtype=object))
        groups.append(labelled.name + "/" + pd.Series(labelled.groups[rows]).astype(str).to_numpy())
        texts.append(labelled.comments["text"].astype("str").fillna("").to_numpy()[rows])
    return (pd.concat(frames, ignore_index=True), np.concatenate(labels), np.concatenate(names),
            np.concatenate(groups), np.concatenate(texts))


def fit(X: pd.DataFrame, y: np.ndarray, names: np.ndarray, choice: Choice, **provenance) -> dict:
    """Combiner weights of ``choice`` fitted with every set weighing the same (:func:`balanced_weights`),
    the emphasised one ``choice.emphasis`` times as much."""
    weights = balanced_weights(names, y) * np.where(names == choice.emphasised, choice.emphasis, 1.0)
    return fit_combiner(X, y, list(choice.columns), sample_weight=weights, C=choice.C, **provenance)


def select(sets: list[LabelledSet]) -> tuple[Choice, pd.DataFrame]:
    """The candidate columns, C and emphasis whose grouped 5-fold ROC AUC on tuning rows only is furthest above
    the naive baseline on the set where it is least so (ties: the best mean over sets)."""
    X, y, names, groups, _ = pooled(sets, "tune")
    set_names = list(dict.fromkeys(names))
    baseline = {name: roc_auc_score(y[names == name], 1 - X["sim_article"][names == name]) for name in set_names}
    folds = list(GroupKFold(5).split(X, y, groups))
    emphases = [("", 1.0)] + [(name, factor) for name in set_names for factor in EMPHASIS]
    rows, choices = [], []
    for label, columns in CANDIDATES.items():
        for C in C_VALUES:
            for emphasised, factor in emphases:
                choice = Choice(label, tuple(columns), C, emphasised, factor)
                scores = np.zeros(len(y))
                for train, test in folds:
                    scores[test] = combine(X.iloc[test], fit(X.iloc[train], y[train], names[train], choice))
                per_set = {name: roc_auc_score(y[names == name], scores[names == name]) for name in set_names}
                rows.append({"candidate": label, "C": C, "emphasised": emphasised or "-", "emphasis": factor,
                             **per_set, "mean": np.mean(list(per_set.values())),
                             "worst margin": min(per_set[name] - baseline[name] for name in set_names)})
                choices.append(choice)
    table = pd.DataFrame(rows)
    best = table.sort_values(["worst margin", "mean"], ascending=False).index[0]
    return choices[best], table


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    return round(auc_or_nan(y, scores), 3)


def _interval(statistic, groups: np.ndarray, signed: bool = False) -> str:
    """The 90 % interval of ``statistic`` (a function of row positions) over resampled ``groups``: "[0.702, 0.815]",
    or with ``signed`` (a difference) "[-0.107, +0.068]"."""
    low, high = bootstrap_interval(statistic, groups)
    form = "{:+.3f}" if signed else "{:.3f}"
    return f"[{form.format(low)}, {form.format(high)}]"


def held_out_table(sets: list[LabelledSet], choice: Choice, shipped: dict) -> tuple[pd.DataFrame, dict]:
    """One row per set: the held-out figures of the module docstring, each ROC AUC and difference with its
    90 % interval over resampled groups; also the tuned weights."""
    X, y, names, _, _ = pooled(sets, "tune")
    tuned = fit(X, y, names, choice)
    every_X, every_y, every_names, _, _ = pooled(sets, "all")
    held_X, held_y, held_names, held_groups, _ = pooled(sets, "held_out")
    rows = []
    for name in dict.fromkeys(held_names):
        here = held_names == name
        others = every_names != name
        lodo = fit(every_X[others], every_y[others], every_names[others], choice)
        yh, Xh, groups = held_y[here], held_X[here], held_groups[here]
        scores = {"tuned": combine(Xh, tuned), "leave-one-dataset-out": combine(Xh, lodo),
                  "baseline": 1.0 - Xh["sim_article"].to_numpy(),
                  "discussion baseline": 1.0 - Xh["sim_discussion"].to_numpy()}

        def auc(scorer, yh=yh, scores=scores):
            return lambda rows: _auc(yh[rows], scores[scorer][rows])

        def margin(scorer, auc=auc):
            return lambda rows: auc(scorer)(rows) - auc("baseline")(rows)
        every = np.arange(len(yh))
        row = {"dataset": name, "held-out n": int(here.sum()), "positives": int(yh.sum())}
        for scorer in scores:
            row[f"{scorer} auc"] = auc(scorer)(every)
            row[f"{scorer} [90 %]"] = _interval(auc(scorer), groups)
        row["shipped auc (fitted on these rows too)"] = _auc(yh, combine(Xh, shipped))
        for scorer in ("tuned", "leave-one-dataset-out"):
            row[f"{scorer} - baseline"] = round(margin(scorer)(every), 3)
            row[f"{scorer} - baseline [90 %]"] = _interval(margin(scorer), groups, signed=True)
        row["tuned ap"] = round(average_precision_score(yh, scores["tuned"]), 3)
        row["baseline ap"] = round(average_precision_score(yh, scores["baseline"]), 3)
        rows.append(row)
    return pd.DataFrame(rows), tuned


def why(row: pd.Series, weights: dict, k: int = 3) -> str:
    """The ``k`` components that pushed this comment's score most, e.g. "sim_article 0.02 (+1.3)"."""
    z = (row[weights["components"]].to_numpy(dtype=float) - np.asarray(weights["mean"])) / np.asarray(weights["scale"])
    push = z * np.asarray(weights["coef"])
    order = np.argsort(-np.abs(push))[:k]
    return ", ".join(f"{weights['components'][i]} {row[weights['components'][i]]:.2f} ({push[i]:+.1f})" for i in order)


def show_errors(sets: list[LabelledSet], weights: dict, k: int) -> None:
    """Print the ``k`` worst false positives and misses of each held-out part under ``weights``."""
    X, y, names, _, texts = pooled(sets, "held_out")
    scores = combine(X, weights)
    for name in dict.fromkeys(names):
        here = np.flatnonzero(names == name)
        for title, picked in (
            ("false positives (highest-scored on-topic)", here[y[here] == 0][np.argsort(-scores[here][y[here] == 0])][:k]),
            ("misses (lowest-scored off-topic)", here[y[here] == 1][np.argsort(scores[here][y[here] == 1])][:k]),
        ):
            print(f"\n{name}, held out: {title}")
            for i in picked:
                text = " ".join(texts[i].split())[:150]
                print(f"- {scores[i]:.2f} [{why(X.iloc[i], weights)}] {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=0, metavar="K", help="print K false positives and misses per set")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: the off-topic evaluation needs the shared data (set MODERATION_DATA)")
    sets = labelled_sets()
    choice, _ = select(sets)
    table, tuned = held_out_table(sets, choice, load_weights())
    print(table.to_string(index=False))
    show_errors(sets, tuned, args.errors)


if __name__ == "__main__":
    main()
