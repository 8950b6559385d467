"""Hacker News items: the official API's JSON and the Algolia search API's.

Accepted layouts (one file):

- items of the official Firebase API (``/v0/item/<id>.json``): one object, a
  JSON array of them, or JSON Lines; fields ``id``, ``type`` (story, comment,
  job, poll, pollopt), ``by``, ``time`` (Unix seconds), ``text`` (HTML),
  ``parent``, ``kids``, ``score``, ``title``, ``url``, ``descendants``,
  ``dead``, ``deleted``; JSON Lines are read in pieces of ``CHUNK_ROWS``
  lines (:func:`parse_chunks`);
- Algolia search hits (``/api/v1/search`` ``hits``: ``objectID``, ``author``,
  ``comment_text`` or ``story_text``, ``created_at_i``, ``parent_id``,
  ``story_id``, ``points``, ``_tags``), the whole response or the hits alone;
- Algolia item trees (``/api/v1/items/<id>``: nested ``children``).

Mapping:

- stories, jobs and polls are articles; comments are comments. Poll options
  are neither and are reported and skipped;
- a comment's article is its ``story_id`` where the item has one, else the
  story reached by following ``parent`` within the file. When the chain
  leaves the file, the farthest ancestor referenced is taken as the story
  (its top comments become top level) and this is reported;
- HN shows no comment votes: ``upvotes``/``downvotes`` are NA, ``score`` is
  the item's own ``score``/``points`` (stories only, in practice);
- ``status``: ``deleted`` -> "deleted", ``dead`` (killed by moderators, flags
  or the spam filter) -> "rejected", else "published";
- ``text`` is the HTML made plain (:func:`moderation.ingest.common.html_to_text`);
- pass-through: ``dead``, ``deleted`` (bool) and ``kids_count`` (replies HN
  lists; more than the file holds when only part of a thread was fetched);
  articles keep ``score``, ``descendants`` and ``hn_type``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from moderation import schema
from moderation.ingest import CHUNK_ROWS, Parsed
from moderation.ingest.common import (
    booleans, counts, head, html_to_text, identifiers, json_records, record_pieces, texts, timestamps,
)
from moderation.schema import Problem

NAME = "hackernews"
ARTICLE_TYPES = ("story", "job", "poll")
ITEM_TYPES = (*ARTICLE_TYPES, "comment", "pollopt")

_FIREBASE = re.compile(r'"type"\s*:\s*"(?:story|comment|job|poll|pollopt)"')
_FIREBASE_FIELD = re.compile(r'"(?:by|time|parent|kids)"\s*:')
_ALGOLIA = re.compile(r'"objectID"\s*:|"created_at_i"\s*:')


def sniff(path: Path) -> bool:
    """JSON whose first records are HN items (``type`` story/comment/... and ``by``/``time``/...) or Algolia hits."""
    text = head(path)
    if text.lstrip()[:1] not in ("[", "{"):
        return False
    return bool(_ALGOLIA.search(text) or (_FIREBASE.search(text) and _FIREBASE_FIELD.search(text)))


def _algolia_type(tags: object) -> str | None:
    tags = tags if isinstance(tags, list) else []
    return next((t for t in ITEM_TYPES if t in tags), None)


def _items(record: object, label: str) -> Iterable[dict]:
    """The item(s) in one record, as Firebase-style dicts with the record's label."""
    if not isinstance(record, dict):
        yield {"id": None, "label": label}  # reported as an item without an id
        return
    if isinstance(record.get("hits"), list):
        for number, hit in enumerate(record["hits"], 1):
            yield from _items(hit, f"{label} hit {number}")
        return
    if "objectID" in record or "created_at_i" in record:
        children = record.get("children") if isinstance(record.get("children"), list) else None
        yield {
            "id": record.get("id", record.get("objectID")),
            "type": record.get("type") or _algolia_type(record.get("_tags")),
            "by": record.get("author"),
            "time": record.get("created_at_i"),
            "text": record.get("comment_text") or record.get("story_text") or record.get("text"),
            "parent": record.get("parent_id"),
            "story_id": record.get("story_id"),
            "score": record.get("points"),
            "title": record.get("title"),
            "url": record.get("url"),
            "story_title": record.get("story_title"),
            "story_url": record.get("story_url"),
            "descendants": record.get("num_comments"),
            "kids_count": len(children) if children is not None else None,
            "label": label,
        }
        for child in children or []:
            yield from _items(child, label)
        return
    # the official API leaves out ``kids`` when an item has no replies
    kids = record.get("kids", [])
    yield {**record, "kids_count": len(kids) if isinstance(kids, list) else None, "label": label}


