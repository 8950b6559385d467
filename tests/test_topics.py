"""Text features, topics and off-topic scoring (moderation.text, topics, offtopic, offtopic_learning)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from moderation import comment_speculation, offtopic_learning, schema, text, threads
from moderation.comment_speculation import (
    DEFAULT_CONJECTURE_PATH, FORMER_FEATURES, apply_conjecture, blank_everyday_hedges, calibration_features,
)
from moderation.comment_speculation import score_comments as speculation_stage
from moderation.offtopic import (
    ADDRESSES_POSTER,
    COMPONENTS,
    OfftopicParams,
    _cue_texts,
    _reasons,
    flag_offtopic_speculation,
    offtopic_components,
    score_offtopic,
)
from moderation.schema import ARTICLE_KEY
from moderation.speculation import score_speculation
from moderation.text import (
    TOKEN_PATTERN, _count_chunk, clean_text, count_terms, entries_at, group_codes, has_text, language_from_counts,
    row_keys,
)
from moderation.topics import TextFeatures


def score_stages(comments, articles, features=None, speculation=None, params=OfftopicParams()):
    """The off-topic stage, the speculation stage (or a given speculation frame) and the queue, as run_stages runs them."""
    scored = score_offtopic(comments, articles, features, params=params)
    if speculation is None:
        scored = speculation_stage(scored)
    else:
        for name in speculation.columns:
            scored[name] = speculation[name].to_numpy()
    return flag_offtopic_speculation(scored, params)

SEED = Path(__file__).resolve().parents[1] / "seeds" / "xinjiang_sanctions_article_page.txt"


def frames(article_texts: dict, comments: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical articles ({id: (title, text)}) and comments ([(id, article, parent, text)])."""
    articles = [{"source": "t", "article_id": a, "title": t, "text": text} for a, (t, text) in article_texts.items()]
    articles = schema.conform(pd.DataFrame(articles), "articles")
    rows = [{"source": "t", "comment_id": c, "article_id": a, "parent_id": p, "text": t} for c, a, p, t in comments]
    return articles, schema.conform(pd.DataFrame(rows), "comments")


def quiet(comments: pd.DataFrame) -> pd.DataFrame:
    """Speculation columns with no speculation, so tests do not need the shipped speculation model."""
    return pd.DataFrame(
        {"sentence_speculation_score": 0.0, "speculation_cues": [[]] * len(comments), "speculation_score": 0.0,
         "is_speculative": False},
        index=comments.index,
    )


BIKES = frames(
    {"a1": ("Disc brakes on road bikes", "Disc brakes stop road bikes better in rain; rim brakes are lighter.")},
    [
        ("c1", "a1", None, "Disc brakes stop better in the rain, my road bike proves it."),
        ("c2", "a1", "c1", "Rim brakes are lighter but wear the rim in rain."),
        ("c3", "a1", None, "Road bikes with disc brakes are heavier."),
        ("c4", "a1", None, "The football final last night was a disgrace for the referee."),
    ],
)


def test_paywall_masks_are_never_tokens():
    """Masked ``****`` runs add no term and leave the masked article's vector as if they were absent."""
    articles, comments = frames(
        {"a1": ("Sanctions", "Hikvision **** ******** *** sanctions ** ****.")},
        [("c1", "a1", None, "Hikvision and sanctions"), ("c2", "a1", None, "sanctions again")],
    )
    features = TextFeatures(n_topics=1).fit(comments, articles)
    assert not any("*" in term for term in features.vocabulary_)
    masked = features.transform(pd.Series(["Hikvision **** sanctions *"])).toarray()
    plain = features.transform(pd.Series(["Hikvision sanctions"])).toarray()
    np.testing.assert_allclose(masked, plain)


def test_detect_language_by_stop_words():
    """German and English texts are told apart by their language-only stop words; ties go to the default."""
    texts = pd.Series(
        ["Das ist nicht der Grund, warum die Wahl verloren wurde.", "This is not why the vote was lost.", ""],
        index=[7, 8, 9],
    )
    detected = language_from_counts(*count_terms(clean_text(texts), None), "en")
    assert detected.tolist() == ["de", "en", "en"]


def test_german_stop_words_removed_only_from_german_text():
    """"die" is a stop word in a German comment but a term ("the die is cast") in an English one."""
    articles, comments = frames(
        {"a1": ("Würfel", "")},
        [
            ("c1", "a1", None, "Die Würfel sind gefallen und die Wahl ist vorbei, aber nicht für uns."),
            ("c2", "a1", None, "The die is cast and nothing about the vote will change it for us."),
        ],
    )
    features = TextFeatures(n_topics=1).fit(comments, articles)
    vocabulary = {term: column for column, term in enumerate(features.vocabulary_)}
    german, english = features.comment_matrix_[0].toarray().ravel(), features.comment_matrix_[1].toarray().ravel()
    assert features.comment_language_.tolist() == ["de", "en"]
    assert german[vocabulary["die"]] == 0 and german[vocabulary["würfel"]] > 0
    assert english[vocabulary["die"]] > 0 and "und" not in vocabulary


def test_transform_reproduces_the_fitted_rows():
    """New texts go through the same tokens, stop words and weights as the fitted ones (one code path)."""
    articles, comments = BIKES
    features = TextFeatures(n_topics=2).fit(comments, articles)
    again = features.transform(comments["text"], features.comment_language_)
    np.testing.assert_allclose(again.toarray(), features.comment_matrix_.toarray())


