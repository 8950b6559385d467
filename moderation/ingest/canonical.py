"""Canonical tables written as CSV, JSON Lines or Parquet.

Accepted inputs:

- a folder holding ``comments.csv|jsonl|ndjson|parquet`` and optionally
  ``articles.csv|jsonl|ndjson|parquet`` (other names with ``comments_file=`` /
  ``articles_file=``);
- a single comments file (columns ``comment_id`` and ``article_id`` at least),
  or a single articles file (``article_id`` and ``title``, no ``comment_id``).

Columns already carry the canonical names of :mod:`moderation.schema`, or are
renamed with ``columns={"their_name": "canonical_name"}``. Every other column
passes through unchanged (e.g. the One Million Posts ``label_*`` columns).

Values:

- ``source``: a ``source`` column of the file wins, then the ``source=``
  option, then the folder name (for a folder, or a file called ``comments.*``
  / ``articles.*``) or the file's stem.
- ``reactions``: a JSON list of counts written as text (``"[3, 5]"``) is
  decoded; a JSON object of named counts gives its counts in order
  (``"{}"`` gives ``[]``); anything else becomes NA and is reported.
- ``status``: the canonical values, plus the synonyms in ``STATUS_SYNONYMS``;
  other values become NA and are reported (the comment is kept).
- ``position``: the file's own ``position`` column, else the record order.
- ``article_title``, ``article_url``, ``article_published_at`` in a comments
  file make the article's row (title, url, published_at) when no articles
  file names it.
- times: with an offset (``Z``, ``+01:00``) as written; without one in UTC,
  or in the zone given as ``timezone=``.

Every value is checked before the store: a vote count that is not a whole
number ("abc", 1.5, 1e30), a time that is not a time, an id that is a list or
a fraction, a status or boolean that is none of the known words is reported
with the file, the line (CSV, JSON Lines) or row (Parquet) and the column, and
left empty on a record that is otherwise kept. A CSV line with the wrong
number of fields, a field over 64 MiB (an unclosed quote) or a JSON line that
is not an object (or nests deeper than 100 levels) is reported by its line
number and skipped; the other records load. Author names are kept exactly as
written (no stripping).

Large files are read in pieces of ``chunk_rows`` records
(:func:`parse_chunks`), so memory is bounded by a piece, not by the file.
"""

from __future__ import annotations

import csv
import json
import re
from itertools import islice
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from moderation import schema
from moderation.ingest import CHUNK_ROWS, IngestError, Parsed
from moderation.ingest.common import (
    booleans, counts, head, identifiers, json_lines, open_text, parse_json, paused_collector, record_pieces,
    report_values, statuses, texts, timestamps,
)
from moderation.schema import Problem

NAME = "canonical"
SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
STATUS_SYNONYMS = {"online": "published", "visible": "published", "approved": "published", "removed": "deleted"}
_ID_COLUMNS = ("comment_id", "article_id", "parent_id", "thread_id")
_TEXT_COLUMNS = ("author", "text", "title", "url", "section", "source")
_COUNT_COLUMNS = ("upvotes", "downvotes", "score", "depth", "position")
_TIME_COLUMNS = ("created_at", "published_at")
_SNIFF_BYTES = 64 * 1024
# a canonical key written in a JSON object, for a first line too long to parse from the head
_JSON_KEY = re.compile(r'"(comment_id|article_id|title)"\s*:')
MAX_FIELD = 64 * 1024 * 1024  # characters; a longer CSV field is an unclosed quote swallowing the file
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what ends a line for the csv reader (a file opened with newline="")


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{suffix}" for suffix in SUFFIXES if (folder / f"{stem}{suffix}").is_file()), None)


def header(path: Path) -> set[str]:
    """Column names of a table file, read from its first line or Parquet footer (empty set if unreadable)."""
    try:
        if path.suffix == ".parquet":
            return set(pq.read_schema(path).names)
        text = head(path, _SNIFF_BYTES)
        first = text.splitlines()[0] if text.strip() else ""
        if path.suffix == ".csv":
            return set(next(csv.reader([first]), []))
        if first == text and len(text.encode()) >= _SNIFF_BYTES - 4:  # a first record longer than the head
            return set(_JSON_KEY.findall(first)) if first.lstrip().startswith("{") else set()
        record, _ = parse_json(first)  # a depth limit, not Python's recursion limit
        return set(record) if isinstance(record, dict) else set()
    except (OSError, ValueError, TypeError, csv.Error):
        return set()


