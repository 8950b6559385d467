"""Text features shared by every text stage, corpus topics, and off-topic scoring.

:class:`TextFeatures` is fitted once per run on articles and comments together:
a sublinear TF-IDF with stop words removed per language (paywall-masked ``****``
runs never become tokens), the rows of that matrix for every comment and
article, and an NMF topic model whose topics are labelled by their top terms.
:func:`score_offtopic` turns these into similarities of each comment to its
article, its parent and the rest of its discussion, combines them with a
logistic regression learned on an injected benchmark (``scripts/train_offtopic.py``,
weights in ``models/offtopic_weights.json``) and joins the speculation scores
into the off-topic speculation queue.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from stop_words import get_stop_words

from moderation.schema import ARTICLE_KEY, COMMENT_KEY, Problem
from moderation.speculation import score_speculation_and_conjecture

WEIGHTS_PATH = Path(__file__).parent / "models" / "offtopic_weights.json"

# sklearn's English list (318 function words); the stop-words package's English
# list also holds content words ("world", "microsoft"), its German list does not.
STOP_WORDS = {"en": frozenset(ENGLISH_STOP_WORDS), "de": frozenset(get_stop_words("de"))}
# words only, starting with a letter: numbers and masked "****" runs are never tokens
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W_]+\b"
MASKED_RUN = r"\*+"
TOKEN = re.compile(TOKEN_PATTERN)
WORD_RUN = re.compile(r"\w+")
# between texts when they are tokenised in one pass: a word run that is never a term (digit first)
TEXT_BREAK = "0textbreak0"
# sparse lookups into matrices this small read a dense copy (16 MB of float64) instead of searching
DENSE_LOOKUP_CELLS = 2**21

COMPONENTS = [
    "sim_article", "sim_parent", "sim_discussion", "topic_article", "topic_discussion", "novelty",
    "sim_article_relative", "sim_article_lift", "log_tokens",
]


def _has_text(texts: pd.Series) -> pd.Series:
    """Whether each text holds anything but whitespace and paywall masks (NA: False)."""
    return texts.astype("str").fillna("").str.contains(r"[^\s*]")


def clean_text(texts: pd.Series) -> pd.Series:
    """Texts with paywall-masked ``*`` runs removed and NA as the empty string."""
    return texts.astype("str").fillna("").str.replace(MASKED_RUN, " ", regex=True)


def _language_from_counts(counts: sp.csr_matrix, terms: np.ndarray, default: str) -> np.ndarray:
    """Language per row: the one whose exclusive stop words occur most (``default`` on ties and no hits)."""
    languages = sorted(STOP_WORDS)
    hits = []
    for language in languages:
        others = frozenset().union(*(STOP_WORDS[o] for o in languages if o != language))
        exclusive = STOP_WORDS[language] - others
        indicator = np.isin(terms, list(exclusive)).astype(np.float64)
        hits.append(counts @ indicator)
    hits = np.column_stack(hits)
    best = hits.argmax(axis=1)
    tied = (hits == hits.max(axis=1, keepdims=True)).sum(axis=1) > 1
    return np.where(tied, default, np.asarray(languages)[best])


def detect_language(texts: pd.Series, default: str = "en") -> pd.Series:
    """Language code ("en", "de") of each text from its share of language-only stop words.

    A stop-word count rather than langdetect: deterministic, no model, and one
    tokenising pass instead of a per-text profile search.

    Parameters
    ----------
    texts : Series of str, length n (NA allowed)
    default : language returned when no stop word decides (ties, empty text)

    Returns
    -------
    Series of str, length n, same index as ``texts``.
    """
    vocabulary = sorted(set().union(*STOP_WORDS.values()))
    vectorizer = CountVectorizer(vocabulary=vocabulary, token_pattern=TOKEN_PATTERN)
    counts = vectorizer.transform(clean_text(texts))
    found = _language_from_counts(counts, np.asarray(vocabulary), default)
    return pd.Series(found, index=texts.index, dtype="str")


def _set_per_source(detected: np.ndarray, sources: pd.Series, source_languages: dict | None) -> np.ndarray:
    """Detected languages, replaced by the per-source setting where one is given."""
    if not source_languages:
        return detected
    fixed = sources.astype("str").map(source_languages).to_numpy(dtype=object)
    return np.where(pd.isna(fixed), detected, fixed).astype(str)


def _without_stop_words(counts: sp.csr_matrix, terms: np.ndarray, languages: np.ndarray) -> sp.csr_matrix:
    """Counts with each row's stop words of that row's language removed (German "die" is noise, English is not)."""
    counts = counts.tocsr().copy()
    per_row = np.diff(counts.indptr)
    for language, words in STOP_WORDS.items():
        stop = np.isin(terms, list(words))
        # the row test repeated per entry as booleans: comparing the languages per entry is slower
        counts.data[np.repeat(languages == language, per_row) & stop[counts.indices]] = 0
    counts.eliminate_zeros()
    return counts


def article_documents(articles: pd.DataFrame) -> pd.Series:
    """Title and text of each article as one document (text may be empty: then the title alone)."""
    return clean_text(articles["title"]) + "\n" + clean_text(articles["text"])


def _keys(frame: pd.DataFrame, columns: list[str]) -> pd.MultiIndex:
    """The rows' key (e.g. source and comment_id) as a MultiIndex of strings."""
    return pd.MultiIndex.from_arrays([frame[column].astype("str") for column in columns], names=columns)