class _FileSoFar:
    """What the earlier pieces of one file said about threads: each comment's article, the articles seen, and
    the stories comments were attached to without being in the file (reported once the file is read)."""

    def __init__(self):
        self.article_of: dict[str, str] = {}
        self.articles: set[str] = set()
        self.outside: dict[str, tuple[int, list[str]]] = {}  # story id -> (comments taken as its own, first ids)

    def articles_of(self, comments: pd.DataFrame) -> pd.Series:
        """Each comment's article id.

        Follows ``parent`` from comment to comment (memoised, so each link is
        walked once, across pieces) up to the first id that is not a comment
        of the file read so far; ``story_id`` wins where the item has one.
        """
        comment_parent = dict(zip(comments["id"], comments["parent"]))
        found: dict[str, str] = {}
        for start in comment_parent:
            chain, current = [], start
            while current in comment_parent and current not in found and len(chain) <= len(comment_parent):
                chain.append(current)
                current = comment_parent[current]
            top = found.get(current, self.article_of.get(current, current))
            found.update(dict.fromkeys(chain, top))
        walked = comments["id"].map(found).astype("str")
        article_id = comments["story_id"].where(comments["story_id"].notna(), walked).astype("str")
        self.article_of.update(zip(comments["id"], article_id))
        return article_id

    def outside_problems(self, file: str) -> list[Problem]:
        """The stories never found in the file, each with the comments taken as its own."""
        return [
            Problem(file, f"item {story}", f"story not in the file; taken as the story of {count} comment(s) "
                    f"({', '.join(ids)}{', ...' if count > len(ids) else ''})", "kept")
            for story, (count, ids) in self.outside.items() if story not in self.articles
        ]

    def attach_outside(self, story: str, ids: pd.Series) -> None:
        """Note that comments ``ids`` were given ``story``, which the file has not shown (yet)."""
        count, first = self.outside.get(story, (0, []))
        self.outside[story] = (count + len(ids), (first + list(ids[:5]))[:5])


def _articles(items: pd.DataFrame, is_article: pd.Series, source: str, seen: set[str]) -> pd.DataFrame:
    """Article rows: the stories, jobs and polls, plus the stories Algolia comment hits name but the file lacks
    (unless an earlier piece, ``seen``, had them)."""
    stories = items.loc[is_article]
    named = items.loc[~is_article & items["story_title"].notna() & ~items["story_id"].isin(stories["id"])
                      & ~items["story_id"].isin(seen)]
    named = named.drop_duplicates("story_id")
    return pd.concat([
        pd.DataFrame({
            "article_id": stories["id"], "source": source, "title": stories["title"], "text": stories["text"],
            "published_at": stories["time"], "url": stories["url"], "author": stories["by"],
            "score": stories["score"], "descendants": stories["descendants"], "hn_type": stories["type"],
            schema.RECORD: stories["label"],
        }),
        pd.DataFrame({"article_id": named["story_id"], "source": source, "title": named["story_title"],
                      "url": named["story_url"], "hn_type": "story", schema.RECORD: named["label"]}),
    ], ignore_index=True)


def parse_chunks(path: Path, source: str = NAME, chunk_rows: int = CHUNK_ROWS, **_options) -> Iterator[Parsed]:
    """Parse one file of Hacker News items ``chunk_rows`` records at a time, in file order.

    JSON Lines are streamed: memory is bounded by a piece plus one article id
    per comment read (to follow reply chains across pieces). A comment whose
    parent comes later in the file than itself is taken as the top of its
    thread; a story never found is reported after the last piece. See the
    module docstring for the mapping.
    """
    file, found, so_far, position = str(path), [], _FileSoFar(), 0
    for piece, problems in record_pieces(json_records(path, found), found, chunk_rows):
        parsed = _piece(piece, problems, file, source, so_far)
        parsed.comments["position"] += position
        position += len(parsed.comments)
        yield parsed
    missing = so_far.outside_problems(file)
    if missing:
        yield Parsed(articles=pd.DataFrame(), comments=pd.DataFrame(), problems=missing)


