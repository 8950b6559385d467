"""Speed of speculation scoring on synthetic English comments, next to a same-run baseline.

Usage: ``python benchmarks/bench_speculation.py [--comments 100000] [--repeat 3] [--reference 2000]``

Prints seconds and comments/s for :func:`moderation.speculation.score_speculation` (shipped model) and for a
plain ``TfidfVectorizer.transform`` of the same comments (the model's own word vectorizer, one document per
comment), so that the ratio can be read on a busy machine; with the conjecture model built, also both shipped
models scored separately and from one shared batch (:func:`score_speculation_and_conjecture`). ``--reference N``
checks that the scores of the first N comments equal the fitted scikit-learn pipeline's on their sentences.
Comments are three sentences drawn from English filler sentences, most of them with a hedge phrase of the
lexicon or a leading question, some with line breaks, curly apostrophes, "U.S." and "May"; nothing is read from /work/shared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best_of  # noqa: E402

from moderation.cues import COMMENT_CUES_EN
from moderation.sentences import split_sentences
from moderation.speculation import (
    CONJECTURE_MODEL_PATH,
    load_model,
    score_conjecture,
    score_speculation,
    score_speculation_and_conjecture,
)

_SUBJECTS = ["The council", "My neighbour", "The U.S. government", "This company", "The report", "Mr. Smith",
             "Everyone here", "The minister", "Our team", "The police"]
_VERBS = ["approved", "rejected", "delayed", "published", "ignored", "discussed", "explained", "changed",
          "announced", "questioned"]
_OBJECTS = ["the new budget", "the housing plan", "the vote in May", "the report on water quality",
            "the deal with the union", "the latest figures", "the school closures", "the rules for drivers",
            "the price of fuel", "the results of the audit"]
_TAILS = ["last week", "on Monday", "after the meeting", "without any debate", "in the end", "for the second time",
          "again", "at last", "this morning", "despite the protests"]
_QUESTIONS = ["Why is nobody asking about {o}?", "Isn’t it strange that {s} {v} {o}?",
              "Could it be that {s} {v} {o}?", "What if {s} {v} {o} {t}?", "How come {s} {v} {o}?"]


def _inside(subject: str) -> str:
    """The subject as it reads mid-sentence ("the council", but "U.S." and "Mr." keep their capitals)."""
    return subject if subject.startswith(("U.S.", "Mr.")) else subject[0].lower() + subject[1:]


def _sentence(rng: np.random.Generator) -> str:
    s, v, o, t = (rng.choice(words) for words in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS))
    kind = rng.random()
    if kind < 0.35:
        return f"{s} {v} {o} {t}."
    if kind < 0.75:
        hedge = rng.choice(COMMENT_CUES_EN)
        return f"{hedge.capitalize()}, {_inside(s)} {v} {o} {t}."
    return str(rng.choice(_QUESTIONS)).format(s=_inside(s), v=v, o=o, t=t)


def synthetic_comments(n: int, seed: int = 0) -> pd.Series:
    """``n`` comments of three sentences (dtype str); every tenth joins its sentences with a line break."""
    rng = np.random.default_rng(seed)
    pool = [_sentence(rng) for _ in range(5000)]
    picks = rng.integers(0, len(pool), size=(n, 3))
    return pd.Series([("\n" if i % 10 == 0 else " ").join(pool[j] for j in row) for i, row in enumerate(picks)],
                     dtype="str")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts = synthetic_comments(args.comments, args.seed)
    model = load_model()
    words = model.text_model_[0].transformer_list[0][1]
    score_speculation(texts[:100], model)  # warm caches (lexicon, vocabulary index, class table)
    n = len(texts)
    seconds, result = best_of(args.repeat, lambda: score_speculation(texts, model))
    print(f"score_speculation        {n:>9,} comments {seconds:8.2f} s {n / seconds:>10,.0f} comments/s")
    baseline, _ = best_of(args.repeat, lambda: words.transform(texts.tolist()))
    print(f"TfidfVectorizer.transform{n:>9,} comments {baseline:8.2f} s {n / baseline:>10,.0f} comments/s")
    print(f"ratio score / baseline time: {seconds / baseline:.2f}")
    if CONJECTURE_MODEL_PATH.exists():  # what the off-topic stage runs: both shipped models
        separate, _ = best_of(args.repeat, lambda: (score_speculation(texts), score_conjecture(texts)))
        combined, _ = best_of(args.repeat, lambda: score_speculation_and_conjecture(texts))
        print(f"score_speculation + score_conjecture {separate:8.2f} s; score_speculation_and_conjecture "
              f"{combined:8.2f} s")
    if args.reference:
        sample = texts[:args.reference].tolist()
        sentences = [[text[a:b] for a, b in split_sentences(text)] for text in sample]
        flat = [s for parts in sentences for s in parts]

        owner = np.repeat(np.arange(len(sample)), [len(parts) for parts in sentences])
        expected = np.zeros(len(sample))
        np.maximum.at(expected, owner, model.calibrated(model.text_model_.decision_function(flat)))
        difference = np.abs(result["speculation_score"].to_numpy()[:len(sample)] - expected).max()
        print(f"max |score - scikit-learn pipeline's| over the first {len(sample):,} comments: {difference:.2e}")


if __name__ == "__main__":
    main()