def _positions(index: pd.MultiIndex, keys: pd.MultiIndex) -> np.ndarray:
    """Position in ``index`` of each of ``keys`` (first occurrence); -1 where absent or missing."""
    first = pd.Series(np.arange(len(index)), index=index)
    first = first[~first.index.duplicated()]
    return first.reindex(keys).fillna(-1).to_numpy(dtype=np.int64)


def _group_codes(keys: pd.MultiIndex) -> np.ndarray:
    """``pd.factorize(keys)[0]`` (codes in order of first appearance) from the level codes.

    Factorizing a MultiIndex builds a tuple per row; one int64 per row is several times faster.
    """
    combined = np.zeros(len(keys), dtype=np.int64)
    for codes, level in zip(keys.codes, keys.levels):
        combined = combined * (len(level) + 1) + (np.asarray(codes, dtype=np.int64) + 1)
    return pd.factorize(combined)[0]


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF-IDF rows, L2-normalised: (1 + ln tf) * idf / norm (as scikit-learn's ``sublinear_tf``)."""
    weights = counts.tocsr().astype(np.float64)
    weights.data = (1 + np.log(weights.data)) * idf[weights.indices]
    norms = np.sqrt(_row_sums(weights, weights.data**2))
    weights.data /= norms[np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))]
    return weights