def test_source_language_override():
    """A per-source language replaces detection (a short German comment has no stop word to go by)."""
    articles, comments = frames({"a1": ("Titel", "")}, [("c1", "a1", None, "Genau."), ("c2", "a1", None, "Stimmt")])
    features = TextFeatures(n_topics=1, source_languages={"t": "de"}).fit(comments, articles)
    assert features.comment_language_.tolist() == ["de", "de"]


def test_topics_are_labelled_by_their_top_terms():
    """Two clearly separate themes give two topics whose labels hold each theme's words; every comment gets one."""
    bikes = ["brakes wheel bike", "bike wheel tyre brakes", "tyre bike chain", "chain wheel brakes bike"]
    votes = ["election vote party", "party vote ballot", "ballot election candidate", "candidate party vote"]
    articles, comments = frames(
        {"a1": ("bike", ""), "a2": ("vote", "")},
        [(f"b{i}", "a1", None, t) for i, t in enumerate(bikes)]
        + [(f"v{i}", "a2", None, t) for i, t in enumerate(votes)],
    )
    features = TextFeatures(n_topics=2, n_topic_terms=3).fit(comments, articles)
    labels = sorted(features.topic_terms_, key=lambda label: "bike" not in label)
    assert set(labels[0].split(", ")) <= {"bike", "wheel", "brakes", "tyre", "chain"}
    assert set(labels[1].split(", ")) <= {"vote", "party", "election", "ballot", "candidate"}
    table = features.topics_frame()
    assert table["comments"].sum() == len(comments) and table["share"].sum() == pytest.approx(1.0)
    scored = score_stages(comments, articles, features, speculation=quiet(comments))
    assert scored.groupby("article_id")["topic_id"].nunique().tolist() == [1, 1]


def test_similarities_match_the_tfidf_cosine_formula():
    """sim_article and the leave-one-out sim_discussion equal cosines of TF-IDF vectors built by hand.

    TF-IDF as in scikit-learn (sublinear): tf' = 1 + ln(tf), idf = ln((1 + n) / (1 + df)) + 1, rows L2-normalised.
    With two comments on an article, the leave-one-out centroid of one comment is the other comment.
    """
    articles, comments = frames(
        {"a1": ("brakes", "brakes brakes wheel")},
        [("c1", "a1", None, "brakes wheel wheel"), ("c2", "a1", None, "wheel tyre")],
    )
    features = TextFeatures(n_topics=1).fit(comments, articles)
    parts = offtopic_components(comments, articles, features)
    # documents: c1, c2, article (title + text); terms brakes, tyre, wheel
    tf = np.array([[1, 0, 2], [0, 1, 1], [3, 0, 1]], dtype=float)
    df = (tf > 0).sum(axis=0)
    weights = np.where(tf > 0, 1 + np.log(np.where(tf > 0, tf, 1)), 0) * (np.log((1 + 3) / (1 + df)) + 1)
    unit = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    assert parts["sim_article"].tolist() == pytest.approx([unit[0] @ unit[2], unit[1] @ unit[2]])
    assert parts["sim_discussion"].tolist() == pytest.approx([unit[0] @ unit[1]] * 2)
    assert parts["sim_parent"].tolist() == pytest.approx(parts["sim_article"].tolist())  # top-level: the article
    assert parts["log_tokens"].tolist() == pytest.approx([np.log(3), np.log(3)])


def test_chatter_cues_mark_remarks_to_posters_and_pure_agreement():
    """addresses_poster: the comment opens by naming someone (not a common opener such as "Well,");
    agreement: a short comment that opens with agreement or thanks (a long one argues, so it is not)."""
    texts = ["Michelle, once again you confuse them.", "@ChrisW - post more questions.", "Hey Dartguard, when?",
             "Well, as a denizen of the wild west.", "However, the brakes rub.", "Agreed!! Well put.",
             "Thanks, Robert, that post is helpful.",
             "Agreed, but disc brakes stop better in the rain and rim brakes wear the rim down over a wet winter.",
             "  Anna: see the manual.", "Anna Lee\u00a0, no.", "Anna said no,but"]
    articles, comments = frames({"a1": ("Brakes", "Disc brakes and rim brakes.")},
                                [(f"c{i}", "a1", None, text) for i, text in enumerate(texts)])
    parts = offtopic_components(comments, articles, TextFeatures(n_topics=1).fit(comments, articles))
    assert parts["addresses_poster"].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]
    assert parts["addresses_poster"].tolist() == [re.search(ADDRESSES_POSTER, text) is not None for text in texts]
    assert parts["agreement"].tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]


def test_drift_components_follow_the_thread_and_the_discussion():
    """A reply in a thread whose root left the article carries the root's (and parent's) similarity; the
    discussion-relative components are the comment's value minus the article's median and its percentile there."""
    articles, comments = frames({"a1": ("Brakes", "Disc brakes and rim brakes wear in the rain.")}, [
        ("c0", "a1", None, "Disc brakes wear less in the rain than rim brakes."),
        ("c1", "a1", "c0", "Rim brakes wear, and my cat sleeps on the sofa."),
        ("c2", "a1", "c1", "Cats sleep on sofas, mine too."),
        ("c3", "a1", None, "My cat sleeps all day on the sofa."),
        ("c4", "a1", None, "Rim brakes in the rain wear the rim."),
    ])
    comments, _ = threads.resolve(comments)
    parts = offtopic_components(comments, articles, TextFeatures(n_topics=1).fit(comments, articles))
    own = parts["sim_article"].to_numpy()
    assert own[0] > own[1] > own[2] == own[3] == 0
    assert parts["root_sim_article"].tolist() == pytest.approx([own[0], own[0], own[0], own[3], own[4]])
    assert parts["parent_sim_article"].tolist() == pytest.approx([own[0], own[0], own[1], own[3], own[4]])
    assert parts["sim_article_rank"].tolist() == pytest.approx(pd.Series(own).rank(pct=True).tolist())
    for name in ("sim_discussion", "sim_parent", "novelty", "lsa_discussion"):
        values = parts[name].to_numpy()
        assert parts[f"{name}_relative"].to_numpy() == pytest.approx(values - np.median(values))
    assert parts["sim_parent_minus_discussion"].to_numpy() == pytest.approx(parts["sim_parent"] - parts["sim_discussion"])


