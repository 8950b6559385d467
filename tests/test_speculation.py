"""Speculation cues, sentence splitting, the classifier's estimator contract and per-comment scores."""

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

from moderation import sentences
from moderation.cues import CUES_DE, QUESTION_CUES_DE, phrase_pattern
from moderation.sentences import split_sentences
from moderation.speculation import (
    CONJECTURE_MODEL_PATH,
    MODEL_PATH,
    CueFeatures,
    SpeculationClassifier,
    find_cues,
    load_model,
    score_conjecture,
    score_speculation,
    score_speculation_and_conjecture,
)

# Comments from seeds/xinjiang_sanctions_article_page.txt.
MANUFACTURER_1 = ("There has to be more to why the U.S. govt is focused on these two manufactures.  Perhaps the "
                  "hardware backdoor has been discovered inside Chinese cameras also?")
MANUFACTURER_2 = ("It's the beginnings of how ghost fleet turns from fiction to reality. \n\nI suspect the Xinjiang "
                  "situation is simply cover for a much bigger battle.  There are many oppressed groups globally, "
                  "why is the US acting for this one?")
RICH_MOORE = ("I'm curious if everyone thinks this will eventually lead to a ban on any Chinese Camera Manufacturers "
              "or Non TAA Compliant manufacturers from doing business in the US.  If so, would manufacturers need "
              "to disclose if any of their components are made in China?")

SPECULATIVE = [
    "These results suggest that the protein may regulate growth.", "Perhaps the deal was never real.",
    "It is possible that the virus spreads through water.", "I suspect they knew all along.",
    "The drug might reduce symptoms in some patients.", "He is believed to have left the city.",
    "This probably explains the delay.", "It seems likely that prices will rise.",
    "Maybe the vote was rigged.", "The results indicate that the gene could be involved.",
    "They may have hidden the report.", "It appears the company was warned.",
]
CERTAIN = [
    "The protein binds to the receptor.", "The vote took place on Monday.", "Prices rose by three percent.",
    "The company published its report in May.", "Patients received the drug twice a day.",
    "The city council approved the budget.", "The virus was isolated in 1983.", "He left the city in June.",
    "The gene is expressed in the liver.", "The report has 40 pages.", "Sales fell last year.",
    "The team won the final.",
]


@pytest.fixture(scope="module")
def tiny_model():
    """A classifier fitted on the in-code sentences above (no corpus needed)."""
    texts = SPECULATIVE + CERTAIN
    labels = np.array([1] * len(SPECULATIVE) + [0] * len(CERTAIN))
    return SpeculationClassifier(min_df=1, calibration_folds=2, random_state=0).fit(texts, labels)


def test_cue_spans_index_the_text():
    """Every cue's span slices exactly its phrase out of the comment."""
    for text in (MANUFACTURER_1, MANUFACTURER_2, RICH_MOORE, "PERHAPS so. Who knows?"):
        cues = find_cues(text)
        assert cues
        assert all(text[start:end] == phrase for phrase, start, end in cues)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abiIfmyghtMpershcuo'’ .?!\n")), max_size=80))
def test_spans_are_valid_for_any_text(text):
    """For any text, sentence spans are ordered and in range and every cue span slices its phrase."""
    spans = split_sentences(text)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))
    assert all(text[start:end] == phrase for phrase, start, end in find_cues(text))


def test_broad_cues_are_not_speculation():
    """Conditionals, disjunction and ability ("if", "or", "can") are not in the shipped lexicon."""
    assert find_cues("If you can, call or write.") == []


def test_seed_comment_cues():
    """The seed's speculative comments carry the cues moderators named, in text order."""
    assert [p for p, _, _ in find_cues(MANUFACTURER_1)] == ["There has to be more", "Perhaps"]
    assert [p for p, _, _ in find_cues(MANUFACTURER_2)] == ["I suspect", "cover for", "why is"]
    assert find_cues(RICH_MOORE)[0] == ("I'm curious if", 0, 14)