def _entries_at(x: sp.csr_matrix, b: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """For each stored entry (i, j) of ``x``, the value ``b[rows[i], j]`` (0 where absent or ``rows[i] < 0``).

    Found by binary search over ``b``'s sorted (row, column) keys, in memory
    linear in nnz(x): ``b[rows]`` is never materialised (it would repeat an
    article's row once per comment). A ``b`` of at most ``DENSE_LOOKUP_CELLS``
    cells (the per-source sums) is read densely instead, without any search.
    """
    if not b.has_canonical_format:
        b = b.copy()
        b.sum_duplicates()
    if b.nnz == 0:
        return np.zeros(x.nnz)
    width = np.int64(b.shape[1])
    per_row = np.diff(x.indptr)
    if b.shape[0] * b.shape[1] <= DENSE_LOOKUP_CELLS:
        dense = np.vstack([b.toarray(), np.zeros((1, b.shape[1]))]).ravel()  # last row: rows[i] < 0
        start = np.where(rows >= 0, rows, b.shape[0]).astype(np.int64) * width
        return dense[np.repeat(start, per_row) + x.indices]
    b_keys = np.repeat(np.arange(b.shape[0], dtype=np.int64) * width, np.diff(b.indptr)) + b.indices
    # rows[i] < 0 gets negative queries, which match no key
    start = np.where(rows >= 0, rows.astype(np.int64) * width, -width - 1)
    query = np.repeat(start, per_row) + x.indices
    at = np.searchsorted(b_keys, query)
    np.minimum(at, len(b_keys) - 1, out=at)
    values = b.data[at]
    values[b_keys[at] != query] = 0.0
    return values


def _row_sums(x: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (one per stored entry of ``x``) over each row of ``x``."""
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    return np.bincount(rows, weights=values, minlength=x.shape[0]).astype(np.float64)


def _word_runs(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The lower-cased ``\\w+`` runs of all texts (object array) and the text number of each.

    One regex pass over the texts joined by a separator run is a quarter faster than
    one per text; lower-casing the joined string equals lower-casing each text, since
    the newlines around the separator are neither cased nor case-ignorable (Greek final
    sigma sees a text edge there). Chunks whose texts contain the separator take one pass per text.
    """
    joined = f"\n{TEXT_BREAK}\n".join(texts).lower()
    if joined.count(TEXT_BREAK) == max(len(texts) - 1, 0):
        runs = np.array(WORD_RUN.findall(joined), dtype=object)
        boundary = runs == TEXT_BREAK
        rows = np.cumsum(boundary)
        return runs[~boundary], rows[~boundary]
    per_text = [WORD_RUN.findall(text.lower()) for text in texts]
    lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(per_text))
    runs = np.fromiter(chain.from_iterable(per_text), dtype=object, count=lengths.sum())
    return runs, np.repeat(np.arange(len(texts)), lengths)


def _count_chunk(texts: pd.Series) -> tuple[sp.csr_matrix, np.ndarray]:
    """Term counts and sorted terms of one chunk (no terms at all gives a matrix without columns).

    The matrix equals ``CountVectorizer(token_pattern=TOKEN_PATTERN).fit_transform``, entry
    order within rows included (columns numbered by first appearance, then renumbered
    alphabetically), in about 60% of the time. ``TOKEN_PATTERN`` matches exactly the
    maximal ``\\w+`` runs that it matches in full, so texts are split into runs (a simpler,
    faster regex), the runs hashed, and the pattern tried once per distinct run.
    """
    flat, rows = _word_runs(texts.tolist())
    first_seen, distinct = pd.factorize(flat)
    is_term = np.fromiter((TOKEN.fullmatch(run) is not None for run in distinct), dtype=bool, count=len(distinct))
    if not is_term.any():
        return sp.csr_matrix((len(texts), 0)), np.array([], dtype=object)
    term_id = np.cumsum(is_term) - 1  # first-appearance numbering among terms only
    kept = is_term[first_seen]
    rows = rows[kept]
    terms = np.asarray(distinct, dtype=object)[is_term]
    counts = sp.coo_matrix(
        (np.ones(len(rows)), (rows, term_id[first_seen[kept]])), shape=(len(texts), len(terms))
    ).tocsr()
    order = np.argsort(terms)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    counts.indices = rank[counts.indices].astype(counts.indices.dtype)
    counts.has_sorted_indices = False
    return counts, terms[order]


def _count_terms(texts: pd.Series, n_jobs: int | None, chunk_size: int = 100_000) -> tuple[sp.csr_matrix, np.ndarray]:
    """Term counts (n, n_terms) of ``texts`` and the sorted terms, tokenised in chunks on ``n_jobs`` processes.

    Tokenising is the slow, pure-Python part of fitting; chunks are counted
    apart and their vocabularies merged, which gives the same matrix as one pass.
    """
    chunks = [texts.iloc[start : start + chunk_size] for start in range(0, max(len(texts), 1), chunk_size)]
    if len(chunks) == 1 or effective_n_jobs(n_jobs) == 1:
        parts = [_count_chunk(chunk) for chunk in chunks]
    else:
        parts = Parallel(n_jobs=n_jobs)(delayed(_count_chunk)(chunk) for chunk in chunks)
    terms = np.unique(np.concatenate([chunk_terms for _, chunk_terms in parts]))
    remapped = []
    for counts, chunk_terms in parts:
        columns = np.searchsorted(terms, chunk_terms)
        shape = (counts.shape[0], len(terms))
        remapped.append(sp.csr_matrix((counts.data, columns[counts.indices], counts.indptr), shape=shape))
    return sp.vstack(remapped, format="csr"), terms


class TextFeatures(TransformerMixin, BaseEstimator):
    """TF-IDF and NMF topics over articles and comments, fitted once per run.

    Parameters
    ----------
    max_features : int
        Vocabulary size (most frequent terms after stop words); bounds memory:
        the matrices hold at most this many columns.
    n_topics : int
        Number of NMF topics.
    n_topic_terms : int
        Top terms kept as each topic's label.
    max_topic_documents : int
        NMF is fitted on a random sample of at most this many documents (the
        topics of a million comments are stable on a sample) and then applied to all.
    max_topic_terms : int
        NMF sees only this many most frequent terms.
    source_languages : dict of str to str, optional
        Language per source ("one_million_posts": "de"); other sources are detected per text.
    default_language : str
        Language of texts whose stop words do not decide.
    n_jobs : int, optional
        Processes that tokenise (joblib convention: None = 1, -1 = all cores).
    random_state : int
        Seed of the document sample and of NMF.

    Attributes
    ----------
    vocabulary_ : str array (n_terms,), the terms in column order
    vectorizer_ : CountVectorizer with that vocabulary
    idf_ : float array (n_terms,), smooth inverse document frequency
    topic_model_ : NMF fitted on the sample
    topic_columns_ : int array, the vocabulary columns NMF sees
    topic_profiles_ : float array (n_topics, len(topic_columns_)), unit-length topic term profiles
    topic_terms_ : list of str, one label (top terms joined by ", ") per topic
    comment_keys_, article_keys_ : MultiIndex of the fitted rows (``COMMENT_KEY``, ``ARTICLE_KEY``)
    comment_matrix_ : csr (n_comments, n_terms); article_matrix_ : csr (n_articles, n_terms)
    comment_language_ : str array (n_comments,)
    comment_topics_, article_topics_ : float arrays (n, n_topics), :meth:`topic_weights` of each document
    """

    def __init__(
        self,
        max_features: int = 50_000,
        n_topics: int = 20,
        n_topic_terms: int = 5,
        max_topic_documents: int = 10_000,
        max_topic_terms: int = 5_000,
        source_languages: dict | None = None,
        default_language: str = "en",
        n_jobs: int | None = None,
        random_state: int = 0,
    ):
        self.max_features = max_features
        self.n_topics = n_topics
        self.n_topic_terms = n_topic_terms
        self.max_topic_documents = max_topic_documents
        self.max_topic_terms = max_topic_terms
        self.source_languages = source_languages
        self.default_language = default_language
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, comments: pd.DataFrame, articles: pd.DataFrame | None = None, y=None) -> TextFeatures:
        """Learn vocabulary, IDF and topics from ``comments`` and ``articles`` (canonical frames)."""
        articles = articles if articles is not None else pd.DataFrame(columns=[*ARTICLE_KEY, "title", "text"])
        texts = pd.concat([clean_text(comments["text"]), article_documents(articles)], ignore_index=True)
        sources = pd.concat([comments["source"], articles["source"]], ignore_index=True).astype("str")
        # one tokenisation pass serves language detection, stop words and the vocabulary
        counts, terms = _count_terms(texts, self.n_jobs)
        languages = _set_per_source(
            _language_from_counts(counts, terms, self.default_language), sources, self.source_languages
        )
        counts = _without_stop_words(counts, terms, languages)
        frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
        keep = np.sort(np.argsort(-frequency, kind="stable")[: self.max_features])
        keep = keep[frequency[keep] > 0]
        self.vocabulary_ = vocabulary = terms[keep]
        self.vectorizer_ = CountVectorizer(token_pattern=TOKEN_PATTERN, vocabulary=vocabulary, dtype=np.float64)
        counts = counts[:, keep].tocsr()
        # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1
        self.idf_ = np.log((1 + counts.shape[0]) / (1 + frequency[keep])) + 1
        matrix = _tfidf(counts, self.idf_)

        n_comments = len(comments)
        self.comment_keys_ = _keys(comments, COMMENT_KEY)
        self.article_keys_ = _keys(articles, ARTICLE_KEY)
        self.comment_matrix_ = matrix[:n_comments]
        self.article_matrix_ = matrix[n_comments:]
        self.comment_language_ = languages[:n_comments]

        # topics are learned on a sample and on the most frequent terms: labels are frequent terms anyway
        rng = np.random.RandomState(self.random_state)
        nonempty = np.flatnonzero(matrix.getnnz(axis=1) > 0)
        sample = np.sort(rng.choice(nonempty, size=min(self.max_topic_documents, len(nonempty)), replace=False))
        self.topic_columns_ = np.sort(np.argsort(-frequency[keep], kind="stable")[: self.max_topic_terms])
        n_topics = min(self.n_topics, len(sample), len(self.topic_columns_))
        self.topic_model_ = NMF(
            n_components=max(n_topics, 1), init="nndsvda", max_iter=200, random_state=self.random_state
        )
        profiles = np.zeros((0, len(self.topic_columns_)))  # no terms at all: no topics
        if n_topics:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings on tiny corpora
                profiles = self.topic_model_.fit(matrix[sample][:, self.topic_columns_]).components_
        self.topic_profiles_ = profiles / np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
        top = np.argsort(-profiles, axis=1)[:, : self.n_topic_terms]
        self.topic_terms_ = [", ".join(vocabulary[self.topic_columns_][row]) for row in top]
        topics = self.topic_weights(matrix)
        self.comment_topics_ = topics[:n_comments]
        self.article_topics_ = topics[n_comments:]
        return self

    def transform(self, texts: pd.Series, languages: np.ndarray | None = None) -> sp.csr_matrix:
        """TF-IDF rows (L2-normalised, shape (n, n_terms)) of new texts in the fitted vocabulary."""
        texts = clean_text(pd.Series(texts))
        if languages is None:
            languages = detect_language(texts, self.default_language).to_numpy(dtype=str)
        counts = _without_stop_words(self.vectorizer_.transform(texts), self.vocabulary_, np.asarray(languages))
        return _tfidf(counts, self.idf_)

    def topic_weights(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Closeness (n, n_topics), 0..1, of TF-IDF rows to each topic: cosine to the topic's term profile.

        A projection rather than NMF's own ``transform``: one sparse product, so
        a million comments take seconds, and the largest value is the nearest topic.
        """
        return np.asarray(matrix[:, self.topic_columns_] @ self.topic_profiles_.T)

    def comment_features(self, comments: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """TF-IDF rows, topic weights and languages of ``comments``, in their row order.

        Rows seen in :meth:`fit` are taken from the cache; others are computed.
        """
        at = self.comment_keys_.get_indexer(_keys(comments, COMMENT_KEY))
        if (at >= 0).all():
            return self.comment_matrix_[at], self.comment_topics_[at], self.comment_language_[at]
        detected = detect_language(comments["text"], self.default_language).to_numpy(dtype=str)
        languages = _set_per_source(detected, comments["source"], self.source_languages)
        matrix = self.transform(comments["text"], languages)
        return matrix, self.topic_weights(matrix), languages

    def article_features(self, articles: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray]:
        """TF-IDF rows and topic weights of ``articles`` (title + text), in their row order."""
        at = self.article_keys_.get_indexer(_keys(articles, ARTICLE_KEY))
        if (at >= 0).all():
            return self.article_matrix_[at], self.article_topics_[at]
        documents = article_documents(articles)
        detected = detect_language(documents, self.default_language).to_numpy(dtype=str)
        matrix = self.transform(documents, _set_per_source(detected, articles["source"], self.source_languages))
        return matrix, self.topic_weights(matrix)

    def topics_frame(self) -> pd.DataFrame:
        """One row per topic: topic_id, topic_terms, comments (number whose dominant topic it is), share (0..1)."""
        dominant = _dominant_topic(self.comment_topics_)
        counts = np.bincount(dominant[dominant >= 0], minlength=len(self.topic_terms_))
        return pd.DataFrame(
            {
                "topic_id": np.arange(len(self.topic_terms_)),
                "topic_terms": pd.array(self.topic_terms_, dtype="str"),
                "comments": counts,
                "share": counts / max(counts.sum(), 1),
            }
        )


def _dominant_topic(weights: np.ndarray) -> np.ndarray:
    """Index of each row's largest topic weight; -1 for rows with no weight (no known term)."""
    if weights.shape[1] == 0:
        return np.full(len(weights), -1)
    return np.where(weights.max(axis=1) > 0, weights.argmax(axis=1), -1)


def _share(weights: np.ndarray) -> np.ndarray:
    """Rows of topic weights scaled to sum to 1 (zero rows stay zero)."""
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def _share_of_topic(shares: np.ndarray, topic: np.ndarray) -> np.ndarray:
    """``shares[i, topic[i]]`` per row; 0 where ``topic[i]`` is -1 (no topic)."""
    picked = np.zeros(len(topic))
    has = topic >= 0
    picked[has] = shares[np.flatnonzero(has), topic[has]]
    return picked


@dataclass(frozen=True)
class OfftopicParams:
    """Settings of :func:`score_offtopic`.

    ``weights_path`` holds the logistic regression learned by
    ``scripts/train_offtopic.py`` (component names, standardisation,
    coefficients); its probability is ``offtopic_score``, and 0.5 is its
    decision threshold because it was trained with balanced class weights.
    ``features`` are :class:`TextFeatures` parameters, used when no fitted
    instance is passed in.
    """

    weights_path: Path = WEIGHTS_PATH
    offtopic_threshold: float = 0.5
    n_cues_in_reason: int = 3
    # tokenising is the slow part of fitting; past one 100k-text chunk it runs on every core
    features: dict = field(default_factory=lambda: {"n_jobs": -1})


WEIGHT_KEYS = ("components", "mean", "scale", "coef", "intercept")


def load_weights(path: Path = WEIGHTS_PATH) -> dict:
    """A combiner (the shipped one by default): dict with components, mean, scale, coef, intercept.

    Raises ValueError naming the file when it is not such a combiner (e.g. a learned file edited by hand).
    """
    path = Path(path)
    try:
        weights = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a combiner weights file (JSON error: {error})") from None
    missing = [key for key in WEIGHT_KEYS if key not in weights] if isinstance(weights, dict) else WEIGHT_KEYS
    if missing:
        raise ValueError(f"{path}: not a combiner weights file (missing {', '.join(missing)})")
    unknown = sorted(set(weights["components"]) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"{path}: unknown components {unknown}; known: {', '.join(COMPONENTS)}")
    if not len(weights["components"]) == len(weights["mean"]) == len(weights["scale"]) == len(weights["coef"]):
        raise ValueError(f"{path}: components, mean, scale and coef differ in length")
    return weights


def offtopic_components(comments: pd.DataFrame, articles: pd.DataFrame, features: TextFeatures) -> pd.DataFrame:
    """The off-topic evidence of each comment, one column per name in ``COMPONENTS``.

    - ``sim_article``: cosine of the comment's TF-IDF and its article's (title + text), 0..1
    - ``sim_parent``: cosine to the parent comment; to the article for top-level comments
    - ``sim_discussion``: cosine to the centroid of the other comments on the same article
    - ``topic_article``: share (0..1) of the comment's dominant topic in the article's topic mix
    - ``topic_discussion``: the same share in the mean mix of the other comments on the article
    - ``novelty``: share (0..1) of the comment's squared TF-IDF weight on terms that neither its
      article nor any other comment on it uses (1 for a comment without known terms)
    - ``sim_article_relative``: ``sim_article`` minus its median over the article's comments, -1..1
    - ``sim_article_lift``: ``sim_article`` minus the comment's mean cosine to the other articles of
      its source (similarity beyond what a generic comment gets anywhere), -1..1
    - ``log_tokens``: log(1 + number of vocabulary terms in the comment)

    Returns a frame with ``comments``' index, these columns and ``language`` and
    ``topic_id`` (nearest topic, -1 without known terms); ``comments`` is not modified.
    """
    n = len(comments)
    matrix, topics, languages = features.comment_features(comments)
    article_matrix, article_topics = features.article_features(articles)
    comment_articles = _keys(comments, ARTICLE_KEY)
    article_at = _positions(_keys(articles, ARTICLE_KEY), comment_articles)
    in_article = _entries_at(matrix, article_matrix, article_at)
    sim_article = _row_sums(matrix, matrix.data * in_article)

    # parent: a comment on the same article; otherwise the comment answers the article
    parent_at = _positions(_keys(comments, COMMENT_KEY), _keys(comments, ["source", "parent_id"]))
    group = _group_codes(comment_articles)
    same_article = (parent_at >= 0) & (group[np.maximum(parent_at, 0)] == group)
    parent_at = np.where(same_article, parent_at, -1)
    parent_rows = matrix[np.maximum(parent_at, 0)] if n else matrix
    sim_parent = np.where(parent_at >= 0, np.asarray(matrix.multiply(parent_rows).sum(axis=1)).ravel(), sim_article)

    # leave-one-out centroid of the discussion: x.(S - x) / |S - x| with S the article's row sum
    n_groups = group.max() + 1 if n else 0
    indicator = sp.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(n_groups, n))
    sums = (indicator @ matrix).tocsr()
    in_sum = _entries_at(matrix, sums, group)
    x_dot_sum = _row_sums(matrix, matrix.data * in_sum)
    x_norm2 = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
    sum_norm2 = np.asarray(sums.multiply(sums).sum(axis=1)).ravel()[group]
    rest_norm = np.sqrt(np.maximum(sum_norm2 - 2 * x_dot_sum + x_norm2, 0))
    denominator = np.sqrt(x_norm2) * rest_norm
    sim_discussion = np.divide(x_dot_sum - x_norm2, denominator, out=np.zeros(n), where=denominator > 1e-12)

    # terms the comment brings that neither its article nor any other comment there uses
    seen = (in_article > 0) | (in_sum - matrix.data > 1e-12)
    novel = _row_sums(matrix, np.where(seen, 0.0, matrix.data**2))
    novelty = np.divide(novel, x_norm2, out=np.ones(n), where=x_norm2 > 0)

    dominant = _dominant_topic(topics)
    article_share = np.zeros((n, topics.shape[1]))
    known = article_at >= 0
    article_share[known] = _share(article_topics[article_at[known]])
    topic_article = _share_of_topic(article_share, dominant)
    shares = _share(topics)
    share_sums = np.zeros((n_groups, topics.shape[1]))
    np.add.at(share_sums, group, shares)
    topic_discussion = _share_of_topic(_share(share_sums[group] - shares), dominant)

    # lift over chance: the mean cosine to the other articles of the same source
    source = pd.factorize(articles["source"].astype("str"))[0] if len(articles) else np.zeros(0, np.int64)
    n_sources = source.max() + 1 if len(source) else 0
    source_sums = sp.csr_matrix((np.ones(len(source)), (source, np.arange(len(source)))), shape=(n_sources, len(source)))
    source_sums = (source_sums @ article_matrix).tocsr()
    source_count = np.bincount(source, minlength=n_sources)
    comment_source = np.where(article_at >= 0, source[np.maximum(article_at, 0)] if len(source) else -1, -1)
    to_source = _row_sums(matrix, matrix.data * _entries_at(matrix, source_sums, comment_source))
    others = np.where(comment_source >= 0, source_count[np.maximum(comment_source, 0)] - 1, 0) if n_sources else np.zeros(n)
    chance = np.divide(to_source - sim_article, others, out=np.zeros(n), where=others > 0)
    sim_article_lift = sim_article - chance

    # relative to the discussion: a masked or title-only article makes every similarity small
    sim_article_relative = sim_article - pd.Series(sim_article).groupby(group).transform("median").to_numpy()
    log_tokens = np.log1p(matrix.getnnz(axis=1))
    return pd.DataFrame(
        {
            "sim_article": np.clip(sim_article, 0, 1),
            "sim_parent": np.clip(sim_parent, 0, 1),
            "sim_discussion": np.clip(sim_discussion, 0, 1),
            "topic_article": topic_article,
            "topic_discussion": topic_discussion,
            "novelty": np.clip(novelty, 0, 1),
            "sim_article_relative": sim_article_relative,
            "sim_article_lift": sim_article_lift,
            "log_tokens": log_tokens,
            "language": pd.array(languages, dtype="str"),
            "topic_id": dominant,
        },
        index=comments.index,
    )


