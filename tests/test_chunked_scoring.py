"""The scoring stages in chunks of whole articles give exactly the values of one pass over the corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from moderation import offtopic, schema, speculation, threads, topics
from moderation.comment_speculation import score_comments as speculation_stage
from moderation.offtopic import (
    OfftopicCorpus, flag_offtopic_speculation, offtopic_components, score_offtopic, text_hashes,
)
from moderation.text import TOKEN_PATTERN, count_terms, group_chunks
from moderation.topics import TextFeatures

WORDS = {
    "bikes": "bike lanes council street traffic cyclists road safety parking helmet",
    "camera": "camera firmware vulnerability patch vendor security update exploit backdoor",
    "flood": "river flood water levels rain warning residents bridge sandbags",
    "rente": "die rente und der beitrag ist nicht das alter regierung reform jahre arbeit kasse",
}
CHATTER = "thanks great point agree weather lunch weekend holiday movie recipe garden you".split()


def corpus(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two sources, eleven articles (one title-only, one without comments), replies, chatter, repeated and
    empty texts, a comment on an article that was never read; rows shuffled so articles interleave."""
    rng = np.random.default_rng(seed)
    articles, comments = [], []
    for k in range(11):
        source = "zeitung" if k % 4 == 3 else "paper"
        topic = "rente" if source == "zeitung" else list(WORDS)[k % 3]
        words = WORDS[topic].split()
        body = "" if k == 2 else " ".join(rng.choice(words, 60))
        articles.append({"source": source, "article_id": f"a{k}", "title": f"{words[0]} {words[1]}", "text": body})
        if k == 10:
            continue  # an article nobody commented on
        ids = []
        for j in range(int(rng.integers(3, 30))):
            kind = rng.random()
            if kind < 0.15:
                body_text = " ".join(rng.choice(CHATTER, 9))
            elif kind < 0.2:
                body_text = "Thanks for sharing this article!"
            elif kind < 0.23:
                body_text = "   "
            else:
                body_text = " ".join(rng.choice(words, int(rng.integers(4, 18)))).capitalize() + "?" * (j % 5 == 0)
            comment_id = f"c{k}_{j}"
            parent = str(rng.choice(ids)) if ids and rng.random() < 0.5 else None
            comments.append({"source": source, "comment_id": comment_id, "article_id": f"a{k}",
                             "parent_id": parent, "text": body_text})
            ids.append(comment_id)
    comments.append({"source": "paper", "comment_id": "lost", "article_id": "never_read", "parent_id": None,
                     "text": "bike lanes and flood water"})
    comments = pd.DataFrame(comments).sample(frac=1, random_state=seed).reset_index(drop=True)
    resolved, _ = threads.resolve(schema.conform(comments, "comments"))
    return schema.conform(pd.DataFrame(articles), "articles"), resolved


def test_group_chunks_hold_whole_groups_in_row_order():
    group = np.array([0, 1, 0, 2, 2, 2, 3, 1, 4, 4, 0])
    chunks = group_chunks(group, max_rows=3)
    np.testing.assert_array_equal(np.sort(np.concatenate(chunks)), np.arange(len(group)))
    sizes = np.bincount(group)
    for rows in chunks:
        assert (np.diff(rows) > 0).all()
        assert len(rows) - sizes[group[rows].max()] < 3
    owner = {g: i for i, rows in enumerate(chunks) for g in group[rows]}
    assert all(owner[g] == i for i, rows in enumerate(chunks) for g in group[rows])
    assert len(chunks) > 1
    assert [list(rows) for rows in group_chunks(group, max_rows=100)] == [list(range(len(group)))]


