"""Reddit comments: API listings and dump-style JSON Lines.

Accepted layouts (one file):

- the API's thread listing (``/comments/<id>.json``): a JSON array of two
  ``Listing`` objects, the post (``kind`` t3) then its comments (``kind`` t1,
  replies nested in ``replies`` listings, ``kind`` "more" for stubs); a lone
  ``Listing`` (``/r/<sub>/comments.json``) works too;
- dumps with one object per line (Pushshift style): comments (``id``,
  ``parent_id`` and ``link_id`` with ``t1_``/``t3_`` prefixes, ``author``,
  ``body``, ``score``, ``ups``, ``downs``, ``controversiality``,
  ``created_utc``) and posts (``title``, ``selftext``, ``url``, ...),
  read in pieces of ``CHUNK_ROWS`` lines (:func:`parse_chunks`), so memory
  does not grow with the file.

Mapping:

- ids lose their type prefix; a comment whose ``parent_id`` is the post
  (``t3_``) is top level (``parent_id`` NA); ``article_id`` is ``link_id``;
  a post is an article (``selftext`` is its text, the subreddit its
  ``section``);
- votes: Reddit publishes only a fuzzed net ``score``; ``ups`` equals the
  score and ``downs`` is always 0 in the API, so they are not vote counts:
  ``upvotes``/``downvotes`` are NA and the raw values are kept as
  ``reddit_ups``/``reddit_downs`` for reference. While ``score_hidden`` is
  true the API shows a placeholder score, so ``score`` is NA;
- ``status``: body "[removed]" (removed by moderators) -> "rejected", body
  "[deleted]" (deleted by its author) -> "deleted", else "published"; the
  text is kept as given. An author "[deleted]" stays as that literal handle;
- the API escapes ``&``, ``<`` and ``>`` in text as entities; they are
  decoded (a file fetched with ``raw_json=1`` has none to decode);
- "more" stubs hold no comments, only ids of comments not in the listing:
  each is reported with its count;
- pass-through: ``subreddit``, ``controversiality``, ``gilded``,
  ``distinguished``, ``is_staff`` (distinguished as moderator or admin),
  ``edited``, ``stickied``, ``score_hidden``, ``is_submitter`` (the post's
  author), ``reddit_ups``, ``reddit_downs``; posts keep ``score``,
  ``num_comments`` and ``permalink``. Other API fields (flair, awards, ...)
  are not kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from moderation import schema
from moderation.ingest import CHUNK_ROWS, Parsed
from moderation.ingest.common import (
    booleans, counts, head, identifiers, json_records, record_pieces, texts, timestamps,
)
from moderation.schema import Problem

NAME = "reddit"
COMMENT_FIELDS = (
    "id", "name", "parent_id", "link_id", "author", "body", "score", "ups", "downs", "controversiality",
    "created_utc", "distinguished", "subreddit", "gilded", "edited", "stickied", "score_hidden", "is_submitter",
)
POST_FIELDS = ("id", "name", "title", "selftext", "url", "created_utc", "author", "subreddit", "score",
               "num_comments", "permalink")
STAFF = ("moderator", "admin")

_THING = re.compile(r'"kind"\s*:\s*"(?:Listing|t1|t3|more)"')
_PREFIXED = re.compile(r'"(?:parent_id|link_id)"\s*:\s*"t[13]_')
_SUBREDDIT = re.compile(r'"subreddit"\s*:')
_POST_FIELD = re.compile(r'"(?:selftext|num_comments)"\s*:')
_PREFIX = r"^t\d_"


def sniff(path: Path) -> bool:
    """JSON whose first records are Reddit things (``kind`` t1/t3/Listing), prefixed comment ids or posts."""
    text = head(path)
    if text.lstrip()[:1] not in ("[", "{"):
        return False
    return bool(_THING.search(text) or _PREFIXED.search(text)
                or (_SUBREDDIT.search(text) and _POST_FIELD.search(text)))


class _Collector:
    """Comments, posts and problems met while walking one file's records in listing order."""

    def __init__(self, file: str):
        self.file = file
        self.comments: list[dict] = []
        self.posts: list[dict] = []
        self.problems: list[Problem] = []

    def add(self, record: object, label: str) -> None:
        """Add one record: a listing, a thing (t1/t3/more) or a bare dump object."""
        if not isinstance(record, dict):
            self.problems.append(Problem(self.file, label, "not a JSON object"))
            return
        kind, data = record.get("kind"), record.get("data")
        if kind is None:
            self._dump(record, label)
        elif not isinstance(data, dict):
            self.problems.append(Problem(self.file, label, f"a {kind!r} thing without its data object"))
        elif kind == "Listing":
            children = data.get("children") or []
            if not isinstance(children, list):
                self.problems.append(Problem(self.file, label, "a listing whose children are not a list"))
                return
            for child in children:
                self.add(child, label)
        elif kind == "t1":
            self.comments.append({**{f: data.get(f) for f in COMMENT_FIELDS}, "label": label})
            if isinstance(data.get("replies"), dict):
                self.add(data["replies"], label)
        elif kind == "t3":
            self.posts.append({**{f: data.get(f) for f in POST_FIELDS}, "label": label})
        elif kind == "more":
            self._more(data, label)
        else:
            self.problems.append(
                Problem(self.file, label, f"kind {kind!r} is not a comment (t1), post (t3) or listing"))

    def _dump(self, record: dict, label: str) -> None:
        if "body" in record or "link_id" in record:
            self.comments.append({**{f: record.get(f) for f in COMMENT_FIELDS}, "label": label})
        elif "title" in record:
            self.posts.append({**{f: record.get(f) for f in POST_FIELDS}, "label": label})
        else:
            self.problems.append(
                Problem(self.file, label, "neither a comment (no body or link_id) nor a post (no title)"))

    def _more(self, data: dict, label: str) -> None:
        parent = str(data.get("parent_id") or "")
        where = (f"comment_id {parent[3:]}" if parent.startswith("t1_")
                 else f"article_id {parent[3:]}" if parent else label)
        count, children = data.get("count"), data.get("children")
        count = count if isinstance(count, int) else len(children) if isinstance(children, list) else 0
        missing = (f"{count} comment(s) not in the listing (a 'more' stub; fetch them with /api/morechildren)"
                   if count else "deeper replies not in the listing (a 'continue this thread' stub)")
        self.problems.append(Problem(self.file, where, missing))


