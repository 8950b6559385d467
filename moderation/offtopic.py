"""Off-topic scoring: how far each comment drifts from its discussion, and the off-topic speculation queue.

:func:`offtopic_components` turns the shared :class:`~moderation.topics.TextFeatures` into evidence a
moderator would weigh (similarity of the comment to its article, parent and discussion, in words and in the
latent semantic space; how much context there is; chatter cues of the comment's own text);
:func:`score_offtopic` combines them with a logistic regression (weights file, ``models/offtopic_weights.json``
by default, learned by ``scripts/train_offtopic.py`` from moderators' labels and injected drift).
:func:`flag_offtopic_speculation` joins the speculation stage's comment score into the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from moderation.schema import ARTICLE_KEY, COMMENT_KEY
from moderation.text import (
    SCORING_CHUNK_ROWS, WordRuns, entries_at, group_chunks, group_codes, has_text, positions_of, python_matches,
    row_keys, row_sums,
)
from moderation.topics import TextFeatures, dominant_topic


WEIGHTS_PATH = Path(__file__).parent / "models" / "offtopic_weights.json"
WITH_TEXT = ("sim_article", "sim_parent", "sim_discussion", "novelty", "sim_article_relative", "sim_article_lift",
             "log_tokens")
# components also given relative to their discussion: "_relative" (minus the article's median comment) and "_rank"
# (percentile among the article's comments); a title-only or paywalled article moves every comment's values alike
RELATIVE_IN_DISCUSSION = ("sim_discussion", "sim_parent", "novelty", "lsa_discussion")
RANKED_IN_DISCUSSION = ("sim_discussion", "sim_article", "lsa_discussion")
DRIFT_IN_DISCUSSION = (*(f"{name}_relative" for name in RELATIVE_IN_DISCUSSION),
                       *(f"{name}_rank" for name in RANKED_IN_DISCUSSION))
ARTICLE_TEXT_TERMS = 30  # fewer distinct terms than this: a title (and perhaps a teaser), not an article
COMPONENTS = [
    "sim_article", "sim_parent", "sim_discussion", "topic_article", "topic_discussion", "novelty",
    "sim_article_relative", "sim_article_lift", "log_tokens",
    # similarity that survives vocabulary mismatch ("camera" vs "surveillance"): LSA over the corpus TF-IDF
    "lsa_article", "lsa_parent", "lsa_discussion", "lsa_article_relative",
    # how much context a moderator has: a reply, the thread's and discussion's size, the article's length
    "is_reply", "log_thread_size", "log_discussion_size", "log_article_terms",
    # what the comment itself says about being chatter: addressing another poster, links, pasted again
    "second_person", "first_person", "has_link", "repeated_text", "is_question", "addresses_poster", "agreement",
    # the same similarities where the article has a body: a title alone (One Million Posts) or a paywalled
    # text makes every similarity small, so a linear combiner needs to weigh them apart
    "article_has_text", *(f"{name}_with_text" for name in WITH_TEXT),
    # drift as a moderator reads the page: against the thread it sits in and against the discussion's usual comment
    "parent_sim_article", "root_sim_article", "sim_parent_minus_discussion", *DRIFT_IN_DISCUSSION,
]
# "you" and "I" in the two languages the tokenizer knows; German "Sie" is left out (also "they", "she")
SECOND_PERSON = r"\b(?:you|your|yours|yourself|you're|youre|u|du|dich|dir|dein|deine|deinen|deinem|deiner|euch|euer|eure)\b"
FIRST_PERSON = r"\b(?:i|me|my|mine|i'm|im|ich|mich|mir|mein|meine|meinen|meinem|meiner)\b"
LINK = r"https?://|www\.|\b\w+\.(?:com|ca|org|net|media|info|ly|io|de|at)\b"
# opens by naming someone ("Michelle, ...", "@ChrisW -", "Hey Dartguard,"): a remark to a poster; common
# openers ("Well, ...", "Also, ...", German "Aber, ...") are not names
OPENERS = (r"well|yes|no|yeah|yep|yup|ok|okay|so|also|however|but|and|or|sorry|actually|agreed|true|indeed|exactly"
           r"|again|now|then|first|second|sure|oh|wow|lol|right|thanks|meanwhile|still|instead|unfortunately|frankly"
           r"|honestly|sadly|clearly|obviously|interesting|funny|hmm|ah|ja|nein|aber|naja|tja|und|doch|genau|danke"
           r"|nun|gut|stimmt|richtig|leider|übrigens|trotzdem")
ADDRESSES_POSTER = rf"^\s*(?:@\w|(?i:hey |hi |dear )?(?!(?i:{OPENERS})\b)[A-Z][\w.'-]*(?: [A-Z][\w.'-]*)?\s*[,:] )"
# a short comment (at most 12 words) that opens with pure agreement or thanks: "Agreed!", "Well said", "+1"
AGREEMENT = (r"^\W*(?:agreed|well said|bingo|hear,? hear|exactly|right on|\+1|thanks|thank you|so true|good point"
             r"|great point|nice|genau|stimmt|danke|richtig)\b")
AGREEMENT_MAX_WORDS = 12
# the comment columns the components read (the text features read keys, source and text)
CONTEXT_COLUMNS = [*COMMENT_KEY, "article_id", "parent_id", "thread_id", "text"]


@dataclass(frozen=True)
class OfftopicParams:
    """Settings of :func:`score_offtopic` and :func:`flag_offtopic_speculation`.

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
    # the relative queue rule of flag_offtopic_speculation (small discussions, title-only articles)
    relative_min_comments: int = 5
    relative_share: float = 1 / 3
    relative_max: int = 3
    # a relative member drifts further than this many times its discussion's median comment (offtopic_score)
    relative_factor: float = 1.0
    relative_floor: float = 0.1
    # TextFeatures options; tokenising stays in this process (n_jobs 1): worker processes, each starting Python and
    # scikit-learn, made it slower on a shared 2-core machine (1M texts: 23 s against 14 s, benchmarks/bench_run.py)
    features: dict = field(default_factory=lambda: {"n_jobs": None})