def test_obvious_offtopic_comment_scores_highest():
    """The football comment under a brakes article has the highest offtopic_score and is flagged."""
    articles, comments = BIKES
    scored = score_stages(comments, articles, speculation=quiet(comments))
    assert scored["offtopic_score"].idxmax() == 3
    assert scored["is_offtopic"].tolist() == [False, False, False, True]
    assert scored["offtopic_score"].between(0, 1).all()
    assert scored.loc[3, "offtopic_reason"].startswith("similarity to article 0.00 (discussion median")


def test_reason_lists_speculation_cues():
    """The reason quotes the speculation cues; the queue ranks by off-topic x speculation and needs both flags."""
    articles, comments = BIKES
    speculation = quiet(comments)
    speculation.loc[3, ["sentence_speculation_score", "speculation_score", "is_speculative"]] = [0.95, 0.9, True]
    speculation.at[3, "speculation_cues"] = [{"phrase": "Perhaps", "start": 0, "end": 7}]
    scored = score_stages(comments, articles, speculation=speculation)
    assert "; speculation 0.90, cues: 'Perhaps'; " in scored.loc[3, "offtopic_reason"]
    assert scored["is_offtopic_speculation"].tolist() == [False, False, False, True]
    assert scored.loc[3, "offtopic_speculation_score"] == pytest.approx(0.9 * scored.loc[3, "offtopic_score"])


def test_score_offtopic_is_pure_and_keeps_index_and_order():
    """Inputs are not modified; output rows keep the input index and order; added columns are present."""
    articles, comments = BIKES
    comments = comments.iloc[::-1].set_axis([40, 30, 20, 10])
    before_comments, before_articles = comments.copy(), articles.copy()
    scored = score_stages(comments, articles, speculation=quiet(comments))
    pd.testing.assert_frame_equal(comments, before_comments)
    pd.testing.assert_frame_equal(articles, before_articles)
    assert scored.index.tolist() == [40, 30, 20, 10]
    assert scored["comment_id"].tolist() == comments["comment_id"].tolist()
    for column in [*COMPONENTS, "offtopic_score", "is_offtopic", "topic_id", "topic_terms", "speculation_score",
                   "is_speculative", "speculation_cues", "offtopic_speculation_score", "is_offtopic_speculation",
                   "offtopic_reason"]:
        assert column in scored


def test_subset_of_one_article_matches_the_full_run():
    """Scoring one article's comments with the run's features gives the same values as scoring all of them."""
    articles, comments = frames(
        {"a1": BIKES[0].loc[0, ["title", "text"]].tolist(), "a2": ("Election night", "The party won the vote.")},
        [*BIKES[1][["comment_id", "article_id", "parent_id", "text"]].itertuples(index=False),
         ("d1", "a2", None, "The vote count was slow."), ("d2", "a2", "d1", "Party members waited for the vote.")],
    )
    features = TextFeatures(n_topics=2).fit(comments, articles)
    full = score_stages(comments, articles, features, speculation=quiet(comments))
    subset = comments[comments["article_id"] == "a2"]
    part = score_stages(subset, articles[articles["article_id"] == "a2"], features, speculation=quiet(subset))
    pd.testing.assert_frame_equal(part, full.loc[subset.index])
    alone = score_stages(subset, articles[articles["article_id"] == "a2"], speculation=quiet(subset))
    assert alone.index.equals(subset.index)


def test_article_without_text_falls_back_to_title_and_discussion():
    """An article with only a title (One Million Posts) still scores every comment."""
    articles, comments = frames(
        {"a1": ("Disc brakes on road bikes", None)},
        [("c1", "a1", None, "Disc brakes are better."), ("c2", "a1", None, "Football is on tonight.")],
    )
    scored = score_stages(comments, articles, speculation=quiet(comments))
    assert scored["offtopic_score"].notna().all()
    assert scored.loc[0, "sim_article"] > 0 and scored.loc[1, "sim_article"] == 0


def seed_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seed page's article and its six comments, built by hand from ``seeds/``'s text file.

    Reply structure as laid out on the page: Charles Rollet answers Undisclosed
    Manufacturer #2; Robert Shih and Charles Rollet's second comment answer Rich Moore.
    """
    page = SEED.read_text(encoding="utf-8")
    head, _, tail = page.partition("\nComments (6)\n")
    title, _, body = head.partition("\n")
    blocks = [
        ("um1", None, "There has to be more to why", "\n(6)\n"),
        ("um2", None, "Our voluntary dependence", "\n(1)\n"),
        ("cr1", "um2", "Of course, there are many other", "\n(3)\n"),
        ("rm", None, "I'm curious if everyone", "\n(1)\n"),
        ("rs", "rm", "Well, as a denizen", "\nAvatar\n"),
        ("cr2", "rm", "It's hard to tell.", "\n(1)"),
    ]
    rows = []
    for comment_id, parent, start, end in blocks:
        text = tail[tail.index(start):]
        rows.append((comment_id, "seed", parent, text[: text.index(end)].strip()))
    return frames({"seed": (title.strip(), body.partition("\n\n")[2])}, rows)


def test_seed_ban_question_is_not_offtopic():
    """Rich Moore's question (will this lead to a ban) is neither off topic nor in the queue."""
    articles, comments = seed_frames()
    scored = score_stages(comments, articles).set_index("comment_id")
    assert not scored.at["rm", "is_offtopic"]
    assert not scored.at["rm", "is_offtopic_speculation"]
    assert scored.at["rm", "offtopic_score"] < scored.at["um1", "offtopic_score"] < scored.at["um2", "offtopic_score"]