def parse(path: Path, **options) -> Parsed:
    """Parse one file of Hacker News items in one piece; the options are those of :func:`parse_chunks`."""
    return Parsed.concat(list(parse_chunks(Path(path), **options)))


def _piece(records: list[tuple[str, object]], problems: list[Problem], file: str, source: str,
           so_far: _FileSoFar) -> Parsed:
    """Articles and comments of one piece of records, reporting into ``problems``."""
    rows = []
    for label, record in records:
        if not isinstance(record, dict):
            problems.append(Problem(file, label, "not a JSON object"))
            continue
        rows += _items(record, label)
    items = pd.DataFrame(rows, columns=[
        "id", "type", "by", "time", "text", "parent", "story_id", "score", "title", "url", "descendants",
        "kids_count", "dead", "deleted", "story_title", "story_url", "label",
    ], dtype=object)
    checks = {"id": identifiers, "parent": identifiers, "story_id": identifiers, "type": texts, "by": texts,
              "text": texts, "title": texts, "url": texts, "story_title": texts, "story_url": texts, "score": counts,
              "descendants": counts, "kids_count": counts, "dead": booleans, "deleted": booleans}
    for column, check in checks.items():
        items[column] = check(items[column], items["label"], column, file, problems)
    items["type"] = items["type"].where(items["type"].notna() | items["parent"].isna(), "comment")

    unplaced = (items["type"] == "comment") & items["parent"].isna() & items["story_id"].isna()
    reasons = pd.Series(np.select(
        [items["id"].isna(), items["type"].isna(), ~items["type"].isin(ITEM_TYPES), items["type"] == "pollopt",
         unplaced],
        ["no id", "no type and no parent", "type is none of " + ", ".join(ITEM_TYPES), "a poll option, not a comment",
         "a comment without a parent or story_id"], ""), index=items.index)
    unusable = reasons != ""
    problems += [
        Problem(file, label if pd.isna(item_id) else f"item {item_id}", reason)
        for label, item_id, reason in zip(items["label"][unusable], items["id"][unusable], reasons[unusable])
    ]
    items = items[~unusable].reset_index(drop=True)
    items["time"] = timestamps(items["time"], "item " + items["id"], file, problems, unit="s", column="time")
    items["text"] = html_to_text(items["text"])
    flag = {name: items[name].fillna(False).astype(bool) for name in ("dead", "deleted")}
    is_article = items["type"].isin(ARTICLE_TYPES)

    articles = _articles(items, is_article, source, so_far.articles)
    so_far.articles.update(articles["article_id"].dropna())
    replies = items.loc[~is_article]
    article_id = so_far.articles_of(replies)
    outside = replies.assign(article_id=article_id)[~article_id.isin(so_far.articles)]
    for story, group in outside.groupby("article_id", sort=False):
        so_far.attach_outside(story, group["id"])
    status = pd.Series(np.select([flag["deleted"], flag["dead"]], ["deleted", "rejected"], "published"),
                       index=items.index)
    comments = pd.DataFrame({
        "comment_id": replies["id"],
        "article_id": article_id,
        "parent_id": replies["parent"].where(replies["parent"] != article_id),
        "author": replies["by"],
        "created_at": replies["time"],
        "text": replies["text"],
        "score": replies["score"],
        "status": status[~is_article],
        "source": source,
        "position": np.arange(len(replies)),
        "dead": flag["dead"][~is_article],
        "deleted": flag["deleted"][~is_article],
        "kids_count": replies["kids_count"],
        schema.RECORD: replies["label"],
    }).reset_index(drop=True)
    return Parsed(articles=articles, comments=comments, problems=problems)
