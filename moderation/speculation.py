"""Hedging and speculation: cue phrases with their spans, and a sentence classifier aggregated per comment.

A comment is split into sentences (rule-based, nothing downloaded); every
sentence is scored by :class:`SpeculationClassifier` (TF-IDF word n-grams plus
cue-lexicon counts, logistic regression, Platt-calibrated) and the
comment takes the score of its most speculative sentence. Cues are hedging
phrases ("perhaps", "I suspect", "there has to be more") and leading questions
("why is ...?", "could it be ...?"), returned with character spans into the
comment so a moderator sees the evidence.

Speed: a batch of comments is joined into one string and handled as arrays (:class:`_Batch`): character
classes give sentences and words, cue phrases are matched as word-id sequences and the TF-IDF features are
built from word ids with pyarrow lookups, never a Python loop per sentence or token. The results equal the
per-sentence regular expressions (:func:`_phrase_pattern`) and the fitted scikit-learn pipeline, except that
"İ" reads as "i" where scikit-learn's ``lower()`` makes it "i̇" (tests/test_speculation.py compares them).

The shipped model (``models/speculation.joblib``) is built by
``scripts/train_speculation.py``; ``models/README.md`` names its data and licences.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from itertools import pairwise
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

MODEL_PATH = Path(__file__).parent / "models" / "speculation.joblib"
# Same classifier trained on conjecture labels only (epistemic and investigation cues, not belief statements
# such as "I believe that would be right"); ranks the off-topic speculation queue (scripts/train_speculation.py).
CONJECTURE_MODEL_PATH = Path(__file__).parent / "models" / "conjecture.joblib"

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
# German equivalents of the English comment cues and of the frequent Szeged cue types (no labelled German
# speculation data exists to learn them from); "ob" (whether) is an investigation cue anywhere, as in Szeged.
CUES_DE = (
    "vielleicht", "vllt", "evtl", "vermutlich", "wahrscheinlich", "möglicherweise", "womöglich", "eventuell",
    "angeblich", "anscheinend", "scheinbar", "offenbar", "mutmaßlich", "wohl", "dürfte", "dürften",
    "könnte", "könnten", "könnte sein", "kann sein", "mag sein", "ich glaube", "ich denke", "meines erachtens",
    "ich vermute", "vermute ich", "vermutung", "verdacht", "nehme an", "nehme ich an", "nehme mal an", "annehme",
    "gehe davon aus", "ich schätze", "schätze ich", "ich frage mich", "frage mich", "frage ich mich", "ob",
    "wer weiß", "nicht sicher", "unklar", "unsicher", "scheint", "scheinen", "es sieht so aus",
    "kommt mir vor", "deutet darauf hin", "lässt vermuten", "steckt mehr dahinter", "da steckt",
    "mehr dahinter", "ablenkung", "ablenkungsmanöver", "nebelkerze", "hintergedanken", "verschwörung",
    "gerücht", "gerüchte", "kolportiert", "kolportierte", "berichten zufolge", "spekulation", "spekulieren",
    "zufall", "ich wette", "ich bezweifle",
)
# Opinion (doxastic) phrases: speculation in the Szeged sense, but not conjecture (as for the English models).
DOXASTIC_DE = frozenset({"ich glaube", "ich denke", "meines erachtens", "angeblich", "kommt mir vor"})
QUESTION_CUES_DE = (
    "warum ist", "warum sind", "warum wird", "warum wohl", "wieso", "weshalb", "ist es nicht",
    "könnte es sein", "kann es sein", "was wäre wenn", "oder ist", "nicht wahr",
)
LANGUAGES = ("en", "de")

# Sentence ends at a whitespace run after . ! ? … (and one closing quote) when the next sentence
# starts upper-case or with a digit, or at a run holding a line break; "U.S. govt" and "e.g. the" stay whole.
_TERMINALS = ".!?…"
_QUOTE_CLOSERS = "\"'”’)]"
_OPENERS = "\"'“‘(["
_SENTENCE_STARTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ÄÖÜ"
_TITLES = ("Mr.", "Dr.", "Ms.")
_CLOSERS = "\"'”’)] \t"
_APOSTROPHES = "'’"
_SEPARATOR = "\x00"  # joins the texts of a batch; a text's own NULs become \x01 (also neither word nor space)
_BATCH_CHARACTERS = 1 << 22  # about 4M characters per batch bounds its arrays to a few hundred MB

# Gap between two consecutive words: whitespace (within one sentence / across a sentence boundary),
# one apostrophe, anything else.
_GAP_OTHER, _GAP_SPACE, _GAP_SPACE_ACROSS, _GAP_APOSTROPHE = 0, 1, 2, 3
# Character classes, one bit each, as Python's re sees them (\w, \s) plus the splitter's punctuation.
_WORD, _SPACE, _BREAK, _CLOSER, _TERMINAL, _QUOTE_CLOSER, _APOSTROPHE, _OPENER = (1 << i for i in range(8))
_CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """Class bits of every code point below 0x10000 (uint8, shape (65536,))."""
    table = np.zeros(0x10000, dtype=np.uint8)
    for code in range(0x10000):
        char = chr(code)
        table[code] = (_WORD * (char.isalnum() or char == "_")) | (_SPACE * char.isspace())
    for chars, bit in (("\n" + _SEPARATOR, _BREAK), (_CLOSERS, _CLOSER), (_TERMINALS, _TERMINAL),
                       (_QUOTE_CLOSERS, _QUOTE_CLOSER), (_APOSTROPHES, _APOSTROPHE), (_OPENERS, _OPENER)):
        table[[ord(c) for c in chars]] |= bit
    return table


def _classify(cp: np.ndarray) -> np.ndarray:
    """Class bits (uint8) of code points ``cp``."""
    classes = np.take(_class_table(), cp, mode="clip")
    if len(cp) and cp.max() > 0xFFFF:
        astral = np.flatnonzero(cp > 0xFFFF)
        classes[astral] = [_WORD * chr(c).isalnum() for c in cp[astral].tolist()]
    return classes


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (exclusive) of the maximal runs of True in ``mask``."""
    edges = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _batches(texts: list[str], split: bool = True):
    """Consecutive ``(start, stop, _Batch of texts[start:stop])`` of about ``_BATCH_CHARACTERS`` characters each."""
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
    start = 0
    while start < len(texts):
        used = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, used + _BATCH_CHARACTERS, side="right")), start + 1)
        yield start, stop, _Batch(texts[start:stop], split)
        start = stop


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _has(classes: np.ndarray, bits: int) -> np.ndarray:
    return (classes & bits).astype(bool)


