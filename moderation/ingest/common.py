"""Helpers shared by the format modules: file heads for sniffing, JSON records, HTML to text, typed columns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from lxml import etree

from moderation import schema
from moderation.ingest import IngestError, read_text
from moderation.schema import Problem

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
            return handle.read(size).decode("utf-8", errors="ignore")
    except OSError:
        return ""


def json_records(path: Path, problems: list[Problem]) -> list[tuple[str, object]]:
    """The records of a JSON file, each with the label a problem report names it by.

    A top-level array gives its elements ("record 1", ...), a lone object is
    "record 1", anything else is read as JSON Lines ("line 12"), where a line
    that is not valid JSON is reported and skipped.

    Raises
    ------
    IngestError
        When the file is a broken JSON document rather than JSON Lines: it
        starts with ``[`` and does not parse, or no line of it parses (no
        record can be told from the next).
    """
    text = read_text(path, problems)
    start = text.lstrip()[:1]
    if not start:
        problems.append(Problem(str(path), "file", "the file is empty"))
        return []
    whole = None
    if start in ("[", "{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            whole = IngestError(f"{path}: line {error.lineno} column {error.colno}: not valid JSON: {error.msg}")
            if start == "[":
                raise whole from None
        else:
            if isinstance(document, list):
                return [(f"record {number}", record) for number, record in enumerate(document, 1)]
            return [("record 1", document)]
    records, bad = [], []
    # split on "\n" only: JSON strings may hold U+2028, which str.splitlines breaks on
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as error:
            bad.append(Problem(str(path), f"line {number}", f"not valid JSON: {error.msg} (column {error.colno})"))
    if not records and whole is not None:
        raise whole  # a broken multi-line document, not JSON Lines: one error, not one per line
    problems += bad
    return records


def timestamps(
    raw: pd.Series, records: Iterable[str], file: str, problems: list[Problem], unit: str | None
) -> pd.Series:
    """Parse times to UTC (``unit="s"`` for Unix seconds, None for ISO 8601 text); report values that are not times.

    A bad time is kept as NaT on its record and reported ("kept").
    """
    if unit is None:
        parsed = schema.to_utc(raw).set_axis(raw.index)
    else:
        seconds = pd.to_numeric(raw, errors="coerce").astype("float64")
        parsed = pd.to_datetime(seconds, unit=unit, utc=True, errors="coerce").astype(schema.TIMESTAMP)
    bad = raw.notna() & parsed.isna()
    problems += [
        Problem(file, record, f"time {value!r} is not a valid timestamp; kept without a time", "kept")
        for record, value in zip(pd.Series(list(records), index=raw.index)[bad], raw[bad])
    ]
    return parsed


def flags(values: pd.Series) -> pd.Series:
    """JSON booleans as a nullable bool column; anything else (absent, a number, text) is NA."""
    return values.map(lambda v: v if isinstance(v, bool) else None).astype("boolean")
