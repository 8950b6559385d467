"""Hedging and speculation: cue phrases with their spans, and a sentence classifier aggregated per comment.

A comment is split into sentences (a regex splitter, nothing downloaded); every
sentence is scored by :class:`SpeculationClassifier` (TF-IDF word n-grams plus
cue-lexicon counts, logistic regression, Platt-calibrated) and the
comment takes the score of its most speculative sentence. Cues are hedging
phrases ("perhaps", "I suspect", "there has to be more") and leading questions
("why is ...?", "could it be ...?"), returned with character spans into the
comment so a moderator sees the evidence.

The shipped model (``models/speculation.joblib``) is built by
``scripts/train_speculation.py``; ``models/README.md`` names its data and licences.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.utils.validation import check_is_fitted

MODEL_PATH = Path(__file__).parent / "models" / "speculation.joblib"

# Phrases moderators named in issue 4, plus close variants; the shipped English lexicon
# adds the corpus-annotated epistemic cues and MIT-licensed hedge lists (see scripts/train_speculation.py).
COMMENT_CUES_EN = (
    "perhaps", "maybe", "might", "may be", "possibly", "probably", "presumably", "supposedly", "allegedly",
    "apparently", "likely", "unlikely", "i suspect", "suspect that", "i wonder", "wonder if", "wonder whether",
    "i'm curious if", "i am curious if", "curious whether", "who knows", "there has to be more",
    "has to be more", "there must be more", "there's more to", "there is more to", "more to it than",
    "cover for", "a cover for", "smokescreen", "i guess", "i think", "i believe", "i bet", "my guess",
    "i doubt", "seems", "seem to", "it seems", "it appears", "could be", "must have", "would not be surprised",
    "wouldn't be surprised", "conspiracy", "rumor", "rumour", "speculate", "speculation", "hidden agenda",
    "coincidence", "one has to wonder", "makes you wonder", "makes me wonder",
)
# Matched only inside a sentence that ends with "?": a leading or rhetorical question.
QUESTION_CUES_EN = (
    "why is", "why are", "why was", "why were", "why would", "why does", "why do", "why did", "why else",
    "isn't it", "isn't that", "aren't they", "wasn't it", "could it be", "is it possible", "what if",
    "how come", "don't you think", "wouldn't it", "or is it", "is it just me", "what are they hiding",
)
CUES_DE = (
    "vielleicht", "vermutlich", "wahrscheinlich", "möglicherweise", "womöglich", "eventuell", "angeblich",
    "anscheinend", "scheinbar", "offenbar", "mutmaßlich", "wohl", "dürfte", "dürften",
    "könnte", "könnten", "ich glaube", "ich denke", "ich vermute", "ich nehme an", "ich frage mich",
    "frage mich", "wer weiß", "kann sein", "scheint", "scheinen", "es sieht so aus", "steckt mehr dahinter",
    "da steckt", "mehr dahinter", "ablenkung", "ablenkungsmanöver", "verschwörung", "gerücht", "gerüchte",
    "spekulation", "spekulieren", "zufall", "ich wette", "ich bezweifle",
)
QUESTION_CUES_DE = (
    "ob", "warum ist", "warum sind", "warum wird", "warum wohl", "wieso", "weshalb", "ist es nicht",
    "könnte es sein", "kann es sein", "was wäre wenn", "oder ist", "nicht wahr",
)
LANGUAGES = ("en", "de")

# Sentence ends after . ! ? … (and closing quotes) when the next sentence starts upper-case or with a
# digit, or at a line break; "U.S. govt" and "e.g. the" stay whole.
_BOUNDARY = re.compile(
    r"(?<!\b[A-Z]\.[A-Z]\.)(?<!\bMr\.)(?<!\bDr\.)(?<!\bMs\.)(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))"
    r"\s+(?=[\"'“‘(\[]?[A-Z0-9ÄÖÜ])"
    r"|\s*\n\s*"
)
_CLOSERS = "\"'”’)] \t"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, stripped of surrounding whitespace.

    Empty text gives ``[]``. Spans index into ``text`` itself, in order, without overlap.
    """
    spans = []
    start = 0
    for boundary in _BOUNDARY.finditer(text):
        spans.append((start, boundary.start()))
        start = boundary.end()
    spans.append((start, len(text)))
    stripped = []
    for begin, end in spans:
        segment = text[begin:end]
        lead = len(segment) - len(segment.lstrip())
        trail = len(segment.rstrip())
        if trail > lead:
            stripped.append((begin + lead, begin + trail))
    return stripped