def _kind(path: Path) -> str | None:
    """"comments", "articles" or None, judged from a file's column names."""
    if path.suffix not in SUFFIXES:
        return None
    names = header(path)
    if {"comment_id", "article_id"} <= names:
        return "comments"
    if {"article_id", "title"} <= names:
        return "articles"
    return None


def sniff(path: Path) -> bool:
    """True for a comments/articles table file, or a folder whose ``comments.*`` is one."""
    try:
        if path.is_dir():
            found = _find(path, "comments")
            return found is not None and _kind(found) == "comments"
        return _kind(path) is not None
    except OSError:
        return False


def _csv_chunks(path: Path, problems: list[Problem], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Rows of a CSV file with a header, as text (empty = NA), ``chunk_rows`` at a time, each labelled "line N".

    A line with the wrong number of fields, or a field longer than
    ``MAX_FIELD``, is reported by its number and skipped; blank lines are
    passed over.
    """
    csv.field_size_limit(MAX_FIELD)
    with open_text(path, problems, newline="") as handle:
        reader = csv.reader(handle)
        try:
            names = next(reader, None)
        except csv.Error as error:
            problems.append(Problem(str(path), "line 1", f"the header cannot be read ({error}); nothing read"))
            return
        if names is None:
            problems.append(Problem(str(path), "file", "the file is empty"))
            return
        repeated = pd.Index(names).duplicated()
        if repeated.any():
            twice = sorted(set(pd.Index(names)[repeated]))
            problems.append(Problem(str(path), "line 1", f"column names repeated: {twice}; later copies are renamed "
                                    "with a .1, .2 ... suffix", "repaired"))
            names = [f"{n}.{list(names[:i]).count(n)}" if dup else n
                     for i, (n, dup) in enumerate(zip(names, repeated))]
        yielded = False
        while True:
            # Python's cycle collector paused while a piece is built: it would scan the growing rows again and
            # again (a third of the time) and find nothing to free
            with paused_collector():
                rows, lines, refused = _csv_records(reader, chunk_rows)
                widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
                good = widths == len(names)
                wrong = [(int(lines[i]), f"expected {len(names)} fields, found {widths[i]}")
                         for i in np.flatnonzero(~good & (widths > 0))]
                problems += [Problem(str(path), f"line {line}", why) for line, why in sorted(wrong + refused)]
                frame = None
                if good.any() or not yielded:  # a file of only a header still gives its (empty) columns
                    frame = _text_frame(rows if good.all() else [r for r, keep in zip(rows, good) if keep], names,
                                        lines[good])
                done = len(rows) < chunk_rows
                del rows
            if frame is not None:
                yield frame
                yielded = True
            if done:
                return


def _csv_records(reader, limit: int) -> tuple[list[list[str]], np.ndarray, list[tuple[int, str]]]:
    """Up to ``limit`` records from ``reader``, the line each starts on, and (line, why) of each record it refused.

    Records are taken in bulk (the reader's own C loop); the line of each is
    worked out afterwards from the line breaks inside its quoted fields,
    which is exactly what the reader counts.
    """
    rows: list[list[str]] = []
    starts = [(0, reader.line_num)]  # (first record, line before it) of each run of readable records
    errors = []  # why the record after each run was refused (the last run ends the piece)
    while len(rows) < limit:
        try:
            rows.extend(islice(reader, limit - len(rows)))
            break
        except csv.Error as error:  # the rows read before it are kept by extend
            errors.append(f"not a CSV record ({error})")
            starts.append((len(rows), reader.line_num))
    lines = np.empty(len(rows), dtype=np.int64)
    refused = []
    ends = [first for first, _ in starts[1:]] + [len(rows)]
    for number, ((first, before), end) in enumerate(zip(starts, ends)):
        if number == len(errors) and reader.line_num - before == end - first:
            spans = np.ones(end - first, dtype=np.int64)  # as many lines as records: each takes one
        else:
            spans = _line_spans(rows[first:end])
        lines[first:end] = before + 1 + np.cumsum(spans) - spans
        if number < len(errors):
            refused.append((before + 1 + int(spans.sum()), errors[number]))
    return rows, lines, refused


def _line_spans(rows: list[list[str]]) -> np.ndarray:
    """How many lines each record takes: one plus the line breaks (``\\r\\n``, ``\\r``, ``\\n``) in its fields."""
    spans = np.ones(len(rows), dtype=np.int64)
    if not rows:
        return spans
    # counted a column at a time (Arrow) over the records of the commonest width, the few others one by one
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    same = widths == np.bincount(widths).argmax()
    regular = rows if same.all() else [row for row, keep in zip(rows, same) if keep]
    breaks = np.zeros(len(regular), dtype=np.int64)
    for column in zip(*regular):
        breaks += pc.count_substring_regex(pa.array(column, pa.string()), _LINE_BREAK.pattern).to_numpy()
    spans[same] += breaks
    for index in np.flatnonzero(~same):
        spans[index] += sum(len(_LINE_BREAK.findall(field)) for field in rows[index])
    return spans


def read_csv(path: Path, problems: list[Problem]) -> pd.DataFrame:
    """All rows of a CSV file with a header, as text (empty = NA); bad lines reported as by :func:`parse_chunks`."""
    return pd.concat(list(_csv_chunks(path, problems, CHUNK_ROWS)) or [pd.DataFrame()], ignore_index=True)


def _text_frame(rows: list[list[str]], names: list[str], lines: np.ndarray) -> pd.DataFrame:
    """Records as a frame of text columns (Arrow strings; an empty field is NA), labelled "line N"."""
    empty = pa.scalar(None, pa.string())
    columns = list(zip(*rows)) if rows else [()] * len(names)
    arrays = []
    for column in columns:
        values = pa.array(column, pa.string())
        arrays.append(pc.if_else(pc.equal(values, ""), empty, values))
    frame = pa.Table.from_arrays(arrays, names=names).to_pandas()
    frame[schema.RECORD] = pd.Series(np.char.add("line ", lines.astype(str)) if len(lines) else [], dtype=object)
    return frame


def _jsonl_chunks(path: Path, problems: list[Problem], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Objects of a JSON Lines file, ``chunk_rows`` at a time, each labelled "line N"; other lines are reported."""
    found: list[Problem] = []
    with open_text(path, problems, newline="\n") as handle:
        for piece, met in record_pieces(json_lines(handle, str(path), found), found, chunk_rows):
            problems += met
            records, labels = [], []
            for label, record in piece:
                if isinstance(record, dict):
                    records.append(record)
                    labels.append(label)
                else:
                    problems.append(Problem(str(path), label, f"expected a JSON object, found {type(record).__name__}"))
            if records:
                yield _object_frame(records, labels)


def _object_frame(records: list[dict], labels: list[str]) -> pd.DataFrame:
    # object dtype so that integer ids with gaps do not turn into floats ("12.0"); values are checked later
    frame = pd.DataFrame(records, dtype=object) if records else pd.DataFrame()
    frame[schema.RECORD] = labels
    return frame


def _parquet_chunks(path: Path, problems: list[Problem], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Rows of a Parquet file, ``chunk_rows`` at a time, each labelled "row N"; a damaged file is reported."""
    done = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            numbers = pa.array(np.arange(done + 1, done + len(frame) + 1)).cast(pa.string())
            frame[schema.RECORD] = pd.array(pc.binary_join_element_wise("row", numbers, " "), dtype="str")
            done += len(frame)
            yield frame
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        where = "nothing in it was read" if not done else f"rows after {done} were not read"
        problems.append(Problem(str(path), "file" if not done else f"row {done + 1}",
                                f"not a readable Parquet file ({error}); {where}"))


def _table_chunks(path: Path, columns: dict[str, str], problems: list[Problem],
                  chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A table file's rows in pieces, columns renamed, pass-through CSV numbers typed."""
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        problems.append(Problem(str(path), "file", "the file is empty"))
        return
    reader = {".parquet": _parquet_chunks, ".csv": _csv_chunks}.get(path.suffix, _jsonl_chunks)
    canonical_names = set(schema.columns("comments") + schema.columns("articles") + [schema.RECORD])
    for frame in reader(path, problems, chunk_rows):
        frame = frame.rename(columns=columns)
        frame = frame.loc[:, ~frame.columns.duplicated()]  # a mapping onto an existing name: the first wins
        if path.suffix == ".csv":
            # pass-through columns get numbers back where every value is one; canonical ones are checked below
            for name in frame.columns.difference(list(canonical_names)):
                numbers = pd.to_numeric(frame[name], errors="coerce", dtype_backend="numpy_nullable")
                if numbers.notna().sum() == frame[name].notna().sum():
                    frame[name] = numbers
        yield frame


def _labels(frame: pd.DataFrame) -> pd.Series:
    """Each row named by its id and line ("comment_id 5 (line 7)"), as problem reports name it."""
    id_column = "comment_id" if "comment_id" in frame else "article_id"
    lines = frame[schema.RECORD].astype("str")
    if id_column not in frame:
        return lines
    ids = frame[id_column].astype("str")
    return (id_column + " " + ids + " (" + lines + ")").where(ids.notna(), lines)


def _checked(frame: pd.DataFrame, timezone: str | None, time_column: str, file: str,
             problems: list[Problem]) -> tuple[pd.DataFrame, pd.Series]:
    """Canonical columns checked value by value: a bad id, count, time, boolean or status is reported and emptied;
    returns the frame and its rows' labels (:func:`_labels`, of the checked ids)."""
    records = frame[schema.RECORD]
    for name in frame.columns.intersection(_ID_COLUMNS):
        frame[name] = identifiers(frame[name], records, name, file, problems)
    records = _labels(frame)
    for name in frame.columns.intersection(_TEXT_COLUMNS):
        frame[name] = texts(frame[name], records, name, file, problems)
    for name in frame.columns.intersection(_COUNT_COLUMNS):
        frame[name] = counts(frame[name], records, name, file, problems)
    if timezone and time_column in frame:
        frame[time_column] = _in_timezone(frame[time_column], timezone, records, file, problems)
    for name in frame.columns.intersection(_TIME_COLUMNS):
        if not isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = timestamps(frame[name], records, file, problems, unit=None, column=name)
    if "parent_inferred" in frame:
        frame["parent_inferred"] = booleans(frame["parent_inferred"], records, "parent_inferred", file, problems)
    if "masked_share" in frame:
        shares = pd.to_numeric(frame["masked_share"], errors="coerce")
        report_values(frame["masked_share"].notna() & shares.isna(), frame["masked_share"], records,
                      "masked_share {value} is not a number; left empty", file, problems)
        frame["masked_share"] = shares
    return frame, records


def _counts(value) -> list[int] | None:
    """Reaction counts from a list, a JSON list or a JSON object of named counts (its values in order)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, np.ndarray)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        return [int(v) for v in value]
    return None


def _reactions(values: pd.Series, records: pd.Series, file: str, problems: list[Problem]) -> pd.Series:
    # None, NaN and NA are not given (an element that is a list never counts as missing): only the given values are
    # decoded, so a file without reactions costs nothing per row
    present = values.notna()
    decoded = np.full(len(values), None, dtype=object)
    for at, value in zip(np.flatnonzero(present.to_numpy()), values[present]):
        decoded[at] = _counts(value)
    decoded = pd.Series(decoded, index=values.index, dtype=object)
    report_values(present & decoded.isna(), values, records, "reactions {value} is not a list of counts; "
                  "left empty", file, problems)
    return decoded.where(decoded.notna(), pd.NA)


def _in_timezone(values: pd.Series, timezone: str, records: pd.Series, file: str,
                 problems: list[Problem]) -> pd.Series:
    """Times in UTC, reading the ones written without an offset as local times in ``timezone``."""
    text = values.astype("str")
    zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)\s*$", na=False).to_numpy()
    naive = pd.to_datetime(text.where(~zoned), errors="coerce", format="mixed")
    try:
        local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    except (KeyError, ValueError) as error:  # zoneinfo's ZoneInfoNotFoundError is a KeyError
        raise IngestError(f"unknown time zone {timezone!r} ({error})") from None
    report_values(naive.notna() & local.isna(), text, records, f"time {{value}} does not exist or is ambiguous in "
                  f"{timezone} (clock change); left empty", file, problems)
    return schema.to_utc(text.where(zoned)).set_axis(values.index).where(zoned, local.astype(schema.TIMESTAMP))


def _default_source(path: Path) -> str:
    named_by_folder = path.is_dir() or path.stem in ("comments", "articles")
    return (path if path.is_dir() else path.parent).resolve().name if named_by_folder else path.stem


def _with_source(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    if "source" in frame:
        frame["source"] = frame["source"].fillna(source)
    else:
        frame["source"] = source
    return frame


def parse_chunks(
    path: Path,
    comments_file: str | Path | None = None,
    articles_file: str | Path | None = None,
    columns: dict[str, str] | None = None,
    source: str | None = None,
    timezone: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    **_options,
) -> Iterator[Parsed]:
    """Read canonical comments (and articles) from a folder or a single file, ``chunk_rows`` comments at a time.

    The articles come with the first piece; positions count on across pieces.

    Parameters
    ----------
    path : Path
        A folder with ``comments.*`` (and optional ``articles.*``), or one table file.
    comments_file, articles_file : str or Path, optional
        The two files when they are not named ``comments.*`` / ``articles.*``;
        relative names are taken inside ``path`` when it is a folder.
    columns : dict, optional
        Renames applied to both files, ``{"their_name": "canonical_name"}``.
    source : str, optional
        Source name for rows without a ``source`` value (default: folder or file name).
    timezone : str, optional
        IANA zone (e.g. "Europe/Vienna") of ``created_at`` / ``published_at``
        values written without an offset; default UTC.
    chunk_rows : int
        Records per piece.

    Raises
    ------
    IngestError
        When there is no comments or articles file, a named file does not
        exist, or a file lacks the id columns.
    """
    path = Path(path)
    problems: list[Problem] = []
    source = source or _default_source(path)
    columns = dict(columns or {})

    if path.is_dir():
        comments_path = path / comments_file if comments_file else _find(path, "comments")
        articles_path = path / articles_file if articles_file else _find(path, "articles")
    else:
        kind = "articles" if _kind(path) == "articles" and comments_file is None else "comments"
        comments_path = Path(comments_file) if comments_file else (path if kind == "comments" else None)
        articles_path = Path(articles_file) if articles_file else (path if kind == "articles" else None)
    if comments_path is None and articles_path is None:
        raise IngestError(f"{path}: no comments.* or articles.* file ({', '.join(SUFFIXES)})")

    articles = pd.DataFrame()
    if articles_path:
        articles = pd.concat(list(_table_chunks(articles_path, columns, problems, chunk_rows)) or [pd.DataFrame()],
                             ignore_index=True)
        articles = _table(articles, "articles", path, str(articles_path), source, timezone, problems)
    if comments_path is None:
        yield Parsed(articles=articles, comments=pd.DataFrame(), problems=problems)
        return
    position, from_file = 0, articles
    for comments in _table_chunks(comments_path, columns, problems, chunk_rows):
        comments = _table(comments, "comments", path, str(comments_path), source, timezone, problems)
        if len(comments) and "position" not in comments:
            comments["position"] = np.arange(position, position + len(comments))
        position += len(comments)
        comments, named = _articles_named_in_comments(comments, from_file)
        if len(named):
            articles = pd.concat([articles, named], ignore_index=True) if len(articles) else named
        yield Parsed(articles=articles, comments=comments, problems=problems)
        articles, problems = pd.DataFrame(), []
    if len(articles) or problems:  # the comments file had no piece at all (empty or unreadable)
        yield Parsed(articles=articles, comments=pd.DataFrame(), problems=problems)


def _table(frame: pd.DataFrame, table: str, path: Path, file: str, source: str, timezone: str | None,
           problems: list[Problem]) -> pd.DataFrame:
    """One piece of a comments or articles file with its values checked, its source, zone and labels."""
    required = {"comments": ["comment_id", "article_id"], "articles": ["article_id"]}[table]
    lacking = [name for name in required if len(frame.columns) > 1 and name not in frame]
    if lacking:
        raise IngestError(f"{path}: the {table} file has no column {', '.join(lacking)} "
                          "(name the file's own column with columns={'theirs': 'canonical'})")
    if frame.empty:
        return pd.DataFrame()
    frame[schema.FILE] = file
    time_column = "created_at" if table == "comments" else "published_at"
    frame, records = _checked(frame, timezone, time_column, file, problems)
    frame = _with_source(frame, source)
    if table == "comments":
        if "reactions" in frame:
            frame["reactions"] = _reactions(frame["reactions"], records, file, problems)
        if "status" in frame:
            frame["status"] = statuses(frame["status"], records, file, problems, STATUS_SYNONYMS)
    return frame


def parse(path: Path, **options) -> Parsed:
    """Read canonical comments (and articles) in one piece; the options are those of :func:`parse_chunks`."""
    return Parsed.concat(list(parse_chunks(Path(path), **options)))


# comments-file columns that describe the comment's article -> the articles column they fill
ARTICLE_COLUMNS_IN_COMMENTS = {"article_title": "title", "article_url": "url", "article_published_at": "published_at"}


def _articles_named_in_comments(comments: pd.DataFrame, known: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comments without them, articles rows) from a comments file's ``article_title`` / ``article_url`` /
    ``article_published_at``.

    An export with one row per comment often repeats the article's title on
    each row; those columns make the article (first value per article wins)
    unless the articles file (``known``) has it.
    """
    present = [c for c in ARTICLE_COLUMNS_IN_COMMENTS if c in comments]
    if not present:
        return comments, pd.DataFrame()
    named = comments.dropna(subset=["article_id"]).groupby(["source", "article_id"], sort=False)[present].first()
    named = named.rename(columns=ARTICLE_COLUMNS_IN_COMMENTS).reset_index()
    if len(known):
        seen = pd.MultiIndex.from_frame(known[["source", "article_id"]].astype("str"))
        named = named[~pd.MultiIndex.from_frame(named[["source", "article_id"]].astype("str")).isin(seen)]
    return comments.drop(columns=present), named
