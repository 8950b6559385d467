"""Train the shipped speculation model: ``python scripts/train_speculation.py [DATA_DIR]``.

Reads the labelled sentences under ``DATA_DIR`` (default ``/work/shared/data/speculation``,
or ``$SPECULATION_DATA``), builds the English cue lexicon, fits
:class:`moderation.speculation.SpeculationClassifier` with a fixed random_state,
prints validation figures and writes ``moderation/models/speculation.pkl.gz``; then the same on conjecture
labels (a sentence holding an epistemic or investigation cue, ``CONJECTURE_TYPES``) with the doxastic phrases
taken out of the lexicon, written to ``moderation/models/conjecture.pkl.gz`` (ranks the off-topic queue);
then the comment conjecture model on the labelled news comments' tuning threads (:func:`train_comments`),
written to ``moderation/models/comment_conjecture.json``. ``--comments`` refits only that last one.

Which rows train and which are held out (see ``moderation/models/README.md``):
- Szeged Uncertainty Corpus (CC BY-SA), biomedical ``split=train`` and Wikipedia: documents
  hashed (CRC-32 of the document id) into train (6/10), validation (1/10), test (3/10; Wikipedia only —
  the biomedical test set is the corpus's own ``split=test``).
- Szeged biomedical ``split=test`` (the CoNLL-2010 evaluation articles), Szeged news (FactBank: LDC-derived
  text, never trained on) and the SFU Review corpus (GPL, the closest to user comments): evaluation only.
- BioScope is not trained on: its sentences are the Szeged biomedical train documents again, with the older
  annotation (the Szeged layer is the one consistent across genres).
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree
from sklearn.metrics import brier_score_loss, precision_recall_fscore_support, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moderation.cues import COMMENT_CUES_EN, QUESTION_CUES_EN, phrase_pattern  # noqa: E402
from moderation.comment_speculation import DEFAULT_CONJECTURE_PATH, learn_conjecture, score_comments  # noqa: E402
from moderation.speculation import CONJECTURE_MODEL_PATH, MODEL_PATH, SpeculationClassifier, save_model  # noqa: E402

DATA_DIR = Path(os.environ.get("SPECULATION_DATA", "/work/shared/data/speculation"))
RANDOM_STATE = 0
# C of the comment model: 1.0 gains 0.02 out-of-fold F1 at 0.5 on the tuning threads (within the fold seeds' spread)
# but loses ROC AUC there and 0.04 on hand-labelled Stack Exchange comments (models/README.md): 0.1 travels
COMMENT_C = 0.1
# Szeged cue types that are epistemic (belief/probability); condition ("if", "unless") and investigation
# ("whether", "examined") cues are not speculation for a moderator.
# Type names as read from the XML with spaces removed ("speculation_hypo_doxastic _" there).
DOXASTIC = "speculation_hypo_doxastic_"
EPISTEMIC_TYPES = ("speculation_modal_probable_", DOXASTIC, "speculation_modal_possible_")
# Conjecture (issue 4: "perhaps", "might", "I suspect", "I'm curious if", leading questions): epistemic
# possibility and investigation cues; doxastic cues ("believe", "think", "considered") state an opinion.
CONJECTURE_TYPES = ("speculation_modal_probable_", "speculation_modal_possible_", "speculation_hypo_investigation_")
MIT_LEXICONS = ("convokit_politeness_api_hedges.txt", "convokit_politeness_local_hedges.txt", "wooorm_hedges_npm.txt")
MIN_CUE_SENTENCES = 3  # a corpus cue must be annotated in this many training sentences
MIN_CUE_PRECISION = 0.4  # about twice the base rate: a lexicon match must usually sit in a speculative sentence
MIN_MEASURED = 10  # below this many training matches a phrase's precision is not estimated (kept)


def require(data_dir: Path) -> Path:
    """``data_dir`` if it holds the speculation corpora, else exit with a message naming what is missing."""
    needed = [data_dir / "szeged_uncertainty" / "sentences.csv", data_dir / "sfu_review_negspec" / "sentences.csv",
              data_dir / "hedge_lexicons"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        sys.exit("speculation data missing (set SPECULATION_DATA or pass DATA_DIR): " + ", ".join(missing))
    return data_dir


def _bucket(doc_ids: pd.Series) -> np.ndarray:
    """Stable 0..9 bucket per document id (CRC-32), so a document's sentences stay in one part."""
    return np.array([zlib.crc32(doc.encode()) % 10 for doc in doc_ids])


