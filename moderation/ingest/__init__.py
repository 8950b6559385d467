"""Loaders for the comment formats moderators have, behind one registry.

Each format is a module with ``NAME``, ``sniff(path) -> bool`` (does this file
or folder look like mine, judged from content) and ``parse(path, **options) ->
Parsed``. A parser returns raw frames and the problems it met; :func:`load`
conforms and validates them against :mod:`moderation.schema`, resolves reply
trees and keeps every good record when some are bad.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from moderation import schema, threads
from moderation.schema import Problem


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
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(Problem(str(path), f"byte {error.start}", "not valid UTF-8; read as Windows-1252", "repaired"))
        return data.decode("cp1252", errors="replace")


def _formats():
    # imported here so that a format module can use this package's helpers
    from moderation.ingest import canonical, disqus, gnm, hackernews, page, reddit, stackexchange

    return {m.NAME: m for m in (stackexchange, gnm, disqus, reddit, hackernews, canonical, page)}


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
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    formats = _formats()
    if format is not None and format not in formats:
        raise IngestError(f"unknown format {format!r}; known formats: {', '.join(formats)}")
    name = format or detect(path)
    if name is not None:
        return finish(formats[name].parse(path, **options), str(path), resolve_threads)
    if path.is_file():
        if path.stat().st_size == 0:
            raise IngestError(f"{path}: the file is empty")
        raise IngestError(f"{path}: not a recognised format (tried: {', '.join(formats)})")
    parts, problems = [], []
    for child in sorted(p for p in path.iterdir() if not p.name.startswith(".")):
        try:
            parts.append(load(child, resolve_threads=resolve_threads, **options))
        except IngestError as error:
            problems.append(Problem(str(child), "file", str(error).removeprefix(f"{child}: "), "skipped"))
    if not parts:
        raise IngestError(f"{path}: no file in a recognised format (tried: {', '.join(formats)})")
    combined = Parsed.concat(parts)
    # keys must be unique across the files of a folder too, not only within each
    combined.articles, found_articles = schema.validate(combined.articles, "articles", str(path))
    combined.comments, found_comments = schema.validate(combined.comments, "comments", str(path))
    combined.problems = problems + combined.problems + found_articles + found_comments
    return combined


def finish(parsed: Parsed, file: str, resolve_threads: bool = True) -> Parsed:
    """Conform and validate a parser's frames and (unless told not to) derive the reply tree."""
    problems = list(parsed.problems)
    articles, found = schema.validate(schema.conform(parsed.articles, "articles"), "articles", file)
    problems += found
    comments, found = schema.validate(schema.conform(parsed.comments, "comments"), "comments", file)
    problems += found
    if resolve_threads:
        comments, found = threads.resolve(comments, file)
        problems += found
    vote_events, found = schema.validate(schema.conform(parsed.vote_events, "vote_events"), "vote_events", file)
    problems += found
    return Parsed(
        articles.reset_index(drop=True), comments.reset_index(drop=True), vote_events.reset_index(drop=True), problems
    )
