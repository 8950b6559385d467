"""Hacker News items: the official API's JSON and the Algolia search API's.

Accepted layouts (one file):

- items of the official Firebase API (``/v0/item/<id>.json``): one object, a
  JSON array of them, or JSON Lines; fields ``id``, ``type`` (story, comment,
  job, poll, pollopt), ``by``, ``time`` (Unix seconds), ``text`` (HTML),
  ``parent``, ``kids``, ``score``, ``title``, ``url``, ``descendants``,
  ``dead``, ``deleted``;
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
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from moderation import schema
from moderation.ingest import Parsed
from moderation.ingest.common import booleans, counts, head, html_to_text, identifiers, json_records, texts, timestamps
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


def _articles_of(comments: pd.DataFrame) -> pd.Series:
    """Each comment's article id.

    Follows ``parent`` from comment to comment (memoised, so each link is
    walked once) up to the first id that is not a comment of the file;
    ``story_id`` wins where the item has one.
    """
    comment_parent = dict(zip(comments["id"], comments["parent"]))
    found: dict[str, str] = {}
    for start in comment_parent:
        chain, current = [], start
        while current in comment_parent and current not in found and len(chain) <= len(comment_parent):
            chain.append(current)
            current = comment_parent[current]
        top = found.get(current, current)
        found.update(dict.fromkeys(chain, top))
    walked = comments["id"].map(found).astype("str")
    return comments["story_id"].where(comments["story_id"].notna(), walked).astype("str")


def _articles(items: pd.DataFrame, is_article: pd.Series, source: str) -> pd.DataFrame:
    """Article rows: the stories, jobs and polls, plus the stories Algolia comment hits name but the file lacks."""
    stories = items.loc[is_article]
    named = items.loc[~is_article & items["story_title"].notna() & ~items["story_id"].isin(stories["id"])]
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


def parse(path: Path, source: str = NAME, **_options) -> Parsed:
    """Parse one file of Hacker News items. See the module docstring for the mapping."""
    file = str(path)
    problems: list[Problem] = []
    rows = []
    for label, record in json_records(path, problems):
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

    articles = _articles(items, is_article, source)
    replies = items.loc[~is_article]
    article_id = _articles_of(replies)
    outside = replies.assign(article_id=article_id)[~article_id.isin(articles["article_id"])]
    for story, group in outside.groupby("article_id", sort=False):
        shown = ", ".join(group["id"][:5]) + (", ..." if len(group) > 5 else "")
        problems.append(Problem(
            file, f"item {story}", f"story not in the file; taken as the story of {len(group)} comment(s) ({shown})",
            "kept",
        ))
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
