"""Tokenising, language detection and the sparse TF-IDF arithmetic every text stage shares.

Texts are split into word runs with array operations on their UTF-8 bytes (:class:`WordRuns`; paywall-masked
``****`` runs never become tokens), languages are told apart by their exclusive stop words, and the helpers
here look up rows of one sparse matrix from another without materialising repeated rows.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from stop_words import get_stop_words

from moderation.sentences import is_word_character, runs


# sklearn's English list (318 function words); the stop-words package's English
# list also holds content words ("world", "microsoft"), its German list does not.
STOP_WORDS = {"en": frozenset(ENGLISH_STOP_WORDS), "de": frozenset(get_stop_words("de"))}
# words only, starting with a letter: numbers and masked "****" runs are never tokens
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W_]+\b"
MASKED_RUN = r"\*+"
TOKEN = re.compile(TOKEN_PATTERN)
# sparse lookups into matrices this small read a dense copy (16 MB of float64) instead of searching
DENSE_LOOKUP_CELLS = 2**21
# comments per chunk of whole articles in the scoring stages: their per-comment arrays (several per stored
# TF-IDF entry, dense topic and semantic rows) would otherwise be held for the whole corpus at once
SCORING_CHUNK_ROWS = 25_000


def has_text(texts: pd.Series) -> pd.Series:
    """Whether each text holds anything but whitespace and paywall masks (NA: False).

    Searched by pyarrow with Python's whitespace (``[^\\s*]`` as ``re`` reads it, which pandas would run
    text by text in Python).
    """
    found = pc.match_substring_regex(pa.array(texts.astype("str")), f"[^{python_class('space')}*]")
    return pd.Series(found.fill_null(False).to_numpy(zero_copy_only=False), index=texts.index)


def clean_text(texts: pd.Series) -> pd.Series:
    """Texts with paywall-masked ``*`` runs removed and NA as the empty string."""
    return texts.astype("str").fillna("").str.replace(MASKED_RUN, " ", regex=True)


def language_from_counts(counts: sp.csr_matrix, terms: np.ndarray, default: str) -> np.ndarray:
    """Language ("en", "de") per row of term counts (:func:`count_terms`): the one whose exclusive stop words
    occur most (``default`` on ties and no hits).

    A stop-word count rather than langdetect: deterministic, no model, and read from the counts a text stage
    makes anyway instead of a per-text profile search.
    """
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


def set_per_source(detected: np.ndarray, sources: pd.Series, source_languages: dict | None) -> np.ndarray:
    """Detected languages, replaced by the per-source setting where one is given."""
    if not source_languages:
        return detected
    fixed = sources.astype("str").map(source_languages).to_numpy(dtype=object)
    return np.where(pd.isna(fixed), detected, fixed).astype(str)


def without_stop_words(counts: sp.csr_matrix, terms: np.ndarray, languages: np.ndarray) -> sp.csr_matrix:
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


def row_keys(frame: pd.DataFrame, columns: list[str]) -> pd.MultiIndex:
    """The rows' key (e.g. source and comment_id) as a MultiIndex of strings."""
    return pd.MultiIndex.from_arrays([frame[column].astype("str") for column in columns], names=columns)


def positions_of(index: pd.MultiIndex, keys: pd.MultiIndex) -> np.ndarray:
    """Position in ``index`` of each of ``keys`` (first occurrence); -1 where absent or missing."""
    first = pd.Series(np.arange(len(index)), index=index)
    first = first[~first.index.duplicated()]
    return first.reindex(keys).fillna(-1).to_numpy(dtype=np.int64)


def group_codes(keys: pd.MultiIndex) -> np.ndarray:
    """``pd.factorize(keys)[0]`` (codes in order of first appearance) from the level codes.

    Factorizing a MultiIndex builds a tuple per row; one int64 per row is several times faster.
    """
    combined = np.zeros(len(keys), dtype=np.int64)
    for codes, level in zip(keys.codes, keys.levels):
        combined = combined * (len(level) + 1) + (np.asarray(codes, dtype=np.int64) + 1)
    return pd.factorize(combined)[0]