def combine(components: pd.DataFrame, weights: dict) -> np.ndarray:
    """Logistic regression probability (0..1) from standardised components."""
    names = weights["components"]
    z = (components[names].to_numpy(dtype=np.float64) - np.asarray(weights["mean"])) / np.asarray(weights["scale"])
    logit = z @ np.asarray(weights["coef"]) + weights["intercept"]
    return 1.0 / (1.0 + np.exp(-logit))


def _cue_texts(cues, limit: int) -> str:
    """Quoted cue phrases ("'Perhaps', 'I suspect'") from spans {"phrase", "start", "end"}."""
    if not isinstance(cues, (list, tuple, np.ndarray)):
        return ""
    return ", ".join(f"'{cue['phrase']}'" for cue in list(cues)[:limit])


def score_offtopic(
    comments: pd.DataFrame,
    articles: pd.DataFrame,
    features: TextFeatures | None = None,
    speculation: pd.DataFrame | None = None,
    params: OfftopicParams = OfftopicParams(),
) -> pd.DataFrame:
    """Score how far each comment drifts from its discussion, and join speculation into the queue.

    Parameters
    ----------
    comments : canonical comments frame (n rows); not modified
    articles : canonical articles frame; articles with empty text fall back to title + discussion
    features : fitted :class:`TextFeatures`; fitted here on ``comments`` and ``articles`` when None
    speculation : frame with ``comments``' index and columns speculation_score, is_speculative,
        speculation_cues, conjecture_score; computed with
        :func:`moderation.speculation.score_speculation_and_conjecture` when None
    params : :class:`OfftopicParams`

    Returns
    -------
    DataFrame
        A copy of ``comments`` (same index and order) with the components of
        :func:`offtopic_components`, ``language``, ``offtopic_score`` (0..1),
        ``is_offtopic``, ``topic_id`` (Int64, NA without known terms); ``offtopic_score`` is NaN and
        ``is_offtopic`` False for comments without text,
        ``topic_terms``, ``speculation_score`` (0..1), ``is_speculative``,
        ``speculation_cues``, ``conjecture_score`` (0..1), ``offtopic_speculation_score`` (0..1, the
        product of offtopic_score and conjecture_score: off topic and conjecturing), ``is_offtopic_speculation``
        (is_offtopic and conjecture_score >= 0.5)
        and ``offtopic_reason`` (one sentence of evidence).
    """
    if features is None:
        features = TextFeatures(**params.features).fit(comments, articles)
    components = offtopic_components(comments, articles, features)
    out = comments.copy()
    for name in [*COMPONENTS, "language"]:
        out[name] = components[name].set_axis(out.index)
    # a comment without text (removed, or only masked) has nothing to judge: no score rather than a guess
    has_text = _has_text(comments["text"]).to_numpy()
    out["offtopic_score"] = np.where(has_text, combine(components, load_weights(params.weights_path)), np.nan)
    out["is_offtopic"] = out["offtopic_score"] >= params.offtopic_threshold
    dominant = components["topic_id"].to_numpy()
    out["topic_id"] = pd.array(np.where(dominant >= 0, dominant, None), dtype="Int64")
    terms = np.asarray([*features.topic_terms_, None], dtype=object)[dominant]
    out["topic_terms"] = pd.array(terms, dtype="str")

    if speculation is None:
        speculation = score_speculation_and_conjecture(comments["text"], language=out["language"])
    for name in speculation.columns:
        out[name] = speculation[name].to_numpy()
    # The queue wants conjecture about hidden causes, not any hedge: "I believe that would be right" is
    # speculative by the Szeged labels (doxastic cue) but an opinion, not drift into speculation.
    out["offtopic_speculation_score"] = out["offtopic_score"] * out["conjecture_score"]
    out["is_offtopic_speculation"] = out["is_offtopic"] & (out["conjecture_score"] >= 0.5)
    out["offtopic_reason"] = _reasons(out, params)
    return out