@lru_cache(maxsize=32)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern:
    """One case-insensitive alternation, longest phrase first, matching whole words only."""
    def piece(phrase: str) -> str:
        words = [re.escape(word).replace("'", "['’]") for word in phrase.split()]
        return r"\s+".join(words)

    ordered = sorted({p.lower() for p in phrases if p.strip()}, key=len, reverse=True)
    if not ordered:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile(r"(?<!\w)(?:" + "|".join(piece(p) for p in ordered) + r")(?!\w)", re.IGNORECASE)


def _is_question(sentence: str) -> bool:
    return sentence.rstrip(_CLOSERS).endswith("?")


def _is_month(match: re.Match, sentence_starts) -> bool:
    """A capitalised "May" inside a sentence is the month, not the modal."""
    return match.group() == "May" and match.start() not in sentence_starts


def _cues_in(text: str, spans: list[tuple[int, int]], cues: tuple, question_cues: tuple) -> list[tuple[str, int, int]]:
    """Cue matches in ``text``: question cues inside sentences ending in "?", then lexicon cues not overlapping them."""
    found = []
    question = _phrase_pattern(question_cues)
    for start, end in spans:
        if _is_question(text[start:end]):
            found.extend((m.group(), m.start(), m.end()) for m in question.finditer(text, start, end))
    taken = [(s, e) for _, s, e in found]
    starts = {start for start, _ in spans}
    for match in _phrase_pattern(cues).finditer(text):
        if not _is_month(match, starts) and not any(match.start() < e and s < match.end() for s, e in taken):
            found.append((match.group(), match.start(), match.end()))
    return sorted(found, key=lambda cue: cue[1])


def _lexicon(language: str, model: SpeculationClassifier | None) -> tuple[tuple, tuple]:
    """(cues, question cues) for ``language``: German built in, English from ``model`` (default the shipped one)."""
    if language == "de":
        return CUES_DE, QUESTION_CUES_DE
    model = load_model() if model is None else model
    return tuple(model.cues), tuple(model.question_cues)


def find_cues(text: str, language: str = "en", model=None) -> list[tuple[str, int, int]]:
    """Hedging and speculation cues in ``text`` as ``(phrase, start, end)`` with ``text[start:end] == phrase``.

    Matching is case-insensitive on whole words. ``language`` "de" uses the German
    lexicon (``CUES_DE``); anything else the English lexicon of ``model``
    (default :func:`load_model`: corpus-annotated epistemic cues, MIT hedge lists
    and ``COMMENT_CUES_EN``, see ``models/README.md``).
    """
    cues, question_cues = _lexicon(language, model)
    return _cues_in(text, split_sentences(text), cues, question_cues)


class CueFeatures(TransformerMixin, BaseEstimator):
    """Sentences -> cue-lexicon features, shape (n_sentences, 3).

    Columns: log(1 + number of lexicon cues), 1 if a leading-question cue matched,
    1 if the sentence ends with "?". Language-independent counts, so a model fitted on
    English counts can score German counts from the German lexicon.

    Parameters
    ----------
    cues, question_cues : tuple of str
        Phrases matched anywhere / only in questions (case-insensitive, whole words).
    """

    def __init__(self, cues=COMMENT_CUES_EN, question_cues=QUESTION_CUES_EN):
        self.cues = cues
        self.question_cues = question_cues

    def fit(self, X, y=None):
        """Nothing to learn; returns self."""
        return self

    def transform(self, X):
        """Cue features of each sentence in ``X`` (1-D sequence of str), float64 array (n, 3)."""
        cues, question_cues = tuple(self.cues), tuple(self.question_cues)
        lexicon, question = _phrase_pattern(cues), _phrase_pattern(question_cues)
        rows = []
        for text in X:
            asks = _is_question(text)
            rows.append((
                np.log1p(sum(1 for match in lexicon.finditer(text) if not _is_month(match, (0,)))),
                float(asks and question.search(text) is not None),
                float(asks),
            ))
        return np.asarray(rows, dtype=np.float64).reshape(-1, 3)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