def test_cues_are_case_insensitive_whole_words():
    """"Mighty", "Mayhem" and the month "May" are no cues; "MIGHT" and a curly apostrophe still match."""
    assert find_cues("Mighty Mayhem perhapsly.") == []
    assert find_cues("It MIGHT rain.") == [("MIGHT", 3, 8)]
    assert find_cues("I’m curious if it works.") == [("I’m curious if", 0, 14)]
    assert find_cues("Bought in May. May it last.") == [("May", 15, 18)]


def test_question_cues_need_a_question():
    """"why is" is a cue only in a sentence that ends with a question mark."""
    assert find_cues("That is why is has two letters.") == []
    assert find_cues("Why is nobody asking?") == [("Why is", 0, 6)]


def test_german_cues():
    """The German lexicon applies when language is "de"; "ob" (whether) counts anywhere, "wieso" only in a question."""
    text = "Das ist vielleicht Zufall. Ich glaube, er könnte recht haben. Ob das stimmt?"
    assert [p for p, _, _ in find_cues(text, "de")] == ["vielleicht", "Zufall", "Ich glaube", "könnte", "Ob"]
    assert [p for p, _, _ in find_cues("Ob er kommt, weiß ich nicht.", "de")] == ["Ob"]
    assert [p for p, _, _ in find_cues("Wieso? Wieso er kommt, weiß ich.", "de")] == ["Wieso"]
    assert find_cues(text, "en") == []


def test_german_conjecture_leaves_out_opinions():
    """As in English, "ich glaube" is speculation (an opinion) but not conjecture; "vermutlich" is both."""
    opinion, guess = "Ich glaube, das ist falsch.", "Das ist vermutlich falsch."
    scores = score_speculation(pd.Series([opinion, guess]), language="de")["speculation_score"]
    conjecture = score_conjecture(pd.Series([opinion, guess]), language="de")
    assert (scores >= 0.5).all()
    assert conjecture.tolist()[0] < 0.5 <= conjecture.tolist()[1]


def test_split_sentences_keeps_abbreviations():
    """"U.S." and "Mr." do not end a sentence; line breaks and closing quotes do."""
    text = 'The U.S. govt acted. Mr. Smith said "no." Why?\nNew line'
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "The U.S. govt acted.", 'Mr. Smith said "no."', "Why?", "New line"]
    assert split_sentences("   ") == []


def test_cue_features_counts():
    """Features are log(1 + lexicon and leading-question cues), leading-question cue, ends with "?"."""
    features = CueFeatures(cues=("may", "perhaps"), question_cues=("why is",)).transform(
        ["It may, perhaps, rain.", "Why is it so?", "Plain.", "Why is it so, I said."])
    np.testing.assert_allclose(features, [[np.log(3), 0, 0], [np.log(2), 1, 1], [0, 0, 0], [0, 0, 0]])


def test_estimator_contract(tiny_model):
    """fit returns self, learned attributes end in "_", unfitted use raises, scikit-learn's init checks pass."""
    estimator = SpeculationClassifier(min_df=1, calibration_folds=2, random_state=0)
    with pytest.raises(NotFittedError):
        estimator.predict_proba(["maybe"])
    assert estimator.fit(SPECULATIVE + CERTAIN, [1] * 12 + [0] * 12) is estimator
    assert not hasattr(clone(estimator), "text_model_")
    check_no_attributes_set_in_init("SpeculationClassifier", SpeculationClassifier())
    check_parameters_default_constructible("SpeculationClassifier", SpeculationClassifier())
    check_get_params_invariance("SpeculationClassifier", SpeculationClassifier())
    check_estimator_cloneable("SpeculationClassifier", SpeculationClassifier())
    check_do_not_raise_errors_in_init_or_set_params("SpeculationClassifier", SpeculationClassifier())
    assert list(tiny_model.classes_) == [0, 1]
    assert tiny_model.predict(["Perhaps it was a cover for something."])[0] in (0, 1)


def test_fit_is_reproducible():
    """The same random_state gives the same probabilities."""
    texts, labels = SPECULATIVE + CERTAIN, [1] * 12 + [0] * 12
    first = SpeculationClassifier(min_df=1, calibration_folds=2, random_state=3).fit(texts, labels)
    second = SpeculationClassifier(min_df=1, calibration_folds=2, random_state=3).fit(texts, labels)
    np.testing.assert_array_equal(first.predict_proba(CERTAIN), second.predict_proba(CERTAIN))