def _reasons(scored: pd.DataFrame, params: OfftopicParams) -> pd.Series:
    """One sentence of evidence per comment, e.g. "similarity to article 0.04 (discussion median 0.31), ...;
    conjecture 0.95, cues: 'Perhaps', 'has to be more'; nearest topic: hack, chip, backdoor".

    The conjecture score sits beside the cues because the queue ranks by it: "I believe" is a speculation
    cue, but an opinion, and its low conjecture score says why such a comment ranks low.
    """
    median = scored.groupby(ARTICLE_KEY, sort=False)["sim_article"].transform("median")
    # one f-string per row: several times faster than a Series map and concatenation per clause
    has_topic = scored["topic_terms"].notna().to_numpy()
    rows = zip(
        scored["sim_article"].tolist(), median.tolist(), scored["sim_parent"].tolist(),
        scored["sim_discussion"].tolist(), scored["conjecture_score"].tolist(), scored["speculation_cues"].tolist(),
        scored["topic_terms"].tolist(), has_topic.tolist(), scored["offtopic_score"].isna().tolist(),
    )
    reasons = []
    for article, article_median, parent, discussion, conjecture, cues, topic, known, no_text in rows:
        if no_text:
            reasons.append("no text to compare")
            continue
        reason = (
            f"similarity to article {article:.2f} (discussion median {article_median:.2f}), "
            f"to parent {parent:.2f}, to the rest of the discussion {discussion:.2f}; conjecture {conjecture:.2f}"
        )
        # most comments have no cue: an empty list skips the call
        cue_text = "" if isinstance(cues, list) and not cues else _cue_texts(cues, params.n_cues_in_reason)
        if cue_text:
            reason += ", cues: " + cue_text
        if known:
            reason += "; nearest topic: " + topic
        reasons.append(reason)
    return pd.Series(reasons, index=scored.index, dtype="str")