def load_sentences(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """All labelled sentences with the part each belongs to.

    Returns
    -------
    pd.DataFrame
        text (str), speculative (int 0/1), conjecture (int 0/1, Szeged only; see :func:`conjecture_labels`),
        cues (str, "|"-joined), corpus ("szeged"/"sfu"), domain (str),
        data (evaluation name: "biomedical", "wikipedia", "news", "reviews"), doc (str) and
        part ("train", "validation" or "test").
    """
    data_dir = require(data_dir)
    szeged = pd.read_csv(data_dir / "szeged_uncertainty" / "sentences.csv", dtype={"cues": str, "split": str})
    szeged["corpus"] = "szeged"
    szeged["data"] = np.where(szeged["domain"].str.startswith("biomedical"), "biomedical", szeged["domain"])
    sfu = pd.read_csv(data_dir / "sfu_review_negspec" / "sentences.csv", dtype={"cues": str, "split": str})
    sfu["corpus"] = "sfu"
    sfu["data"] = "reviews"
    frame = pd.concat([szeged, sfu], ignore_index=True)
    frame["doc"] = frame["sentence_id"].str.rsplit(":", n=1).str[0]
    bucket = _bucket(frame["doc"])
    hashed = np.select([bucket < 6, bucket == 6], ["train", "validation"], "test")
    bio_train = (frame["data"] == "biomedical") & (frame["split"] == "train")
    frame["part"] = np.select(
        [frame["data"].eq("wikipedia"), bio_train],
        [hashed, np.where(hashed == "test", "train", hashed)],  # biomedical test = the corpus's own split
        "test",
    )
    frame["cues"] = frame["cues"].fillna("")
    frame["conjecture"] = conjecture_labels(frame["sentence_id"], data_dir)
    return frame[["text", "speculative", "conjecture", "cues", "corpus", "domain", "data", "doc", "part"]]


def conjecture_labels(sentence_ids: pd.Series, data_dir: Path = DATA_DIR) -> np.ndarray:
    """1 where the Szeged sentence ``sentence_id`` holds a cue of a ``CONJECTURE_TYPES`` type, else 0 (int, (n,)).

    Ids are ``szeged:<file>:<DocID>:<sentence id>`` as in ``sentences.csv``; other ids (SFU) get 0.
    """
    conjecture = set()
    for xml in sorted((data_dir / "szeged_uncertainty").glob("*.xml")):
        tree = etree.parse(str(xml), etree.XMLParser(load_dtd=False, resolve_entities=False))
        for document in tree.iter("Document"):
            doc_id = document.findtext("DocID")
            for sentence in document.iter("Sentence", "sentence"):
                if any(cue.get("type", "").replace(" ", "") in CONJECTURE_TYPES for cue in sentence.iter("ccue")):
                    conjecture.add(f"szeged:{xml.stem}:{doc_id}:{sentence.get('id')}")
    return sentence_ids.isin(conjecture).to_numpy(dtype=int)


def read_lexicon(path: Path) -> list[str]:
    """Phrases of a one-per-line lexicon file, lower-cased, ``#`` headers skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip().lower() for line in lines if line.strip() and not line.startswith("#")]


def szeged_cue_types(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """Most frequent annotated type of each (lower-cased) Szeged cue string."""
    types: dict[str, Counter] = defaultdict(Counter)
    for xml in sorted((data_dir / "szeged_uncertainty").glob("*.xml")):
        for cue in etree.parse(str(xml), etree.XMLParser(load_dtd=False, resolve_entities=False)).iter("ccue"):
            phrase = " ".join("".join(cue.itertext()).lower().split())
            types[phrase][cue.get("type", "").replace(" ", "")] += 1
    return {phrase: counts.most_common(1)[0][0] for phrase, counts in types.items()}


def _normal(phrase: str) -> str:
    return " ".join(phrase.lower().replace("’", "'").split())


def english_lexicon(train: pd.DataFrame, data_dir: Path = DATA_DIR) -> tuple[str, ...]:
    """The shipped English cue lexicon, from training rows only.

    Candidates: epistemic/doxastic cues annotated in >= MIN_CUE_SENTENCES training sentences, plus the
    MIT-licensed hedge lists. A candidate matching at least MIN_MEASURED training sentences is kept when those
    are speculative at least MIN_CUE_PRECISION of the time; a rarer one only if annotators marked it as a cue
    (the lists mix in boosters such as "definitely"). The issue's comment phrases (``COMMENT_CUES_EN``) are
    always kept.
    """
    types = szeged_cue_types(data_dir)
    annotated = Counter(cue for cues in train["cues"] for cue in set(filter(None, cues.split("|"))))
    corpus_cues = {_normal(c) for c, n in annotated.items()
                   if n >= MIN_CUE_SENTENCES and types.get(_normal(c)) in EPISTEMIC_TYPES and len(c) > 2}
    listed = {_normal(p) for name in MIT_LEXICONS for p in read_lexicon(data_dir / "hedge_lexicons" / name)}
    candidates = tuple(sorted(corpus_cues | listed))
    pattern = phrase_pattern(candidates)
    matched, speculative = Counter(), Counter()
    for text, label in zip(train["text"], train["speculative"]):
        for phrase in {_normal(m.group()) for m in pattern.finditer(text)}:
            matched[phrase] += 1
            speculative[phrase] += label
    measured = {p for p in candidates if matched[p] >= MIN_MEASURED}
    kept = {p for p in measured if speculative[p] / matched[p] >= MIN_CUE_PRECISION} | (corpus_cues - measured)
    return tuple(sorted(kept | set(COMMENT_CUES_EN)))


def sentence_metrics(labels, scores) -> dict[str, float]:
    """Precision, recall, F1 of ``scores >= 0.5`` against ``labels``; ROC AUC and Brier score of ``scores``."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, scores >= 0.5, average="binary",
                                                               zero_division=0)
    auc = roc_auc_score(labels, scores) if 0 < labels.sum() < len(labels) else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1, "roc_auc": auc,
            "brier": brier_score_loss(labels, scores)}