def test_seed_speculative_drift_ranks_first():
    """On the seed, #1 and #2 top the queue; Robert Shih's opinion ("I believe ...") is off topic but not
    speculative."""
    articles, comments = seed_frames()
    scored = score_stages(comments, articles)
    assert set(scored.nlargest(2, "offtopic_speculation_score")["comment_id"]) == {"um1", "um2"}
    shih = scored.set_index("comment_id").loc["rs"]
    assert shih["is_offtopic"] and not shih["is_speculative"] and not shih["is_offtopic_speculation"]


def test_seed_conjecture_stands_on_its_own():
    """The seed's two conjectural drifts are in the queue; Robert Shih's opinion and Rich Moore's genuine
    question are not speculative (< 0.5) by themselves, not only by their rank."""
    articles, comments = seed_frames()
    scored = score_stages(comments, articles).set_index("comment_id")
    assert scored.loc[["um1", "um2"], "is_offtopic_speculation"].all()
    assert scored.loc[["um1", "um2"], "is_speculative"].all() and not scored.loc[["rm", "rs"], "is_speculative"].any()
    assert (scored.loc[["rm", "rs"], "speculation_score"] < 0.5).all()


# texts that stress tokenising: accents (composed and combining), Greek final sigma at text
# edges, digits, underscores, full-width and Arabic-Indic digits, a text holding the join marker
VARIED_TEXTS = pd.Series([
    "", "Ünïcode ÉTÉ straße ΣΟΦΟΣ test_x ab1 1ab a _ab a_ x² ²x ａｂｃ İstanbul ǅemal",
    "Über über ÜBER", "ΟΔΟΣ.", "ΣΑΣ", "Σ", "ς ΑΣ", "12 34", "a\u0301b cafe\u0301 日本語 ٣٤ab ab٣",
    "\n", "ΑΣ\n", "\u0345Σ ΑΣ\u0345", "'Σ' ΑΣ'", "Disc brakes stop road bikes, disc BRAKES!",
], dtype="str")


@pytest.mark.parametrize("texts", [VARIED_TEXTS, pd.concat([VARIED_TEXTS, pd.Series(["x 0TEXTBREAK0 y"])])])
def test_term_counts_equal_countvectorizer(texts):
    """Chunk counts equal scikit-learn's CountVectorizer: terms, values and entry order within rows."""
    expected = CountVectorizer(token_pattern=TOKEN_PATTERN, dtype=np.float64)
    want = expected.fit_transform(texts).tocsr()
    got, terms = _count_chunk(texts)
    assert list(terms) == list(expected.get_feature_names_out())
    for part in ["indptr", "indices", "data"]:
        np.testing.assert_array_equal(getattr(got, part), getattr(want, part))


def test_python_classes_for_pyarrow_equal_python_re():
    """The word and space classes given to pyarrow split every code point's text as Python's \\w+ and \\s+ do."""
    every = "".join(chr(code) for code in range(0x110000) if not 0xD800 <= code < 0xE000)
    for kind, pattern in [("word", r"\w+"), ("space", r"\s+")]:
        pieces = pc.split_pattern_regex(pa.array([every]), f"[^{text.python_class(kind)}]+").flatten().to_pylist()
        assert [piece for piece in pieces if piece] == re.findall(pattern, every), kind


def test_word_runs_equal_python_re_findall():
    """WordRuns counts and joins the words re.findall(r"\\w+") finds: every code point, empty texts between words
    (a word never runs on into the next text), NA, and a slice that starts inside an Arrow buffer."""
    every = [chr(code) for code in range(0x110000) if not 0xD800 <= code < 0xE000]
    texts = ["".join(every[start:start + 997]) for start in range(0, len(every), 997)]
    texts += ["ab", "", "", "cd", "x_1 İstanbul 𝔘x", "don’t you're", "\u0300x\u0301", "é", "é", "", None]
    series = pd.Series(texts, dtype="str").iloc[1:]
    wanted = [re.findall(r"\w+", value) if isinstance(value, str) else [] for value in series.tolist()]
    runs = text.WordRuns(series)
    assert runs.counts().tolist() == [len(words) for words in wanted]
    assert runs.joined().to_pylist() == [" ".join(words) for words in wanted]


