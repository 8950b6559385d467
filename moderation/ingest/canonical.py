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

A CSV line with the wrong number of fields, or a JSON line that is not an
object, is reported by its line number and skipped; the other records load.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from moderation import schema
from moderation.ingest import IngestError, Parsed, read_text
from moderation.schema import Problem

NAME = "canonical"
SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
STATUS_SYNONYMS = {"online": "published", "visible": "published", "approved": "published", "removed": "deleted"}
_ID_COLUMNS = ("comment_id", "article_id", "parent_id", "author", "thread_id")
_SNIFF_BYTES = 64 * 1024


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{suffix}" for suffix in SUFFIXES if (folder / f"{stem}{suffix}").is_file()), None)


def header(path: Path) -> set[str]:
    """Column names of a table file, read from its first line or Parquet footer (empty set if unreadable)."""
    try:
        if path.suffix == ".parquet":
            return set(pq.read_schema(path).names)
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES).decode("utf-8-sig", errors="replace")
        first = head.splitlines()[0] if head.strip() else ""
        if path.suffix == ".csv":
            return set(next(csv.reader([first]), []))
        record = json.loads(first)
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


def read_csv(path: Path, problems: list[Problem]) -> pd.DataFrame:
    """Rows of a CSV file with a header, as text (empty = NA).

    A line with the wrong number of fields is reported by its number and skipped.
    """
    text = read_text(path, problems)
    reader = csv.reader(io.StringIO(text, newline=""))
    names = next(reader, None)
    if names is None:
        problems.append(Problem(str(path), "file", "the file is empty"))
        return pd.DataFrame()
    repeated = pd.Index(names).duplicated()
    if repeated.any():
        twice = sorted(set(pd.Index(names)[repeated]))
        problems.append(Problem(str(path), "line 1", f"column names repeated: {twice}; later copies are renamed "
                                "with a .1, .2 ... suffix", "repaired"))
        names = [f"{n}.{list(names[:i]).count(n)}" if dup else n for i, (n, dup) in enumerate(zip(names, repeated))]
    rows, line = [], reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if len(row) == len(names):
            rows.append(row)
        elif row:
            problems.append(Problem(str(path), f"line {start}", f"expected {len(names)} fields, found {len(row)}"))
    return pd.DataFrame(rows, columns=names, dtype="str").replace("", None)