WEIGHT_KEYS = ("components", "mean", "scale", "coef", "intercept")


def check_weights(weights, where: str) -> dict:
    """``weights`` if it is a combiner (components, mean, scale, coef, intercept); ValueError naming ``where``."""
    missing = [key for key in WEIGHT_KEYS if key not in weights] if isinstance(weights, dict) else WEIGHT_KEYS
    if missing:
        raise ValueError(f"{where}: not a combiner weights file (missing {', '.join(missing)})")
    unknown = sorted(set(weights["components"]) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"{where}: unknown components {unknown}; known: {', '.join(COMPONENTS)}")
    if not len(weights["components"]) == len(weights["mean"]) == len(weights["scale"]) == len(weights["coef"]):
        raise ValueError(f"{where}: components, mean, scale and coef differ in length")
    return weights


def load_weights(path: Path = WEIGHTS_PATH) -> dict:
    """A combiner (the shipped one by default): dict with components, mean, scale, coef, intercept, and
    optionally ``conjecture`` (a desk's learned speculation model,
    :func:`moderation.comment_speculation.learn_conjecture`).

    Raises ValueError naming the file when it is not such a combiner (e.g. a learned file edited by hand).
    """
    path = Path(path)
    try:
        weights = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a combiner weights file (JSON error: {error})") from None
    return check_weights(weights, str(path))