@pytest.mark.parametrize("chunk_rows", [1, 7, 40])
def test_offtopic_components_in_chunks_equal_one_pass(chunk_rows):
    """Chunks of whole articles (down to one article each) give bit-identical components, languages and topics."""
    articles, comments = corpus()
    features = TextFeatures(n_topics=3, n_semantic=4).fit(comments, articles)
    fitted = OfftopicCorpus.fit(comments, articles, features)
    whole = offtopic_components(comments, articles, features, fitted, chunk_rows=len(comments))
    chunked = offtopic_components(comments, articles, features, fitted, chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    assert set(whole["language"]) == {"en", "de"}  # both sources were scored


def test_score_offtopic_in_chunks_equals_one_pass(monkeypatch):
    """The stage (the corpus fitted here when none is given) scores the same in chunks and keeps its input intact."""
    articles, comments = corpus(seed=1)
    features = TextFeatures(n_topics=3, n_semantic=4).fit(comments, articles)
    before = comments.copy()
    whole = score_offtopic(comments, articles, features)
    monkeypatch.setattr(offtopic, "SCORING_CHUNK_ROWS", 5)
    chunked = score_offtopic(comments, articles, features)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    pd.testing.assert_frame_equal(comments, before)


def test_text_features_in_row_slices_equal_one_pass(monkeypatch):
    """Topic weights and semantic rows computed in slices of rows equal one product over every row."""
    articles, comments = corpus(seed=2)
    whole = TextFeatures(n_topics=3, n_semantic=4).fit(comments, articles)
    monkeypatch.setattr(topics, "SCORING_CHUNK_ROWS", 6)
    sliced = TextFeatures(n_topics=3, n_semantic=4).fit(comments, articles)
    for name in ["comment_topics_", "article_topics_", "comment_semantic_", "article_semantic_"]:
        np.testing.assert_array_equal(getattr(sliced, name), getattr(whole, name))
    assert (whole.comment_matrix_ != sliced.comment_matrix_).nnz == 0


def test_text_hashes_in_slices_equal_one_pass(monkeypatch):
    _, comments = corpus(seed=3)
    whole = text_hashes(comments)
    monkeypatch.setattr(offtopic, "SCORING_CHUNK_ROWS", 4)
    np.testing.assert_array_equal(text_hashes(comments), whole)


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_term_counts_in_chunks_equal_countvectorizer(chunk_size):
    """Terms counted chunk by chunk and merged give CountVectorizer's terms and counts."""
    _, comments = corpus(seed=4)
    texts = pd.concat([comments["text"], pd.Series(["", "x 0TEXTBREAK0 y", "ΟΔΟΣ. ς ΑΣ", "Über über"])],
                      ignore_index=True).astype("str")
    expected = CountVectorizer(token_pattern=TOKEN_PATTERN, dtype=np.float64)
    want = expected.fit_transform(texts).tocsr()
    got, terms = count_terms(texts, None, chunk_size)
    assert list(terms) == list(expected.get_feature_names_out())
    assert got.shape == want.shape and (got != want).nnz == 0


def test_speculation_in_slices_of_comments_equals_one_pass(monkeypatch):
    """Sentence scores, counts and cue spans do not depend on which comments share a slice or batch."""
    _, comments = corpus(seed=5)
    extra = pd.Series(["Perhaps they knew. I suspect more!", None, "Vielleicht war es so?"])
    texts = pd.concat([comments["text"], extra], ignore_index=True).astype("str")
    language = pd.Series(np.where(np.arange(len(texts)) % 7 == 0, "de", "en"), index=texts.index)
    whole = speculation.score_speculation_and_conjecture(texts, language=language)
    monkeypatch.setattr(speculation, "SCORING_CHUNK_ROWS", 4)
    sliced = speculation.score_speculation_and_conjecture(texts, language=language)
    pd.testing.assert_frame_equal(sliced, whole, check_exact=True)
    assert whole["speculation_score"].max() >= 0.5


def test_reasons_in_slices_equal_one_pass(monkeypatch):
    """The reason sentences (the discussion median over the whole article) do not change with the slices."""
    articles, comments = corpus(seed=6)
    scored = speculation_stage(score_offtopic(comments, articles, TextFeatures(n_topics=3, n_semantic=4).fit(
        comments, articles)))
    whole = flag_offtopic_speculation(scored)
    monkeypatch.setattr(offtopic, "SCORING_CHUNK_ROWS", 3)
    sliced = flag_offtopic_speculation(scored)
    pd.testing.assert_series_equal(sliced["offtopic_reason"], whole["offtopic_reason"], check_exact=True)
    assert whole["offtopic_reason"].str.contains("discussion median").any()
