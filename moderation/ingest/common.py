"""Helpers shared by the format modules: file heads, text and JSON reading, HTML to text, typed and checked values.

One helper per job, so that every format reads JSON, booleans, ids, counts,
times and statuses the same way and reports a bad value the same way: a
``Problem`` naming the file, the record and the column, the record kept with
the value left empty.
"""

from __future__ import annotations

import codecs
import gc
import io
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from moderation import schema
from moderation.ingest import IngestError
from moderation.schema import Problem

MAX_JSON_DEPTH = 100  # deeper records are refused: no comment format nests further, and walking them recurses
_BLOCK = 1 << 24  # bytes read at a time when checking a file's encoding
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")

_BLOCKS = ("p", "div", "blockquote", "pre", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "hr")
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.S | re.I)
_SPACES = re.compile(r"\s+")
_BLANKS = re.compile(r"[ \t\r\f\v]+")
_LINE_SPACES = re.compile(r" *\n *")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n\s*")


def _fragment_text(html: str | None) -> str | None:
    """Plain text of an HTML fragment: tags dropped, entities decoded, block elements as paragraphs.

    Paragraphs are separated by one blank line, ``<br>`` by a line break, runs
    of spaces collapsed; line breaks inside ``<pre>`` are kept. Link texts stay
    in place; script and style contents are dropped. None stays None.
    """
    if html is None or not html.strip():
        return html
    if "<" not in html and "&" not in html:
        return html.strip()
    # line breaks in the HTML source are layout, except in code blocks
    parts = _PRE.split(html)
    html = "".join(part if i % 2 else _SPACES.sub(" ", part) for i, part in enumerate(parts))
    # wrapped so that a fragment of only text or comments still parses
    root = etree.HTML(f"<div>{html}</div>")
    if root is None:
        return html.strip()
    etree.strip_elements(root, "script", "style", with_tail=False)
    for element in root.iter(*_BLOCKS, "br"):
        if element.tag != "br":
            # a block starts a paragraph too: HN writes "first<p>second" with no closing tag
            before = element.getprevious()
            if before is not None:
                before.tail = (before.tail or "") + "\n\n"
            elif element.getparent() is not None:
                element.getparent().text = (element.getparent().text or "") + "\n\n"
        element.tail = ("\n" if element.tag == "br" else "\n\n") + (element.tail or "")
    text = _LINE_SPACES.sub("\n", _BLANKS.sub(" ", "".join(root.itertext())))
    return _PARAGRAPH_BREAK.sub("\n\n", text).strip()


def html_to_text(values: pd.Series) -> pd.Series:
    """Plain text of HTML fragments (see :func:`_fragment_text`); NA and non-text values become NA.

    The markup is parsed by lxml as data and only its text is kept: nothing
    in it is run or fetched.
    """
    return values.map(lambda v: _fragment_text(v) if isinstance(v, str) else None).astype("str")


def head(path: Path, size: int = 65_536) -> str:
    """The first ``size`` bytes of a file as text (undecodable bytes dropped); "" for a folder or unreadable file."""
    try:
        if not path.is_file():
            return ""
        with path.open("rb") as handle:
            return handle.read(size).decode("utf-8-sig", errors="ignore")
    except OSError:
        return ""


def text_encoding(path: Path, problems: list[Problem]) -> str:
    """"utf-8-sig" when the whole file is UTF-8, else "cp1252" (reported with the first bad byte).

    The file is checked in blocks, so its size does not matter.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                problems.append(Problem(str(path), f"byte {offset + error.start}",
                                        "not valid UTF-8; read as Windows-1252", "repaired"))
                return "cp1252"
            if not block:
                return "utf-8-sig"
            offset += len(block)


def open_text(path: Path, problems: list[Problem], newline: str | None = None) -> io.TextIOWrapper:
    """The file opened as text in the encoding :func:`text_encoding` finds (a repair is reported)."""
    return open(path, encoding=text_encoding(path, problems), errors="replace", newline=newline)


@contextmanager
def paused_collector() -> Iterator[None]:
    """Python's cycle collector paused while a reader builds a piece of many long-lived records (lists, dicts).

    Each collection would walk every record built so far and find nothing to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _checked(value: object, repair: bool) -> tuple[object, bool]:
    """``value`` with lone surrogates replaced by U+FFFD (and whether any were); raises on nesting too deep.

    Walks the containers with a stack, so a deep record cannot exhaust Python's.
    """
    repaired = False

    def fix(text: str) -> str:
        nonlocal repaired
        if repair and _LONE_SURROGATE.search(text):
            repaired = True
            return _LONE_SURROGATE.sub("\ufffd", text)
        return text

    if isinstance(value, str):
        return fix(value), repaired
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for key in list(node):
                item = node[key]
                if isinstance(key, str) and _LONE_SURROGATE.search(key):
                    del node[key]
                    key = fix(key)
                    node[key] = item
                if isinstance(item, str):
                    node[key] = fix(item)
                elif isinstance(item, (dict, list)):
                    stack.append((item, depth + 1))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = fix(item)
                elif isinstance(item, (dict, list)):
                    stack.append((item, depth + 1))
    return value, repaired