class _Batch:
    """Texts joined into one string, cut into sentences and words with array operations.

    Offsets are code-point positions in ``joined`` (texts separated by ``_SEPARATOR``); text ``i`` starts at
    ``text_starts[i]``. Attributes: ``sentence_starts``, ``sentence_ends``, ``sentence_owner`` (text index),
    ``questions`` (the sentence ends with "?" before closing quotes), ``word_starts``, ``word_ends`` (maximal runs
    of word characters), ``word_sentence``, ``gaps`` (a ``_GAP_*`` code per pair of consecutive words) and
    ``folded`` (``joined`` lower-cased, same length).

    Parameters
    ----------
    texts : list of str
    split : bool
        Cut texts into sentences as :func:`split_sentences` does; if False every text is one (unstripped) sentence.
    """

    def __init__(self, texts: list[str], split: bool = True):
        if any(_SEPARATOR in t for t in texts):
            texts = [t.replace(_SEPARATOR, "\x01") for t in texts]
        self.joined = _SEPARATOR + _SEPARATOR.join(texts) + _SEPARATOR
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        self.text_starts = np.cumsum(lengths + 1) - lengths
        self.cp = _codepoints(self.joined)
        self.classes = _classify(self.cp)
        if split:
            starts, ends = self._split()
        else:
            starts, ends = self.text_starts, self.text_starts + lengths
        self.sentence_starts, self.sentence_ends = starts, ends
        self.sentence_owner = np.searchsorted(self.text_starts, starts, side="right") - 1
        self.questions = self._questions()
        self.word_starts, self.word_ends = _runs(_has(self.classes, _WORD))
        # Every word lies inside a sentence: sentence i holds the words from its first one to the next's first.
        first_words = np.searchsorted(self.word_starts, starts)
        self.word_sentence = np.repeat(np.arange(len(starts)), np.diff(first_words, append=len(self.word_starts)))
        self.gaps = self._gaps()
        # str.lower keeps the length except for "İ" (-> "i̇"), which re's IGNORECASE matches as "i".
        self.folded = self.joined.lower()
        if len(self.folded) != len(self.joined):
            self.folded = self.joined.replace("İ", "I").lower()

    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        """Sentence spans: the text between whitespace runs that end a sentence (stripped by construction).

        A run of whitespace (or text separators) ends a sentence if it holds a line break, or follows
        . ! ? … (and at most one closing quote), not after "U.S." or a title, and precedes a capital or digit.
        """
        cp, classes = self.cp, self.classes
        run_starts, run_ends = _runs(_has(classes, _SPACE | _BREAK))
        boundary = np.zeros(len(run_starts), dtype=bool)
        boundary[np.searchsorted(run_starts, np.flatnonzero(_has(classes, _BREAK)), side="right") - 1] = True
        # Runs after terminal punctuation: look at the few characters around them (the text opens with a separator).
        candidates = np.flatnonzero(~boundary & _has(classes[run_starts - 1], _TERMINAL | _QUOTE_CLOSER))
        start, end = run_starts[candidates], run_ends[candidates]
        before = [cp[np.maximum(start - k, 0)] for k in range(6)]  # before[k] = cp[start - k]
        before_class = [classes[np.maximum(start - k, 0)] for k in range(6)]
        is_char = lambda values, chars: np.isin(values, [ord(c) for c in chars])
        terminal = _has(before_class[1], _TERMINAL) | (
            _has(before_class[1], _QUOTE_CLOSER) & _has(before_class[2], _TERMINAL))
        word_edge = lambda k: ~_has(before_class[k], _WORD) | (start - k < 0)  # \b before cp[start - k + 1]
        initials = ((before[1] == ord(".")) & is_char(before[2], _CAPITALS) & (before[3] == ord("."))
                    & is_char(before[4], _CAPITALS) & word_edge(5))
        title = np.zeros(len(start), dtype=bool)
        for name in _TITLES:
            title |= ((before[3] == ord(name[0])) & (before[2] == ord(name[1])) & (before[1] == ord(name[2]))
                      & word_edge(4))
        # The last run holds the closing separator, so end + 1 stays inside the text.
        capital = is_char(cp[end], _SENTENCE_STARTS) | (
            _has(classes[end], _OPENER) & is_char(cp[end + 1], _SENTENCE_STARTS))
        boundary[candidates[terminal & ~initials & ~title & capital]] = True
        return run_ends[boundary][:-1], run_starts[boundary][1:]

    def _questions(self) -> np.ndarray:
        """Whether each sentence ends with "?" once closing quotes, brackets, spaces and tabs are stripped."""
        last = self.sentence_ends - 1
        stripping = np.ones(len(last), dtype=bool)
        while stripping.any():
            stripping &= (last >= self.sentence_starts) & _has(self.classes[np.maximum(last, 0)], _CLOSER)
            last -= stripping
        return (last >= self.sentence_starts) & (self.cp[np.maximum(last, 0)] == ord("?"))

    def _gaps(self) -> np.ndarray:
        """Gap code between word k and word k+1, for every k."""
        after, before = self.word_ends[:-1], self.word_starts[1:]
        # Whitespace only: the gap is one whole run of whitespace (separators are not whitespace).
        run_starts, run_ends = _runs(_has(self.classes, _SPACE))
        run_length = np.zeros(len(self.cp) + 1, dtype=np.int32)
        run_length[run_starts] = run_ends - run_starts
        spaced = run_length[after] == before - after
        same_sentence = self.word_sentence[1:] == self.word_sentence[:-1]
        codes = np.full(len(after), _GAP_OTHER, dtype=np.int8)
        codes[spaced] = np.where(same_sentence[spaced], _GAP_SPACE, _GAP_SPACE_ACROSS)
        codes[(before - after == 1) & _has(self.classes[after], _APOSTROPHE)] = _GAP_APOSTROPHE
        return codes

    @cached_property
    def words(self) -> pa.LargeStringArray:
        """The lower-cased words, in order, as a pyarrow string array."""
        n = len(self.word_starts)
        if not n:
            return pa.array([], type=pa.large_string())
        data = self.folded.encode("utf-8", "surrogatepass")
        if len(data) == len(self.folded):
            byte_starts, byte_ends = self.word_starts, self.word_ends
        else:  # UTF-8 offset = code-point offset + the extra bytes of the wider characters before it
            wide = np.flatnonzero(self.cp >= 0x80)  # lower-casing keeps ASCII ASCII
            folded_wide = _codepoints(self.folded)[wide]
            extra = np.concatenate(([0], np.cumsum((folded_wide >= 0x80).astype(np.int64) + (folded_wide >= 0x800)
                                                   + (folded_wide >= 0x10000))))
            byte_starts = self.word_starts + extra[np.searchsorted(wide, self.word_starts)]
            byte_ends = self.word_ends + extra[np.searchsorted(wide, self.word_ends)]
        # Offsets word, gap, word, ...: the pieces at even positions are the words.
        offsets = np.empty(2 * n, dtype=np.int64)
        offsets[0::2], offsets[1::2] = byte_starts, byte_ends
        pieces = pa.LargeStringArray.from_buffers(2 * n - 1, pa.py_buffer(offsets), pa.py_buffer(data))
        return pieces.take(pa.array(np.arange(n, dtype=np.int64) * 2))

    def sentences(self) -> list[str]:
        """The sentences as Python strings."""
        return [self.joined[a:b] for a, b in zip(self.sentence_starts.tolist(), self.sentence_ends.tolist())]


