"""Loaders for the comment formats moderators have, behind one registry.

Each format is a module with ``NAME``, ``sniff(path) -> bool`` (does this file
or folder look like mine, judged from content) and ``parse(path, **options) ->
Parsed``; a format that can read a large file piece by piece also has
``parse_chunks(path, chunk_rows, **options)`` yielding ``Parsed`` pieces in
source order. A parser returns raw frames and the problems it met; :func:`load`
conforms and validates them against :mod:`moderation.schema`, resolves reply
trees and keeps every good record when some are bad. :func:`load_chunks` does
the same piece by piece, so that memory stays bounded on any file size.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from moderation import schema, threads
from moderation.formats import INGEST_FORMATS
from moderation.schema import Problem


CHUNK_ROWS = 50_000  # records per piece when a format reads a file in pieces


class IngestError(ValueError):
    """The input as a whole cannot be read (unknown format, unreadable file)."""


@dataclass
class Parsed:
    """What a parser found in one file or folder."""

    articles: pd.DataFrame
    comments: pd.DataFrame
    vote_events: pd.DataFrame = field(default_factory=lambda: schema.empty("vote_events"))
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def concat(cls, parts: list[Parsed]) -> Parsed:
        """Join several parsed inputs into one (keeps each part's row order)."""
        def stack(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
            frames = [f for f in frames if len(f)]
            return pd.concat(frames, ignore_index=True) if frames else schema.empty(table)

        return cls(
            articles=stack([p.articles for p in parts], "articles"),
            comments=stack([p.comments for p in parts], "comments"),
            vote_events=stack([p.vote_events for p in parts], "vote_events"),
            problems=[problem for p in parts for problem in p.problems],
        )


def read_text(path: Path, problems: list[Problem]) -> str:
    """Read a text file; non-UTF-8 bytes are decoded as cp1252 and reported, not fatal."""
    from moderation.ingest.common import open_text

    with open_text(Path(path), problems, newline="") as handle:
        return handle.read()


def _formats():
    # imported here so that a format module can use this package's helpers
    return {name: importlib.import_module(f"moderation.ingest.{name}") for name in INGEST_FORMATS}


def format_names() -> list[str]:
    """Names accepted by ``--format``, in the order detection tries them."""
    return list(_formats())


def detect(path: Path) -> str | None:
    """Name of the first format whose ``sniff`` accepts ``path``, or None."""
    return next((name for name, module in _formats().items() if module.sniff(Path(path))), None)


def load(path: str | Path, format: str | None = None, resolve_threads: bool = True, **options) -> Parsed:
    """Parse a file or folder into canonical, validated frames.

    A folder that no format claims as a whole is read file by file; files no
    format recognises are reported as problems, not silently passed over.
    ``resolve_threads=False`` leaves ``thread_id``/``depth`` empty and reports
    no orphan replies: the pipeline resolves trees over everything in the
    store, where a reply may answer a comment from an earlier file.

    Raises
    ------
    IngestError
        When ``path`` does not exist, is empty of anything readable, or
        ``format`` is unknown or does not recognise a single file.
    """
    units: dict[str, list[Parsed]] = {}
    for unit, part in _chunks(Path(path), format, _Seen(), **options):
        units.setdefault(unit, []).append(part)
    parts = []
    for unit, pieces in units.items():
        part = Parsed.concat(pieces)
        if resolve_threads and len(part.comments):
            # each problem names the comment's own file (a folder unit holds several)
            part.comments, found = threads.resolve(part.comments, part.comments[schema.FILE].fillna(unit),
                                                   part.comments[schema.RECORD])
            part.problems += found
        parts.append(part)
    return _without_labels(Parsed.concat(parts))


def load_chunks(path: str | Path, format: str | None = None, **options) -> Iterator[Parsed]:
    """:func:`load` piece by piece (reply trees not resolved): memory is bounded by a piece, not the file.

    Pieces come in source order; a key repeated in a later piece (or a later
    file of a folder) is reported and skipped as within one piece. Formats
    without ``parse_chunks`` give one piece per file.

    Raises
    ------
    IngestError
        As :func:`load`, before the first piece.
    """
    for _unit, part in _chunks(Path(path), format, _Seen(), **options):
        yield _without_labels(part)


class _Seen:
    """Hashes of the keys already read from one input, so a key repeated in a later piece or file is caught.

    Keys are kept as 64-bit hashes (8 bytes each, not the ids' text); two
    different keys share a hash with odds of about n²/2⁶⁵.
    """

    def __init__(self):
        self.hashes = {"articles": np.empty(0, np.uint64), "comments": np.empty(0, np.uint64)}

    def drop_repeats(self, frame: pd.DataFrame, table: str, problems: list[Problem]) -> pd.DataFrame:
        key = schema.ARTICLE_KEY if table == "articles" else schema.COMMENT_KEY
        if frame.empty:
            return frame
        hashes = pd.util.hash_pandas_object(frame[key], index=False).to_numpy()
        known = self.hashes[table]  # sorted
        found = np.minimum(np.searchsorted(known, hashes), max(len(known) - 1, 0))
        repeated = known[found] == hashes if len(known) else np.zeros(len(hashes), dtype=bool)
        problems += [
            Problem(file, schema.record_label(key[1], value, label), schema.duplicate(key[1]))
            for file, value, label in zip(frame[schema.FILE][repeated], frame[key[1]][repeated],
                                          frame[schema.RECORD][repeated])
        ]
        # two sorted runs: the stable sort (timsort) merges them in one pass, so the growing set costs little per piece
        self.hashes[table] = np.sort(np.concatenate([known, np.unique(hashes[~repeated])]), kind="stable")
        return frame[~repeated]


def _chunks(path: Path, format: str | None, seen: _Seen, **options) -> Iterator[tuple[str, Parsed]]:
    """(unit, piece): validated pieces of ``path`` that still carry the labels naming each row's file and record.

    The unit is the file or folder one format read: reply trees are resolved within it.
    """
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    formats = _formats()
    if format is not None and format not in formats:
        raise IngestError(f"unknown format {format!r}; known formats: {', '.join(formats)}")
    name = format or detect(path)
    if name is not None:
        module = formats[name]
        if hasattr(module, "parse_chunks"):
            pieces = module.parse_chunks(path, chunk_rows=options.pop("chunk_rows", CHUNK_ROWS), **options)
        else:
            pieces = iter([module.parse(path, **options)])
        found = 0
        for piece in pieces:
            part = _finish(piece, str(path))
            part.articles = seen.drop_repeats(part.articles, "articles", part.problems)
            part.comments = seen.drop_repeats(part.comments, "comments", part.problems)
            found += len(part.articles) + len(part.comments) + len(part.vote_events) + len(part.problems)
            yield str(path), part
        if not found:  # never "0 comments" without a word
            yield str(path), Parsed(schema.empty("articles"), schema.empty("comments"), problems=[
                Problem(str(path), "file", f"no article or comment found in this {name} input")])
        return
    if path.is_file():
        if path.stat().st_size == 0:
            raise IngestError(f"{path}: the file is empty")
        raise IngestError(f"{path}: not a recognised format (tried: {', '.join(formats)})")
    found_any, skipped = False, []
    for child in sorted(p for p in path.iterdir() if not p.name.startswith(".")):
        try:
            for unit, part in _chunks(child, None, seen, **options):
                found_any = True
                yield unit, part
        except IngestError as error:
            skipped.append(Problem(str(child), "file", str(error).removeprefix(f"{child}: "), "skipped"))
    if not found_any:
        raise IngestError(f"{path}: no file in a recognised format (tried: {', '.join(formats)})")
    if skipped:
        yield str(path), Parsed(schema.empty("articles"), schema.empty("comments"), problems=skipped)


def _finish(parsed: Parsed, file: str) -> Parsed:
    """Conform and validate a parser's frames, keeping (or adding) the file and record label of each row."""
    problems = list(parsed.problems)
    frames = {}
    for table in ("articles", "comments", "vote_events"):
        frame = getattr(parsed, table)
        frame = schema.conform(frame, table)
        if schema.FILE not in frame:
            frame[schema.FILE] = file
        if schema.RECORD not in frame:
            frame[schema.RECORD] = None
        frame, found = schema.validate(frame, table, file)
        problems += found
        frames[table] = frame.reset_index(drop=True)
    return Parsed(frames["articles"], frames["comments"], frames["vote_events"], problems)


def _without_labels(parsed: Parsed) -> Parsed:
    """The frames without the columns that name each row's file and record; comments keep theirs as
    ``schema.INPUT_FILE`` and ``schema.INPUT_RECORD`` (the store keeps where each comment came from)."""
    def bare(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=[schema.FILE, schema.RECORD], errors="ignore").reset_index(drop=True)

    comments = parsed.comments.rename(columns={schema.FILE: schema.INPUT_FILE, schema.RECORD: schema.INPUT_RECORD})
    for name in (schema.INPUT_FILE, schema.INPUT_RECORD):
        if name in comments:
            comments[name] = comments[name].astype("str")
    return Parsed(bare(parsed.articles), bare(comments), bare(parsed.vote_events), parsed.problems)


def finish(parsed: Parsed, file: str, resolve_threads: bool = True) -> Parsed:
    """Conform and validate a parser's frames and (unless told not to) derive the reply tree."""
    parsed = _finish(parsed, file)
    if resolve_threads:
        parsed.comments, found = threads.resolve(parsed.comments, file)
        parsed.problems += found
    return _without_labels(parsed)
