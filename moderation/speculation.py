"""The sentence speculation classifier, and its scores aggregated per comment.

A comment is split into sentences (:mod:`moderation.sentences`); every sentence is scored by
:class:`SpeculationClassifier` (TF-IDF word n-grams plus cue-lexicon counts from :mod:`moderation.cues`,
logistic regression, Platt-calibrated) and the comment takes the score of its most speculative sentence.
Cues are hedging phrases ("perhaps", "I suspect", "there has to be more") and leading questions ("why is
...?", "could it be ...?"), returned with character spans into the comment so a moderator sees the evidence.

Speed: a batch of comments is joined into one string and handled as arrays (:class:`TextBatch`): character
classes give sentences and words, cue phrases are matched as word-id sequences and the TF-IDF features are
built from word ids with pyarrow lookups, never a Python loop per sentence or token. The results equal the
per-sentence regular expressions (:func:`moderation.cues.phrase_pattern`) and the fitted scikit-learn pipeline, except that
"İ" reads as "i" where scikit-learn's ``lower()`` makes it "i̇" (tests/test_speculation.py compares them).

The shipped model (``models/speculation.pkl.gz``) is built by
``scripts/train_speculation.py``; ``models/README.md`` names its data and licences.
"""

from __future__ import annotations

import gzip
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from moderation.cues import (
    COMMENT_CUES_EN,
    CUES_DE,
    DOXASTIC_DE,
    QUESTION_CUES_DE,
    QUESTION_CUES_EN,
    CueMatches,
    cue_lists,
)
from moderation.sentences import TextBatch, as_texts, batches
from moderation.text import SCORING_CHUNK_ROWS


MODEL_PATH = Path(__file__).parent / "models" / "speculation.pkl.gz"


# Same classifier trained on conjecture labels only (epistemic and investigation cues, not belief statements
# such as "I believe that would be right"); ranks the off-topic speculation queue (scripts/train_speculation.py).
CONJECTURE_MODEL_PATH = Path(__file__).parent / "models" / "conjecture.pkl.gz"


def _lexicon(language: str, model: SpeculationClassifier | None) -> tuple[tuple, tuple]:
    """(cues, question cues) for ``language``: German built in, English from ``model`` (default the shipped one)."""
    if language == "de":
        model = load_model() if model is None else model
        # a lexicon built without doxastic phrases (the conjecture model's) means the same for German
        opinions = () if "i think" in model.cues else DOXASTIC_DE
        return tuple(c for c in CUES_DE if c not in opinions), QUESTION_CUES_DE
    model = load_model() if model is None else model
    return tuple(model.cues), tuple(model.question_cues)


def find_cues(text: str, language: str = "en", model=None) -> list[tuple[str, int, int]]:
    """Hedging and speculation cues in ``text`` as ``(phrase, start, end)`` with ``text[start:end] == phrase``.

    Matching is case-insensitive on whole words. ``language`` "de" uses the German
    lexicon (``CUES_DE``); anything else the English lexicon of ``model``
    (default :func:`load_model`: corpus-annotated epistemic cues, MIT hedge lists
    and ``COMMENT_CUES_EN``, see ``models/README.md``).
    """
    batch = TextBatch([text])
    return cue_lists(batch, CueMatches(batch, *_lexicon(language, model)), as_dicts=False)[0]


