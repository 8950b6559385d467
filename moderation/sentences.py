"""Sentences and words of many texts at once, with array operations (no Python loop per sentence or word).

A batch of texts is joined into one string (:class:`TextBatch`); character classes give the sentence spans
(rule-based, nothing downloaded), the word spans and the gaps between words, which the cue matcher
(:mod:`moderation.cues`) and the speculation classifier's TF-IDF (:mod:`moderation.speculation`) read.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa


# Sentence ends at a whitespace run after . ! ? … (and one closing quote) when the next sentence
# starts upper-case or with a digit, or at a run holding a line break; "U.S. govt" and "e.g. the" stay whole.
_TERMINALS = ".!?…"


_QUOTE_CLOSERS = "\"'”’)]"
_OPENERS = "\"'“‘(["
_SENTENCE_STARTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ÄÖÜ"
_TITLES = ("Mr.", "Dr.", "Ms.")
_CLOSERS = "\"'”’)] \t"
APOSTROPHES = "'’"
_SEPARATOR = "\x00"  # joins the texts of a batch; a text's own NULs become \x01 (also neither word nor space)
_BATCH_CHARACTERS = 1 << 22  # about 4M characters per batch bounds its arrays to a few hundred MB


# Gap between two consecutive words: whitespace (within one sentence / across a sentence boundary),
# one apostrophe, anything else.
GAP_OTHER, GAP_SPACE, GAP_SPACE_ACROSS, GAP_APOSTROPHE = 0, 1, 2, 3


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
                       (_QUOTE_CLOSERS, _QUOTE_CLOSER), (APOSTROPHES, _APOSTROPHE), (_OPENERS, _OPENER)):
        table[[ord(c) for c in chars]] |= bit
    return table


def _classify(cp: np.ndarray) -> np.ndarray:
    """Class bits (uint8) of code points ``cp``."""
    # "wrap" is the fastest mode; the code points it wraps (above 0xFFFF) are classified below
    classes = np.take(_class_table(), cp, mode="wrap")
    if len(cp) and cp.max() > 0xFFFF:
        astral = np.flatnonzero(cp > 0xFFFF)
        classes[astral] = [_WORD * chr(c).isalnum() for c in cp[astral].tolist()]
    return classes


def is_word_character(cp: np.ndarray) -> np.ndarray:
    """Whether each code point (any unsigned integer array) is a word character as Python's ``re`` reads ``\\w``
    (``str.isalnum()`` or "_")."""
    if cp.dtype == np.uint8:  # bytes of ASCII text: a lookup in the table's first 256 entries
        return _has(_class_table()[:256][cp], _WORD)
    return _has(_classify(cp), _WORD)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (exclusive) of the maximal runs of True in ``mask``."""
    edges = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def batches(texts: list[str], split: bool = True):
    """Consecutive ``(start, stop, TextBatch of texts[start:stop])`` of about ``_BATCH_CHARACTERS`` characters each."""
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
    start = 0
    while start < len(texts):
        used = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, used + _BATCH_CHARACTERS, side="right")), start + 1)
        yield start, stop, TextBatch(texts[start:stop], split)
        start = stop


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _has(classes: np.ndarray, bits: int) -> np.ndarray:
    return (classes & bits).astype(bool)


class TextBatch:
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
        self.word_starts, self.word_ends = runs(_has(self.classes, _WORD))
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
        run_starts, run_ends = runs(_has(classes, _SPACE | _BREAK))
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
        run_starts, run_ends = runs(_has(self.classes, _SPACE))
        run_length = np.zeros(len(self.cp) + 1, dtype=np.int32)
        run_length[run_starts] = run_ends - run_starts
        spaced = run_length[after] == before - after
        same_sentence = self.word_sentence[1:] == self.word_sentence[:-1]
        codes = np.full(len(after), GAP_OTHER, dtype=np.int8)
        codes[spaced] = np.where(same_sentence[spaced], GAP_SPACE, GAP_SPACE_ACROSS)
        codes[(before - after == 1) & _has(self.classes[after], _APOSTROPHE)] = GAP_APOSTROPHE
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


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, stripped of surrounding whitespace.

    Empty text gives ``[]``. Spans index into ``text`` itself, in order, without overlap.
    """
    batch = TextBatch([text])
    return list(zip((batch.sentence_starts - 1).tolist(), (batch.sentence_ends - 1).tolist()))


def as_texts(X) -> list[str]:
    """A 1-D sequence of texts as a list of str (NA -> "")."""
    if isinstance(X, str):
        raise ValueError("expected a sequence of texts, got a single string")
    if isinstance(X, pd.Series) and isinstance(X.dtype, pd.StringDtype):
        return X.fillna("").tolist()  # already str: skips a tenfold slower round trip through object
    values = pd.Series(list(X), dtype=object)
    return values.where(values.notna(), "").astype(str).tolist()