def text_hashes(comments: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per comment of its source and its text with case, spacing and punctuation aside."""
    if len(comments) > SCORING_CHUNK_ROWS:  # in slices: each holds several normalised copies of its texts
        return np.concatenate([text_hashes(comments.iloc[start:start + SCORING_CHUNK_ROWS])
                               for start in range(0, len(comments), SCORING_CHUNK_ROWS)])
    # the lower-cased words joined by spaces: what replacing each \W+ run by a space and stripping leaves
    words = WordRuns(comments["text"].astype("str").fillna("").str.lower()).joined()
    keyed = comments["source"].astype("str").fillna("") + "\x1f" + pd.Series(pd.array(words, dtype="str"),
                                                                             index=comments.index)
    return pd.util.hash_pandas_object(keyed.astype("str"), index=False).to_numpy()


@dataclass
class OfftopicCorpus:
    """What off-topic scoring takes from the whole corpus rather than from the scored articles: exact sums.

    Fitted on every article and comment (:meth:`fit`) and grown by the rows an import adds (:meth:`add`), so
    an incremental run scores a few articles with the same ``sim_article_lift`` and ``repeated_text`` inputs a
    full run would have (within the fitted vocabulary).

    Attributes
    ----------
    sources : list of str, the sources in code order
    article_sums : csr (n_sources, n_terms), sum of the TF-IDF rows of each source's articles
    article_counts : int array (n_sources,), articles per source
    text_hashes : sorted uint64 array, :func:`text_hashes` of the comments seen; text_counts : their counts
    row_keys, row_hashes : the comments :meth:`fit` hashed (``COMMENT_KEY``) and their hashes, so scoring
        them does not hash again; empty after :meth:`without_rows`
    """

    sources: list[str]
    article_sums: sp.csr_matrix
    article_counts: np.ndarray
    text_hashes: np.ndarray
    text_counts: np.ndarray
    row_keys: pd.MultiIndex = field(default_factory=lambda: row_keys(pd.DataFrame(columns=COMMENT_KEY), COMMENT_KEY))
    row_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))

    @classmethod
    def fit(cls, comments: pd.DataFrame, articles: pd.DataFrame, features: TextFeatures) -> OfftopicCorpus:
        """The sums over ``articles`` and ``comments``."""
        empty = cls([], sp.csr_matrix((0, len(features.vocabulary_))), np.zeros(0, np.int64),
                    np.zeros(0, np.uint64), np.zeros(0, np.int64))
        hashes = text_hashes(comments)
        fitted = empty.add(comments, articles, features, hashes)
        return replace(fitted, row_keys=row_keys(comments, COMMENT_KEY), row_hashes=hashes)

    def add(self, comments: pd.DataFrame, articles: pd.DataFrame, features: TextFeatures,
            hashes: np.ndarray | None = None) -> OfftopicCorpus:
        """A corpus that also holds ``comments`` and ``articles`` (rows not counted yet; self is not changed)."""
        sources = list(self.sources) + sorted(set(articles["source"].astype("str")) - set(self.sources))
        code = pd.Index(sources).get_indexer(articles["source"].astype("str")).astype(np.int64)
        # the features may know more terms than when these sums were made (a new source's vocabulary)
        n_terms = len(features.vocabulary_)
        article_matrix = features.article_features(articles)[0] if len(articles) else sp.csr_matrix((0, n_terms))
        indicator = sp.csr_matrix((np.ones(len(code)), (code, np.arange(len(code)))), shape=(len(sources), len(code)))
        sums = self.article_sums.tocsr().copy()
        sums.resize(len(self.sources), n_terms)
        grown = sp.vstack([sums, sp.csr_matrix((len(sources) - len(self.sources), n_terms))])
        counts = np.bincount(code, minlength=len(sources))
        counts[: len(self.article_counts)] += self.article_counts
        hashes = text_hashes(comments) if hashes is None else hashes
        seen, found = np.unique(np.concatenate([self.text_hashes, hashes]), return_inverse=True)
        text_counts = np.bincount(found, weights=np.concatenate([self.text_counts, np.ones(len(hashes))]),
                                  minlength=len(seen)).astype(np.int64)
        return OfftopicCorpus(sources, (grown + indicator @ article_matrix).tocsr(), counts, seen, text_counts)

    def without_rows(self) -> OfftopicCorpus:
        """The sums only, without the fitted comments' hashes (what a results folder saves)."""
        return replace(self, row_keys=OfftopicCorpus.__dataclass_fields__["row_keys"].default_factory(),
                       row_hashes=np.zeros(0, np.uint64))

    def comment_hashes(self, comments: pd.DataFrame, keys: pd.MultiIndex | None = None) -> np.ndarray:
        """:func:`text_hashes` of ``comments``, from the fitted rows when they are all among them (``keys``: their
        ``row_keys`` of ``COMMENT_KEY``, when the caller has them)."""
        keys = row_keys(comments, COMMENT_KEY) if keys is None else keys
        at = self.row_keys.get_indexer(keys) if len(self.row_keys) else None
        if at is not None and (at >= 0).all():
            return self.row_hashes[at]
        return text_hashes(comments)

    def source_codes(self, sources: pd.Series) -> np.ndarray:
        """Code of each source in :attr:`sources`; -1 for a source without articles."""
        return pd.Index(self.sources, dtype="str").get_indexer(sources.astype("str")).astype(np.int64)

    def text_count(self, hashes: np.ndarray) -> np.ndarray:
        """How many comments of the corpus have each text (by :func:`text_hashes`); 0 for unseen ones."""
        if not len(self.text_hashes):
            return np.zeros(len(hashes), np.int64)
        at = np.minimum(np.searchsorted(self.text_hashes, hashes), len(self.text_hashes) - 1)
        return np.where(self.text_hashes[at] == hashes, self.text_counts[at], 0)


def offtopic_components(
    comments: pd.DataFrame, articles: pd.DataFrame, features: TextFeatures, corpus: OfftopicCorpus | None = None,
    chunk_rows: int | None = None,
) -> pd.DataFrame:
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

    ``corpus`` (:class:`OfftopicCorpus`) holds what comes from outside ``comments`` and ``articles``: the
    source's articles for ``sim_article_lift`` and the source's texts for ``repeated_text``; without it they
    are taken from ``comments`` and ``articles`` (the whole corpus in a full run).

    Every component depends on the comment's own article (its comments and article row) and on ``features``
    and ``corpus`` only, so the comments are scored in chunks of whole articles of about ``chunk_rows``
    comments (default ``SCORING_CHUNK_ROWS``; :func:`moderation.text.group_chunks`): the same values as one
    pass, in bounded memory.

    Returns a frame with ``comments``' index, these columns and ``language`` and
    ``topic_id`` (nearest topic, numbered across sources; -1 without known terms); ``comments`` is not modified.
    """
    return _assembled(_chunk_components(comments, articles, features, corpus, chunk_rows), comments.index)


def _chunk_components(
    comments: pd.DataFrame, articles: pd.DataFrame, features: TextFeatures, corpus: OfftopicCorpus | None,
    chunk_rows: int | None = None,
):
    """``(rows, components)`` per chunk of whole articles: the positions in ``comments`` and
    :func:`offtopic_components` of those comments (indexed by those positions)."""
    corpus = corpus if corpus is not None else OfftopicCorpus.fit(comments, articles, features)
    comment_articles = row_keys(comments, ARTICLE_KEY)
    group = group_codes(comment_articles)
    chunks = group_chunks(group, chunk_rows or SCORING_CHUNK_ROWS)
    # only the columns the components read: a chunk of the stage's wide frame would copy every column
    comments = comments[[name for name in CONTEXT_COLUMNS if name in comments]].reset_index(drop=True)
    # the comments' keys looked up once, not once per chunk in the fitted rows of a million comments
    keys = row_keys(comments, COMMENT_KEY)
    lookups = _CommentLookups(keys, features.fitted_positions(keys), corpus.comment_hashes(comments, keys))
    if len(chunks) == 1:
        yield chunks[0], _article_components(comments, articles, features, corpus, lookups)
        return
    article_at = positions_of(row_keys(articles, ARTICLE_KEY), comment_articles)
    for rows in chunks:
        used = np.unique(article_at[rows])
        yield rows, _article_components(comments.iloc[rows], articles.iloc[used[used >= 0]], features, corpus,
                                        lookups.take(rows))


def _assembled(parts, index: pd.Index) -> pd.DataFrame:
    """One frame (``index``) of the columns of ``parts`` ((rows, frame) per chunk), each column its own array:
    one block per column, so no copy of them all is made to consolidate them."""
    n = len(index)
    columns: dict[str, np.ndarray] = {}
    dtypes = {}
    for rows, part in parts:
        for name in part.columns:
            if name not in columns:
                dtypes[name] = part[name].dtype
                numeric = isinstance(dtypes[name], np.dtype)
                columns[name] = np.empty(n, dtype=dtypes[name] if numeric else object)
            columns[name][rows] = part[name].to_numpy()
    return pd.DataFrame({name: values if isinstance(dtypes[name], np.dtype) else pd.array(values, dtype=dtypes[name])
                         for name, values in columns.items()}, index=index, copy=False)


@dataclass(frozen=True)
class _CommentLookups:
    """What :func:`_chunk_components` looks up once for every comment: keys (``COMMENT_KEY``), positions among
    the fitted rows (:meth:`TextFeatures.fitted_positions`) and text hashes (:meth:`OfftopicCorpus.comment_hashes`)."""

    keys: pd.MultiIndex
    fitted_at: np.ndarray
    hashes: np.ndarray

    def take(self, rows: np.ndarray) -> _CommentLookups:
        return _CommentLookups(self.keys[rows], self.fitted_at[rows], self.hashes[rows])


def _article_components(
    comments: pd.DataFrame, articles: pd.DataFrame, features: TextFeatures, corpus: OfftopicCorpus,
    lookups: _CommentLookups,
) -> pd.DataFrame:
    """:func:`offtopic_components` of whole articles in one pass (``articles`` holds at least theirs; ``lookups``:
    the comments' keys, fitted positions and hashes)."""
    n = len(comments)
    matrix, topics, languages, semantic = features.comment_features(comments, lookups.fitted_at)
    article_matrix, article_topics, article_semantic = features.article_features(articles)
    comment_articles = row_keys(comments, ARTICLE_KEY)
    article_at = positions_of(row_keys(articles, ARTICLE_KEY), comment_articles)
    in_article = entries_at(matrix, article_matrix, article_at)
    sim_article = row_sums(matrix, matrix.data * in_article)

    # parent: a comment on the same article; otherwise the comment answers the article
    parent_at = positions_of(lookups.keys, row_keys(comments, ["source", "parent_id"]))
    group = group_codes(comment_articles)
    same_article = (parent_at >= 0) & (group[np.maximum(parent_at, 0)] == group)
    parent_at = np.where(same_article, parent_at, -1)
    parent_rows = matrix[np.maximum(parent_at, 0)] if n else matrix
    sim_parent = np.where(parent_at >= 0, np.asarray(matrix.multiply(parent_rows).sum(axis=1)).ravel(), sim_article)

    # leave-one-out centroid of the discussion: x.(S - x) / |S - x| with S the article's row sum
    n_groups = group.max() + 1 if n else 0
    indicator = sp.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(n_groups, n))
    sums = (indicator @ matrix).tocsr()
    in_sum = entries_at(matrix, sums, group)
    x_dot_sum = row_sums(matrix, matrix.data * in_sum)
    x_norm2 = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
    sum_norm2 = np.asarray(sums.multiply(sums).sum(axis=1)).ravel()[group]
    rest_norm = np.sqrt(np.maximum(sum_norm2 - 2 * x_dot_sum + x_norm2, 0))
    denominator = np.sqrt(x_norm2) * rest_norm
    sim_discussion = np.divide(x_dot_sum - x_norm2, denominator, out=np.zeros(n), where=denominator > 1e-12)

    # terms the comment brings that neither its article nor any other comment there uses
    seen = (in_article > 0) | (in_sum - matrix.data > 1e-12)
    novel = row_sums(matrix, np.where(seen, 0.0, matrix.data**2))
    novelty = np.divide(novel, x_norm2, out=np.ones(n), where=x_norm2 > 0)

    dominant = dominant_topic(topics)
    article_share = np.zeros((n, topics.shape[1]))
    known = article_at >= 0
    article_share[known] = _share(article_topics[article_at[known]])
    topic_article = _share_of_topic(article_share, dominant)
    shares = _share(topics)
    # sums per article as one sparse product: the same additions in the same order as np.add.at, several times faster
    share_sums = indicator @ shares
    topic_discussion = _share_of_topic(_share(share_sums[group] - shares), dominant)

    # lift over chance: the mean cosine to the other articles of the same source (every article of the corpus)
    source_sums, source_count = corpus.article_sums, corpus.article_counts
    n_sources = len(source_count)
    comment_source = np.where(article_at >= 0, corpus.source_codes(comments["source"]), -1)
    to_source = row_sums(matrix, matrix.data * entries_at(matrix, source_sums, comment_source))
    others = np.where(comment_source >= 0, source_count[np.maximum(comment_source, 0)] - 1, 0) if n_sources else np.zeros(n)
    chance = np.divide(to_source - sim_article, others, out=np.zeros(n), where=others > 0)
    sim_article_lift = sim_article - chance

    # relative to the discussion: a masked or title-only article makes every similarity small
    sim_article_relative = sim_article - pd.Series(sim_article).groupby(group).transform("median").to_numpy()
    log_tokens = np.log1p(matrix.getnnz(axis=1))
    semantic_parts = _semantic_components(semantic, article_semantic, article_at, parent_at, group, indicator)
    root_at = positions_of(lookups.keys, row_keys(comments, ["source", "thread_id"])) if "thread_id" in comments \
        else np.full(n, -1)
    root_at = np.where((root_at >= 0) & (group[np.maximum(root_at, 0)] == group), root_at, -1)
    drift = _drift_components(np.clip(sim_article, 0, 1), np.clip(sim_parent, 0, 1), np.clip(sim_discussion, 0, 1),
                              np.clip(novelty, 0, 1), semantic_parts["lsa_discussion"], parent_at, root_at, group)
    context = _context_components(comments, group, parent_at, article_matrix.getnnz(axis=1), article_at, corpus,
                                  lookups.hashes)
    article_has_text = (context["log_article_terms"] >= np.log1p(ARTICLE_TEXT_TERMS)).astype(np.float64)
    similarities = {
        "sim_article": np.clip(sim_article, 0, 1), "sim_parent": np.clip(sim_parent, 0, 1),
        "sim_discussion": np.clip(sim_discussion, 0, 1), "novelty": np.clip(novelty, 0, 1),
        "sim_article_relative": sim_article_relative, "sim_article_lift": sim_article_lift, "log_tokens": log_tokens,
    }
    return pd.DataFrame(
        {
            **similarities,
            **semantic_parts,
            **context,
            "article_has_text": article_has_text,
            **{f"{name}_with_text": similarities[name] * article_has_text for name in WITH_TEXT},
            **drift,
            "topic_article": topic_article,
            "topic_discussion": topic_discussion,
            "language": pd.array(languages, dtype="str"),
            "topic_id": features.topic_ids(dominant, comments["source"]),
        },
        index=comments.index,
    )


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


def _semantic_components(
    semantic: np.ndarray, article_semantic: np.ndarray, article_at: np.ndarray, parent_at: np.ndarray,
    group: np.ndarray, indicator: sp.csr_matrix,
) -> dict:
    """LSA cosines of each comment to its article, its parent (the article for top-level comments) and the
    leave-one-out mean of its discussion, and the article cosine minus the discussion's median (``indicator``:
    (n_groups, n) with a 1 at each comment's article)."""
    n = len(semantic)
    if semantic.shape[1] == 0 or n == 0:
        zeros = np.zeros(n)
        return {"lsa_article": zeros, "lsa_parent": zeros, "lsa_discussion": zeros, "lsa_article_relative": zeros}
    known = article_at >= 0
    lsa_article = np.zeros(n)
    lsa_article[known] = np.einsum("ij,ij->i", semantic[known], article_semantic[article_at[known]])
    replies = parent_at >= 0
    lsa_parent = lsa_article.copy()
    lsa_parent[replies] = np.einsum("ij,ij->i", semantic[replies], semantic[parent_at[replies]])
    sums = indicator @ semantic.astype(np.float64)  # summed in float64, row after row, as np.add.at would
    rest = sums[group] - semantic
    rest_norm = np.linalg.norm(rest, axis=1)
    lsa_discussion = np.divide(np.einsum("ij,ij->i", semantic, rest), rest_norm, out=np.zeros(n),
                               where=rest_norm > 1e-6)
    median = pd.Series(lsa_article).groupby(group).transform("median").to_numpy()
    return {"lsa_article": lsa_article, "lsa_parent": lsa_parent, "lsa_discussion": lsa_discussion,
            "lsa_article_relative": lsa_article - median}


def _drift_components(
    sim_article: np.ndarray, sim_parent: np.ndarray, sim_discussion: np.ndarray, novelty: np.ndarray,
    lsa_discussion: np.ndarray, parent_at: np.ndarray, root_at: np.ndarray, group: np.ndarray,
) -> dict:
    """How a comment drifts against the thread it sits in and against its discussion's other comments.

    ``parent_sim_article`` / ``root_sim_article``: the parent's / the thread root's similarity to the article
    (the comment's own without one: a reply in a thread that has left the article has left it too);
    ``sim_parent_minus_discussion``: closer to its parent than to the discussion (an exchange between posters);
    the :data:`DRIFT_IN_DISCUSSION` columns: each value minus the article's median comment, and its percentile rank
    among the article's comments (``group``: the article of each comment; positions -1 where none).
    """
    values = {"sim_discussion": sim_discussion, "sim_parent": sim_parent, "novelty": novelty,
              "lsa_discussion": lsa_discussion, "sim_article": sim_article}
    frame = pd.DataFrame({name: values[name] for name in {*RELATIVE_IN_DISCUSSION, *RANKED_IN_DISCUSSION}})
    by_article = frame.groupby(group)
    medians, ranks = by_article.transform("median"), by_article.rank(pct=True)
    return {
        "parent_sim_article": np.where(parent_at >= 0, sim_article[np.maximum(parent_at, 0)], sim_article),
        "root_sim_article": np.where(root_at >= 0, sim_article[np.maximum(root_at, 0)], sim_article),
        "sim_parent_minus_discussion": sim_parent - sim_discussion,
        **{f"{name}_relative": values[name] - medians[name].to_numpy() for name in RELATIVE_IN_DISCUSSION},
        **{f"{name}_rank": ranks[name].to_numpy(dtype=np.float64) for name in RANKED_IN_DISCUSSION},
    }


def _context_components(
    comments: pd.DataFrame, group: np.ndarray, parent_at: np.ndarray, article_terms: np.ndarray,
    article_at: np.ndarray, corpus: OfftopicCorpus, hashes: np.ndarray,
) -> dict:
    """How much context a comment has, and the cues in its own text that mark chatter (see ``COMPONENTS``).

    Shares are per word of the comment (0..1); ``repeated_text`` is 1 when the same text (case and spacing
    aside, at least three words) appears more than once in its source; ``addresses_poster`` is 1 when the
    comment opens by naming someone (:data:`ADDRESSES_POSTER`), ``agreement`` when a short comment opens with
    pure agreement or thanks (:data:`AGREEMENT`). ``hashes``: the comments' :func:`text_hashes`.
    """
    n = len(comments)
    original = comments["text"].astype("str").fillna("")
    text = original.str.lower()
    count = lambda pattern: python_matches(text, pattern, count=True).astype(np.float64)
    words = WordRuns(text).counts().astype(np.float64)
    per_word = lambda pattern: count(pattern) / np.maximum(words, 1)
    repeated = (corpus.text_count(hashes) > 1) & (words >= 3)
    # a comment without a resolved thread counts as its own thread
    threads = comments["thread_id"].astype("str") if "thread_id" in comments else pd.Series(np.arange(n).astype(str))
    sizes = pd.Series(np.ones(n)).groupby([group, threads.fillna("").to_numpy()])
    thread_size = sizes.transform("size").to_numpy(dtype=np.float64)
    discussion_size = np.bincount(group)[group] if n else np.zeros(0)
    known = article_at >= 0
    terms = np.zeros(n)
    terms[known] = article_terms[article_at[known]]
    # the look-ahead of ADDRESSES_POSTER leaves pandas to Python's re, text by text: only a text holding "@" or
    # ", " / ": " can match, and pyarrow finds those
    addresses_poster = np.zeros(n)
    may_address = np.flatnonzero(original.str.contains("@|[,:] ").to_numpy(dtype=bool))
    addresses_poster[may_address] = original.iloc[may_address].str.contains(ADDRESSES_POSTER).to_numpy(dtype=bool)
    return {
        "is_reply": (parent_at >= 0).astype(np.float64),
        "log_thread_size": np.log1p(thread_size).astype(np.float64),
        "log_discussion_size": np.log1p(discussion_size).astype(np.float64),
        "log_article_terms": np.log1p(terms),
        "second_person": per_word(SECOND_PERSON),
        "first_person": per_word(FIRST_PERSON),
        "has_link": python_matches(text, LINK).astype(np.float64),
        "repeated_text": repeated.astype(np.float64),
        "is_question": text.str.rstrip().str.endswith("?").to_numpy(dtype=np.float64),
        "addresses_poster": addresses_poster,
        "agreement": (python_matches(text, AGREEMENT) & (words <= AGREEMENT_MAX_WORDS)).astype(np.float64),
    }


def combine(components: pd.DataFrame, weights: dict) -> np.ndarray:
    """Logistic regression probability (0..1) from standardised components.

    Summed one component at a time: a row's score does not depend on which other rows are combined with it
    (a matrix product's blocking does, in the last bit), and no (n, components) copy is made.
    """
    logit = np.full(len(components), float(weights["intercept"]))
    for name, mean, scale, coef in zip(weights["components"], weights["mean"], weights["scale"], weights["coef"]):
        logit += (components[name].to_numpy(dtype=np.float64) - mean) / scale * coef
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
    params: OfftopicParams = OfftopicParams(),
    corpus: OfftopicCorpus | None = None,
) -> pd.DataFrame:
    """Score how far each comment drifts from its discussion.

    Parameters
    ----------
    comments : canonical comments frame (n rows); not modified
    articles : canonical articles frame; articles with empty text fall back to title + discussion
    features : fitted :class:`TextFeatures`; fitted here on ``comments`` and ``articles`` when None
    params : :class:`OfftopicParams`
    corpus : :class:`OfftopicCorpus` of the whole corpus when ``comments`` are some articles of it (see
        :func:`offtopic_components`)

    Returns
    -------
    DataFrame
        A copy of ``comments`` (same index and order) with the components of
        :func:`offtopic_components`, ``language``, ``offtopic_score`` (0..1),
        ``is_offtopic``, ``topic_id`` (Int64, NA without known terms) and ``topic_terms``;
        ``offtopic_score`` is NaN and ``is_offtopic`` False for comments without text.
    """
    if features is None:
        features = TextFeatures(**params.features).fit(comments, articles)
    weights = load_weights(params.weights_path)

    def scored_chunks():
        for rows, part in _chunk_components(comments, articles, features, corpus):
            # a comment without text (removed, or only masked) has nothing to judge: no score rather than a guess
            with_text = has_text(comments["text"].iloc[rows]).to_numpy()
            part["offtopic_score"] = np.where(with_text, combine(part, weights), np.nan)
            yield rows, part

    components = _assembled(scored_chunks(), comments.index)
    # copy on write: the new frame shares the input's columns until one is replaced
    out = comments.copy(deep=False)
    for name in [*COMPONENTS, "language", "offtopic_score"]:
        out[name] = components[name].set_axis(out.index)
    out["is_offtopic"] = out["offtopic_score"] >= params.offtopic_threshold
    dominant = components["topic_id"].to_numpy()
    out["topic_id"] = pd.array(np.where(dominant >= 0, dominant, None), dtype="Int64")
    terms = np.asarray([*features.topic_terms_, None], dtype=object)[dominant]
    out["topic_terms"] = pd.array(terms, dtype="str")
    return out