def test_comment_score_is_max_of_sentences(tiny_model):
    """A comment scores its most speculative sentence; speculative_sentences counts sentences >= 0.5."""
    text = "Perhaps the deal was never real. The vote took place on Monday. It may have been rigged."
    sentences = [text[a:b] for a, b in split_sentences(text)]
    per_sentence = tiny_model.predict_proba(sentences)[:, 1]
    result = score_speculation(pd.Series([text], index=[7], dtype="str"), tiny_model)
    assert result.loc[7, "speculation_score"] == pytest.approx(per_sentence.max())
    assert result.loc[7, "speculative_sentences"] == int((per_sentence >= 0.5).sum())


def test_calibration_contract(tiny_model):
    """Scores lie in [0, 1], is_speculative iff score >= 0.5, index kept, missing text scores 0."""
    texts = pd.Series([MANUFACTURER_1, "The team won the final.", None, ""], index=["a", "b", "c", "d"], dtype="str")
    result = score_speculation(texts, tiny_model)
    assert list(result.index) == ["a", "b", "c", "d"]
    assert result["speculation_score"].between(0, 1).all()
    assert (result["is_speculative"] == (result["speculation_score"] >= 0.5)).all()
    assert result.loc[["c", "d"], "speculation_score"].tolist() == [0.0, 0.0]
    assert result.loc["c", "speculation_cues"] == []
    for text, cues in zip(texts.fillna(""), result["speculation_cues"]):
        assert all(text[c["start"]:c["end"]] == c["phrase"] for c in cues)


def test_german_comments_use_cue_model(tiny_model):
    """A "de" comment is scored by the cue-only model on the German lexicon."""
    german = "Vielleicht steckt mehr dahinter."
    result = score_speculation(pd.Series([german, german], dtype="str"), tiny_model,
                               language=pd.Series(["de", "en"]))
    assert result.loc[0, "speculation_score"] == pytest.approx(tiny_model.cue_proba([german], "de")[0])
    assert [c["phrase"] for c in result.loc[0, "speculation_cues"]] == ["Vielleicht", "steckt mehr dahinter"]
    assert result.loc[1, "speculation_cues"] == []


@pytest.mark.skipif(not MODEL_PATH.exists(), reason="shipped model not built")
def test_shipped_model_flags_seed_speculation():
    """The shipped model marks the seed's two speculative comments; Rich Moore's question keeps its cue."""
    result = score_speculation(pd.Series([MANUFACTURER_1, MANUFACTURER_2, RICH_MOORE], dtype="str"))
    assert result["is_speculative"].tolist()[:2] == [True, True]
    assert [c["phrase"] for c in result.loc[1, "speculation_cues"]] == ["I suspect", "cover for", "why is"]
    assert result.loc[2, "speculation_cues"][0]["phrase"] == "I'm curious if"
    assert load_model() is load_model()


@pytest.mark.skipif(not CONJECTURE_MODEL_PATH.exists(), reason="shipped conjecture model not built")
def test_shipped_conjecture_model_separates_conjecture_from_opinion():
    """The conjecture model keeps the seed's conjectures (#1, #2) and drops a belief statement ("I believe ...")."""
    opinion = "I believe that would be the right course of action."
    scores = score_conjecture(pd.Series([MANUFACTURER_1, MANUFACTURER_2, opinion], dtype="str"))
    assert scores.name == "conjecture_score"
    assert (scores.iloc[:2] >= 0.5).all() and scores.iloc[2] < 0.5


# A slow reference: the regex-per-sentence implementation the array code replaced (same published rules).
_REFERENCE_BOUNDARY = re.compile(
    r"(?<!\b[A-Z]\.[A-Z]\.)(?<!\bMr\.)(?<!\bDr\.)(?<!\bMs\.)(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))"
    r"\s+(?=[\"'“‘(\[]?[A-Z0-9ÄÖÜ])"
    r"|\s*\n\s*"
)