def offtopic_combiner() -> Pipeline:
    """Standardised logistic regression; balanced class weights make 0.5 its decision threshold."""
    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))


def fit_combiner(components: pd.DataFrame, labels: np.ndarray, columns: list[str] = COMPONENTS, **provenance) -> dict:
    """Weights (the format of :func:`load_weights`) of :func:`offtopic_combiner` fitted on ``components[columns]``.

    ``labels`` are 0/1 per row (1 = off topic); ``provenance`` (what it was trained on) is stored alongside.
    """
    model = offtopic_combiner().fit(components[columns], np.asarray(labels, dtype=int))
    scaler, regression = model[0], model[1]
    return {
        "components": list(columns),
        "mean": scaler.mean_.round(6).tolist(),
        "scale": scaler.scale_.round(6).tolist(),
        "coef": regression.coef_[0].round(6).tolist(),
        "intercept": round(float(regression.intercept_[0]), 6),
        "rows": len(labels),
        "positives": int(np.sum(labels)),
        **provenance,
    }


def cross_validated_scores(
    components: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, columns: list[str] = COMPONENTS,
    n_splits: int = 5, random_state: int = 0,
) -> np.ndarray:
    """Out-of-fold off-topic probabilities (n,): each row scored by a combiner that saw no comment of its article.

    Folds keep the class balance (``StratifiedGroupKFold``); comments of one article (``groups``) never
    sit on both sides, so similar comments of one discussion cannot leak the answer.
    """
    labels = np.asarray(labels, dtype=int)
    scores = np.zeros(len(labels))
    folds = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(components, labels, groups):
        model = offtopic_combiner().fit(components.iloc[train][columns], labels[train])
        scores[test] = model.predict_proba(components.iloc[test][columns])[:, 1]
    return scores