def flag_offtopic_speculation(scored: pd.DataFrame, params: OfftopicParams = OfftopicParams()) -> pd.DataFrame:
    """The off-topic speculation queue: comments that drift from their discussion and conjecture.

    ``offtopic_speculation_score`` = offtopic_score x speculation_score for a speculative comment
    (``is_speculative``: speculation_score at least 0.5), 0 for any other: an off-topic opinion is no
    off-topic speculation, however off topic. A comment is in the queue (``is_offtopic_speculation``) when it
    is speculative and either

    - its off-topic score reaches ``params.offtopic_threshold`` (absolute), or
    - it stands out in its own discussion (relative; ``in_queue_relative``): the discussion has at least
      ``params.relative_min_comments`` comments with text, the comment's offtopic_speculation_score ranks in
      the discussion's top ``params.relative_share`` (a third; at least one, at most ``params.relative_max``
      comments, so a long discussion does not flood the queue) and is at least ``params.relative_floor``, and
      its offtopic_score exceeds ``params.relative_factor`` times the discussion's median one (it drifts
      further than the discussion's usual comment).

    The relative rule is for small discussions and title-only or paywalled articles, where no similarity
    can reach the absolute cut but a moderator still sees which comments wander off.

    Parameters
    ----------
    scored : comments with the columns of :func:`score_offtopic` and of the speculation stage
        (:func:`moderation.comment_speculation.score_comments`: speculation_score, speculation_cues)
    params : :class:`OfftopicParams`

    Returns
    -------
    DataFrame
        A copy of ``scored`` with ``offtopic_speculation_score`` (0..1, NaN without text),
        ``is_offtopic_speculation``, ``in_queue_relative`` (member by the relative rule only) and
        ``offtopic_reason`` (one sentence of evidence).
    """
    # copy on write: the new frame shares the input's columns until one is replaced
    out = scored.copy(deep=False)
    speculative = out["is_speculative"].to_numpy(dtype=bool)
    product = (out["offtopic_score"] * out["speculation_score"]).where(speculative | out["offtopic_score"].isna(), 0.0)
    out["offtopic_speculation_score"] = product
    absolute = out["is_offtopic"].to_numpy(dtype=bool) & speculative
    keys = [out[key] for key in ARTICLE_KEY]
    by_article = product.groupby(keys, sort=False)
    drift = out["offtopic_score"]
    usual_drift = drift.groupby(keys, sort=False).transform("median").to_numpy()
    with_text = by_article.transform("count").to_numpy()
    rank = by_article.rank(ascending=False, method="first").to_numpy()
    values = product.fillna(0).to_numpy()
    relative = (
        speculative & (with_text >= params.relative_min_comments)
        & (rank <= np.clip(np.ceil(params.relative_share * with_text), 1, params.relative_max))
        & (drift.fillna(0).to_numpy() > params.relative_factor * usual_drift) & (values >= params.relative_floor)
    )
    out["is_offtopic_speculation"] = absolute | relative
    out["in_queue_relative"] = relative & ~absolute
    out["offtopic_reason"] = _reasons(out, params)
    return out