def test_may_match_finds_every_text_python_re_matches():
    """may_match is True wherever re.search matches (Unicode \\w, \\d and \\b, IGNORECASE folding "ſ" onto "s"),
    and exactly there on ASCII texts, for the speculation stage's patterns."""
    words = ["i", "suspect", "bet", "some", "say", "they", "will", "It", "Postmedia", "perhaps", "has", "been",
             "fiancéed", "hacked?", "probably", "٣", "9", "around", "you", "might", "want", "agenda", "agendaé",
             "éagenda", "ſecretly", "İ", "manipulaté", "in order to", "rumoured", "you might want to", "could",
             "it", "be", "why", "does", "nobody", "—", "’", ".", "\n"]
    rng = random.Random(0)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 10))) for _ in range(4000)]
    texts += [value.replace(" ", "é") for value in texts[:1000]] + [None]
    values = [value if isinstance(value, str) else "" for value in texts]
    ascii_texts = np.array([value.isascii() for value in values])
    stage = comment_speculation
    patterns = [(pattern, True) for pattern in (*stage.CUE_PATTERNS_EN.values(), stage.EVERYDAY_HEDGES_EN,
                                                stage.MOTIVE_EN)]
    for pattern, ignore_case in [*patterns, (stage.PREDICTION_EN, False)]:
        found = text.may_match(pd.Series(texts, dtype="str"), pattern, ignore_case)
        flags = re.IGNORECASE if ignore_case else 0
        matches = np.array([re.search(pattern, value, flags) is not None for value in values])
        assert matches.any()
        assert not (matches & ~found).any(), pattern
        np.testing.assert_array_equal(found[ascii_texts], matches[ascii_texts])


def test_python_matches_equal_python_re():
    """python_matches gives re.search and len(re.findall) per text, as pandas' string methods do, on ASCII
    texts and on the others (whose RE2 \\w, \\b and \\d would differ)."""
    texts = pd.Series(["It’s you, Anna", "you and you", None, "Straße — www.x.com", "plain words_1 here", "ü", "",
                       "Agreed!", "¡Agreed!", "…agreed", "yoü you", "wwwé.com", "éwww.x.ca", "ſee you"], dtype="str")
    values = [value if isinstance(value, str) else "" for value in texts.tolist()]
    for pattern in [r"\w+", r"\byou\b", r"^\W*(?:agreed|thanks)\b", r"https?://|www\.|\b\w+\.(?:com|ca)\b", r"\d"]:
        assert text.python_matches(texts, pattern).tolist() == [re.search(pattern, v) is not None for v in values]
        counts = [len(re.findall(pattern, v)) for v in values]
        assert text.python_matches(texts, pattern, count=True).tolist() == counts


def test_has_text_equals_python_re():
    """has_text is re's [^\\s*] search: masks and any Unicode whitespace are no text, NA is none."""
    texts = pd.Series(["", " \t\n", "***", " * \x1c\u2028\u3000", "a", "\x00", "\u200b", None, "*x*"], dtype="str")
    expected = [re.search(r"[^\s*]", value) is not None for value in texts.fillna("")]
    assert has_text(texts).tolist() == expected == [False] * 4 + [True] * 3 + [False, True]


def test_term_counts_without_terms_have_no_columns():
    """A chunk of numbers and empty texts gives an (n, 0) matrix, where CountVectorizer refuses."""
    counts, terms = _count_chunk(pd.Series(["12 a _", ""], dtype="str"))
    assert counts.shape == (2, 0) and len(terms) == 0


def test_group_codes_equal_factorize():
    """Article group codes equal pd.factorize of the key tuples (first-appearance order, NA keys grouped)."""
    frame = pd.DataFrame({"source": ["a", "b", "a", "b", "a", None], "article_id": ["x", "x", "y", "x", None, None]})
    keys = row_keys(frame, ["source", "article_id"])
    np.testing.assert_array_equal(group_codes(keys), pd.factorize(keys)[0])


@pytest.mark.parametrize("dense_cells", [0, 2**21])
def test_entries_at_reads_the_target_row(dense_cells, monkeypatch):
    """Each stored entry (i, j) of x gets b[rows[i], j], 0 where b has none or rows[i] is -1 (searched or dense)."""
    monkeypatch.setattr(text, "DENSE_LOOKUP_CELLS", dense_cells)
    x = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 4], [5, 0, 0], [0, 6, 0]]))
    b = sp.csr_matrix(np.array([[0.5, 0, 0], [0, 0.25, 0.75]]))
    rows = np.array([1, 0, -1, 1])
    dense = np.where(rows[:, None] >= 0, b.toarray()[np.maximum(rows, 0)], 0.0)
    np.testing.assert_array_equal(entries_at(x, b, rows), dense[x.nonzero()])


def test_reasons_equal_the_columnwise_formatting():
    """Reasons equal the former column-wise build ("{:.2f}" per clause, cues as list or array, NA topics)."""
    scored = pd.DataFrame({
        "source": "t", "article_id": ["a1", "a1", "a2", "a2"],
        "sim_article": [0.004999, 0.125, 1.0, 0.375], "sim_parent": [0.0, 0.5, 0.995, 0.0051],
        "sim_discussion": [0.2, 0.0, 0.1234, 0.9999],
        "speculation_cues": [[], [{"phrase": "Perhaps"}, {"phrase": "I suspect"}],
                             np.array([{"phrase": "a"}, {"phrase": "b"}, {"phrase": "c"}, {"phrase": "d"}]), None],
        "topic_terms": pd.array(["disc, brakes", None, "rain", None], dtype="str"),
        "offtopic_score": 0.5, "speculation_score": [0.0, 0.955, 0.5, 1.0],
        "in_queue_relative": [False, True, False, False],
    }, index=[10, 3, 7, 1])
    def two(values: pd.Series) -> pd.Series:
        return values.map("{:.2f}".format).astype("str")

    median = scored.groupby(ARTICLE_KEY, sort=False)["sim_article"].transform("median")
    want = ("similarity to article " + two(scored["sim_article"]) + " (discussion median " + two(median)
            + "), to parent " + two(scored["sim_parent"]) + ", to the rest of the discussion "
            + two(scored["sim_discussion"]) + "; speculation " + two(scored["speculation_score"]))
    cues = pd.Series([_cue_texts(c, 3) for c in scored["speculation_cues"]], index=scored.index, dtype="str")
    want = want + (", cues: " + cues).where(cues != "", "")
    want = want + ("; nearest topic: " + scored["topic_terms"]).where(scored["topic_terms"].notna(), "")
    want = want.where(~scored["in_queue_relative"], "stands out in its discussion; " + want)
    pd.testing.assert_series_equal(_reasons(scored, OfftopicParams()), want.astype("str"))


