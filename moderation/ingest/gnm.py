"""The Globe and Mail comment-API JSON, as saved by the SFU (SOCC) comment extractor.

Accepted inputs:

- a comments file ``{"<article id>": {"data_type": "comment", "comments": [...]}}``;
  the article is read from ``../ArticleRawData/article_<id>.json`` or
  ``article_<id>.json`` beside it when there;
- an article file ``{"<article id>": {"data_type": "article", ...}}`` alone
  (an article without comments);
- a folder holding such files, directly or in ``CommentsRawData/`` and
  ``ArticleRawData/`` (the extractor's ``Output/``). Its other files are
  reported as skipped, and each article appears once;
- a SOCC "source1" CSV (``old_comments.csv``): the same API fields as columns
  (``text``, ``author``, ``article_id``), already flat in thread order, no
  article text.

Comments are nested (``replies``) and flattened depth-first, which is the
order of the page: ``position`` counts in that order. Mapping: ``ID`` ->
``comment_id``, ``parentID`` -> ``parent_id`` (the enclosing comment when
empty), ``streamId`` -> ``article_id``, ``sender.name`` -> ``author``,
``timestamp`` (ms since 1970, UTC) -> ``created_at``, ``commentText`` (HTML
entities decoded) -> ``text``, ``posVotes``/``negVotes`` ->
``upvotes``/``downvotes`` (NA when absent), ``TotalVotes`` -> ``score``.
``TotalVotes`` is the net count: a value other than ``posVotes - negVotes`` is
reported and kept. ``status`` is kept (published/rejected/deleted); the API
shows removed comments with placeholder text ("This comment has been
deleted") and 0/0 votes, so a removed comment's text and 0/0 are left empty
rather than taken as the reader's words and real zeros. Extra
columns: ``is_staff`` (``isModerator``), ``flag_count``, ``edited``.

Articles: ``title`` without the " - The Globe and Mail" suffix, ``text`` =
the ``<p>`` paragraphs as plain text separated by blank lines,
``published_at`` from ``published_date`` ("2016-02-02 EST": midnight in that
zone), ``url``, ``author``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from moderation import schema
from moderation.ingest import Parsed, canonical
from moderation.ingest.common import (
    booleans, counts, html_to_text, identifier, identifiers, read_json, statuses, texts, timestamps,
)
from moderation.schema import Problem

NAME = "gnm"
SOURCE = "gnm"
TITLE_SUFFIX = " - The Globe and Mail"
REMOVED_TEXT = "This comment has been deleted"  # what the API shows instead of a removed comment
LATEST_MS = 4_102_444_800_000  # 2100-01-01: later "timestamps" are not milliseconds
ZONES = {"EST": "-05:00", "EDT": "-04:00", "UTC": "+00:00", "GMT": "+00:00"}
_SUBFOLDERS = ("CommentsRawData", "ArticleRawData")
_HEAD = re.compile(rb'^\s*\{\s*"[^"]*"\s*:\s*\{[^{}]*?"data_type"\s*:\s*"(comment|article)"')
_CSV_COLUMNS = {"ID", "parentID", "TotalVotes", "timestamp", "comment_counter"}
_COMMENT_FIELDS = {
    "ID": "comment_id", "parentID": "parent_id", "streamId": "article_id", "timestamp": "created_at",
    "commentText": "text", "posVotes": "upvotes", "negVotes": "downvotes", "TotalVotes": "score",
    "status": "status", "isModerator": "is_staff", "flagCount": "flag_count", "edited": "edited",
}


def _data_type(path: Path) -> str | None:
    """"comment" or "article" from the first bytes of a file, else None."""
    try:
        with open(path, "rb") as handle:
            found = _HEAD.match(handle.read(4096).removeprefix(b"\xef\xbb\xbf"))
    except OSError:
        return None
    return found.group(1).decode() if found else None


def _members(folder: Path) -> list[Path]:
    """Files of a folder and of its extractor subfolders, in a stable order."""
    subfolders = [folder / name for name in _SUBFOLDERS if (folder / name).is_dir()]
    return sorted(p for f in [folder, *subfolders] for p in f.iterdir() if p.is_file() and not p.name.startswith("."))


def _is_csv(path: Path) -> bool:
    return path.suffix == ".csv" and _CSV_COLUMNS <= canonical.header(path)


def sniff(path: Path) -> bool:
    """True for a comment or article JSON of the extractor (or a folder holding one), or a SOCC source1 CSV."""
    try:
        if path.is_dir():
            return any(_data_type(p) for p in _members(path) if p.suffix == ".json")
        return _data_type(path) is not None or _is_csv(path)
    except OSError:
        return False


def _load_json(path: Path, problems: list[Problem]) -> dict | None:
    document = read_json(path, problems)
    if document is not None and not isinstance(document, dict):
        problems.append(Problem(str(path), "file", "expected a JSON object keyed by article id; nothing read"))
        return None
    return document


def _published(value) -> pd.Timestamp:
    """``"2016-02-02 EST"`` -> that midnight in UTC (NaT if unreadable)."""
    text = str(value or "").strip()
    for zone, offset in ZONES.items():
        text = re.sub(rf"\s*\b{zone}$", offset, text)
    return schema.to_utc([text]).iloc[0]


def _article_rows(path: Path, document: dict, problems: list[Problem]) -> list[dict]:
    rows = []
    for article_id, body in document.items():
        if not isinstance(body, dict):
            problems.append(Problem(str(path), f"article_id {article_id}", "article is not a JSON object"))
            continue
        paragraphs = body.get("article_text") or []
        paragraphs = [paragraphs] if isinstance(paragraphs, str) else paragraphs
        published = _published(body.get("published_date"))
        if pd.isna(published) and body.get("published_date"):
            problems.append(Problem(str(path), f"article_id {article_id}",
                                    f"published_date {body['published_date']!r} is not a date; left empty", "kept"))
        title = body.get("title")
        rows.append({
            "article_id": str(article_id),
            "title": title.removesuffix(TITLE_SUFFIX) or None if isinstance(title, str) else None,
            "text": "\n\n".join(html_to_text(pd.Series(paragraphs, dtype="str")).dropna().loc[lambda t: t != ""]) or None,
            "published_at": published,
            "url": body.get("article_url") if isinstance(body.get("article_url"), str) else None,
            "author": body.get("author") if isinstance(body.get("author"), str) else None,
            schema.RECORD: f"article_id {article_id}",
            schema.FILE: str(path),
        })
    return rows


def _flatten(path: Path, article_id: str, comments: list, problems: list[Problem]) -> list[dict]:
    """Depth-first rows of a nested comment list; the enclosing comment is the parent when ``parentID`` is empty."""
    rows = []
    stack = [(c, None, f"comments[{i}]") for i, c in reversed(list(enumerate(comments)))]
    while stack:
        comment, enclosing, where = stack.pop()
        if not isinstance(comment, dict):
            problems.append(Problem(str(path), f"article_id {article_id} {where}", "comment is not a JSON object"))
            continue
        comment_id = identifier(comment.get("ID"))
        replies = comment.get("replies") if isinstance(comment.get("replies"), list) else []
        # replies of a comment without ID still name it in parentID; the thread check reports them as orphans
        stack += [(r, comment_id, f"{where}.replies[{i}]") for i, r in reversed(list(enumerate(replies)))]
        if comment_id is None:
            problems.append(Problem(str(path), f"article_id {article_id} {where}", "comment has no ID"))
            continue
        row = {column: comment.get(field) for field, column in _COMMENT_FIELDS.items()}
        sender = comment.get("sender")
        row["author"] = sender.get("name") if isinstance(sender, dict) else None
        row[schema.RECORD] = f"article_id {article_id} {where}"
        row["parent_id"] = identifier(row["parent_id"]) or enclosing
        row["article_id"] = identifier(row["article_id"]) or article_id
        if enclosing is not None and row["parent_id"] != enclosing:
            problems.append(Problem(str(path), f"comment_id {comment_id}",
                                    f"parentID {row['parent_id']} but nested under {enclosing}; parentID kept", "kept"))
        rows.append(row)
    return rows


def _comment_frame(path: Path, frame: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """Check the API fields (already renamed to ``_COMMENT_FIELDS`` names) value by value and the net total."""
    file = str(path)
    frame = frame.reindex(columns=list(_COMMENT_FIELDS.values()) + ["author", schema.RECORD]).astype(object)
    records = frame[schema.RECORD].where(frame[schema.RECORD].notna(), "comment_id " + frame["comment_id"].map(str))
    frame["article_id"] = frame["article_id"].map(str)
    for name in ("comment_id", "parent_id"):
        frame[name] = identifiers(frame[name], records, name, file, problems)
    for name in ("author", "text"):
        frame[name] = texts(frame[name], records, name, file, problems)
    # JSON true/false would pass as 1/0 ms: a boolean is no timestamp
    millis = pd.to_numeric(frame["created_at"].map(lambda v: None if isinstance(v, bool) else v), errors="coerce")
    bad_time = ~millis.between(0, LATEST_MS) & frame["created_at"].notna()
    problems += [
        Problem(file, r, f"timestamp {schema._shorten(t)} is not milliseconds since 1970; left empty", "kept")
        for r, t in zip(records[bad_time], frame.loc[bad_time, "created_at"])
    ]
    frame["created_at"] = timestamps(millis.mask(bad_time), records, file, problems, unit="ms", column="timestamp")
    for name in ("upvotes", "downvotes", "score", "flag_count"):
        frame[name] = counts(frame[name], records, name, file, problems)
    for name in ("is_staff", "edited"):
        frame[name] = booleans(frame[name], records, name, file, problems)
    frame["status"] = statuses(frame["status"], records, file, problems)
    net = frame["upvotes"] - frame["downvotes"]
    off = (net != frame["score"]).fillna(False)
    problems += [
        Problem(file, f"comment_id {c}", f"TotalVotes {s} is not posVotes {u} - negVotes {d}", "kept")
        for c, s, u, d in frame.loc[off, ["comment_id", "score", "upvotes", "downvotes"]].itertuples(index=False)
    ]
    frame["text"] = html_to_text(frame["text"])
    # the API blanks removed comments: placeholder text and 0/0 votes that were never the reader's
    removed = frame["status"].isin(["rejected", "deleted"])
    blanked = (removed & frame["upvotes"].eq(0) & frame["downvotes"].eq(0)).fillna(False)
    frame.loc[blanked, ["upvotes", "downvotes", "score"]] = pd.NA
    frame.loc[blanked & frame["text"].eq(REMOVED_TEXT).fillna(False), "text"] = pd.NA
    frame[schema.FILE] = file
    return frame


def _csv_comments(path: Path, problems: list[Problem]) -> pd.DataFrame:
    """Comments of a SOCC "source1" CSV: the API fields as columns, one row per comment in thread order."""
    # the file has both article_id and streamId (equal); keep article_id
    frame = canonical.read_csv(path, problems).drop(columns="streamId", errors="ignore")
    frame = frame.rename(columns={k: v for k, v in _COMMENT_FIELDS.items() if k != "streamId"})
    missing = frame["comment_id"].isna()
    problems += [
        Problem(str(path), f"{line} (comment_counter {counter})", "comment has no ID")
        for line, counter in frame.loc[missing, [schema.RECORD, "comment_counter"]].itertuples(index=False)
    ]
    return _comment_frame(path, frame[~missing], problems)


def _beside(path: Path, article_id: str) -> Path | None:
    name = f"article_{article_id}.json"
    return next((p for p in (path.parent.parent / "ArticleRawData" / name, path.parent / name) if p.is_file()), None)


def parse(path: Path, source: str = SOURCE, **_options) -> Parsed:
    """Read one comments or article JSON file, a folder of them, or a SOCC source1 CSV (see the module docstring).

    ``source`` names the site in the keys (default "gnm").
    """
    path = Path(path)
    problems: list[Problem] = []
    files = [path]
    if path.is_dir():
        files = _members(path)
        problems += [
            Problem(str(p), "folder", "not read: only CommentsRawData/ and ArticleRawData/ hold comment-API JSON")
            for p in sorted(path.iterdir()) if p.is_dir() and p.name not in _SUBFOLDERS and not p.name.startswith(".")
        ]
    articles: dict[str, dict] = {}
    frames: list[pd.DataFrame] = []

    def add_articles(file: Path, document: dict | None) -> None:
        for row in _article_rows(file, document or {}, problems):
            articles.setdefault(row["article_id"], row)

    for file in files:
        kind = _data_type(file)
        if kind is None and _is_csv(file):
            frames.append(_csv_comments(file, problems))
            continue
        if kind is None:
            problems.append(Problem(str(file), "file", "not a Globe and Mail comment or article JSON"))
            continue
        document = _load_json(file, problems)
        if document is None:
            continue
        if kind == "article":
            add_articles(file, document)
            continue
        for article_id, body in document.items():
            comments = body.get("comments") if isinstance(body, dict) else None
            if not isinstance(comments, list):
                problems.append(Problem(str(file), f"article_id {article_id}", "no list of comments"))
                continue
            rows = _flatten(file, str(article_id), comments, problems)
            frames.append(_comment_frame(file, pd.DataFrame(rows, dtype=object), problems))
            article_file = _beside(file, article_id)
            if article_file is not None and str(article_id) not in articles:
                add_articles(article_file, _load_json(article_file, problems))
    comments = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    comments = comments.assign(source=source, position=np.arange(len(comments)))
    return Parsed(articles=pd.DataFrame(list(articles.values())).assign(source=source), comments=comments,
                  problems=problems)
