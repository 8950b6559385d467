"""Text features shared by every text stage, and corpus topics.

:class:`TextFeatures` is fitted once per run on articles and comments together: a sublinear TF-IDF with
stop words removed per language (:mod:`moderation.text`), the rows of that matrix for every comment and
article, an NMF topic model whose topics are labelled by their top terms, and a latent semantic space
(TruncatedSVD of the TF-IDF) in which texts that share no word can still be close.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import NMF, TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer

from moderation.schema import ARTICLE_KEY, COMMENT_KEY
from moderation.text import (
    TOKEN_PATTERN,
    article_documents,
    clean_text,
    count_terms,
    detect_language,
    language_from_counts,
    row_keys,
    set_per_source,
    tfidf,
    without_stop_words,
)


class TextFeatures:
    """TF-IDF, NMF topics and a latent semantic space over articles and comments, fitted once per run.

    A plain class, not a scikit-learn estimator: it is fitted on two frames (comments and articles, keyed
    rows it caches for every text stage), while :meth:`transform` takes texts, so it cannot meet the
    estimator contract (the same X for ``fit`` and ``transform``) that ``parametrize_with_checks`` tests.

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
    n_semantic : int
        Dimensions of the latent semantic space (TruncatedSVD of the TF-IDF, fitted on the same sample as
        the topics), in which comments and articles that share no word can still be close.
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
    semantic_model_ : TruncatedSVD fitted on the sample (None when the corpus is too small)
    comment_semantic_, article_semantic_ : float32 arrays (n, n_semantic), unit-length :meth:`semantic` rows
    """

    def __init__(
        self,
        max_features: int = 50_000,
        n_topics: int = 20,
        n_topic_terms: int = 5,
        max_topic_documents: int = 10_000,
        max_topic_terms: int = 5_000,
        n_semantic: int = 50,
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
        self.n_semantic = n_semantic
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
        counts, terms = count_terms(texts, self.n_jobs)
        languages = set_per_source(
            language_from_counts(counts, terms, self.default_language), sources, self.source_languages
        )
        counts = without_stop_words(counts, terms, languages)
        frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
        keep = np.sort(np.argsort(-frequency, kind="stable")[: self.max_features])
        keep = keep[frequency[keep] > 0]
        self.vocabulary_ = vocabulary = terms[keep]
        self.vectorizer_ = CountVectorizer(token_pattern=TOKEN_PATTERN, vocabulary=vocabulary, dtype=np.float64)
        counts = counts[:, keep].tocsr()
        # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1
        self.idf_ = np.log((1 + counts.shape[0]) / (1 + frequency[keep])) + 1
        matrix = tfidf(counts, self.idf_)

        n_comments = len(comments)
        self.comment_keys_ = row_keys(comments, COMMENT_KEY)
        self.article_keys_ = row_keys(articles, ARTICLE_KEY)
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
        n_semantic = min(self.n_semantic, len(sample) - 1, matrix.shape[1] - 1)
        self.semantic_model_ = None
        if n_semantic >= 2:
            self.semantic_model_ = TruncatedSVD(n_semantic, n_iter=4, random_state=self.random_state)
            self.semantic_model_.fit(matrix[sample])
        semantic = self.semantic(matrix)
        self.comment_semantic_ = semantic[:n_comments]
        self.article_semantic_ = semantic[n_comments:]
        return self

    def without_rows(self) -> TextFeatures:
        """A copy holding only what was learned (vocabulary, IDF, topics, semantic space), not the fitted rows.

        What a results folder saves for later imports (:mod:`moderation.fitted`): the cached rows of every
        comment would make it as large as the corpus, and :meth:`comment_features` computes rows it has not
        cached with the same vocabulary and weights.
        """
        learned = copy.copy(self)
        learned.comment_keys_ = row_keys(pd.DataFrame(columns=COMMENT_KEY), COMMENT_KEY)
        learned.article_keys_ = row_keys(pd.DataFrame(columns=ARTICLE_KEY), ARTICLE_KEY)
        n_terms = len(self.vocabulary_)
        learned.comment_matrix_ = learned.article_matrix_ = sp.csr_matrix((0, n_terms))
        learned.comment_language_ = np.zeros(0, dtype=str)
        learned.comment_topics_ = learned.article_topics_ = np.zeros((0, len(self.topic_terms_)))
        learned.comment_semantic_ = learned.article_semantic_ = self.semantic(sp.csr_matrix((0, n_terms)))
        return learned

    def transform(self, texts: pd.Series, languages: np.ndarray | None = None) -> sp.csr_matrix:
        """TF-IDF rows (L2-normalised, shape (n, n_terms)) of new texts in the fitted vocabulary."""
        texts = clean_text(pd.Series(texts))
        if languages is None:
            languages = detect_language(texts, self.default_language).to_numpy(dtype=str)
        counts = without_stop_words(self.vectorizer_.transform(texts), self.vocabulary_, np.asarray(languages))
        return tfidf(counts, self.idf_)

    def topic_weights(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Closeness (n, n_topics), 0..1, of TF-IDF rows to each topic: cosine to the topic's term profile.

        A projection rather than NMF's own ``transform``: one sparse product, so
        a million comments take seconds, and the largest value is the nearest topic.
        """
        return np.asarray(matrix[:, self.topic_columns_] @ self.topic_profiles_.T)

    def semantic(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Unit-length latent semantic rows (float32, (n, n_semantic)) of TF-IDF rows; zero rows stay zero."""
        if self.semantic_model_ is None:
            return np.zeros((matrix.shape[0], 0), dtype=np.float32)
        reduced = np.asarray(matrix @ self.semantic_model_.components_.T.astype(np.float32), dtype=np.float32)
        norms = np.linalg.norm(reduced, axis=1, keepdims=True)
        return np.divide(reduced, norms, out=np.zeros_like(reduced), where=norms > 1e-6)

    def comment_features(self, comments: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """TF-IDF rows, topic weights, languages and semantic rows of ``comments``, in their row order.

        Rows seen in :meth:`fit` are taken from the cache; others are computed.
        """
        at = self.comment_keys_.get_indexer(row_keys(comments, COMMENT_KEY))
        if (at >= 0).all():
            return self.comment_matrix_[at], self.comment_topics_[at], self.comment_language_[at], \
                self.comment_semantic_[at]
        detected = detect_language(comments["text"], self.default_language).to_numpy(dtype=str)
        languages = set_per_source(detected, comments["source"], self.source_languages)
        matrix = self.transform(comments["text"], languages)
        return matrix, self.topic_weights(matrix), languages, self.semantic(matrix)

    def article_features(self, articles: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """TF-IDF rows, topic weights and semantic rows of ``articles`` (title + text), in their row order."""
        at = self.article_keys_.get_indexer(row_keys(articles, ARTICLE_KEY))
        if (at >= 0).all():
            return self.article_matrix_[at], self.article_topics_[at], self.article_semantic_[at]
        documents = article_documents(articles)
        detected = detect_language(documents, self.default_language).to_numpy(dtype=str)
        matrix = self.transform(documents, set_per_source(detected, articles["source"], self.source_languages))
        return matrix, self.topic_weights(matrix), self.semantic(matrix)

    def topics_frame(self, topic_ids: pd.Series | None = None) -> pd.DataFrame:
        """One row per topic: topic_id, topic_terms, comments (number whose dominant topic it is), share (0..1).

        ``topic_ids`` (the scored comments' ``topic_id``, NA without known terms) counts those comments instead
        of the fitted ones: an incremental run counts every comment of the results, not only those it scored.
        """
        dominant = dominant_topic(self.comment_topics_) if topic_ids is None else \
            pd.Series(topic_ids).astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        counts = np.bincount(dominant[dominant >= 0], minlength=len(self.topic_terms_))
        return pd.DataFrame(
            {
                "topic_id": np.arange(len(self.topic_terms_)),
                "topic_terms": pd.array(self.topic_terms_, dtype="str"),
                "comments": counts,
                "share": counts / max(counts.sum(), 1),
            }
        )


def dominant_topic(weights: np.ndarray) -> np.ndarray:
    """Index of each row's largest topic weight; -1 for rows with no weight (no known term)."""
    if weights.shape[1] == 0:
        return np.full(len(weights), -1)
    return np.where(weights.max(axis=1) > 0, weights.argmax(axis=1), -1)