class _Lexicon:
    """Cue phrases as word sequences, in the order :func:`_phrase_pattern`'s alternation tries them (longest first).

    A phrase is words joined by whitespace (any run of it in the text) or an apostrophe (' or ’ in the text);
    each word matches a whole word of the text, case-insensitively.
    """

    def __init__(self, phrases: tuple[str, ...]):
        ordered = sorted({p.lower() for p in phrases if p.strip()}, key=len, reverse=True)
        self.vocabulary = sorted({w for p in ordered for w in re.split(r"[\s'’]+", p.strip())})
        if not all(w and all(c.isalnum() or c == "_" for c in w) for w in self.vocabulary):
            raise ValueError("cue phrases may hold only word characters, spaces and apostrophes")
        index = {w: i for i, w in enumerate(self.vocabulary)}
        self.sequences = []
        for phrase in ordered:
            words, gaps = [], []
            for token in re.split(r"(\s+|['’])", phrase.strip()):
                if not token:
                    continue
                if token.isspace():
                    gaps.append(_GAP_SPACE)
                elif token in _APOSTROPHES:
                    gaps.append(_GAP_APOSTROPHE)
                else:
                    words.append(index[token])
            if len(gaps) != len(words) - 1:
                raise ValueError(f"cue phrase {phrase!r} must start and end with a word, one separator between words")
            self.sequences.append((np.array(words), np.array(gaps, dtype=np.int8)))

    def match(self, batch: _Batch, word_ids: np.ndarray, across_sentences: bool) -> tuple[np.ndarray, np.ndarray]:
        """Matches in ``batch`` as ``re.finditer`` finds them: leftmost, longest phrase first, not overlapping.

        ``word_ids`` (n_words,) are the batch's words as indices into ``vocabulary`` (-1: in no phrase).
        ``across_sentences`` lets a phrase span a sentence boundary (searching a whole text rather than
        sentence by sentence). Returns the indices of the first and last word of each match, in text order.
        """
        gaps = batch.gaps.copy()
        if across_sentences:
            gaps[gaps == _GAP_SPACE_ACROSS] = _GAP_SPACE
        n = len(word_ids)
        candidates = np.flatnonzero(word_ids >= 0)
        order = np.argsort(word_ids[candidates], kind="stable")
        candidates = candidates[order]
        first_words = word_ids[candidates]
        length = np.zeros(n, dtype=np.int64)  # words in the phrase matched at each start, 0 = none
        for words, phrase_gaps in self.sequences:
            lo, hi = np.searchsorted(first_words, [words[0], words[0] + 1])
            at = candidates[lo:hi]
            at = at[(length[at] == 0) & (at + len(words) <= n)]
            for k in range(1, len(words)):
                at = at[(word_ids[at + k] == words[k]) & (gaps[at + k - 1] == phrase_gaps[k - 1])]
            length[at] = len(words)
        first = np.flatnonzero(length)
        last = first + length[first] - 1
        # finditer resumes after each match: a match starting inside a kept one is dropped. Only runs of
        # overlapping candidates (rare) need the sequential walk.
        overlaps = np.concatenate(([False], first[1:] <= np.maximum.accumulate(last)[:-1]))
        if overlaps.any():
            cluster = np.cumsum(~overlaps)
            keep, current, end = np.ones(len(first), dtype=bool), -1, -1
            for i in np.flatnonzero(np.bincount(cluster)[cluster] > 1).tolist():
                if cluster[i] != current:
                    current, end = cluster[i], last[i]
                elif first[i] <= end:
                    keep[i] = False
                else:
                    end = last[i]
            first, last = first[keep], last[keep]
        return first, last


