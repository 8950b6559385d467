"""Evaluate the shipped speculation model: ``python scripts/eval_speculation.py [--speed N]``.

Sentence-level precision/recall/F1 of ``moderation/models/speculation.pkl.gz`` on the parts it was not
trained or tuned on (see ``scripts/train_speculation.py``), each row next to a naive baseline measured in
the same run: "the sentence contains a word of the Stanford Politeness API hedge list" (ConvoKit, MIT).
SFU marks conditionals, disjunctions and ability ("if", "or", "can") as speculation, which moderators do not;
a second SFU row relabels a sentence as speculative only when it has another cue. Two comment-level rows
compare aggregating sentence scores by maximum (what :func:`moderation.speculation.score_speculation` does)
and by noisy-or, on synthetic comments of 1-6 consecutive review sentences (relabelled the same way).
Conjecture rows score the Szeged held-out sentences against conjecture labels (an epistemic or investigation
cue; see ``train_speculation.conjecture_labels``) with ``moderation/models/conjecture.pkl.gz``, which ranks
the off-topic queue, and with the speculation model for comparison.
German rows score two disjoint samples of 200 random sentences (4+ words) of One Million Posts dev comments,
labelled by hand before any scores were seen (``scripts/data/omp_dev_speculation_de.csv``: ids, character
offsets and labels only, no text), with ``language="de"`` (the German cue lexicon and the models' cue-only
part). The German lexicon was revised on the "dev" sample's errors; the "test" sample was not looked at for
that. Their baseline is "the sentence holds vielleicht, wahrscheinlich, möglicherweise or vermutlich".
``--speed N`` also times ``score_speculation`` on N synthetic comments.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from moderation.cues import phrase_pattern  # noqa: E402
from moderation.speculation import (  # noqa: E402
    CONJECTURE_MODEL_PATH,
    load_model,
    score_conjecture,
    score_speculation,
)
from train_speculation import DATA_DIR, load_sentences, read_lexicon, sentence_metrics  # noqa: E402

BASELINE = "any Stanford Politeness hedge (ConvoKit list)"
# Published sentence-level F1 of the best CoNLL-2010 Task 1 systems, on the original CoNLL labels
# (Farkas et al. 2010); the rows here use the Szeged re-annotation, so they are context, not a like-for-like target.
PUBLISHED = {"biomedical": 86.4, "wikipedia": 60.2}
DATA_NAMES = {
    "biomedical": "Szeged biomedical split=test (15 CoNLL-2010 evaluation articles)",
    "wikipedia": "Szeged Wikipedia, held-out 3/10 of documents",
    "news": "Szeged news (FactBank), never trained on",
    "reviews": "SFU Review corpus, never trained on",
}
GERMAN_LABELS = ROOT / "scripts" / "data" / "omp_dev_speculation_de.csv"
REVISED_ON = " (lexicon revised on it)"
GERMAN_BASELINE = ("vielleicht", "wahrscheinlich", "möglicherweise", "vermutlich")
BROAD_SFU_CUES = {"if", "or", "either", "can", "can't", "cant", "cannot", "unless", "whether"}


def _baseline_hits(texts, data_dir: Path) -> np.ndarray:
    pattern = phrase_pattern(tuple(read_lexicon(data_dir / "hedge_lexicons" / "convokit_politeness_api_hedges.txt")))
    return np.array([pattern.search(text) is not None for text in texts], dtype=float)


def _row(task: str, data: str, labels, scores, baseline_hits, baseline: str = BASELINE) -> dict:
    ours = sentence_metrics(labels, scores)
    base = sentence_metrics(labels, baseline_hits)
    return {"task": task, "data": data, "n": len(labels), "positives": int(np.sum(labels)), **ours,
            "baseline": baseline, "baseline_precision": base["precision"], "baseline_recall": base["recall"],
            "baseline_f1": base["f1"]}


def german_rows(data_dir: Path = DATA_DIR) -> list[dict]:
    """Speculation and conjecture rows of the hand-labelled German sentences (none when the comments are missing).

    One annotator (the developer, 2026-11-28), no agreement figure: speculative = the writer presents a
    proposition as uncertain (wohl, scheint, vielleicht, ich nehme an, ob, a hypothesis posed as a question);
    conjecture = the same without opinion-only cues ("ich sehe das als"). Conditionals, counterfactuals,
    proposals ("man könnte ...") and rhetorical challenges are neither.
    """
    comments_path = data_dir.parent / "one_million_posts_dev" / "comments.csv"
    if not comments_path.exists():
        print(f"{comments_path} is missing: no German rows", file=sys.stderr)
        return []
    texts = pd.read_csv(comments_path, dtype={"comment_id": "str"}).set_index("comment_id")["text"]
    labels = pd.read_csv(GERMAN_LABELS, dtype={"comment_id": "str"})
    sentences = pd.Series([texts[c][s:e] for c, s, e in labels[["comment_id", "start", "end"]].itertuples(index=False)])
    baseline = phrase_pattern(GERMAN_BASELINE)
    hits = np.array([baseline.search(text) is not None for text in sentences], dtype=float)
    name = "One Million Posts dev, 200 random German sentences labelled by hand"
    baseline_name = "any of " + ", ".join(GERMAN_BASELINE)
    scores = {"speculation": score_speculation(sentences, language="de")["speculation_score"].to_numpy(),
              "conjecture": score_conjecture(sentences, language="de").to_numpy()}
    return [
        {**_row(f"{task}, sentence (de)", f"{name}, {part} sample" + (REVISED_ON if part == "dev" else ""),
                labels.loc[rows, column], scores[task][rows], hits[rows], baseline_name), "published_f1": np.nan}
        for part, rows in labels.groupby("part", sort=False).indices.items()
        for task, column in (("speculation", "speculative"), ("conjecture", "conjecture"))
    ]


def evaluate(model=None, data_dir: Path = DATA_DIR, conjecture_model=None) -> pd.DataFrame:
    """Evaluation table, one row per held-out data set (and two comment-aggregation rows).

    Columns: task, data, n, positives, precision, recall, f1, roc_auc, brier (model at threshold 0.5),
    baseline, baseline_precision, baseline_recall, baseline_f1, published_f1 (best CoNLL-2010, other labels).
    """
    model = load_model() if model is None else model
    conjecture_model = load_model(CONJECTURE_MODEL_PATH) if conjecture_model is None else conjecture_model
    sentences = load_sentences(data_dir)
    held_out = sentences[sentences["part"] == "test"].copy()
    held_out["score"] = model.predict_proba(held_out["text"])[:, 1]
    held_out["baseline_hit"] = _baseline_hits(held_out["text"], data_dir)
    rows = []
    for data, name in DATA_NAMES.items():
        group = held_out[held_out["data"] == data]
        rows.append({**_row("speculation, sentence", name, group["speculative"], group["score"],
                            group["baseline_hit"]), "published_f1": PUBLISHED.get(data, np.nan)})
    reviews = held_out[held_out["data"] == "reviews"].reset_index(drop=True)
    reviews["speculative"] = [int(bool(set(filter(None, cues.split("|"))) - BROAD_SFU_CUES))
                              for cues in reviews["cues"]]
    rows.append({**_row("speculation, sentence", DATA_NAMES["reviews"] + ", without if/or/can-only labels",
                        reviews["speculative"], reviews["score"], reviews["baseline_hit"]), "published_f1": np.nan})
    # Synthetic comments: runs of 1-6 consecutive sentences of one review.
    lengths = np.random.default_rng(0).integers(1, 7, len(reviews))
    comment = np.repeat(np.arange(len(reviews)), lengths)[:len(reviews)]
    new_review = reviews["doc"].ne(reviews["doc"].shift()).cumsum().to_numpy()
    grouped = reviews.assign(comment=comment, review=new_review).groupby(["review", "comment"], sort=False)
    labels = grouped["speculative"].max()
    hits = grouped["baseline_hit"].max()
    aggregations = {"max": grouped["score"].max(),
                    "noisy-or": 1 - grouped["score"].agg(lambda s: float(np.prod(1 - s)))}
    for how, scores in aggregations.items():
        rows.append({**_row(f"speculation, comment ({how} of sentences)",
                            "SFU reviews, 1-6 sentence chunks, without if/or/can-only labels", labels, scores, hits),
                     "published_f1": np.nan})
    szeged = held_out[held_out["corpus"] == "szeged"].copy()
    szeged["conjecture_score"] = conjecture_model.predict_proba(szeged["text"])[:, 1]
    for column, which in (("conjecture_score", "conjecture model"), ("score", "speculation model")):
        for data, group in szeged.groupby("data", sort=False):
            rows.append({**_row(f"conjecture, sentence ({which})", DATA_NAMES[data] + ", conjecture labels",
                                group["conjecture"], group[column], group["baseline_hit"]), "published_f1": np.nan})
    return pd.DataFrame(rows + german_rows(data_dir))


def speed(n_comments: int = 100_000, data_dir: Path = DATA_DIR, random_state: int = 0) -> float:
    """Comments per second of :func:`score_speculation` on ``n_comments`` synthetic comments.

    Each comment joins 1-5 random corpus sentences (held-out reviews and news), so lengths resemble short
    user comments.
    """
    sentences = load_sentences(data_dir)
    pool = sentences.loc[sentences["data"].isin(["reviews", "news"]), "text"].to_numpy()
    rng = np.random.default_rng(random_state)
    lengths = rng.integers(1, 6, n_comments)
    picks = rng.integers(0, len(pool), lengths.sum())
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = pd.Series([" ".join(pool[picks[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])], dtype="str")
    model = load_model()
    started = time.perf_counter()
    score_speculation(texts, model)
    elapsed = time.perf_counter() - started
    print(f"{n_comments} comments ({lengths.sum()} sentences, mean {texts.str.len().mean():.0f} chars) "
          f"in {elapsed:.1f} s: {n_comments / elapsed:.0f} comments/s")
    return n_comments / elapsed


if __name__ == "__main__":
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        table = evaluate()
        print(table.drop(columns=["baseline"]).round(3).to_string(index=False))
    print(f"baselines: {'; '.join(table['baseline'].unique())}; "
          "published_f1: best CoNLL-2010 Task 1 on the original labels (not comparable)")
    if "--speed" in sys.argv:
        speed(int(sys.argv[sys.argv.index("--speed") + 1]))
