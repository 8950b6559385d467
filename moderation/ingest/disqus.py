"""Disqus XML export (Admin > Community > Export; schema http://disqus.com/api/schemas/1.0/disqus.xsd).

Layout: ``<disqus xmlns="http://disqus.com">`` holding ``<category dsq:id>``
elements, then ``<thread dsq:id>`` (``id`` = the site's identifier, ``link``,
``title``, ``message``, ``createdAt``, ``author``, ``isClosed``,
``isDeleted``), then ``<post dsq:id>`` (``message`` as HTML in CDATA,
``createdAt``, ``isDeleted``, ``isSpam``, ``author`` with ``name``,
``isAnonymous``, ``username``, a ``<thread dsq:id/>`` reference and an
optional ``<parent dsq:id/>`` reference). ``dsq`` is
http://disqus.com/disqus-internals.

Mapping:

- a thread is an article (``article_id`` its dsq:id, ``section`` its
  category's title, the site's identifier kept as ``disqus_identifier``);
  a post is a comment (``comment_id`` its dsq:id, ``parent_id`` the parent
  reference, NA for top level);
- ``status``: ``isSpam`` -> "spam", ``isDeleted`` -> "deleted", else
  "published"; the flags are also kept as ``is_spam``/``is_deleted``;
- ``author`` is the displayed name; ``author_username`` and
  ``author_is_anonymous`` pass through;
- the export has no votes: ``upvotes``/``downvotes``/``score`` are NA;
- ``message`` HTML is made plain (:func:`moderation.ingest.common.html_to_text`);
- privacy: ``ipAddress`` and the author's ``email`` are not read, so they
  never reach the store or the results.

An export whose root lacks ``xmlns="http://disqus.com"`` (hand-edited or
made by another tool) is read by element names, and this is reported. Flags
(``isDeleted``, ``isSpam``, ``isAnonymous``, ``isClosed``) other than
true/false are reported and taken as not set.

The file is streamed (``lxml.etree.iterparse``, each element freed once
read). Entities are not resolved and nothing is fetched from the network, so
an export carrying an XXE payload cannot read local files. A file that stops
being well-formed XML keeps the records read before the fault, and the fault
is reported with its line.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from moderation import schema
from moderation.ingest import Parsed, read_text
from moderation.ingest.common import booleans, head, html_to_text, timestamps
from moderation.schema import Problem

NAME = "disqus"
NS = "{http://disqus.com}"
DSQ_ID = "{http://disqus.com/disqus-internals}id"
_ROOT = re.compile(r"<disqus[\s>]")
THREAD_FIELDS = ("dsq_id", "identifier", "forum", "category", "link", "title", "message", "createdAt", "name",
                 "isClosed", "isDeleted", "line")
POST_FIELDS = ("dsq_id", "thread", "thread_text", "parent", "message", "createdAt", "isDeleted", "isSpam", "name",
               "username", "isAnonymous", "line")


def sniff(path: Path) -> bool:
    """An XML file whose root is ``<disqus>`` (in the http://disqus.com namespace or, hand-made, in none)."""
    return _ROOT.search(head(path, 4096)) is not None


def _local(tag: str) -> str | None:
    """The local name of a tag in the Disqus namespace or in none; None for other namespaces."""
    if tag.startswith(NS):
        return tag[len(NS):]
    return None if tag.startswith("{") else tag


def _children(element: etree._Element | None) -> dict[str, etree._Element]:
    """An element's children in the Disqus namespace (or none) by local name (the first of each name); one pass."""
    found: dict[str, etree._Element] = {}
    for child in () if element is None else element:
        name = _local(child.tag) if isinstance(child.tag, str) else None
        if name is not None:
            found.setdefault(name, child)
    return found


def _dsq_id(element: etree._Element) -> str | None:
    # "dsq:id" stays a plain attribute name when the file does not declare the dsq prefix
    return element.get(DSQ_ID) or element.get("dsq:id")


def _text(child: etree._Element | None) -> str | None:
    """An element's text, or None when absent.

    An entity the parser did not resolve stays as its literal reference
    ("&xxe;") instead of cutting the text short.
    """
    if child is None:
        return None
    return child.text if not len(child) else "".join(child.itertext())


def _record(element: etree._Element) -> tuple[str, dict]:
    """One top-level element as (tag, fields); only the fields named in THREAD_FIELDS/POST_FIELDS are read."""
    tag = _local(element.tag)
    children = _children(element)
    author = _children(children.get("author"))

    def ref(name: str) -> str | None:
        # a reference child such as <thread dsq:id="..."/>
        return None if children.get(name) is None else _dsq_id(children[name])

    fields = {"dsq_id": _dsq_id(element), "line": element.sourceline,
              **{name: _text(children.get(name)) for name in ("title", "message", "createdAt", "isDeleted")}}
    if tag == "category":
        return tag, fields
    fields["name"] = _text(author.get("name"))
    if tag == "thread":
        fields.update(identifier=_text(children.get("id")), forum=_text(children.get("forum")),
                      category=ref("category"), link=_text(children.get("link")),
                      isClosed=_text(children.get("isClosed")))
    else:
        fields.update(thread=ref("thread"), thread_text=_text(children.get("thread")), parent=ref("parent"),
                      isSpam=_text(children.get("isSpam")), username=_text(author.get("username")),
                      isAnonymous=_text(author.get("isAnonymous")))
    return tag, fields


def _read(source) -> tuple[dict[str, list[dict]], bool, etree.XMLSyntaxError | None]:
    """Categories, threads and posts of an export, whether it declares a DTD, and the error that stopped reading.

    ``found["plain"]`` counts the records read without the Disqus namespace.
    """
    found: dict[str, list] = {"category": [], "thread": [], "post": [], "plain": []}
    events = etree.iterparse(
        source, events=("end",), tag=("{*}category", "{*}thread", "{*}post"),
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True,
    )
    try:
        for _, element in events:
            parent = element.getparent()
            if parent is None or parent.getparent() is not None or _local(element.tag) is None:
                continue  # a reference inside a post or thread, read with its owner
            tag, fields = _record(element)
            found[tag].append(fields)
            if not element.tag.startswith(NS):
                found["plain"].append(fields["line"])
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as error:
        return found, False, error
    return found, events.root.getroottree().docinfo.internalDTD is not None, None


def _flag(frame: pd.DataFrame, name: str, file: str, problems: list[Problem]) -> pd.Series:
    """A true/false child element as bool (absent or unreadable: False, the latter reported)."""
    return booleans(frame[name], frame[schema.RECORD], name, file, problems).fillna(False).astype(bool)


def parse(path: Path, source: str = NAME, **_options) -> Parsed:
    """Parse one Disqus export. See the module docstring for the mapping."""
    file = str(path)
    problems: list[Problem] = []
    found, has_dtd, error = _read(str(path))
    if error is not None and "encoding" in error.msg.lower():
        # a wrongly encoded export: read it again, repaired (and reported) by read_text
        found, has_dtd, error = _read(io.BytesIO(read_text(path, problems).encode("utf-8")))
    if error is not None:
        problems.append(Problem(file, f"line {error.lineno}" if error.lineno else "file",
                                f"not well-formed XML ({error.msg}); the rest of the file was not read"))
    if found["plain"]:
        problems.append(Problem(file, f"line {found['plain'][0]}", "elements without the Disqus namespace "
                                '(xmlns="http://disqus.com"); read by their names', "repaired"))
    if error is None and not found["thread"] and not found["post"]:
        problems.append(Problem(file, "file", "no <thread> or <post> element under <disqus>: nothing read"))
    if has_dtd:
        problems.append(Problem(file, "DOCTYPE", "the file declares a DTD, which a Disqus export never does; "
                                "its entities were left unexpanded", "kept"))

    categories = pd.DataFrame(found["category"], columns=["dsq_id", "title"])
    threads = pd.DataFrame(found["thread"], columns=THREAD_FIELDS)
    problems += [Problem(file, f"line {line}", "thread without a dsq:id")
                 for line in threads.loc[threads["dsq_id"].isna(), "line"]]
    threads = threads.dropna(subset=["dsq_id"]).reset_index(drop=True)
    threads[schema.RECORD] = "line " + threads["line"].astype("str")
    articles = pd.DataFrame({
        "article_id": threads["dsq_id"],
        "source": source,
        "title": threads["title"],
        "text": html_to_text(threads["message"]),
        "published_at": timestamps(threads["createdAt"], "article_id " + threads["dsq_id"].astype("str"), file,
                                   problems, unit=None),
        "url": threads["link"],
        "author": threads["name"],
        "section": threads["category"].map(dict(zip(categories["dsq_id"], categories["title"]))),
        "disqus_identifier": threads["identifier"],
        "forum": threads["forum"],
        "is_closed": _flag(threads, "isClosed", file, problems),
        "is_deleted": _flag(threads, "isDeleted", file, problems),
        schema.RECORD: threads[schema.RECORD],
    })

    posts = pd.DataFrame(found["post"], columns=POST_FIELDS)
    # the import format refers to a thread by its site identifier rather than its dsq:id
    by_identifier = threads.dropna(subset=["identifier"]).drop_duplicates("identifier")
    named = posts["thread_text"].map(dict(zip(by_identifier["identifier"], by_identifier["dsq_id"])))
    posts["thread"] = posts["thread"].astype("str").fillna(named.astype("str"))
    no_id, no_thread = posts["dsq_id"].isna(), posts["dsq_id"].notna() & posts["thread"].isna()
    problems += [Problem(file, f"line {line}", "post without a dsq:id") for line in posts.loc[no_id, "line"]]
    problems += [Problem(file, f"comment_id {post}", f"post (line {line}) names no thread")
                 for post, line in posts.loc[no_thread, ["dsq_id", "line"]].itertuples(index=False)]
    posts = posts[~no_id & ~no_thread].reset_index(drop=True)
    unknown = posts[~posts["thread"].isin(threads["dsq_id"])]
    problems += [Problem(file, f"article_id {thread}", f"thread not in the file; its {len(group)} post(s) are kept",
                         "kept") for thread, group in unknown.groupby("thread", sort=False)]

    posts[schema.RECORD] = "line " + posts["line"].astype("str")
    spam, deleted = _flag(posts, "isSpam", file, problems), _flag(posts, "isDeleted", file, problems)
    comments = pd.DataFrame({
        "comment_id": posts["dsq_id"],
        "article_id": posts["thread"],
        "parent_id": posts["parent"],
        "author": posts["name"],
        "created_at": timestamps(posts["createdAt"], "comment_id " + posts["dsq_id"].astype("str"), file, problems,
                                 unit=None),
        "text": html_to_text(posts["message"]),
        "status": np.select([spam, deleted], ["spam", "deleted"], "published"),
        "source": source,
        "position": np.arange(len(posts)),
        "is_spam": spam,
        "is_deleted": deleted,
        "author_username": posts["username"].astype("str"),
        "author_is_anonymous": booleans(posts["isAnonymous"], posts[schema.RECORD], "isAnonymous", file, problems),
        schema.RECORD: posts[schema.RECORD],
    })
    return Parsed(articles=articles, comments=comments, problems=problems)