def _read_jsonl(path: Path, problems: list[Problem]) -> pd.DataFrame:
    records = []
    for number, line in enumerate(read_text(path, problems).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than Python's stack
            problems.append(Problem(str(path), f"line {number}", f"not valid JSON ({getattr(error, 'msg', error)})"))
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            found = type(record).__name__
            problems.append(Problem(str(path), f"line {number}", f"expected a JSON object, found {found}"))
    # object dtype first so that integer ids with gaps do not turn into floats ("12.0")
    return pd.DataFrame(records, dtype=object).infer_objects() if records else pd.DataFrame()


def _read(path: Path, columns: dict[str, str], problems: list[Problem]) -> pd.DataFrame:
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        problems.append(Problem(str(path), "file", "the file is empty"))
        return pd.DataFrame()
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            problems.append(Problem(str(path), "file", f"not a readable Parquet file ({error})"))
            return pd.DataFrame()
    elif path.suffix == ".csv":
        frame = read_csv(path, problems)
    else:
        frame = _read_jsonl(path, problems)
    frame = frame.rename(columns=columns)
    if path.suffix == ".csv":
        # pass-through columns get numbers back where every value is one; conform types the canonical ones
        for name in frame.columns.difference(schema.columns("comments") + schema.columns("articles")):
            numbers = pd.to_numeric(frame[name], errors="coerce", dtype_backend="numpy_nullable")
            if numbers.notna().sum() == frame[name].notna().sum():
                frame[name] = numbers
    for name in frame.columns.intersection(_ID_COLUMNS):
        frame[name] = _id_text(frame[name])
    return frame


def _id_text(values: pd.Series) -> pd.Series:
    """Identifiers as text; whole floats (an integer id column with gaps) lose their ".0"."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype("str").where(values.notna(), None)


def _report_values(bad: pd.Series, values: pd.Series, ids: pd.Series, message: str, file: str,
                   problems: list[Problem]) -> None:
    """One problem per distinct bad value (not per row), naming the first few comments that have it."""
    for value, group in ids[bad].groupby(values[bad].astype("str"), sort=False):
        value = value if len(value) <= 60 else value[:60] + "..."
        sample = ", ".join(group.astype("str").fillna("(no id)").head(5)) + (" ..." if len(group) > 5 else "")
        problems.append(Problem(file, f"comment_id {sample}", f"{message.format(value=value)} ({len(group)} comments)",
                                "kept"))


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


def _reactions(values: pd.Series, ids: pd.Series, file: str, problems: list[Problem]) -> pd.Series:
    present = values.map(lambda v: v is not None and not (np.ndim(v) == 0 and pd.isna(v)))
    decoded = pd.Series([_counts(v) if keep else None for v, keep in zip(values, present)], index=values.index,
                        dtype=object)
    _report_values(present & decoded.isna(), values, ids, "reactions {value!r} is not a list of counts; set to NA",
                   file, problems)
    return decoded.where(decoded.notna(), pd.NA)


def _statuses(values: pd.Series, ids: pd.Series, file: str, problems: list[Problem]) -> pd.Series:
    lowered = values.astype("str").str.strip().str.lower().replace(STATUS_SYNONYMS)
    unknown = lowered.notna() & ~lowered.isin(schema.COMMENT_STATUSES)
    _report_values(unknown, values, ids, f"status {{value!r}} is not one of {', '.join(schema.COMMENT_STATUSES)}; "
                   "set to NA", file, problems)
    return lowered.where(~unknown, None)


def _in_timezone(values: pd.Series, timezone: str, ids: pd.Series, file: str,
                 problems: list[Problem]) -> pd.Series:
    """Times in UTC, reading the ones written without an offset as local times in ``timezone``."""
    text = values.astype("str")
    zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)\s*$", na=False).to_numpy()
    naive = pd.to_datetime(text.where(~zoned), errors="coerce", format="mixed")
    try:
        local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    except (KeyError, ValueError) as error:  # zoneinfo's ZoneInfoNotFoundError is a KeyError
        raise IngestError(f"unknown time zone {timezone!r} ({error})") from None
    _report_values(naive.notna() & local.isna(), text, ids, f"time {{value!r}} does not exist or is ambiguous in "
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


def parse(
    path: Path,
    comments_file: str | Path | None = None,
    articles_file: str | Path | None = None,
    columns: dict[str, str] | None = None,
    source: str | None = None,
    timezone: str | None = None,
    **_options,
) -> Parsed:
    """Read canonical comments (and articles) from a folder or a single file.

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
    comments = _read(comments_path, columns, problems) if comments_path else pd.DataFrame()
    articles = _read(articles_path, columns, problems) if articles_path else pd.DataFrame()
    required = {"comments": ["comment_id", "article_id"], "articles": ["article_id"]}
    for table, frame in (("comments", comments), ("articles", articles)):
        lacking = [name for name in required[table] if len(frame.columns) and name not in frame]
        if lacking:
            raise IngestError(f"{path}: the {table} file has no column {', '.join(lacking)} "
                              "(name the file's own column with columns={'theirs': 'canonical'})")
    file = str(comments_path or articles_path)
    if timezone and "created_at" in comments:
        comments["created_at"] = _in_timezone(comments["created_at"], timezone, comments["comment_id"], file, problems)
    if timezone and "published_at" in articles:
        articles["published_at"] = _in_timezone(articles["published_at"], timezone, articles["article_id"], file,
                                                problems)
    if len(comments):
        comments = _with_source(comments, source)
        if "position" not in comments:
            comments["position"] = np.arange(len(comments))
        if "reactions" in comments:
            comments["reactions"] = _reactions(comments["reactions"], comments["comment_id"], file, problems)
        if "status" in comments:
            comments["status"] = _statuses(comments["status"], comments["comment_id"], file, problems)
    if len(articles):
        articles = _with_source(articles, source)
    comments, articles = _articles_named_in_comments(comments, articles)
    return Parsed(articles=articles, comments=comments, problems=problems)


# comments-file columns that describe the comment's article -> the articles column they fill
ARTICLE_COLUMNS_IN_COMMENTS = {"article_title": "title", "article_url": "url", "article_published_at": "published_at"}


def _articles_named_in_comments(comments: pd.DataFrame, articles: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Articles rows from a comments file's ``article_title`` / ``article_url`` / ``article_published_at``.

    An export with one row per comment often repeats the article's title on
    each row; those columns make the article (first value per article wins)
    unless the articles file already has it, and leave the comments table.
    """
    present = [c for c in ARTICLE_COLUMNS_IN_COMMENTS if c in comments]
    if not present:
        return comments, articles
    named = comments.dropna(subset=["article_id"]).groupby(["source", "article_id"], sort=False)[present].first()
    named = named.rename(columns=ARTICLE_COLUMNS_IN_COMMENTS).reset_index()
    if len(articles):
        known = pd.MultiIndex.from_frame(articles[["source", "article_id"]].astype("str"))
        named = named[~pd.MultiIndex.from_frame(named[["source", "article_id"]].astype("str")).isin(known)]
    articles = pd.concat([articles, named], ignore_index=True) if len(articles) else named
    return comments.drop(columns=present), articles