def offtopic_labels(comments: pd.DataFrame, column: str) -> tuple[pd.Series, list[Problem]]:
    """Moderators' off-topic labels from ``comments[column]``: 1.0, 0.0, or NaN where not labelled.

    Accepted: 1/0 (also "1.0"), true/false, yes/no (any case). Any other value is a problem naming the
    comment, and that comment counts as not labelled; so does a label on a comment without text (a removed
    one: nothing to learn from).
    """
    if column not in comments:
        extra = [c for c in comments.columns if c.startswith("label")] or list(comments.columns)
        raise ValueError(f"no label column {column!r} in the comments; columns: {', '.join(map(str, extra))}")
    words = {"1": 1.0, "1.0": 1.0, "true": 1.0, "yes": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0, "no": 0.0}
    raw = comments[column]
    given = raw.notna() & raw.astype("str").str.strip().ne("")
    labels = raw.astype("str").str.strip().str.lower().map(words).astype("float64").where(given)
    bad = given & labels.isna()
    textless = labels.notna() & ~_has_text(comments["text"])
    problems = []
    for rows, why in ((bad, "is not 0/1, true/false or yes/no"), (textless, "is on a comment without text")):
        keys = zip(comments["source"][rows], comments["comment_id"][rows], raw[rows])
        problems += [Problem(f"label column {column}", f"{source}/{comment_id}", f"label {value!r} {why}",
                             "not used for learning") for source, comment_id, value in keys]
    return labels.where(~textless), problems