def _reasons(scored: pd.DataFrame, params: OfftopicParams) -> pd.Series:
    """One sentence of evidence per comment, e.g. "similarity to article 0.04 (discussion median 0.31), ...;
    speculation 0.95, cues: 'Perhaps', 'has to be more'; nearest topic: hack, chip, backdoor".

    The comment's speculation score sits beside the cues because the queue ranks by it: "I believe" is a
    sentence-lexicon cue, but an opinion, and its low score says why such a comment ranks low.
    """
    median = scored.groupby(ARTICLE_KEY, sort=False)["sim_article"].transform("median")
    columns = [
        scored["sim_article"], median, scored["sim_parent"], scored["sim_discussion"], scored["speculation_score"],
        scored["speculation_cues"], scored["topic_terms"], scored["topic_terms"].notna(),
        scored["offtopic_score"].isna(), scored["in_queue_relative"],
    ]
    # a slice of rows at a time: Python objects for every value and reason of the corpus would take hundreds of MB
    parts = [pd.Series(_reason_texts(zip(*(column.iloc[first:first + SCORING_CHUNK_ROWS].tolist()
                                           for column in columns)), params), dtype="str")
             for first in range(0, len(scored), SCORING_CHUNK_ROWS)]
    reasons = pd.concat(parts, ignore_index=True) if parts else pd.Series([], dtype="str")
    return reasons.set_axis(scored.index)


def _reason_texts(rows, params: OfftopicParams) -> list[str]:
    """:func:`_reasons` of rows (sim_article, its discussion median, sim_parent, sim_discussion, speculation
    score, cues, topic terms, whether there is a topic, whether there is no text, in_queue_relative)."""
    # one f-string per row: several times faster than a Series map and concatenation per clause
    reasons = []
    for article, article_median, parent, discussion, speculation, cues, topic, known, no_text, standout in rows:
        if no_text:
            reasons.append("no text to compare")
            continue
        reason = "stands out in its discussion; " if standout else ""
        reason += (
            f"similarity to article {article:.2f} (discussion median {article_median:.2f}), "
            f"to parent {parent:.2f}, to the rest of the discussion {discussion:.2f}; speculation {speculation:.2f}"
        )
        # most comments have no cue: an empty list skips the call
        cue_text = "" if isinstance(cues, list) and not cues else _cue_texts(cues, params.n_cues_in_reason)
        if cue_text:
            reason += ", cues: " + cue_text
        if known:
            reason += "; nearest topic: " + topic
        reasons.append(reason)
    return reasons