@lru_cache(maxsize=32)
def _compiled_lexicons(cues: tuple[str, ...], question_cues: tuple[str, ...]):
    """(lexicon, question lexicon, their words as a pyarrow array, and each lexicon's word ids for those words).

    One vocabulary lookup then serves both lexicons; each id array ends with -1 for words in neither.
    """
    lexicons = _Lexicon(cues), _Lexicon(question_cues)
    words = sorted(set(lexicons[0].vocabulary) | set(lexicons[1].vocabulary))
    ids = []
    for lexicon in lexicons:
        index = {word: i for i, word in enumerate(lexicon.vocabulary)}
        ids.append(np.array([index.get(word, -1) for word in words] + [-1], dtype=np.int64))
    return (*lexicons, pa.array(words, type=pa.large_string()), ids)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, stripped of surrounding whitespace.

    Empty text gives ``[]``. Spans index into ``text`` itself, in order, without overlap.
    """
    batch = _Batch([text])
    return list(zip((batch.sentence_starts - 1).tolist(), (batch.sentence_ends - 1).tolist()))


@lru_cache(maxsize=32)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern:
    """One case-insensitive alternation, longest phrase first, matching whole words only.

    The regex form of a lexicon for scripts; scoring uses the equivalent word-array matcher :class:`_Lexicon`.
    """
    def piece(phrase: str) -> str:
        words = [re.escape(word).replace("'", "['’]") for word in phrase.split()]
        return r"\s+".join(words)

    ordered = sorted({p.lower() for p in phrases if p.strip()}, key=len, reverse=True)
    if not ordered:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile(r"(?<!\w)(?:" + "|".join(piece(p) for p in ordered) + r")(?!\w)", re.IGNORECASE)


class _Cues:
    """Cue matches of a batch under one lexicon, and the per-sentence cue features.

    ``spans`` (k, 2) and ``owner`` (k,): cue character spans in ``batch.joined``, sorted, and their text.
    ``features`` (n_sentences, 3): the :class:`CueFeatures` columns.
    """

    def __init__(self, batch: _Batch, cues: tuple, question_cues: tuple):
        n_sentences = len(batch.sentence_starts)
        lexicon, question, vocabulary, ids = _compiled_lexicons(tuple(cues), tuple(question_cues))
        found = pc.index_in(batch.words, value_set=vocabulary).fill_null(-1).to_numpy()
        lexicon_ids, question_ids = ids[0][found], ids[1][found]
        # Question cues are searched sentence by sentence, and count only in questions.
        first, last = question.match(batch, question_ids, across_sentences=False)
        sentence = batch.word_sentence[first]
        asked = batch.questions[sentence]
        question_spans = np.stack([batch.word_starts[first[asked]], batch.word_ends[last[asked]]], axis=1)
        # Lexicon cues: per sentence for the features, over the whole text for the spans shown.
        first, last = lexicon.match(batch, lexicon_ids, across_sentences=False)
        counted = ~self._months(batch, first, last, batch.sentence_starts[batch.word_sentence[first]])
        # a leading-question cue is a cue (issue 4): counted with the lexicon's, since the training
        # sentences hold too few questions to weigh a separate feature (its learned weight is 0)
        counts = np.bincount(batch.word_sentence[first[counted]], minlength=n_sentences)
        counts += np.bincount(sentence[asked], minlength=n_sentences)
        self.features = np.stack([
            np.log1p(counts),
            np.bincount(sentence[asked], minlength=n_sentences) > 0,
            batch.questions,
        ], axis=1).astype(np.float64).reshape(-1, 3)
        first, last = lexicon.match(batch, lexicon_ids, across_sentences=True)
        starts, ends = batch.word_starts[first], batch.word_ends[last]
        sentence_start = np.isin(starts, batch.sentence_starts)
        keep = ~self._months(batch, first, last, np.where(sentence_start, starts, -1))
        keep &= ~self._overlapping(starts, ends, question_spans)
        spans = np.concatenate([question_spans, np.stack([starts[keep], ends[keep]], axis=1)])
        self.spans = spans[np.argsort(spans[:, 0], kind="stable")]
        self.owner = np.searchsorted(batch.text_starts, self.spans[:, 0], side="right") - 1

    @staticmethod
    def _months(batch, first, last, sentence_starts):
        """A capitalised "May" that does not open its sentence is the month, not the modal."""
        cp, starts = batch.cp, batch.word_starts[first]
        single = (first == last) & (batch.word_ends[last] - starts == 3)
        may = np.zeros(len(first), dtype=bool)
        may[single] = ((cp[starts[single]] == ord("M")) & (cp[starts[single] + 1] == ord("a"))
                       & (cp[starts[single] + 2] == ord("y")))
        return may & (starts != sentence_starts)

    @staticmethod
    def _overlapping(starts, ends, taken):
        """Whether each span (starts, ends) overlaps one of the sorted, disjoint spans ``taken``."""
        if not len(taken):
            return np.zeros(len(starts), dtype=bool)
        before = np.searchsorted(taken[:, 0], ends, side="left") - 1
        return (before >= 0) & (taken[np.maximum(before, 0), 1] > starts)


def _cue_lists(batch: _Batch, cues: _Cues, as_dicts: bool) -> list[list]:
    """Per text of ``batch``, its cues in text order: ``(phrase, start, end)`` tuples or
    ``{"phrase", "start", "end"}`` dicts, with offsets into the text."""
    starts, ends = cues.spans[:, 0], cues.spans[:, 1]
    offsets = batch.text_starts[cues.owner]
    phrases = [batch.joined[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
    spans = zip(phrases, (starts - offsets).tolist(), (ends - offsets).tolist())
    items = [{"phrase": p, "start": s, "end": e} for p, s, e in spans] if as_dicts else list(spans)
    bounds = np.searchsorted(cues.owner, np.arange(len(batch.text_starts) + 1)).tolist()
    return [items[a:b] for a, b in pairwise(bounds)]


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
    batch = _Batch([text])
    return _cue_lists(batch, _Cues(batch, *_lexicon(language, model)), as_dicts=False)[0]


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
        texts = _texts(X)
        rows = [_Cues(batch, self.cues, self.question_cues).features for *_, batch in _batches(texts, split=False)]
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
        texts = _texts(X)
        proba = np.zeros(len(texts))
        for start, stop, batch in _batches(texts, split=False):
            proba[start:stop] = self._text_proba(batch)
        return np.stack([1 - proba, proba], axis=1)

    def _text_proba(self, batch: _Batch, cue_features: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability (n_sentences,) of each sentence of ``batch``, as ``text_model_`` computes it.

        The fitted pipeline's steps are applied to the batch's word arrays (see :func:`_word_tfidf`);
        ``cue_features`` are those of ``self.cues`` when the caller has them already.
        """
        total = np.zeros(len(batch.sentence_starts))
        # CalibratedClassifierCV.predict_proba for two classes: the mean over its calibrated classifiers of the
        # sigmoid calibrator applied to the pipeline's decision function.
        for calibrated in self.text_model_.calibrated_classifiers_:
            union, solver = calibrated.estimator[0], calibrated.estimator[-1]
            blocks = []
            for _, part in union.transformer_list:
                if isinstance(part, CueFeatures):
                    fitted_lexicon = (tuple(part.cues), tuple(part.question_cues))
                    if cue_features is None or fitted_lexicon != (tuple(self.cues), tuple(self.question_cues)):
                        cue_features = _Cues(batch, *fitted_lexicon).features
                    blocks.append(sp.csr_matrix(cue_features))
                else:
                    blocks.append(_word_tfidf(part, batch))
            decision = solver.decision_function(sp.hstack(blocks, format="csr"))
            total += calibrated.calibrators[0].predict(decision)
        return total / len(self.text_model_.calibrated_classifiers_)

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