class SpeculationClassifier(ClassifierMixin, BaseEstimator):
    """Sentence-level speculation classifier: calibrated probability that a sentence is speculative.

    Word (1-2) TF-IDF n-grams, optionally character (3-5, within words) n-grams, plus :class:`CueFeatures`,
    logistic regression, Platt (sigmoid) calibration on cross-validated predictions, so
    ``predict_proba(X)[:, 1] >= 0.5`` means "more likely speculative than not".
    A second, cue-count-only calibrated model (``cue_model_``) scores languages without
    labelled training text (German) from their own lexicon.

    Parameters
    ----------
    cues, question_cues : tuple of str
        English cue lexicon (see :class:`CueFeatures`).
    max_word_features, max_char_features : int
        Vocabulary bounds (keep the saved model small). ``max_char_features=0`` (default) leaves out
        character n-grams: on the validation sentences they added under 0.01 F1 and cost 6x the scoring time.
    min_df : int
        Minimum number of training sentences an n-gram must occur in.
    C : float
        Inverse L2 regularisation strength of the logistic regression (16 was best of 1, 4, 16 on validation).
    calibration_folds : int
        Stratified folds for the calibration's out-of-fold predictions.
    random_state : int, RandomState or None
        Seeds the fold shuffling and the solver.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    text_model_ : CalibratedClassifierCV over a feature + logistic-regression pipeline
    cue_model_ : CalibratedClassifierCV over a logistic regression on :class:`CueFeatures`
    """

    def __init__(self, cues=COMMENT_CUES_EN, question_cues=QUESTION_CUES_EN, max_word_features=20000,
                 max_char_features=0, min_df=2, C=16.0, calibration_folds=5, random_state=None):
        self.cues = cues
        self.question_cues = question_cues
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.min_df = min_df
        self.C = C
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def _calibrated(self, estimator):
        folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.random_state)
        # ensemble=False: one classifier refit on all data, calibrated on out-of-fold scores (smaller file).
        return CalibratedClassifierCV(estimator, method="sigmoid", cv=folds, ensemble=False)

    def fit(self, X, y):
        """Learn from sentences ``X`` (1-D sequence of str, length n) and labels ``y`` (n,) in {0, 1}."""
        texts = _texts(X)
        labels = np.asarray(y)
        if labels.shape != (len(texts),):
            raise ValueError(f"y has shape {labels.shape}, expected ({len(texts)},)")
        self.classes_ = np.unique(labels)
        if len(self.classes_) != 2:
            raise ValueError(f"need both classes in y, got {self.classes_.tolist()}")
        cue_features = CueFeatures(self.cues, self.question_cues)
        parts = [("words", TfidfVectorizer(ngram_range=(1, 2), min_df=self.min_df,
                                           max_features=self.max_word_features, sublinear_tf=True, dtype=np.float32))]
        if self.max_char_features:
            parts.append(("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=self.min_df,
                                                   max_features=self.max_char_features, sublinear_tf=True,
                                                   dtype=np.float32)))
        features = FeatureUnion([*parts, ("cues", cue_features)])
        solver = LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state)
        self.text_model_ = self._calibrated(make_pipeline(features, solver)).fit(texts, labels)
        _drop_pruned_terms(self.text_model_.calibrated_classifiers_[0].estimator)
        cue_solver = LogisticRegression(random_state=self.random_state)
        self.cue_model_ = self._calibrated(cue_solver).fit(cue_features.transform(texts), labels)
        return self

    def predict_proba(self, X):
        """Calibrated class probabilities of English sentences ``X``, shape (n, 2), columns ``classes_``."""
        check_is_fitted(self)
        return self.text_model_.predict_proba(_texts(X))

    def predict(self, X):
        """Class of each sentence: ``classes_[1]`` iff its probability is >= 0.5."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def cue_proba(self, X, language: str = "de"):
        """Probability (n,) that each sentence is speculative from its cue counts alone, in ``language``'s lexicon."""
        check_is_fitted(self)
        cues, question_cues = _lexicon(language, self)
        return self.cue_model_.predict_proba(CueFeatures(cues, question_cues).transform(_texts(X)))[:, 1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


def _drop_pruned_terms(pipeline) -> None:
    """Delete ``stop_words_`` (every pruned n-gram, megabytes) from the fitted vectorizers of ``pipeline``.

    scikit-learn documents the attribute as only for introspection and safe to delete before pickling.
    """
    union = pipeline.steps[0][1]
    for _, fitted in union.transformer_list:
        if isinstance(fitted, TfidfVectorizer) and hasattr(fitted, "stop_words_"):
            del fitted.stop_words_


def _texts(X) -> list[str]:
    """A 1-D sequence of texts as a list of str (NA -> "")."""
    if isinstance(X, str):
        raise ValueError("expected a sequence of texts, got a single string")
    values = pd.Series(list(X), dtype=object)
    return values.where(values.notna(), "").astype(str).tolist()


@lru_cache(maxsize=4)
def load_model(path: str | Path = MODEL_PATH) -> SpeculationClassifier:
    """The fitted :class:`SpeculationClassifier` saved at ``path`` (cached; reads a local file, downloads nothing)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/train_speculation.py` to build it")
    return joblib.load(path)


def _languages(language, index: pd.Index) -> np.ndarray:
    """Per-comment language codes: None -> all "en"; a str -> that for all; a Series -> aligned on ``index``."""
    if language is None:
        return np.full(len(index), "en", dtype=object)
    if isinstance(language, str):
        return np.full(len(index), language, dtype=object)
    return pd.Series(language).reindex(index).fillna("en").astype(str).to_numpy(dtype=object)


def score_speculation(texts: pd.Series, model: SpeculationClassifier | None = None, language=None) -> pd.DataFrame:
    """Speculation columns for comments ``texts`` (n,), same index, same order.

    Every sentence of every comment is scored in one batch; the comment's
    ``speculation_score`` is the maximum over its sentences (a comment is
    speculative when any sentence is, and the score does not grow with length as
    a noisy-or of per-sentence scores would), 0.0 for empty or missing text.

    Parameters
    ----------
    texts : pd.Series of str
        Comment texts (NA allowed).
    model : SpeculationClassifier, optional
        Defaults to :func:`load_model`.
    language : None, str or pd.Series of str
        Per-comment language code ("en", "de", ...; a Series aligned on ``texts``'s index).
        "de" comments are scored by the cue-only model on the German lexicon; all others by the
        English text model.

    Returns
    -------
    pd.DataFrame
        ``speculation_score`` (float in [0, 1]), ``is_speculative`` (score >= 0.5),
        ``speculation_cues`` (list of {"phrase", "start", "end"} character spans into the text),
        ``speculative_sentences`` (int64 >= 0: sentences scoring >= 0.5).
    """
    model = load_model() if model is None else model
    values = _texts(texts)
    languages = _languages(language, texts.index)
    spans = [split_sentences(text) for text in values]
    owner = np.repeat(np.arange(len(values)), [len(s) for s in spans])
    sentences = [values[i][start:end] for i, comment in enumerate(spans) for start, end in comment]
    german = languages[owner] == "de" if len(owner) else np.zeros(0, dtype=bool)
    sentence_scores = np.zeros(len(sentences))
    for mask, scorer in ((~german, lambda s: model.predict_proba(s)[:, 1]),
                         (german, lambda s: model.cue_proba(s, "de"))):
        if mask.any():
            sentence_scores[mask] = scorer([s for s, keep in zip(sentences, mask) if keep])
    scores = np.zeros(len(values))
    np.maximum.at(scores, owner, sentence_scores)
    counts = np.bincount(owner, weights=sentence_scores >= 0.5, minlength=len(values)).astype(np.int64)
    cues = [
        [{"phrase": p, "start": s, "end": e} for p, s, e in _cues_in(text, comment_spans, *_lexicon(lang, model))]
        for text, comment_spans, lang in zip(values, spans, languages)
    ]
    return pd.DataFrame({
        "speculation_score": scores,
        "is_speculative": scores >= 0.5,
        "speculation_cues": pd.Series(cues, dtype=object).to_numpy(),
        "speculative_sentences": counts,
    }, index=texts.index)