def _strip_prefix(values: pd.Series) -> pd.Series:
    return values.astype("str").str.replace(_PREFIX, "", regex=True)


def _unescape(values: pd.Series) -> pd.Series:
    """Decode the three entities the API escapes (``&amp;`` last, so "&amp;lt;" stays "&lt;")."""
    text = values.astype("str")
    return text.str.replace("&lt;", "<", regex=False).str.replace("&gt;", ">", regex=False).str.replace(
        "&amp;", "&", regex=False)


def _checked(raw: pd.DataFrame, fields: dict[str, str], file: str, problems: list[Problem]) -> pd.DataFrame:
    """``raw`` with each field checked by its kind ("id", "text", "count", "flag"); bad values reported, emptied."""
    check = {"id": identifiers, "text": texts, "count": counts, "flag": booleans}
    return raw.assign(**{name: check[kind](raw[name], raw["label"], name, file, problems)
                         for name, kind in fields.items()})


def _labels(id_column: str, raw: pd.DataFrame) -> list[str]:
    return [schema.record_label(id_column, i, label) for i, label in zip(raw["id"], raw["label"])]


def _ids(frame: pd.DataFrame, problems: list[Problem], file: str, what: str) -> pd.DataFrame:
    """Rows with their prefix-free ``id`` (from ``id`` or ``name``); rows with neither are reported and dropped."""
    ids = frame["id"].where(frame["id"].notna(), frame["name"])
    problems += [Problem(file, label, f"{what} without an id") for label in frame.loc[ids.isna(), "label"]]
    return frame.assign(id=_strip_prefix(ids))[ids.notna()].reset_index(drop=True)