def _word_tfidf(vectorizer, batch: _Batch):
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


def _texts(X) -> list[str]:
    """A 1-D sequence of texts as a list of str (NA -> "")."""
    if isinstance(X, str):
        raise ValueError("expected a sequence of texts, got a single string")
    if isinstance(X, pd.Series) and isinstance(X.dtype, pd.StringDtype):
        return X.fillna("").tolist()  # already str: skips a tenfold slower round trip through object
    values = pd.Series(list(X), dtype=object)
    return values.where(values.notna(), "").astype(str).tolist()


@lru_cache(maxsize=4)
def load_model(path: str | Path = MODEL_PATH) -> SpeculationClassifier:
    """The fitted :class:`SpeculationClassifier` saved at ``path`` (cached; reads a local file, downloads nothing)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/train_speculation.py` to build it")
    return joblib.load(path)


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
        ``speculative_sentences`` (int64 >= 0: sentences scoring >= 0.5).
    """
    model = load_model() if model is None else model
    cues = np.empty(len(texts), dtype=object)
    (scores, counts), = _sentence_maxima(texts, [model], language, cues)
    return _speculation_frame(scores, counts, cues, texts.index)


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
    (scores, counts), (conjecture, _) = _sentence_maxima(
        texts, [load_model(), load_model(CONJECTURE_MODEL_PATH)], language, cues)
    frame = _speculation_frame(scores, counts, cues, texts.index)
    frame["conjecture_score"] = conjecture
    return frame