def _reference_sentences(text):
    cuts = [0] + [i for m in _REFERENCE_BOUNDARY.finditer(text) for i in m.span()] + [len(text)]
    spans = []
    for begin, end in zip(cuts[::2], cuts[1::2]):
        segment = text[begin:end]
        lead, trail = len(segment) - len(segment.lstrip()), len(segment.rstrip())
        if trail > lead:
            spans.append((begin + lead, begin + trail))
    return spans


def _reference_asks(sentence):
    return sentence.rstrip("\"'”’)] \t").endswith("?")


def _reference_cues(text, cues, question_cues):
    spans = _reference_sentences(text)
    question = phrase_pattern(tuple(question_cues))
    found = [(m.group(), m.start(), m.end()) for s, e in spans if _reference_asks(text[s:e])
             for m in question.finditer(text, s, e)]
    taken, starts = [(s, e) for _, s, e in found], {s for s, _ in spans}
    for m in phrase_pattern(tuple(cues)).finditer(text):
        month = m.group() == "May" and m.start() not in starts
        if not month and not any(m.start() < e and s < m.end() for s, e in taken):
            found.append((m.group(), m.start(), m.end()))
    return sorted(found, key=lambda cue: cue[1])


def _reference_features(sentences, cues, question_cues):
    lexicon, question = phrase_pattern(tuple(cues)), phrase_pattern(tuple(question_cues))
    def row(sentence):
        count = sum(1 for m in lexicon.finditer(sentence) if not (m.group() == "May" and m.start() != 0))
        asks = _reference_asks(sentence)
        leading = sum(1 for _ in question.finditer(sentence)) if asks else 0
        return [np.log1p(count + leading), float(leading > 0), float(asks)]

    return np.array([row(s) for s in sentences]).reshape(-1, 3)


VARIED = [
    MANUFACTURER_1, MANUFACTURER_2, RICH_MOORE, "", "   ", "\n\n", "Why is it so? Perhaps.\nWhy are they hiding it?",
    "Bought in May. May it last. It may be May.", "I’m curious if it’s true. Isn’t it odd?", "I\nthink so.",
    "Was it you or\nis it just me?", "The U.S. govt acted. Mr. Smith said \"no.\" Why?\nNew line",
    "Das ist vielleicht Zufall. Ich glaube, er könnte recht haben. Ob das stimmt?", "MIGHT. might. Mighty.",
    "„Warum wohl?“ Wer weiß.", "It may be. ΣΟΦΙΑ maybe. Straße wohl. Ǆ ǅ", "Emoji 😀 perhaps 😀maybe.\tWhy is\tit?",
    "NUL\x00maybe. (Why is it?) 'Could it be?' e.g. The end...  Next one!", "a.b.C. Dr. Who? 3 pm. 4 am.",
    "Who knows\r\nwho knows.", "there has  to be\tmore to it than this", "i am curious if; i'm curious if!",
]