def without_doxastic(lexicon: tuple[str, ...], data_dir: Path = DATA_DIR) -> tuple[str, ...]:
    """``lexicon`` without phrases holding a word whose most frequent Szeged cue type is doxastic ("i think")."""
    doxastic = {phrase for phrase, kind in szeged_cue_types(data_dir).items() if kind == DOXASTIC and " " not in phrase}
    return tuple(p for p in lexicon if not doxastic & set(p.replace("'", " ").split()))


def train(data_dir: Path = DATA_DIR, out: Path = MODEL_PATH, target: str = "speculative") -> SpeculationClassifier:
    """Fit on the training part's ``target`` labels ("speculative" or "conjecture"), print validation, save."""
    sentences = load_sentences(data_dir)
    sentences = sentences[sentences["corpus"] == "szeged"] if target == "conjecture" else sentences
    sentences = sentences.assign(speculative=sentences[target])
    training = sentences[sentences["part"] == "train"]
    lexicon = english_lexicon(training, data_dir)
    if target == "conjecture":
        lexicon = without_doxastic(lexicon, data_dir)
    print(f"training sentences: {len(training)} ({training['speculative'].mean():.1%} speculative); "
          f"lexicon: {len(lexicon)} phrases")
    started = time.perf_counter()
    model = SpeculationClassifier(cues=lexicon, question_cues=QUESTION_CUES_EN, random_state=RANDOM_STATE)
    model.fit(training["text"], training["speculative"].to_numpy())
    print(f"fitted in {time.perf_counter() - started:.0f} s")
    validation = sentences[sentences["part"] == "validation"]
    rows = []
    for data, group in validation.groupby("data"):
        scores = model.predict_proba(group["text"])[:, 1]
        rows.append({"data": data, "n": len(group), "positives": int(group["speculative"].sum()),
                     **sentence_metrics(group["speculative"], scores)})
    print("validation (document-hashed 1/10 of the training corpora):")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return model


def train_comments(out: Path = DEFAULT_CONJECTURE_PATH) -> dict:
    """Fit the shipped comment conjecture model on the labelled Globe and Mail comments' tuning threads only.

    The sentence models score the comments (:func:`moderation.comment_speculation.score_comments` without a
    comment model); ``COMMENT_C`` and the positives' weight ``POSITIVE_WEIGHT`` were chosen by out-of-fold F1 at 0.5
    (grouped 5-fold cross-validation by thread, tuning rows only), printed here; the held-out 30 % stay unseen, so
    ``scripts/eval_comment_speculation.py`` measures the shipped model honestly. Writes ``out`` (JSON).
    """
    from eval_data import SPLIT_SEED, gnm_labelled

    labelled = gnm_labelled()
    rows = ~np.isnan(labelled.speculative) & labelled.tune
    scored = score_comments(labelled.comments[rows].assign(language="en"))
    labels, groups = labelled.speculative[rows].astype(int), labelled.groups[rows]
    weights, evaluation = learn_conjecture(scored, labels, groups, C=COMMENT_C)
    print(f"comment speculation, C={COMMENT_C}, tuning threads out of fold (log loss {weights['cv_log_loss']}):")
    print(evaluation.round(3).to_string(index=False))
    weights.update(trained_on=f"{labelled.name}: speculative labels both annotators agree on, tuning threads "
                   f"only (eval_data.SPLIT_SEED={SPLIT_SEED!r}), {len(labels)} comments, {int(labels.sum())} "
                   "conjectural", rows=len(labels), positives=int(labels.sum()))
    out.write_text(json.dumps(weights, indent=1) + "\n")
    print(f"wrote {out} (C={weights['C']})")
    return weights


if __name__ == "__main__":
    if sys.argv[1:] == ["--comments"]:
        train_comments()
        sys.exit()
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_DIR
    train(data)
    train(data, CONJECTURE_MODEL_PATH, target="conjecture")
    train_comments()