def _speculation_frame(scores: np.ndarray, counts: np.ndarray, cues: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """:func:`score_speculation`'s frame from per-comment scores, counts and cue lists."""
    return pd.DataFrame({
        "speculation_score": scores,
        "is_speculative": scores >= 0.5,
        "speculation_cues": cues,
        "speculative_sentences": counts,
    }, index=index)


def _sentence_maxima(texts: pd.Series, models: list, language, cues: np.ndarray | None) -> list:
    """Per model, ``(score, count)``: each comment's maximum sentence probability (n,) and its number of
    sentences scoring >= 0.5 (int64, n); 0 for empty or missing text.

    Every batch of sentences is split once and scored by all ``models``. ``cues`` (object array (n,), or None
    to skip) receives each comment's cue dicts under ``models[0]``'s lexicon.
    """
    values = _texts(texts)
    german = _languages(language, texts.index) == "de"
    results = [(np.zeros(len(values)), np.zeros(len(values), dtype=np.int64)) for _ in models]
    for is_german in (False, True):
        members = np.flatnonzero(german == is_german)
        lexicons = [_lexicon("de" if is_german else "en", model) for model in models]
        for start, stop, batch in _batches([values[i] for i in members]):
            rows = members[start:stop]
            found = {}  # the cue matches of each distinct lexicon (German: one for all models)
            for model, lexicon, (scores, counts) in zip(models, lexicons, results):
                if lexicon not in found:
                    found[lexicon] = _Cues(batch, *lexicon)
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
            if cues is not None:
                for row, text_cues in zip(rows.tolist(), _cue_lists(batch, found[lexicons[0]], as_dicts=True)):
                    cues[row] = text_cues
    return results