def test_comment_without_text_gets_no_offtopic_score():
    """A removed comment (no text, or only paywall masks) is neither scored nor flagged; its reason says why."""
    articles, comments = BIKES[0], BIKES[1].copy()
    comments.loc[comments.index[-1], "text"] = None
    comments.loc[comments.index[-2], "text"] = " **** ** "
    scored = score_stages(comments, articles, speculation=quiet(comments))
    last = scored.iloc[-2:]
    assert last["offtopic_score"].isna().all() and not last["is_offtopic"].any()
    assert (last["offtopic_reason"] == "no text to compare").all()
    assert scored["offtopic_score"].iloc[:-2].notna().all()


TOPICS = {
    "bikes": "brakes wheel saddle chain gears tyre pedal frame spokes derailleur",
    "cooking": "oven flour butter recipe simmer garlic onion sauce dough pastry",
    "football": "goal referee striker penalty league midfield keeper offside coach stadium",
    "gardening": "compost seedlings tomatoes pruning mulch roses soil weeds hedge bulbs",
    "astronomy": "telescope galaxy nebula orbit comet planet eclipse lens stars jupiter",
    "chess": "bishop knight rook pawn gambit checkmate opening endgame castling queen",
    "sailing": "mast hull keel tack jib harbour anchor rudder mooring spinnaker",
    "coffee": "espresso grinder beans roast crema barista filter kettle latte aroma",
}


def labelled_discussions(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Eight articles of different topics, six on-topic comments each and two from another topic (label 1).

    Only every other comment is labelled (NaN otherwise), as moderators label a sample.
    """
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    words = {name: TOPICS[name].split() for name in names}
    article_texts, rows, labels = {}, [], []
    for a, name in enumerate(names):
        article_texts[f"a{a}"] = (f"All about {name}", " ".join(rng.choice(words[name], 12)))
        drift = [names[(a + k) % len(names)] for k in (1, 3)]
        for c, topic in enumerate([name] * 6 + drift):
            text = " ".join(rng.choice(words[topic], int(rng.integers(3, 8))))
            rows.append((f"a{a}c{c}", f"a{a}", None, text))
            labels.append(float(topic != name) if c % 2 == 0 or topic != name else np.nan)
    articles, comments = frames(article_texts, rows)
    return articles, comments, pd.Series(labels, index=comments.index)


def test_offtopic_labels_accepts_common_spellings_and_reports_the_rest():
    """1/0, true/false, yes/no (any case, "1.0") are labels; empty is unlabelled; anything else is a named problem."""
    comments = schema.conform(pd.DataFrame({
        "source": "t", "comment_id": [f"c{i}" for i in range(9)], "article_id": "a", "text": "x",
        "label": ["1", "0", "True", "no", "1.0", "", None, "maybe", "YES"],
    }), "comments")
    labels, problems = offtopic_learning.offtopic_labels(comments, "label")
    assert labels.tolist()[:5] == [1.0, 0.0, 1.0, 0.0, 1.0] and labels.iloc[8] == 1.0
    assert labels.iloc[5:8].isna().all()
    assert [str(p) for p in problems] == [
        "label column label: t/c7: label 'maybe' is not 0/1, true/false or yes/no (not used for learning)"
    ]
    numeric = comments.assign(label=[1.0, 0.0, np.nan, 0, 1, np.nan, np.nan, 0, 1])
    assert offtopic_learning.offtopic_labels(numeric, "label")[0].fillna(-1).tolist() == [1, 0, -1, 0, 1, -1, -1, 0, 1]
    removed = numeric.assign(text=["x", None, "x", "x", " *** ", "x", "x", "x", "x"])
    labels, problems = offtopic_learning.offtopic_labels(removed, "label")
    assert labels.fillna(-1).tolist() == [1, -1, -1, 0, -1, -1, -1, 0, 1]
    assert [str(p) for p in problems] == [
        f"label column label: t/c{i}: label {v!r} is on a comment without text (not used for learning)"
        for i, v in ((1, 0.0), (4, 1.0))
    ]
    with pytest.raises(ValueError, match="no label column 'lable'.*label"):
        offtopic_learning.offtopic_labels(comments, "lable")


def test_learned_combiner_finds_drift_on_unseen_articles_and_is_usable(tmp_path):
    """Learned weights beat chance out of fold, and score_offtopic with them equals fit_combiner's model."""
    articles, comments, labels = labelled_discussions()
    weights, evaluation = offtopic_learning.learn_combiner(comments, articles, labels, trained_on="test")
    assert evaluation["scorer"].tolist() == [
        "learned (grouped 5-fold CV)", "current combiner", "baseline 1 - cosine to article"]
    learned = evaluation.iloc[0]
    assert learned["n"] == labels.notna().sum() and learned["positives"] == 16
    assert learned["auc"] > 0.9
    assert weights["trained_on"] == "test" and weights["rows"] == labels.notna().sum()
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(weights))
    assert offtopic_learning.load_weights(path)["components"] == COMPONENTS
    scored = score_stages(comments, articles, speculation=quiet(comments), params=OfftopicParams(weights_path=path))
    drifted = labels == 1
    assert scored["offtopic_score"][drifted].min() > scored["offtopic_score"][labels == 0].max()