def parse_json(text: str) -> tuple[object, bool]:
    """One JSON value from ``text`` and whether lone surrogate escapes (``\\ud800``) in it were repaired.

    Raises
    ------
    ValueError
        When ``text`` is not JSON or nests deeper than ``MAX_JSON_DEPTH``
        (the message says which; Python's own recursion limit never shows).
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        where = f"column {error.colno}" if error.lineno == 1 else f"line {error.lineno} column {error.colno}"
        raise ValueError(f"not valid JSON: {error.msg} ({where})") from None
    if not isinstance(value, (dict, list, str)):
        return value, False
    repair = _SURROGATE_ESCAPE.search(text) is not None
    if repair or len(text) > 2 * MAX_JSON_DEPTH:  # shorter text cannot nest too deep
        return _checked(value, repair)
    return value, False


def json_lines(handle: Iterable[str], file: str, problems: list[Problem], first_line: int = 1
               ) -> Iterator[tuple[str, object]]:
    """(``"line N"``, value) for each non-blank line of JSON Lines; a bad line is reported and skipped."""
    for number, line in enumerate(handle, first_line):
        if not line or line.isspace():  # no copy of a huge line, as strip() would make
            continue
        try:
            value, repaired = parse_json(line.removesuffix("\n"))
        except ValueError as error:
            problems.append(Problem(file, f"line {number}", str(error)))
            continue
        if repaired:
            problems.append(Problem(file, f"line {number}", "text held unpaired surrogate escapes (\\ud800); "
                                    "replaced by U+FFFD", "repaired"))
        yield f"line {number}", value


def json_records(path: Path, problems: list[Problem]) -> Iterator[tuple[str, object]]:
    """The records of a JSON file, each with the label a problem report names it by.

    A top-level array gives its elements ("record 1", ...), a multi-line
    object is "record 1", anything else is read as JSON Lines ("line 12"),
    streamed line by line, where a line that is not valid JSON is reported
    and skipped.

    Raises
    ------
    IngestError
        When the file is a broken JSON document rather than JSON Lines: it
        starts with ``[`` and does not parse, or starts with a multi-line
        object that does not parse.
    """
    file = str(path)
    with open_text(path, problems, newline="\n") as handle:
        first = handle.readline()
        while first and not first.strip():
            first = handle.readline()
        if not first:
            problems.append(Problem(file, "file", "the file is empty"))
            return
        if first.lstrip()[:1] == "{":
            try:
                parse_json(first)
            except ValueError:
                pass
            else:  # a whole object on its first line: JSON Lines
                handle.seek(0)
                yield from json_lines(handle, file, problems)
                return
        handle.seek(0)
        text = handle.read()
    try:
        document, repaired = parse_json(text)
    except ValueError as error:
        whole = IngestError(f"{path}: {error}")
        if text.lstrip()[:1] == "[":
            raise whole from None
        found: list[Problem] = []
        records = list(json_lines(text.split("\n"), file, found))
        if not records and text.lstrip()[:1] == "{":
            raise whole from None  # a broken multi-line document, not JSON Lines: one error, not one per line
        problems += found
        yield from records
        return
    if repaired:
        problems.append(Problem(file, "file", "text held unpaired surrogate escapes (\\ud800); replaced by U+FFFD",
                                "repaired"))
    if isinstance(document, list):
        yield from ((f"record {number}", record) for number, record in enumerate(document, 1))
    else:
        yield "record 1", document


def record_pieces(records: Iterable[tuple[str, object]], problems: list[Problem], size: int
                  ) -> Iterator[tuple[list[tuple[str, object]], list[Problem]]]:
    """(records, problems) ``size`` records at a time from a reader such as :func:`json_lines` or
    :func:`json_records` that reports into ``problems``: each piece comes with the problems met while reading it.

    The last piece may hold no record, only the problems met after the last
    one; a reader with nothing to say gives no piece at all.
    """
    records = iter(records)
    while True:
        with paused_collector():  # a piece is many new dicts at once
            piece = list(islice(records, size))
        met, problems[:] = list(problems), []
        if piece or met:
            yield piece, met
        if len(piece) < size:
            return


def read_json(path: Path, problems: list[Problem]) -> object | None:
    """A whole JSON document, or None (reported, naming the file and where it breaks) when it cannot be read."""
    try:
        with open_text(path, problems) as handle:
            document, repaired = parse_json(handle.read())
    except ValueError as error:
        problems.append(Problem(str(path), "file", f"{error}; nothing in the file was read"))
        return None
    if repaired:
        problems.append(Problem(str(path), "file", "text held unpaired surrogate escapes (\\ud800); replaced by "
                                "U+FFFD", "repaired"))
    return document


def report_values(bad: pd.Series, values: pd.Series, records: pd.Series, message: str, file: str,
                  problems: list[Problem]) -> None:
    """One problem per distinct bad value (not per row), naming the first few records that have it.

    ``message`` is formatted with ``value`` (the bad value as written, text quoted, shortened).
    """
    bad = pd.Series(np.asarray(bad, dtype=bool), index=values.index)
    if not bad.any():
        return
    # text quoted, numbers and structures as written in JSON-like form
    shown = values[bad].map(lambda v: repr(v) if isinstance(v, str) or not pd.api.types.is_scalar(v) else str(v))
    for value, group in records[bad].groupby(shown, sort=False):
        value = value if len(value) <= 60 else value[:60] + "..."
        sample = ", ".join(group.astype("str").head(5)) + (" ..." if len(group) > 5 else "")
        count = f" ({len(group)} records)" if len(group) > 1 else ""
        problems.append(Problem(file, sample, message.format(value=value) + count, "kept"))


def _integral(value: object) -> int | None:
    """An exact whole number from an int, a whole float or digits; None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if np.isfinite(value) and float(value).is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if re.fullmatch(r"[+-]?\d+\.0*", text):
            return int(text.split(".")[0])
    return None


def _per_value(values: pd.Series, function) -> tuple[np.ndarray, np.ndarray]:
    """(``function`` of each given value, None where none is given; where one is given), as object/bool arrays.

    A typed column (text from CSV, numbers from Parquet) is factorised so that
    each distinct value is converted once; a column of Python objects (JSON)
    is walked value by value, so that ``True`` and ``1`` are never confused.
    """
    if values.dtype != object:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        results = np.array([function(u) for u in np.asarray(uniques, dtype=object)] + [None], dtype=object)
        return results[codes], codes >= 0
    items = values.to_numpy(dtype=object)
    present = np.array([not (pd.api.types.is_scalar(v) and pd.isna(v)) for v in items], dtype=bool)
    return np.array([function(v) if keep else None for v, keep in zip(items, present)], dtype=object), present


def counts(values: pd.Series, records: pd.Series, column: str, file: str, problems: list[Problem]) -> pd.Series:
    """Whole numbers (votes, counts) as ``Int64``; anything else is reported and left empty, never rounded.

    Text ("abc"), fractions (1.5), booleans and values beyond int64 (1e30)
    are each a problem naming ``column``; NA stays NA silently.
    """
    def count(value: object) -> int | None:
        number = _integral(value)
        return number if number is not None and -(2**63) < number < 2**63 else None

    if pd.api.types.is_signed_integer_dtype(values.dtype) and not (values == -(2**63)).any():
        return values.astype("Int64").rename(None)  # whole numbers in range already (a Parquet column)
    numbers, present = _per_value(values, count)
    out = pd.Series(pd.array(numbers, dtype="Int64"), index=values.index)
    report_values(present & out.isna().to_numpy(), values, records,
                  f"{column} {{value}} is not a whole number; left empty", file, problems)
    return out


def identifier(value: object) -> str | None:
    """One id as text: a number without ".0", text as written; None for blank text, lists, objects, booleans."""
    if isinstance(value, str):
        return value if value.strip() else None
    number = _integral(value)
    return None if number is None else str(number)


def identifiers(values: pd.Series, records: pd.Series, column: str, file: str, problems: list[Problem]) -> pd.Series:
    """Ids as text (:func:`identifier`); a value that is no id (a list, a fraction, true) is reported.

    A reported id is left empty, so a required id makes validation skip the
    record naming its line; blank text is NA without a report.
    """
    if pd.api.types.is_string_dtype(values) and values.dtype != object:  # text already (a CSV column)
        return values.where(values.str.strip() != "", None).astype("str")
    ids, present = _per_value(values, lambda v: (identifier(v), isinstance(v, str)))
    found = np.array([None if pair is None else pair[0] for pair in ids], dtype=object)
    is_text = np.array([pair is not None and pair[1] for pair in ids], dtype=bool)
    out = pd.Series(found, index=values.index, dtype="str")
    report_values(present & out.isna().to_numpy() & ~is_text, values, records,
                  f"{column} {{value}} is not an id; left empty", file, problems)
    return out


def texts(values: pd.Series, records: pd.Series, column: str, file: str, problems: list[Problem]) -> pd.Series:
    """Text exactly as written (no stripping: " =1+1" and "=1+1" stay two names); numbers as their digits.

    A list or object where text belongs is reported and left empty.
    """
    if pd.api.types.is_string_dtype(values) and values.dtype != object:
        return values  # text already (a CSV column)

    def text(value: object) -> str | None:
        if isinstance(value, str):
            return value
        return str(value) if pd.api.types.is_scalar(value) and not isinstance(value, (bool, np.bool_)) else None

    found, present = _per_value(values, text)
    out = pd.Series(found, index=values.index, dtype="str")
    report_values(present & out.isna().to_numpy(), values, records, f"{column} {{value}} is not text; left empty",
                  file, problems)
    return out


def booleans(values: pd.Series, records: pd.Series, column: str, file: str, problems: list[Problem]) -> pd.Series:
    """True/false as a nullable bool column: JSON booleans and the words true/false, 1/0, yes/no.

    Any other value is reported and left empty; NA stays NA silently.
    """
    def flag(value: object) -> bool | None:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if not pd.api.types.is_scalar(value):
            return None
        word = str(value).strip().lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None

    found, present = _per_value(values, flag)
    out = pd.Series(pd.array(found, dtype="boolean"), index=values.index)
    report_values(present & out.isna().to_numpy(), values, records,
                  f"{column} {{value}} is not true or false; left empty", file, problems)
    return out


def statuses(values: pd.Series, records: pd.Series, file: str, problems: list[Problem],
             synonyms: dict[str, str] | None = None) -> pd.Series:
    """Comment statuses (``schema.COMMENT_STATUSES`` or a ``synonyms`` key); others are reported and left empty."""
    lowered = values.astype("str").str.strip().str.lower().replace(synonyms or {})
    unknown = lowered.notna() & ~lowered.isin(schema.COMMENT_STATUSES)
    report_values(unknown, values, records, f"status {{value}} is not one of {', '.join(schema.COMMENT_STATUSES)}; "
                  "left empty", file, problems)
    return lowered.where(~unknown, None)


def timestamps(
    raw: pd.Series, records: Iterable[str], file: str, problems: list[Problem], unit: str | None,
    column: str = "time",
) -> pd.Series:
    """Parse times to UTC (``unit="s"`` for Unix seconds, ``"ms"`` for milliseconds, None for ISO 8601 text).

    A value that is not a time (or a number of ``unit`` beyond year 9999)
    is reported naming ``column`` and kept as NaT on its record ("kept").
    """
    if unit is None:
        parsed = schema.to_utc(raw).set_axis(raw.index)
    else:
        numbers = pd.to_numeric(raw.map(lambda v: None if isinstance(v, bool) else v), errors="coerce")
        numbers = numbers.astype("float64")
        limit = {"s": 253_402_300_799, "ms": 253_402_300_799_000}[unit]  # 9999-12-31
        numbers = numbers.where(numbers.abs() <= limit)
        parsed = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce").astype(schema.TIMESTAMP)
    bad = raw.notna() & parsed.isna()
    labels = (records if isinstance(records, pd.Series) else pd.Series(list(records), dtype=object)).set_axis(raw.index)
    problems += [
        Problem(file, record, f"{column} {schema._shorten(value)} is not a valid timestamp; kept without a time", "kept")
        for record, value in zip(labels[bad], raw[bad])
    ]
    return parsed