def group_chunks(group: np.ndarray, max_rows: int = SCORING_CHUNK_ROWS) -> list[np.ndarray]:
    """Positions of the rows in chunks of whole groups (``group``: codes 0..k-1), about ``max_rows`` rows each.

    Groups are taken in code order, a chunk being the groups that start within one stretch of ``max_rows``
    rows (so it holds fewer than ``max_rows`` rows plus its last group's); each chunk's positions are
    ascending, so a chunk keeps the rows' order.
    """
    if len(group) <= max_rows:
        return [np.arange(len(group))]
    sizes = np.bincount(group)
    chunk = ((np.cumsum(sizes) - sizes) // max_rows)[group]
    order = np.argsort(chunk, kind="stable")
    bounds = np.searchsorted(chunk[order], np.arange(chunk.max() + 2))
    return [order[start:stop] for start, stop in zip(bounds[:-1], bounds[1:]) if stop > start]


def tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF-IDF rows, L2-normalised: (1 + ln tf) * idf / norm (as scikit-learn's ``sublinear_tf``).

    The rows share ``counts``' index arrays (a CSR matrix's own): only the values are new.
    """
    counts = counts.tocsr()
    data = np.log(counts.data.astype(np.float64, copy=False))
    # in place, in the same operations and order: a temporary per step would hold another copy of every entry
    data += 1
    data *= idf[counts.indices]
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    data /= np.sqrt(np.bincount(rows, weights=data**2, minlength=counts.shape[0]))[rows]
    return sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape, copy=False)


def entries_at(x: sp.csr_matrix, b: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
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


def row_sums(x: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (one per stored entry of ``x``) over each row of ``x``."""
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    return np.bincount(rows, weights=values, minlength=x.shape[0]).astype(np.float64)


@lru_cache(maxsize=3)
def python_class(kind: str) -> str:
    """The inside of an RE2 character class (pyarrow's regex engine) holding the code points Python's ``re``
    matches with ``\\w`` (``kind`` "word": ``str.isalnum()`` or "_"), ``\\s`` ("space": ``str.isspace()``) or
    ``\\d`` ("digit": ``str.isdecimal()``).

    RE2's own ``\\w`` and ``\\s`` are ASCII-only, and its ``\\pL``-style classes follow another Unicode
    version: a class listing Python's own code points makes pyarrow find what ``re`` finds.
    """
    # Python's re scans every code point at C speed (its \w, \s, \d are those str methods); a Python test per
    # code point took a tenth of a second, paid by every command that searches text
    every = np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    found = re.finditer({"word": r"\w+", "space": r"\s+", "digit": r"\d+"}[kind], every)
    return "".join(f"\\x{{{a:x}}}" + (f"-\\x{{{b - 1:x}}}" if b - a > 1 else "")
                   for a, b in (match.span() for match in found))


# characters that Python's IGNORECASE matches with an ASCII letter (re's documentation): RE2 folds only some
_FOLDED_ONTO_ASCII = "\u0130\u0131\u017f\u212a"
# escapes whose RE2 meaning is ASCII-only, as the class of Python's code points (and whether it is negated)
_PYTHON_ESCAPES = {"\\w": ("word", ""), "\\d": ("digit", ""), "\\s": ("space", ""), "\\W": ("word", "^"),
                   "\\D": ("digit", "^"), "\\S": ("space", "^")}


@lru_cache(maxsize=32)
def _unicode_superset(pattern: str) -> str:
    """``pattern`` for RE2 with ``\\w``, ``\\d``, ``\\s`` (and their negations) as Python reads them and no ``\\b``:
    it matches wherever Python's ``re`` matches ``pattern`` (dropping an assertion only adds matches; RE2's
    ``\\b`` is ASCII-only)."""
    out, class_opened = [], None  # where the open character class's first member is, if one is open
    for token in re.findall(r"\\.|.", pattern, flags=re.DOTALL):
        kind, negated = _PYTHON_ESCAPES.get(token, (None, ""))
        if kind and class_opened is not None and not negated:
            out.append(python_class(kind))
        elif kind and class_opened is None:
            out.append(f"[{negated}{python_class(kind)}]")
        elif token == "\\b" and class_opened is None:
            continue
        elif kind or token in ("\\B", "\\b"):
            raise ValueError(f"{pattern!r}: no Unicode superset of {token!r} here")
        else:
            if token == "[" and class_opened is None:
                class_opened = len(out) + 1
            elif token == "^" and class_opened == len(out):
                class_opened += 1
            elif token == "]" and class_opened is not None and len(out) > class_opened:  # "[]" opens with a "]"
                class_opened = None
            out.append(token)
    superset = "".join(out)
    if any(look in superset for look in ("(?=", "(?!", "(?<")):
        raise ValueError(f"{pattern!r}: look-arounds are not RE2")
    return superset


def may_match(texts: pd.Series, pattern: str, ignore_case: bool = False) -> np.ndarray:
    """Whether Python's ``re.search(pattern, text)`` may match each text (bool (n,); NA: False): True wherever it
    matches, and on a few texts that are not ASCII where it does not. Searched by pyarrow, for a Python regex
    to run on the texts found: Python's ``re``, text by text, takes ten times as long.

    On ASCII texts RE2 finds exactly what ``re`` finds (for these RE2-compatible patterns); on the others
    ``\\w``, ``\\d`` and ``\\b`` differ (RE2's are ASCII-only), so those texts are searched with
    :func:`_unicode_superset`, and a text holding a character that ``re`` folds onto an ASCII letter under
    ``ignore_case`` ("ſ", "K", "İ", "ı") is always a candidate.
    """
    values = pa.array(texts.astype("str").fillna(""), type=pa.large_string())
    found = pc.match_substring_regex(values, pattern, ignore_case=ignore_case).to_numpy(zero_copy_only=False)
    other = np.flatnonzero(~pc.string_is_ascii(values).to_numpy(zero_copy_only=False))
    if len(other):
        rest = values.take(pa.array(other))
        loose = pc.match_substring_regex(rest, _unicode_superset(pattern), ignore_case=ignore_case)
        folded = pc.match_substring_regex(rest, f"[{_FOLDED_ONTO_ASCII}]")
        found[other] = pc.or_(loose, folded).to_numpy(zero_copy_only=False)
    return found


def python_matches(texts: pd.Series, pattern: str, count: bool = False) -> np.ndarray:
    """``re.search(pattern, text) is not None`` for each text (bool (n,)), or with ``count``
    ``len(re.findall(pattern, text))`` (int64 (n,)), as pandas' string methods give them; NA: False or 0.

    For an RE2-compatible ``pattern``: pyarrow searches the ASCII texts, where RE2 finds what ``re`` finds; of
    the others (RE2's ``\\w``, ``\\d`` and ``\\b`` are ASCII-only) Python's ``re`` reads only those
    :func:`may_match` finds, instead of all of them (pandas would, text by text: a curly apostrophe in one
    comment in a thousand made a stage ten times slower).
    """
    values = pa.array(texts.astype("str").fillna(""), type=pa.large_string())
    search = pc.count_substring_regex if count else pc.match_substring_regex
    found = search(values, pattern).to_numpy(zero_copy_only=False).astype(np.int64 if count else bool)
    other = np.flatnonzero(~pc.string_is_ascii(values).to_numpy(zero_copy_only=False))
    if len(other):
        found[other] = 0
        candidates = other[may_match(texts.iloc[other], pattern)]
        compiled = re.compile(pattern)
        strings = values.take(pa.array(candidates, type=pa.int64())).to_pylist()
        found[candidates] = [len(compiled.findall(value)) if count else compiled.search(value) is not None
                             for value in strings]
    return found


def _utf8_word_bytes(data: np.ndarray) -> np.ndarray:
    """Whether each byte of UTF-8 ``data`` (uint8) belongs to a word character (:func:`is_word_character`)."""
    word = is_word_character(data)  # right for the ASCII bytes, which are their own code points
    high = np.flatnonzero(data >= 0x80)  # the bytes of the other characters: a lead byte, then 1 to 3 more
    if len(high):
        lead = high[data[high] >= 0xC0]
        first = data[lead].astype(np.uint32)
        width = 2 + (first >= 0xE0) + (first >= 0xF0)
        # the lead byte keeps 5, 4 or 3 bits of a 2-, 3- or 4-byte character, each continuation byte 6
        cp = first & (0x7F >> width)
        for k in range(1, 4):
            more = width > k
            cp[more] = (cp[more] << 6) | (data[lead[more] + k] & 0x3F)
        word[high] = np.repeat(is_word_character(cp), width)
    return word


class WordRuns:
    """The words of texts as ``re.findall(r"\\w+", text)`` finds them (maximal runs of Python's word characters,
    also in texts that are not ASCII), found in the texts' UTF-8 bytes with array operations: a regex pass
    (pyarrow's, or Python's per text once a text is not ASCII) costs several times more.

    Attributes: ``data`` (the texts' UTF-8 bytes, uint8), ``offsets`` (n + 1,) each text's start in it,
    ``is_word`` (per byte: part of a word character), ``starts`` and ``ends`` (exclusive) of the words, in
    bytes, and ``first_word`` (n + 1,) each text's first word's number (text i holds words ``first_word[i]``
    to ``first_word[i + 1] - 1``).
    """

    def __init__(self, texts: pd.Series):
        values = pa.array(texts.astype("str").fillna(""), type=pa.large_string())
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        _, offsets, data = values.buffers()
        offsets = np.frombuffer(offsets, dtype=np.int64)[values.offset:values.offset + len(values) + 1]
        data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        self.data, self.offsets = data[offsets[0]:offsets[-1]], offsets - offsets[0]
        self.is_word = _utf8_word_bytes(self.data)
        self.starts, self.ends = runs(self.is_word)
        # a run that goes on from the end of one text into the next is two words
        inner = self.offsets[1:-1]
        begun = np.searchsorted(self.starts, inner, side="right")
        inside = np.searchsorted(self.ends, inner, side="right") < begun  # a run started at or before, not ended
        inside &= np.append(self.starts, -1)[begun - 1] != inner  # not begun right there (-1: none begun)
        inside[1:] &= inner[1:] != inner[:-1]  # empty texts repeat an offset
        cut = inner[inside]
        self.starts = np.insert(self.starts, np.searchsorted(self.starts, cut), cut)
        self.ends = np.insert(self.ends, np.searchsorted(self.ends, cut), cut)
        self.first_word = np.searchsorted(self.starts, self.offsets)

    def counts(self) -> np.ndarray:
        """Words per text (int64, (n,))."""
        return np.diff(self.first_word)

    def words(self) -> pa.LargeStringArray:
        """Every word, in order, as a pyarrow string array."""
        if not len(self.starts):
            return pa.array([], type=pa.large_string())
        # offsets word, gap, word, ...: the pieces at even positions are the words
        bounds = np.empty(2 * len(self.starts), dtype=np.int64)
        bounds[0::2], bounds[1::2] = self.starts, self.ends
        pieces = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), pa.py_buffer(self.data))
        return pieces.take(pa.array(np.arange(0, len(bounds), 2, dtype=np.int64)))

    def joined(self) -> pa.LargeStringArray:
        """Each text's words joined by single spaces (``" ".join(re.findall(r"\\w+", text))``)."""
        lengths = self.ends - self.starts
        # one space after each word but a text's last
        spaced = np.ones(len(self.starts), dtype=bool)
        last = self.first_word[1:] - 1
        spaced[last[np.diff(self.first_word) > 0]] = False
        sizes = lengths + spaced
        out_starts = np.cumsum(sizes) - sizes
        # the words' bytes and the first byte of each gap that gets a space (a word ends before a non-word byte)
        keep = self.is_word.copy()
        keep[self.ends[spaced]] = True
        out = self.data[keep]
        out[(out_starts + lengths)[spaced]] = ord(" ")
        bounds = np.append(out_starts, len(out))[self.first_word]
        return pa.LargeStringArray.from_buffers(len(self.offsets) - 1, pa.py_buffer(bounds.astype(np.int64)),
                                                pa.py_buffer(out))