@pytest.mark.parametrize("language", ["en", "de"])
def test_batch_matches_reference(tiny_model, language):
    """Sentence spans, cue spans, cue features and scores equal the regex-per-sentence reference."""
    cues, question_cues = (tiny_model.cues, tiny_model.question_cues) if language == "en" else (
        CUES_DE, QUESTION_CUES_DE)
    for text in VARIED:
        assert split_sentences(text) == _reference_sentences(text), text
        assert find_cues(text, language, tiny_model) == _reference_cues(text, cues, question_cues), text
    sentences = [text[a:b] for text in VARIED for a, b in _reference_sentences(text)] + VARIED
    np.testing.assert_array_equal(CueFeatures(cues, question_cues).transform(sentences),
                                  _reference_features(sentences, cues, question_cues))
    reference = tiny_model.calibrated(tiny_model.text_model_.decision_function(sentences))
    np.testing.assert_allclose(tiny_model.predict_proba(sentences)[:, 1], reference, rtol=0, atol=1e-12)
    texts = pd.Series(VARIED + [None], dtype="str")
    result = score_speculation(texts, tiny_model, language=language)
    for i, text in enumerate(texts.fillna("")):
        spans = _reference_sentences(text)
        parts = [text[a:b] for a, b in spans]
        if language == "en":
            expected = tiny_model.calibrated(tiny_model.text_model_.decision_function(parts)) if parts else np.zeros(0)
        else:
            expected = tiny_model.cue_model_.predict_proba(_reference_features(parts, cues, question_cues))[:, 1] \
                if parts else np.zeros(0)
        assert result.loc[i, "speculation_score"] == pytest.approx(expected.max(initial=0.0), abs=1e-12)
        assert result.loc[i, "speculative_sentences"] == (expected >= 0.5).sum()
        assert result.loc[i, "speculation_cues"] == [
            {"phrase": p, "start": s, "end": e} for p, s, e in _reference_cues(text, cues, question_cues)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abiIfmyghtMpershcuowkAZUS'’ .?!\n\t\"”)(“M.r")), max_size=60))
def test_batch_matches_reference_for_any_text(text):
    """For any text, sentence and cue spans equal the regex reference (abbreviations, quotes, breaks)."""
    cues = ("maybe", "might", "may be", "perhaps", "i'm curious if", "who knows", "i think", "may")
    question_cues = ("why is", "isn't it", "or is it")
    model = SpeculationClassifier(cues=cues, question_cues=question_cues)
    assert split_sentences(text) == _reference_sentences(text)
    assert find_cues(text, "en", model) == _reference_cues(text, cues, question_cues)


def test_dotted_capital_i_reads_as_i(tiny_model):
    """"İ" is the one character whose lower case is longer: it reads as "i" (as re's IGNORECASE does).

    scikit-learn's own ``lower()`` makes "İt" into "i̇t" and drops the token; that is the only known difference
    between ``predict_proba`` and the fitted scikit-learn pipeline.
    """
    assert find_cues("İ think MAYBE.", "en", tiny_model) == [("İ think", 0, 7), ("MAYBE", 8, 13)]


def test_batching_does_not_change_results(tiny_model, monkeypatch):
    """Scores and cues are the same whether the comments go through one batch or many small ones."""
    texts = pd.Series(VARIED * 3, dtype="str")
    language = pd.Series(["de", "en", "en"] * len(VARIED))
    whole = score_speculation(texts, tiny_model, language=language)
    monkeypatch.setattr(sentences, "_BATCH_CHARACTERS", 40)
    pd.testing.assert_frame_equal(score_speculation(texts, tiny_model, language=language), whole)


@pytest.mark.parametrize("batch_characters", [1 << 22, 40])
def test_words_are_counted_as_re_finds_them(tiny_model, monkeypatch, batch_characters):
    """Each comment's ``words`` is its number of \\w+ runs (re.findall), whichever batch it is in."""
    monkeypatch.setattr(sentences, "_BATCH_CHARACTERS", batch_characters)
    texts = pd.Series([*VARIED, "x_1 ²x ٣٤ab a\u0301b İstanbul ａｂｃ 😀", None], dtype="str")
    language = pd.Series(np.resize(["en", "de"], len(texts)), index=texts.index)
    words = score_speculation(texts, tiny_model, language=language)["words"]
    assert words.tolist() == [len(re.findall(r"\w+", text)) for text in texts.fillna("")]


@pytest.mark.skipif(not CONJECTURE_MODEL_PATH.exists(), reason="shipped conjecture model not built")
@pytest.mark.parametrize("batch_characters", [1 << 22, 40])
def test_combined_scoring_equals_separate_calls(monkeypatch, batch_characters):
    """Both shipped models on one shared batch give exactly score_speculation's frame and score_conjecture."""
    monkeypatch.setattr(sentences, "_BATCH_CHARACTERS", batch_characters)
    texts = pd.Series([*VARIED, None], index=np.arange(len(VARIED) + 1)[::-1] * 3, dtype="str")
    language = pd.Series(np.resize(["en", "de", "fr"], len(texts)), index=texts.index)
    combined = score_speculation_and_conjecture(texts, language=language)
    separate = score_speculation(texts, language=language)
    separate["conjecture_score"] = score_conjecture(texts, language=language)
    pd.testing.assert_frame_equal(combined, separate, check_exact=True)