def _comments(raw: pd.DataFrame, source: str, file: str, problems: list[Problem]) -> pd.DataFrame:
    raw = _checked(raw, {
        "id": "id", "name": "id", "parent_id": "id", "link_id": "id", "author": "text", "body": "text",
        "score": "count", "ups": "count", "downs": "count", "controversiality": "count", "gilded": "count",
        "distinguished": "text", "subreddit": "text", "stickied": "flag", "score_hidden": "flag",
        "is_submitter": "flag",
    }, file, problems)
    raw = _ids(raw, problems, file, "comment")
    top_level = raw["parent_id"].astype("str").str.startswith("t3_").fillna(False)
    parent_id = _strip_prefix(raw["parent_id"])
    # a dump record without link_id still names its post when it is top level
    article_id = _strip_prefix(raw["link_id"]).fillna(parent_id.where(top_level))
    placed = article_id.notna()
    problems += [Problem(file, f"comment_id {c} ({label})", "no link_id: the post it belongs to is unknown")
                 for c, label in raw.loc[~placed, ["id", "label"]].itertuples(index=False)]
    raw, parent_id, article_id, top_level = (
        part[placed].reset_index(drop=True) for part in (raw, parent_id, article_id, top_level))
    text = _unescape(raw["body"])
    score_hidden = raw["score_hidden"]
    status = np.select([text == "[removed]", text == "[deleted]"], ["rejected", "deleted"], "published")
    # edited is false or the edit's Unix time
    edited = raw["edited"].map(lambda v: v if isinstance(v, bool) else v > 0 if isinstance(v, (int, float)) else None)
    return pd.DataFrame({
        "comment_id": raw["id"],
        "article_id": article_id,
        "parent_id": parent_id.where(~top_level),
        "author": raw["author"],
        "created_at": timestamps(raw["created_utc"], _labels("comment_id", raw), file, problems, unit="s",
                                 column="created_utc"),
        "text": text,
        "score": raw["score"].mask(score_hidden.fillna(False)),
        "status": status,
        "source": source,
        "position": np.arange(len(raw)),
        "subreddit": raw["subreddit"],
        "controversiality": raw["controversiality"],
        "gilded": raw["gilded"],
        "distinguished": raw["distinguished"],
        "is_staff": raw["distinguished"].isin(STAFF),
        "edited": edited.astype("boolean"),
        "stickied": raw["stickied"],
        "score_hidden": score_hidden,
        "is_submitter": raw["is_submitter"],
        "reddit_ups": raw["ups"],
        "reddit_downs": raw["downs"],
        schema.RECORD: raw["label"],
    })


def _articles(raw: pd.DataFrame, source: str, file: str, problems: list[Problem]) -> pd.DataFrame:
    raw = _checked(raw, {
        "id": "id", "name": "id", "title": "text", "selftext": "text", "url": "text", "author": "text",
        "subreddit": "text", "score": "count", "num_comments": "count", "permalink": "text",
    }, file, problems)
    raw = _ids(raw, problems, file, "post")
    return pd.DataFrame({
        "article_id": raw["id"],
        "source": source,
        "title": _unescape(raw["title"]),
        "text": _unescape(raw["selftext"]),
        "published_at": timestamps(raw["created_utc"], _labels("article_id", raw), file, problems, unit="s",
                                   column="created_utc"),
        "url": raw["url"],
        "author": raw["author"],
        "section": raw["subreddit"],
        "score": raw["score"],
        "num_comments": raw["num_comments"],
        "permalink": raw["permalink"],
        schema.RECORD: raw["label"],
    })


def parse_chunks(path: Path, source: str = NAME, chunk_rows: int = CHUNK_ROWS, **_options) -> Iterator[Parsed]:
    """Parse one Reddit JSON file ``chunk_rows`` records (lines of a dump, listings) at a time, in file order.

    JSON Lines are streamed: memory is bounded by a piece, not the file. A
    JSON array or listing document is one text, read whole. See the module
    docstring for the layouts and the mapping.
    """
    file, found = str(path), []
    position = 0
    for piece, problems in record_pieces(json_records(path, found), found, chunk_rows):
        collector = _Collector(file)
        collector.problems = problems
        for label, record in piece:
            collector.add(record, label)
        comments = _comments(pd.DataFrame(collector.comments, columns=[*COMMENT_FIELDS, "label"], dtype=object),
                             source, file, problems)
        comments["position"] += position
        position += len(comments)
        articles = _articles(pd.DataFrame(collector.posts, columns=[*POST_FIELDS, "label"], dtype=object), source,
                             file, problems)
        yield Parsed(articles=articles, comments=comments, problems=problems)


def parse(path: Path, **options) -> Parsed:
    """Parse one Reddit JSON file in one piece; the options are those of :func:`parse_chunks`."""
    return Parsed.concat(list(parse_chunks(Path(path), **options)))