def _lowered(texts: pd.Series) -> pa.LargeStringArray:
    """Texts (no NA) lower-cased as Python's ``str.lower`` does (scikit-learn's analyzer): by pyarrow where a text
    is ASCII, which lowers only A-Z there too, by Python where it is not (special casings, a word's final sigma)."""
    values = pa.array(texts, type=pa.large_string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    other = ~pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    lowered = pc.ascii_lower(values)
    if not other.any():
        return lowered
    by_python = [text.lower() for text in values.filter(pa.array(other)).to_pylist()]
    return pc.replace_with_mask(lowered, pa.array(other), pa.array(by_python, type=pa.large_string()))


def _numbered_runs(texts: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pd.factorize`` of the lower-cased texts' ``\\w+`` runs: each run's number in order of first
    appearance, the distinct runs (object array), and each run's text number.

    Found by :class:`WordRuns` and numbered by pyarrow (a Python string per run would take seconds and several
    hundred MB); each text is lower-cased as scikit-learn's analyzer does (:func:`_lowered`).
    """
    lowered = _lowered(texts)
    runs = WordRuns(pd.Series(pd.array(lowered, dtype="str")))
    encoded = runs.words().dictionary_encode()
    first_seen = encoded.indices.to_numpy().astype(np.int64)
    distinct = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    return first_seen, distinct, np.repeat(np.arange(len(texts)), runs.counts())


def _count_chunk(texts: pd.Series) -> tuple[sp.csr_matrix, np.ndarray]:
    """Term counts and sorted terms of one chunk (no terms at all gives a matrix without columns).

    The matrix equals ``CountVectorizer(token_pattern=TOKEN_PATTERN).fit_transform``, entry
    order within rows included (columns numbered by first appearance, then renumbered
    alphabetically). ``TOKEN_PATTERN`` matches exactly the maximal ``\\w+`` runs that it
    matches in full, so texts are split into runs (:class:`WordRuns`), the runs numbered, and the pattern
    tried once per distinct run.
    """
    first_seen, distinct, rows = _numbered_runs(texts)
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


def count_terms(texts: pd.Series, n_jobs: int | None, chunk_size: int = 25_000) -> tuple[sp.csr_matrix, np.ndarray]:
    """Term counts (n, n_terms) of ``texts`` and the sorted terms, tokenised in chunks on ``n_jobs`` processes.

    Tokenising is the slow part of fitting; chunks are counted apart and their vocabularies merged, which gives
    the same counts as one pass. A chunk's lower-cased texts and word runs are held at once (in Arrow): 25,000
    texts keep them to tens of MB (100,000 raised a 200,000-comment run's peak).
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