def learn_combiner(
    comments: pd.DataFrame, articles: pd.DataFrame, labels: pd.Series, features: TextFeatures | None = None,
    params: OfftopicParams = OfftopicParams(), n_splits: int = 5, **provenance,
) -> tuple[dict, pd.DataFrame]:
    """Learn the off-topic combiner from moderators' labels, and measure it on articles it did not see.

    Parameters
    ----------
    comments, articles : canonical frames; every comment is context (its discussion), labelled or not
    labels : Series aligned with ``comments``: 1 off topic, 0 not, NaN not labelled (:func:`offtopic_labels`)
    features : fitted :class:`TextFeatures`; fitted here when None
    params : :class:`OfftopicParams`; its ``weights_path`` is the combiner compared against
    n_splits : folds of the grouped cross-validation

    Returns
    -------
    weights : dict for :func:`load_weights` / ``OfftopicParams.weights_path``, fitted on every labelled comment
    evaluation : one row per scorer ("learned (grouped k-fold CV)", "current combiner", "baseline 1 - cosine to
        article") with n, positives, balance, auc, ap on the labelled comments; the learned row is out of fold.
    """
    labelled = labels.notna().to_numpy()
    y = labels.to_numpy(dtype=float)[labelled].astype(int)
    groups = _group_codes(_keys(comments, ARTICLE_KEY))[labelled]
    n_articles = {cls: len(set(groups[y == cls])) for cls in (0, 1)}
    if min(n_articles.values()) < n_splits:
        raise ValueError(
            f"learning needs labelled comments of each class on at least {n_splits} articles; "
            f"got off-topic on {n_articles[1]}, on-topic on {n_articles[0]} ({int(labelled.sum())} labelled comments)"
        )
    if features is None:
        features = TextFeatures(**params.features).fit(comments, articles)
    components = offtopic_components(comments, articles, features)[labelled].reset_index(drop=True)
    scores = {
        f"learned (grouped {n_splits}-fold CV)": cross_validated_scores(components, y, groups, n_splits=n_splits),
        "current combiner": combine(components, load_weights(params.weights_path)),
        "baseline 1 - cosine to article": 1.0 - components["sim_article"].to_numpy(),
    }
    evaluation = pd.DataFrame([
        {"scorer": name, "n": len(y), "positives": int(y.sum()), "balance": round(float(y.mean()), 3),
         "auc": roc_auc_score(y, score), "ap": average_precision_score(y, score)}
        for name, score in scores.items()
    ])
    weights = fit_combiner(components, y, cv_auc=round(float(evaluation["auc"].iat[0]), 4), **provenance)
    return weights, evaluation
