"""Hedging and speculation cue lexicons (English, German) and their matching on a :class:`TextBatch`.

Phrases are matched as word-id sequences on the batch's word arrays (:class:`CueMatches`), which gives the
cue spans shown to moderators and the cue-count features of the speculation classifier;
:func:`phrase_pattern` is the equivalent regular expression, for scripts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moderation.sentences import (
    APOSTROPHES,
    GAP_APOSTROPHE,
    GAP_SPACE,
    GAP_SPACE_ACROSS,
    TextBatch,
)


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


class _Lexicon:
    """Cue phrases as word sequences, in the order :func:`phrase_pattern`'s alternation tries them (longest first).

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
                    gaps.append(GAP_SPACE)
                elif token in APOSTROPHES:
                    gaps.append(GAP_APOSTROPHE)
                else:
                    words.append(index[token])
            if len(gaps) != len(words) - 1:
                raise ValueError(f"cue phrase {phrase!r} must start and end with a word, one separator between words")
            self.sequences.append((np.array(words), np.array(gaps, dtype=np.int8)))

    def match(self, batch: TextBatch, word_ids: np.ndarray, across_sentences: bool) -> tuple[np.ndarray, np.ndarray]:
        """Matches in ``batch`` as ``re.finditer`` finds them: leftmost, longest phrase first, not overlapping.

        ``word_ids`` (n_words,) are the batch's words as indices into ``vocabulary`` (-1: in no phrase).
        ``across_sentences`` lets a phrase span a sentence boundary (searching a whole text rather than
        sentence by sentence). Returns the indices of the first and last word of each match, in text order.
        """
        gaps = batch.gaps.copy()
        if across_sentences:
            gaps[gaps == GAP_SPACE_ACROSS] = GAP_SPACE
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


@lru_cache(maxsize=32)
def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern:
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


class CueMatches:
    """Cue matches of a batch under one lexicon, and the per-sentence cue features.

    ``spans`` (k, 2) and ``owner`` (k,): cue character spans in ``batch.joined``, sorted, and their text.
    ``features`` (n_sentences, 3): the :class:`CueFeatures` columns.
    """

    def __init__(self, batch: TextBatch, cues: tuple, question_cues: tuple):
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
        # a lookup table over the batch's offsets: np.isin's default sorts both arrays, for every batch
        sentence_start = np.isin(starts, batch.sentence_starts, kind="table")
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


def cue_lists(batch: TextBatch, cues: CueMatches, as_dicts: bool) -> list[list]:
    """Per text of ``batch``, its cues in text order: ``(phrase, start, end)`` tuples or
    ``{"phrase", "start", "end"}`` dicts, with offsets into the text."""
    starts, ends = cues.spans[:, 0], cues.spans[:, 1]
    offsets = batch.text_starts[cues.owner]
    phrases = [batch.joined[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
    spans = zip(phrases, (starts - offsets).tolist(), (ends - offsets).tolist())
    items = [{"phrase": p, "start": s, "end": e} for p, s, e in spans] if as_dicts else list(spans)
    bounds = np.searchsorted(cues.owner, np.arange(len(batch.text_starts) + 1)).tolist()
    return [items[a:b] for a, b in pairwise(bounds)]