def test_cross_validation_never_trains_on_the_scored_article(monkeypatch):
    """Every fold's training rows come from other articles than its scored rows."""
    articles, comments, labels = labelled_discussions()
    features = TextFeatures().fit(comments, articles)
    parts = offtopic_components(comments, articles, features)[labels.notna()].reset_index(drop=True)
    groups = comments["article_id"][labels.notna()].to_numpy()
    seen = []
    real = offtopic_learning.offtopic_combiner

    def spying(C=1.0):
        model = real()
        fit = model.fit

        def recording_fit(X, y):
            seen.append(set(X.index))
            return fit(X, y)

        model.fit = recording_fit
        return model

    monkeypatch.setattr(offtopic_learning, "offtopic_combiner", spying)
    scores = offtopic_learning.cross_validated_scores(parts, labels.dropna().to_numpy(), groups)
    assert len(seen) == 5 and scores.shape == (len(parts),) and ((scores >= 0) & (scores <= 1)).all()
    for trained in seen:
        scored_rows = set(range(len(parts))) - trained
        assert not set(groups[list(trained)]) & set(groups[list(scored_rows)])


def test_learning_needs_labels_on_enough_articles():
    """Off-topic labels on fewer than 5 articles cannot be cross-validated: a clear error, no weights."""
    articles, comments, labels = labelled_discussions()
    few = labels.where(~((labels == 1) & ~comments["article_id"].isin(["a0", "a1", "a2"])), 0.0)
    with pytest.raises(ValueError, match="off-topic on 3, on-topic on 8"):
        offtopic_learning.learn_combiner(comments, articles, few)


@pytest.mark.parametrize("content, message", [
    ("{not json", "JSON error"),
    ('{"components": ["sim_article"]}', "missing mean, scale, coef, intercept"),
    ('{"components": ["shoe_size"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0}', "unknown components"),
    ('{"components": ["sim_article"], "mean": [0, 1], "scale": [1], "coef": [1], "intercept": 0}', "differ in length"),
])
def test_bad_weights_file_is_named(tmp_path, content, message):
    """A weights file that is not a combiner fails with its path and what is wrong."""
    path = tmp_path / "w.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*{message}"):
        offtopic_learning.load_weights(path)


def test_seed_drifts_are_in_the_queue_by_default():
    """The seed's two conjectural drifts are the queue (relative to their small discussion); the question and
    the opinion stay out."""
    articles, comments = seed_frames()
    scored = score_stages(comments, articles).set_index("comment_id")
    assert set(scored.index[scored["is_offtopic_speculation"]]) == {"um1", "um2"}
    assert "stands out in its discussion" in scored.at["um1", "offtopic_reason"]


def queue_frame(products: list[float], speculation: float = 0.9) -> pd.DataFrame:
    """Scored comments of one discussion whose offtopic_speculation_score equals ``products`` (none absolute)."""
    n = len(products)
    return pd.DataFrame({
        "source": "t", "article_id": "a", "comment_id": [str(i) for i in range(n)],
        "offtopic_score": np.asarray(products) / speculation, "is_offtopic": False,
        "speculation_score": speculation, "is_speculative": speculation >= 0.5,
        "sim_article": 0.1, "sim_parent": 0.1, "sim_discussion": 0.1, "speculation_cues": [[]] * n,
        "topic_terms": pd.array([None] * n, dtype="str"),
    })


def test_relative_rule_needs_a_discussion_stands_out_and_is_capped():
    """Relative members: speculative, at least 5 comments with text, top third (at most 3) by off-topic x
    speculation and >= 0.1, and more off topic than the discussion's median comment."""
    params = OfftopicParams()
    four = flag_offtopic_speculation(queue_frame([0.4, 0.01, 0.01, 0.01]), params)
    assert not four["is_offtopic_speculation"].any()  # too few comments to compare with
    six = flag_offtopic_speculation(queue_frame([0.32, 0.34, 0.10, 0.24, 0.03, 0.001]), params)
    # the top third is two comments (0.34, 0.32; 0.24 is third), both above the median off-topic score
    assert six["is_offtopic_speculation"].tolist() == [True, True, False, False, False, False]
    assert six["in_queue_relative"].equals(six["is_offtopic_speculation"])
    flat = flag_offtopic_speculation(queue_frame([0.2, 0.2, 0.2, 0.2, 0.2, 0.19]), params)
    assert not flat["is_offtopic_speculation"].any()  # nobody drifts further than the usual comment
    low = flag_offtopic_speculation(queue_frame([0.09, 0.05, 0.01, 0.01, 0.01, 0.01]), params)
    assert not low["is_offtopic_speculation"].any()  # stands out, but under the floor of 0.1
    long = flag_offtopic_speculation(queue_frame([0.9] * 10 + [0.01] * 30), params)
    assert long["is_offtopic_speculation"].sum() == params.relative_max
    opinions = flag_offtopic_speculation(queue_frame([0.32, 0.34, 0.10, 0.24, 0.03, 0.001], speculation=0.4), params)
    assert not opinions["is_offtopic_speculation"].any()  # not speculative, no queue


