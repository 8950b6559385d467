"""Text features shared by every text stage, and corpus topics, learned per source.

:class:`TextFeatures` is fitted once per run on articles and comments together, each source on its own (one
source is one community: its words, its topics): a sublinear TF-IDF with stop words removed per language
(:mod:`moderation.text`), the rows of that matrix for every comment and article, an NMF topic model whose
topics are labelled by their top terms, and a latent semantic space (TruncatedSVD of the TF-IDF) in which
texts that share no word can still be close.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import NMF, TruncatedSVD

from moderation.schema import ARTICLE_KEY, COMMENT_KEY
from moderation.text import (
    SCORING_CHUNK_ROWS,
    article_documents,
    clean_text,
    count_terms,
    language_from_counts,
    row_keys,
    set_per_source,
    tfidf,
    without_stop_words,
)


class SourceText:
    """What :class:`TextFeatures` learned from one source's texts: vocabulary, IDF, topics, semantic space.

    Its matrices are in the source's own columns (``vocabulary``); :class:`TextFeatures` places them at
    ``column_offset`` of the shared matrix and numbers its topics from ``topic_offset``.
    """

    def __init__(self, source: str, column_offset: int, topic_offset: int):
        self.source = source
        self.column_offset = column_offset
        self.topic_offset = topic_offset

    def fit(self, counts: sp.csr_matrix, terms: np.ndarray, features: TextFeatures) -> sp.csr_matrix:
        """Learn from the source's term counts (stop words removed); returns its TF-IDF rows (own columns)."""
        # documents per term: counts hold no zeros and no repeated (row, term) entries, so each stored entry is one
        # document of its term (a comparison and sum over the matrix would copy it first)
        frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        keep = np.sort(np.argsort(-frequency, kind="stable")[: features.max_features])
        keep = keep[frequency[keep] > 0]
        self.vocabulary = vocabulary = terms[keep]
        counts = counts[:, keep].tocsr()
        # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1
        self.idf = np.log((1 + counts.shape[0]) / (1 + frequency[keep])) + 1
        matrix = tfidf(counts, self.idf)
        del counts  # freed before the topic and semantic fits

        # topics are learned on a sample and on the most frequent terms: labels are frequent terms anyway
        rng = np.random.RandomState(features.random_state)
        nonempty = np.flatnonzero(matrix.getnnz(axis=1) > 0)
        sample = np.sort(rng.choice(nonempty, size=min(features.max_topic_documents, len(nonempty)), replace=False))
        self.topic_columns = np.sort(np.argsort(-frequency[keep], kind="stable")[: features.max_topic_terms])
        n_topics = min(features.n_topics, len(sample), len(self.topic_columns))
        topic_model = NMF(n_components=max(n_topics, 1), init="nndsvda", max_iter=200,
                          random_state=features.random_state)
        profiles = np.zeros((0, len(self.topic_columns)))  # no terms at all: no topics
        if n_topics:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings on tiny corpora
                profiles = topic_model.fit(matrix[sample][:, self.topic_columns]).components_
        self.topic_profiles = profiles / np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
        top = np.argsort(-profiles, axis=1)[:, : features.n_topic_terms]
        self.topic_terms = [", ".join(vocabulary[self.topic_columns][row]) for row in top]
        n_semantic = min(features.n_semantic, len(sample) - 1, matrix.shape[1] - 1)
        self.semantic_model = None
        if n_semantic >= 2:
            self.semantic_model = TruncatedSVD(n_semantic, n_iter=4, random_state=features.random_state)
            self.semantic_model.fit(matrix[sample])
        return matrix

    @property
    def n_semantic(self) -> int:
        return 0 if self.semantic_model is None else self.semantic_model.n_components

    def tfidf(self, counts: sp.csr_matrix, terms: np.ndarray, languages: np.ndarray) -> sp.csr_matrix:
        """TF-IDF rows (own columns) of texts from their term counts (:func:`moderation.text.count_terms`, columns
        ``terms``): the counts of the vocabulary's terms, in the entry order ``CountVectorizer(vocabulary=...)``
        gives (sorted columns), so the rows are those of a vectorizer over the texts."""
        n = counts.shape[0]
        if not len(self.vocabulary):
            return sp.csr_matrix((n, 0))
        column = pd.Index(self.vocabulary).get_indexer(terms)[counts.indices]
        known = column >= 0
        per_row = np.bincount(np.repeat(np.arange(n), np.diff(counts.indptr))[known], minlength=n)
        own = sp.csr_matrix((counts.data[known], column[known], np.concatenate([[0], np.cumsum(per_row)])),
                            shape=(n, len(self.vocabulary)))
        own.sort_indices()
        return tfidf(without_stop_words(own, self.vocabulary, np.asarray(languages)), self.idf)

    def topic_weights(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Closeness (n, n_topics), 0..1, of TF-IDF rows (own columns) to each topic: cosine to its term profile.

        A projection rather than NMF's own ``transform``: one sparse product, so
        a million comments take seconds, and the largest value is the nearest topic.
        """
        if matrix.shape[0] > SCORING_CHUNK_ROWS:  # by rows: the column selection copies most of the matrix
            return np.concatenate([self.topic_weights(matrix[start:start + SCORING_CHUNK_ROWS])
                                   for start in range(0, matrix.shape[0], SCORING_CHUNK_ROWS)])
        return np.asarray(matrix[:, self.topic_columns] @ self.topic_profiles.T)

    def semantic(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Unit-length latent semantic rows (float32, (n, n_semantic)) of TF-IDF rows; zero rows stay zero."""
        if self.semantic_model is None:
            return np.zeros((matrix.shape[0], 0), dtype=np.float32)
        if matrix.shape[0] > SCORING_CHUNK_ROWS:  # by rows: the product is float64 before it is cast
            return np.concatenate([self.semantic(matrix[start:start + SCORING_CHUNK_ROWS])
                                   for start in range(0, matrix.shape[0], SCORING_CHUNK_ROWS)])
        reduced = np.asarray(matrix @ self.semantic_model.components_.T.astype(np.float32), dtype=np.float32)
        norms = np.linalg.norm(reduced, axis=1, keepdims=True)
        return np.divide(reduced, norms, out=np.zeros_like(reduced), where=norms > 1e-6)


class TextFeatures:
    """TF-IDF, NMF topics and a latent semantic space over articles and comments, fitted once per run, per source.

    Each source is fitted on its own texts (:class:`SourceText`): a publication's comments are one community,
    and mixing another one's words into its IDF and latent space would move its scores (a six-comment page
    fitted with 3,000 Stack Exchange comments loses the contrast between its comments). A source's rows are
    therefore exactly those of a fit on that source alone. The shared TF-IDF matrix puts each source's
    vocabulary in its own block of columns; topic and semantic arrays hold, per row, the values of that row's
    source (topics and semantic dimensions of different sources are never compared: every comparison is
    between a comment and its article, parent or discussion). Topic ids are numbered across sources.

    A plain class, not a scikit-learn estimator: it is fitted on two frames (comments and articles, keyed
    rows it caches for every text stage), while :meth:`transform` takes texts, so it cannot meet the
    estimator contract (the same X for ``fit`` and ``transform``) that ``parametrize_with_checks`` tests.

    Parameters
    ----------
    max_features : int
        Vocabulary size per source (most frequent terms after stop words); bounds memory: the matrices hold
        at most this many columns per source.
    n_topics : int
        Number of NMF topics per source.
    n_topic_terms : int
        Top terms kept as each topic's label.
    max_topic_documents : int
        NMF is fitted on a random sample of at most this many documents of a source (the
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
    sources_ : list of str, the fitted sources (sorted); models_ : one :class:`SourceText` per source
    vocabulary_ : str array (n_terms,), the terms in column order (each source's block after the other)
    idf_ : float array (n_terms,), smooth inverse document frequency (within the term's source)
    topic_terms_ : list of str, one label (top terms joined by ", ") per topic id; topic_sources_ : their sources
    comment_keys_, article_keys_ : MultiIndex of the fitted rows (``COMMENT_KEY``, ``ARTICLE_KEY``)
    comment_matrix_ : csr (n_comments, n_terms); article_matrix_ : csr (n_articles, n_terms)
    comment_language_ : str array (n_comments,); comment_source_ : int array (n_comments,), index into sources_
    comment_topics_, article_topics_ : float arrays (n, max topics of a source), closeness to each topic of
        the row's source
    comment_semantic_, article_semantic_ : float32 arrays (n, max semantic dimensions of a source), unit-length
        rows in the row's source's latent space
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
        """Learn vocabulary, IDF, topics and semantic space of each source from ``comments`` and ``articles``."""
        articles = articles if articles is not None else pd.DataFrame(columns=[*ARTICLE_KEY, "title", "text"])
        texts = pd.concat([clean_text(comments["text"]), article_documents(articles)], ignore_index=True)
        sources = pd.concat([comments["source"], articles["source"]], ignore_index=True).astype("str")
        # one tokenisation pass over every source serves language detection, stop words and the vocabularies
        counts, terms = count_terms(texts, self.n_jobs)
        n_texts = len(texts)
        del texts  # the cleaned texts of the corpus are not read again
        languages = set_per_source(
            language_from_counts(counts, terms, self.default_language), sources, self.source_languages
        )
        counts = without_stop_words(counts, terms, languages)
        # each row's terms in column order, as the rows of a transform (CountVectorizer's) have them
        counts.sort_indices()
        self.sources_, codes = _source_codes(sources)
        rows = _rows_by_code(codes, len(self.sources_))
        self.models_, blocks = [], []
        column, topic = 0, 0
        for name, at in zip(self.sources_, rows):
            model = SourceText(name, column, topic)
            blocks.append(model.fit(counts if at is None else counts[at], terms, self))
            self.models_.append(model)
            column += len(model.vocabulary)
            topic += len(model.topic_terms)
        del counts  # each source's TF-IDF rows are in blocks now
        self.vocabulary_ = np.concatenate([m.vocabulary for m in self.models_]) if self.models_ else terms[:0]
        self.idf_ = np.concatenate([m.idf for m in self.models_]) if self.models_ else np.zeros(0)
        self.topic_terms_ = [label for m in self.models_ for label in m.topic_terms]
        self.topic_sources_ = [m.source for m in self.models_ for _ in m.topic_terms]
        matrix, topic_weights, semantic = self._assemble(blocks, rows, n_texts)

        n_comments = len(comments)
        self.comment_keys_ = row_keys(comments, COMMENT_KEY)
        self.article_keys_ = row_keys(articles, ARTICLE_KEY)
        self.comment_matrix_, self.article_matrix_ = matrix[:n_comments], matrix[n_comments:]
        self.comment_language_ = languages[:n_comments]
        self.comment_source_ = codes[:n_comments]
        self.comment_topics_, self.article_topics_ = topic_weights[:n_comments], topic_weights[n_comments:]
        self.comment_semantic_, self.article_semantic_ = semantic[:n_comments], semantic[n_comments:]
        return self

    def _assemble(self, blocks: list[sp.csr_matrix], rows: list[np.ndarray | None], n: int):
        """The shared TF-IDF matrix, topic weights and semantic rows of ``n`` rows from each source's TF-IDF
        rows (``blocks``, own columns) at ``rows`` (positions; None = every row)."""
        width = len(self.vocabulary_)
        if len(blocks) == 1 and rows[0] is None:  # one source: its own rows, nothing to place
            return blocks[0], self.models_[0].topic_weights(blocks[0]), self.models_[0].semantic(blocks[0])
        n_topics = max((len(m.topic_terms) for m in self.models_), default=0)
        n_semantic = max((m.n_semantic for m in self.models_), default=0)
        topic_weights = np.zeros((n, n_topics))
        semantic = np.zeros((n, n_semantic), dtype=np.float32)
        placed = []
        for model, block, at in zip(self.models_, blocks, rows):
            at = slice(None) if at is None else at
            weights, reduced = model.topic_weights(block), model.semantic(block)
            topic_weights[at, : weights.shape[1]] = weights
            semantic[at, : reduced.shape[1]] = reduced
            placed.append(sp.csr_matrix((block.data, block.indices + model.column_offset, block.indptr),
                                        shape=(block.shape[0], width)))
        order = np.concatenate([at for at in rows if at is not None] or [np.zeros(0, np.int64)])
        stacked = sp.vstack(placed, format="csr") if placed else sp.csr_matrix((0, width))
        # rows of no fitted source (an unseen one) are empty: no known term
        where = np.full(n, len(order))
        where[order] = np.arange(len(order))
        stacked = sp.vstack([stacked, sp.csr_matrix((1, width))], format="csr")
        return stacked[where], topic_weights, semantic

    def without_rows(self) -> TextFeatures:
        """A copy holding only what was learned (vocabularies, IDF, topics, semantic spaces), not the fitted rows.

        What a results folder saves for later imports (:mod:`moderation.fitted`): the cached rows of every
        comment would make it as large as the corpus, and :meth:`comment_features` computes rows it has not
        cached with the same vocabulary and weights.
        """
        learned = copy.copy(self)
        learned.comment_keys_ = row_keys(pd.DataFrame(columns=COMMENT_KEY), COMMENT_KEY)
        learned.article_keys_ = row_keys(pd.DataFrame(columns=ARTICLE_KEY), ARTICLE_KEY)
        learned.comment_matrix_ = learned.article_matrix_ = sp.csr_matrix((0, len(self.vocabulary_)))
        learned.comment_language_ = np.zeros(0, dtype=str)
        learned.comment_source_ = np.zeros(0, dtype=np.int64)
        learned.comment_topics_ = learned.article_topics_ = self.comment_topics_[:0]
        learned.comment_semantic_ = learned.article_semantic_ = self.comment_semantic_[:0]
        return learned

    def with_sources(self, comments: pd.DataFrame, articles: pd.DataFrame) -> TextFeatures:
        """A copy that also knows the sources of ``comments`` and ``articles`` it was not fitted on, each fitted on
        its rows here (without cached rows; ``self`` is not changed).

        What an import of a new source's first comments needs: its rows are all new, so fitting that source on
        them is what a full run would fit for it, and the sources fitted before keep their models.
        """
        new = sorted((set(comments["source"].astype("str")) | set(articles["source"].astype("str")))
                     - set(self.sources_))
        if not new:
            return self
        added = copy.copy(self).fit(comments[comments["source"].astype("str").isin(new)],
                                        articles[articles["source"].astype("str").isin(new)])
        for model in added.models_:
            model.column_offset += len(self.vocabulary_)
            model.topic_offset += len(self.topic_terms_)
        grown = self.without_rows()
        grown.sources_ = [*self.sources_, *added.sources_]
        grown.models_ = [*self.models_, *added.models_]
        grown.vocabulary_ = np.concatenate([self.vocabulary_, added.vocabulary_])
        grown.idf_ = np.concatenate([self.idf_, added.idf_])
        grown.topic_terms_ = [*self.topic_terms_, *added.topic_terms_]
        grown.topic_sources_ = [*self.topic_sources_, *added.topic_sources_]
        grown.comment_matrix_ = grown.article_matrix_ = sp.csr_matrix((0, len(grown.vocabulary_)))
        width = max(self.comment_topics_.shape[1], added.comment_topics_.shape[1])
        grown.comment_topics_ = grown.article_topics_ = np.zeros((0, width))
        width = max(self.comment_semantic_.shape[1], added.comment_semantic_.shape[1])
        grown.comment_semantic_ = grown.article_semantic_ = np.zeros((0, width), dtype=np.float32)
        return grown

    def _features(self, texts: pd.Series, languages: np.ndarray | None, sources: pd.Series | None):
        """TF-IDF rows, topic weights, semantic rows and languages of new texts, each in its source's model.

        One tokenising pass (:func:`moderation.text.count_terms`) serves language detection (when ``languages``
        is None: from the stop words, then the per-source setting), stop words and every source's vocabulary.
        """
        texts = clean_text(pd.Series(texts)).reset_index(drop=True)
        if sources is None:
            if len(self.sources_) > 1:
                raise ValueError(f"texts of {len(self.sources_)} sources were fitted: say which source each is")
            codes = np.zeros(len(texts), dtype=np.int64)
        else:
            codes = pd.Index(self.sources_, dtype="str").get_indexer(pd.Series(sources).astype("str"))
        counts, terms = count_terms(texts, self.n_jobs)
        if languages is None:
            detected = language_from_counts(counts, terms, self.default_language)
            languages = detected if sources is None else set_per_source(detected, pd.Series(sources),
                                                                         self.source_languages)
        languages = np.asarray(languages)
        rows = _rows_by_code(codes, len(self.sources_))
        blocks = [model.tfidf(counts if at is None else counts[at], terms, languages if at is None else languages[at])
                  for model, at in zip(self.models_, rows)]
        return *self._assemble(blocks, rows, len(texts)), languages

    def transform(self, texts: pd.Series, languages: np.ndarray | None = None,
                  sources: pd.Series | None = None) -> sp.csr_matrix:
        """TF-IDF rows (L2-normalised, shape (n, n_terms)) of new texts in the fitted vocabulary of their source.

        ``sources`` (one per text) may be left out when one source was fitted; texts of a source that was not
        fitted get empty rows (no known term). Without ``languages`` they are detected (:meth:`_features`).
        """
        return self._features(texts, languages, sources)[0]

    def topic_ids(self, local: np.ndarray, sources: pd.Series) -> np.ndarray:
        """Topic ids (numbered across sources) of each row's topic ``local`` within its source; -1 stays -1."""
        codes = pd.Index(self.sources_, dtype="str").get_indexer(sources.astype("str"))
        return self._topic_ids(local, codes)

    def _topic_ids(self, local: np.ndarray, codes: np.ndarray) -> np.ndarray:
        offsets = np.array([m.topic_offset for m in self.models_] + [0], dtype=np.int64)
        return np.where((local >= 0) & (codes >= 0), offsets[codes] + local, -1)

    def fitted_positions(self, keys: pd.MultiIndex) -> np.ndarray:
        """Position among the fitted comments of each comment key (``row_keys`` of ``COMMENT_KEY``); -1 if absent."""
        return self.comment_keys_.get_indexer(keys)

    def comment_features(self, comments: pd.DataFrame, fitted_at: np.ndarray | None = None,
                         ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """TF-IDF rows, topic weights, languages and semantic rows of ``comments``, in their row order.

        Rows seen in :meth:`fit` are taken from the cache; others are computed. ``fitted_at``: the comments'
        :meth:`fitted_positions` when the caller has them (a stage scoring chunks looks them up once).
        """
        at = self.fitted_positions(row_keys(comments, COMMENT_KEY)) if fitted_at is None else fitted_at
        if (at >= 0).all():
            return self.comment_matrix_[at], self.comment_topics_[at], self.comment_language_[at], \
                self.comment_semantic_[at]
        matrix, topic_weights, semantic, languages = self._features(comments["text"], None, comments["source"])
        return matrix, topic_weights, languages, semantic

    def article_features(self, articles: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """TF-IDF rows, topic weights and semantic rows of ``articles`` (title + text), in their row order."""
        at = self.article_keys_.get_indexer(row_keys(articles, ARTICLE_KEY))
        if (at >= 0).all():
            return self.article_matrix_[at], self.article_topics_[at], self.article_semantic_[at]
        return self._features(article_documents(articles), None, articles["source"])[:3]

    def topics_frame(self, topic_ids: pd.Series | None = None) -> pd.DataFrame:
        """One row per topic: topic_id, source, topic_terms, comments (number whose dominant topic it is), share
        (0..1 of all comments with a topic).

        ``topic_ids`` (the scored comments' ``topic_id``, NA without known terms) counts those comments instead
        of the fitted ones: an incremental run counts every comment of the results, not only those it scored.
        """
        dominant = self._topic_ids(dominant_topic(self.comment_topics_), self.comment_source_) if topic_ids is None \
            else pd.Series(topic_ids).astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        counts = np.bincount(dominant[dominant >= 0], minlength=len(self.topic_terms_))
        return pd.DataFrame(
            {
                "topic_id": np.arange(len(self.topic_terms_)),
                "source": pd.array(self.topic_sources_, dtype="str"),
                "topic_terms": pd.array(self.topic_terms_, dtype="str"),
                "comments": counts,
                "share": counts / max(counts.sum(), 1),
            }
        )


def _source_codes(sources: pd.Series) -> tuple[list[str], np.ndarray]:
    """The distinct sources (sorted) and each row's index into them (sources are never missing)."""
    codes, names = pd.factorize(sources, sort=True)  # of the Arrow column: NumPy would sort every row's text
    return [str(name) for name in names], codes.astype(np.int64)


def _rows_by_code(codes: np.ndarray, n_codes: int) -> list[np.ndarray | None]:
    """Positions of each code's rows; [None] when every row has code 0 (one source: no selection needed)."""
    if n_codes == 1 and (codes == 0).all():
        return [None]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_codes + 1))
    return [order[bounds[k]: bounds[k + 1]] for k in range(n_codes)]


def dominant_topic(weights: np.ndarray) -> np.ndarray:
    """Index of each row's largest topic weight; -1 for rows with no weight (no known term)."""
    if weights.shape[1] == 0:
        return np.full(len(weights), -1)
    return np.where(weights.max(axis=1) > 0, weights.argmax(axis=1), -1)