class CueFeatures(TransformerMixin, BaseEstimator):
    """Sentences -> cue-lexicon features, shape (n_sentences, 3).

    Columns: log(1 + number of lexicon cues and leading-question cues), 1 if a leading-question cue matched,
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
        texts = as_texts(X)
        rows = [CueMatches(batch, self.cues, self.question_cues).features for *_, batch in batches(texts, split=False)]
        return np.concatenate(rows) if rows else np.zeros((0, 3))

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
    text_model_ : Pipeline (features, logistic regression) fitted on every training sentence
    text_calibrator_ : LogisticRegression on the pipeline's out-of-fold decision values (Platt scaling):
        ``text_calibrator_.predict_proba(text_model_.decision_function(X)[:, None])`` is the probability
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
        texts = as_texts(X)
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
        pipeline = make_pipeline(features, solver)
        # Platt scaling on out-of-fold decision values, then one pipeline refit on all sentences: what
        # CalibratedClassifierCV(method="sigmoid", ensemble=False) does, with both parts public attributes
        folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.random_state)
        decision = cross_val_predict(pipeline, texts, labels, cv=folds, method="decision_function")
        self.text_calibrator_ = LogisticRegression(C=1e6).fit(decision[:, None], labels)
        self.text_model_ = pipeline.fit(texts, labels)
        _drop_pruned_terms(self.text_model_)
        cue_solver = LogisticRegression(random_state=self.random_state)
        self.cue_model_ = self._calibrated(cue_solver).fit(cue_features.transform(texts), labels)
        return self

    def predict_proba(self, X):
        """Calibrated class probabilities of English sentences ``X``, shape (n, 2), columns ``classes_``."""
        check_is_fitted(self)
        texts = as_texts(X)
        proba = np.zeros(len(texts))
        for start, stop, batch in batches(texts, split=False):
            proba[start:stop] = self._text_proba(batch)
        return np.stack([1 - proba, proba], axis=1)

    def calibrated(self, decision: np.ndarray) -> np.ndarray:
        """Probability (n,) from the text pipeline's decision values (n,)."""
        return self.text_calibrator_.predict_proba(np.asarray(decision).reshape(-1, 1))[:, 1]

    def _text_proba(self, batch: TextBatch, cue_features: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability (n_sentences,) of each sentence of ``batch``, as
        ``calibrated(text_model_.decision_function(sentences))`` computes it.

        The fitted pipeline's steps are applied to the batch's word arrays (see :func:`_word_tfidf`);
        ``cue_features`` are those of ``self.cues`` when the caller has them already.
        """
        union, solver = self.text_model_[0], self.text_model_[-1]
        blocks = []
        for _, part in union.transformer_list:
            if isinstance(part, CueFeatures):
                fitted_lexicon = (tuple(part.cues), tuple(part.question_cues))
                if cue_features is None or fitted_lexicon != (tuple(self.cues), tuple(self.question_cues)):
                    cue_features = CueMatches(batch, *fitted_lexicon).features
                blocks.append(sp.csr_matrix(cue_features))
            else:
                blocks.append(_word_tfidf(part, batch))
        return self.calibrated(solver.decision_function(sp.hstack(blocks, format="csr")))

    def predict(self, X):
        """Class of each sentence: ``classes_[1]`` iff its probability is >= 0.5."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def cue_proba(self, X, language: str = "de"):
        """Probability (n,) that each sentence is speculative from its cue counts alone, in ``language``'s lexicon."""
        check_is_fitted(self)
        cues, question_cues = _lexicon(language, self)
        return self.cue_model_.predict_proba(CueFeatures(cues, question_cues).transform(as_texts(X)))[:, 1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


def _word_tfidf(vectorizer, batch: TextBatch):
    """``vectorizer.transform`` of the batch's sentences, from the batch's words when the settings allow.

    A default word analyzer (lower-case, tokens ``\\b\\w\\w+\\b``, 1- and 2-grams) sees the batch's words of two or
    more characters; pyarrow maps them to word ids and bigrams are looked up as id pairs (no Python loop).
    """
    params = vectorizer.get_params()
    default = (isinstance(vectorizer, TfidfVectorizer) and params["analyzer"] == "word" and params["lowercase"]
               and params["token_pattern"] == r"(?u)\b\w\w+\b" and params["input"] == "content"
               and all(params[k] is None for k in ("tokenizer", "preprocessor", "stop_words", "strip_accents"))
               and params["ngram_range"][0] == 1 and params["ngram_range"][1] in (1, 2))
    if not default:
        return vectorizer.transform(batch.sentences())
    long_enough = (batch.word_ends - batch.word_starts) >= 2
    rows = batch.word_sentence[long_enough]
    words, unigram_columns, bigram_codes, bigram_columns = _ngram_index(vectorizer)
    tokens = batch.words.filter(pa.array(long_enough))
    ids = pc.index_in(tokens, value_set=words).fill_null(-1).to_numpy().astype(np.int64)
    columns = unigram_columns[ids]  # ids == -1 picks the trailing -1
    row_blocks, column_blocks = [rows], [columns]
    if params["ngram_range"][1] == 2:
        pairs = np.flatnonzero((rows[1:] == rows[:-1]) & (ids[1:] >= 0) & (ids[:-1] >= 0))
        codes = pa.array(ids[pairs] * len(words) + ids[pairs + 1])
        row_blocks.append(rows[pairs])
        column_blocks.append(bigram_columns[pc.index_in(codes, value_set=bigram_codes).fill_null(-1).to_numpy()])
    counts = _count_matrix(row_blocks, column_blocks, len(batch.sentence_starts), len(vectorizer.vocabulary_),
                           vectorizer.dtype)
    if params["binary"]:
        counts.data[:] = 1
    # TfidfTransformer.transform's steps, in its order and dtype.
    if vectorizer.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1.0
    if vectorizer.use_idf:
        counts.data *= vectorizer.idf_[counts.indices]
    return normalize(counts, norm=vectorizer.norm, copy=False) if vectorizer.norm is not None else counts


def _count_matrix(row_blocks, column_blocks, n_rows: int, n_columns: int, dtype) -> sp.csr_matrix:
    """CSR counts of (row, column) pairs given as blocks each sorted by row; column -1 is skipped.

    Entries are placed row by row without a global sort (each block keeps its order within a row), then
    duplicates are summed and indices sorted, as CountVectorizer leaves them.
    """
    keep = [columns >= 0 for columns in column_blocks]
    row_blocks = [rows[k] for rows, k in zip(row_blocks, keep)]
    column_blocks = [columns[k] for columns, k in zip(column_blocks, keep)]
    per_block = [np.bincount(rows, minlength=n_rows) for rows in row_blocks]
    indptr = np.concatenate(([0], np.cumsum(np.sum(per_block, axis=0))))
    indices = np.empty(indptr[-1], dtype=np.int32)
    offset = indptr[:-1].copy()
    for rows, columns, counts in zip(row_blocks, column_blocks, per_block):
        block_starts = np.cumsum(counts) - counts  # where each row's entries begin inside this block
        indices[offset[rows] + np.arange(len(rows)) - block_starts[rows]] = columns
        offset += counts
    matrix = sp.csr_matrix((np.ones(len(indices), dtype=dtype), indices, indptr), shape=(n_rows, n_columns))
    matrix.sum_duplicates()
    return matrix


@lru_cache(maxsize=8)
def _ngram_index(vectorizer) -> tuple[pa.LargeStringArray, np.ndarray, pa.Int64Array, np.ndarray]:
    """The vectorizer's vocabulary as word ids: bigrams are looked up as pairs of ids, not as joined strings.

    Returns the words of all terms (pyarrow), each word's column as a unigram (-1 if none; one extra -1 at the
    end), the codes ``first id * n_words + second id`` of the bigram terms (pyarrow) and their columns (and a -1).
    """
    terms = list(vectorizer.vocabulary_)
    words = sorted({word for term in terms for word in term.split(" ")})
    index = {word: i for i, word in enumerate(words)}
    unigram_columns = np.full(len(words) + 1, -1, dtype=np.int64)
    codes, columns = [], []
    for term, column in vectorizer.vocabulary_.items():
        parts = term.split(" ")
        if len(parts) == 1:
            unigram_columns[index[term]] = column
        else:
            codes.append(index[parts[0]] * len(words) + index[parts[1]])
            columns.append(column)
    return (pa.array(words, type=pa.large_string()), unigram_columns, pa.array(codes, type=pa.int64()),
            np.append(np.asarray(columns, dtype=np.int64), -1))


def _drop_pruned_terms(pipeline) -> None:
    """Delete ``stop_words_`` (every pruned n-gram, megabytes) from the fitted vectorizers of ``pipeline``.

    scikit-learn documents the attribute as only for introspection and safe to delete before pickling.
    """
    union = pipeline.steps[0][1]
    for _, fitted in union.transformer_list:
        if isinstance(fitted, TfidfVectorizer) and hasattr(fitted, "stop_words_"):
            del fitted.stop_words_


def save_model(model: SpeculationClassifier, path: str | Path) -> None:
    """Write ``model`` for :func:`load_model`: a gzipped pickle, which the C unpickler reads in 0.02 s (joblib's
    Python unpickler took 0.12 s for each shipped model: together a twentieth of importing 10,000 comments)."""
    with gzip.open(path, "wb") as file:
        pickle.dump(model, file, protocol=5)  # fixed: any Python from 3.8 reads it


@lru_cache(maxsize=4)
def load_model(path: str | Path = MODEL_PATH) -> SpeculationClassifier:
    """The fitted :class:`SpeculationClassifier` saved at ``path`` by :func:`save_model` (cached; reads a local
    file, downloads nothing; like any pickle, only the project's own)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/train_speculation.py` to build it")
    with gzip.open(path, "rb") as file:
        return pickle.load(file)


def score_conjecture(texts: pd.Series, language=None) -> pd.Series:
    """Calibrated conjecture probability (float in [0, 1], same index as ``texts``; 0.5 = threshold).

    :func:`score_speculation` with the model at ``CONJECTURE_MODEL_PATH``: the maximum over a comment's
    sentences of the probability that the sentence holds an epistemic ("perhaps", "might", "I suspect") or
    investigation ("whether", "I wonder") cue; doxastic statements of opinion ("I think", "I believe")
    are not conjecture.
    """
    (scores, _), = _sentence_maxima(texts, [load_model(CONJECTURE_MODEL_PATH)], language, cues=None)
    return pd.Series(scores, index=texts.index, name="conjecture_score")


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
        ``speculative_sentences`` (int64 >= 0: sentences scoring >= 0.5), ``words`` (int64 >= 0: the text's
        ``\\w+`` runs, as ``re.findall`` counts them; the batch finds them anyway, and the comment model reads
        them).
    """
    model = load_model() if model is None else model
    cues = np.empty(len(texts), dtype=object)
    words = np.zeros(len(texts), dtype=np.int64)
    (scores, counts), = _sentence_maxima(texts, [model], language, cues, words)
    return _speculation_frame(scores, counts, cues, words, texts.index)


def score_speculation_and_conjecture(texts: pd.Series, language=None) -> pd.DataFrame:
    """:func:`score_speculation` of the shipped model plus ``conjecture_score`` (:func:`score_conjecture`).

    Same values as calling the two functions, with half the sentence splitting and word finding: both
    models score the sentences of one shared batch (the off-topic stage needs both).

    Parameters
    ----------
    texts : pd.Series of str
        Comment texts (n,), NA allowed.
    language : None, str or pd.Series of str
        As for :func:`score_speculation`.

    Returns
    -------
    pd.DataFrame
        :func:`score_speculation`'s columns and ``conjecture_score`` (float in [0, 1]), ``texts``'s index.
    """
    cues = np.empty(len(texts), dtype=object)
    words = np.zeros(len(texts), dtype=np.int64)
    (scores, counts), (conjecture, _) = _sentence_maxima(
        texts, [load_model(), load_model(CONJECTURE_MODEL_PATH)], language, cues, words)
    frame = _speculation_frame(scores, counts, cues, words, texts.index)
    frame["conjecture_score"] = conjecture
    return frame


def _speculation_frame(scores: np.ndarray, counts: np.ndarray, cues: np.ndarray, words: np.ndarray,
                       index: pd.Index) -> pd.DataFrame:
    """:func:`score_speculation`'s frame from per-comment scores, counts, cue lists and word counts."""
    return pd.DataFrame({
        "speculation_score": scores,
        "is_speculative": scores >= 0.5,
        "speculation_cues": cues,
        "speculative_sentences": counts,
        "words": words,
    }, index=index)


def _sentence_maxima(texts: pd.Series, models: list, language, cues: np.ndarray | None,
                     words: np.ndarray | None = None) -> list:
    """Per model, ``(score, count)``: each comment's maximum sentence probability (n,) and its number of
    sentences scoring >= 0.5 (int64, n); 0 for empty or missing text.

    Every batch of sentences is split once and scored by all ``models``. ``cues`` (object array (n,), or None
    to skip) receives each comment's cue dicts under ``models[0]``'s lexicon, ``words`` (int64 (n,), or None)
    its number of words (maximal runs of word characters).
    """
    every_german = _languages(language, texts.index) == "de"
    results = [(np.zeros(len(texts)), np.zeros(len(texts), dtype=np.int64)) for _ in models]
    # comments a slice at a time: a Python string per text of the whole corpus would take hundreds of MB, and a
    # sentence's score does not depend on the batch it is scored in
    for first in range(0, len(texts), SCORING_CHUNK_ROWS):
        values = as_texts(texts.iloc[first:first + SCORING_CHUNK_ROWS])
        german = every_german[first:first + SCORING_CHUNK_ROWS]
        for is_german in (False, True):
            members = np.flatnonzero(german == is_german)
            _score_batches([values[i] for i in members], first + members, is_german, models, results, cues, words)
    return results


def _score_batches(values: list[str], members: np.ndarray, is_german: bool, models: list, results: list,
                   cues: np.ndarray | None, words: np.ndarray | None) -> None:
    """:func:`_sentence_maxima` of the texts ``values`` (rows ``members``, all German or none), into
    ``results``, ``cues`` and ``words``."""
    lexicons = [_lexicon("de" if is_german else "en", model) for model in models]
    for start, stop, batch in batches(values):
        rows = members[start:stop]
        found = {}  # the cue matches of each distinct lexicon (German: one for all models)
        for model, lexicon, (scores, counts) in zip(models, lexicons, results):
            if lexicon not in found:
                found[lexicon] = CueMatches(batch, *lexicon)
            features = found[lexicon].features
            if not len(batch.sentence_starts):  # only empty texts: scikit-learn refuses zero rows
                sentence_scores = np.zeros(0)
            elif is_german:
                sentence_scores = model.cue_model_.predict_proba(features)[:, 1]
            else:
                sentence_scores = model._text_proba(batch, features)
            chunk_scores = np.zeros(len(rows))
            np.maximum.at(chunk_scores, batch.sentence_owner, sentence_scores)
            scores[rows] = chunk_scores
            counts[rows] = np.bincount(batch.sentence_owner, weights=sentence_scores >= 0.5,
                                       minlength=len(rows))
        if words is not None:
            owner = np.searchsorted(batch.text_starts, batch.word_starts, side="right") - 1
            words[rows] = np.bincount(owner, minlength=len(rows))
        if cues is not None:
            for row, text_cues in zip(rows.tolist(), cue_lists(batch, found[lexicons[0]], as_dicts=True)):
                cues[row] = text_cues