def test_speculation_stage_marks_comment_cues_with_spans():
    """Rumours, weasel attribution and "a cover for" are cue spans into the text; German comments get none."""
    text = "Some say the sanctions are a cover for a trade war. I heard that the chips were hacked."
    comments = pd.DataFrame({"source": "t", "comment_id": ["1", "2"], "text": [text, text],
                             "language": ["en", "de"]})
    scored = speculation_stage(comments)
    phrases = {(c["phrase"], c["start"], c["end"]) for c in scored.at[0, "speculation_cues"]}
    for phrase in ("Some say", "cover for", "I heard that"):
        start = text.index(phrase)
        assert (phrase, start, start + len(phrase)) in phrases
    assert not any(c["phrase"] == "Some say" for c in scored.at[1, "speculation_cues"])
    plain = speculation_stage(pd.DataFrame({"source": "t", "comment_id": ["3"], "language": ["en"],
                                            "text": ["In a single word, that word is learning."]}))
    assert not any(c["phrase"].lower() == "word is" for c in plain.at[0, "speculation_cues"])
    # the shipped comment model weighs the comment cues on English comments; German ones keep the sentence score
    assert scored.at[0, "speculation_score"] > max(0.5, scored.at[0, "sentence_conjecture_score"])
    assert scored.at[1, "speculation_score"] == scored.at[1, "sentence_conjecture_score"]
    assert scored["is_speculative"].equals(scored["speculation_score"] >= 0.5)


@pytest.mark.skipif(not DEFAULT_CONJECTURE_PATH.exists(), reason="shipped comment conjecture model not built")
def test_everyday_hedges_are_not_conjecture():
    """Advice, estimates, proposals and requests hedge without conjecturing: they score below 0.5, while
    conjecture about hidden causes and motives scores at least 0.5 (issue 12)."""
    everyday = ["I think it's around 9 g for a tube.", "Your post might get filtered out by the spam filter.",
                "I'd suggest a wider tyre.", "You might want to lower the saddle.",
                "Perhaps edit the question to add the frame size?", "Does anyone know if this fits a 2012 frame?"]
    conjectures = ["I suspect the sanctions are simply a cover for a trade war.",
                   "Some say they were paid off behind the scenes.",
                   "Perhaps the backdoor has been discovered in their cameras too?"]
    texts = everyday + conjectures
    comments = pd.DataFrame({"source": "t", "comment_id": [str(i) for i in range(len(texts))], "text": texts})
    scores = speculation_stage(comments)["speculation_score"].to_numpy()
    assert (scores[:len(everyday)] < 0.5).all() and (scores[len(everyday):] >= 0.5).all()


def test_everyday_hedges_are_blanked_in_place_and_denied_cues_do_not_count():
    """Blanking keeps every offset (cue spans still index the text); a negated comment cue counts for nothing."""
    texts = pd.Series(["I'd suggest a wider tyre, maybe try 28 mm.", "I'm not trying to push an agenda.",
                       "They push an agenda."])
    blanked = blank_everyday_hedges(texts)
    assert blanked.str.len().tolist() == texts.str.len().tolist()
    assert "suggest" not in blanked[0] and "wider tyre" in blanked[0]
    scored = pd.DataFrame({"text": texts, "sentence_conjecture_score": 0.5, "sentence_speculation_score": 0.5})
    assert calibration_features(scored)["comment_cues"].tolist() == [0.0, 0.0, np.log1p(1)]


def test_calibration_features_from_the_batch_word_counts_equal_counting_again():
    """The stage hands calibration_features the speculation batch's word counts: the same features."""
    texts = pd.Series(["Perhaps they hid it, I suspect.", "Über die Straße ging's 3 mal", "", None, "x_1 ²x ٣٤ab"],
                      dtype="str")
    scored = pd.DataFrame({"text": texts, "sentence_conjecture_score": 0.3, "sentence_speculation_score": 0.6})
    words = score_speculation(texts)["words"].to_numpy()
    pd.testing.assert_frame_equal(calibration_features(scored, words=words), calibration_features(scored),
                                  check_exact=True)


def test_learned_conjecture_is_applied_by_the_stage():
    """learn_conjecture measures itself out of fold and score_comments uses its weights for speculation_score."""
    texts = ([f"Perhaps the {w} is a cover for something they hide." for w in "abcdefghijkl"]
             + [f"The {w} costs about 9 dollars and opens at noon." for w in "abcdefghijkl"])
    comments = pd.DataFrame({"source": "t", "comment_id": [str(i) for i in range(24)], "text": texts,
                             "article_id": [str(i % 6) for i in range(24)]})
    labels = np.array([1] * 12 + [0] * 12)
    scored = speculation_stage(comments)
    from moderation.comment_speculation import learn_conjecture
    weights, evaluation = learn_conjecture(scored, labels, comments["article_id"].to_numpy())
    assert evaluation["scorer"].tolist() == ["speculation: learned (grouped 5-fold CV)", "speculation: current"]
    assert evaluation["auc"].iat[0] > 0.9
    learned = speculation_stage(comments, weights)
    assert (learned["speculation_score"][:12] > 0.5).all() and (learned["speculation_score"][12:] < 0.5).all()
    assert learned["sentence_conjecture_score"].equals(scored["sentence_conjecture_score"])


def test_weights_learned_with_a_former_feature_still_apply():
    """A desk's weights file naming the former motive feature is scored with it; the default set lacks it."""
    texts = pd.Series(["They did it in order to hide the losses.", "The shop opens at noon."])
    scored = pd.DataFrame({"text": texts, "sentence_conjecture_score": 0.2, "sentence_speculation_score": 0.2})
    assert not set(FORMER_FEATURES) & set(calibration_features(scored).columns)
    old = {"features": ["sentence_conjecture", "motive"], "mean": [0.0, 0.0], "scale": [1.0, 1.0],
           "coef": [0.0, 5.0], "intercept": -1.0}
    features = calibration_features(scored, old["features"])
    assert features["motive"].tolist() == [np.log1p(1), 0.0]
    scores = apply_conjecture(features, old)
    assert scores[0] > 0.5 > scores[1]
