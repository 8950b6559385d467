"""Article page text: an article and its comments as copied from a web page.

Layout (the project's seed page is the reference)::

    <title>
    Published Oct 04, 2018 13:28 PM
    <body paragraphs; runs of * are paywall masks>
    Comments (6)
    <avatar: initials such as UM, or the word Avatar>
    <author>
    <date: Oct 04, 2018>
    [<affiliation, e.g. Independent>]
    <body paragraphs; a link's title stays in the body>
    (6)            <- zero or more unlabeled reaction counts

The page shows no ids, no reply structure and no labels on the reaction
counts, so this loader derives them and says so:

- ids: the article id is a slug of the title; a comment id is a hash of the
  article, author, date and text, stable when the page is captured again;
- replies are flattened on such pages: a comment dated earlier than the one
  before it starts a new top-level thread; within a thread the parent is the
  earlier comment with the best text similarity plus a small recency bonus,
  and ``parent_inferred`` is set on every comment (roots included);
- reactions are kept in order in ``reactions``; ``reaction_labels`` (default
  ``("up", "down")``) says what each position means ("up", "down" or
  "ignore"). A comment showing fewer counts than labels gets 0 for the
  missing ones: the page shows no count when nobody reacted.
- dates carry no time zone; they are read in ``timezone`` (default UTC).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from moderation.ingest import IngestError, Parsed, read_text
from moderation.schema import Problem

NAME = "page"

_PUBLISHED = re.compile(r"^Published\s+(?P<date>.+?)\s*$")
_COMMENTS = re.compile(r"^Comments\s*\((?P<count>\d+)\)\s*$")
_AVATAR = re.compile(r"^(?:[A-Z]{1,3}|Avatar)$")
_DATE = re.compile(r"^(?P<date>[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4})$")
_REACTION = re.compile(r"^\((?P<count>\d+)\)$")
_TIME = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<half>[AP]M)?", re.IGNORECASE)
_MASK = re.compile(r"\*+")
_MASKED_WORD = re.compile(r"\S*\*\*\S*")


def sniff(path: Path) -> bool:
    """A text file with a ``Published`` line near the top or a ``Comments (N)`` line."""
    if not path.is_file():
        return False
    try:
        head = path.read_bytes()[:200_000].decode("utf-8", errors="replace")
    except OSError:
        return False
    lines = [line.strip() for line in head.splitlines()]
    return any(_PUBLISHED.match(line) for line in lines[:10]) or any(_COMMENTS.match(line) for line in lines)


def parse(
    path: Path,
    reaction_labels: tuple[str, ...] = ("up", "down"),
    timezone: str = "UTC",
    recency_bonus: float = 0.1,
    source: str = NAME,
    **_options,
) -> Parsed:
    """Parse one page file. See the module docstring for what is derived and how."""
    problems: list[Problem] = []
    return parse_text(
        read_text(path, problems), str(path), problems,
        reaction_labels=reaction_labels, timezone=timezone, recency_bonus=recency_bonus, source=source,
    )


def parse_text(
    text: str,
    file: str = "<text>",
    problems: list[Problem] | None = None,
    reaction_labels: tuple[str, ...] = ("up", "down"),
    timezone: str = "UTC",
    recency_bonus: float = 0.1,
    source: str = NAME,
) -> Parsed:
    """Parse page text.

    Raises
    ------
    IngestError
        When the text has no title, or neither a ``Published`` line, a
        ``Comments (N)`` line nor a single comment block.
    """
    problems = [] if problems is None else problems
    unknown = set(reaction_labels) - {"up", "down", "ignore"}
    if unknown:
        raise IngestError(f"{file}: reaction labels must be up, down or ignore, not {sorted(unknown)}")
    lines = [line.replace("\u00a0", " ").rstrip() for line in text.splitlines()]
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise IngestError(f"{file}: the page is empty")
    title = numbered[0][1]
    headers = [i for i in range(len(numbered) - 2) if _is_header(numbered, i)]
    published = next((i for i, (_, line) in enumerate(numbered[:10]) if _PUBLISHED.match(line)), None)
    count_line = next((i for i, (_, line) in enumerate(numbered) if _COMMENTS.match(line)), None)
    if published is None and count_line is None and not headers:
        raise IngestError(f"{file}: not an article page (no 'Published' line, 'Comments (N)' line or comment block)")

    body_start = 1 if published is None else published + 1
    body_end = count_line if count_line is not None else (headers[0] if headers else len(numbered))
    article_text = _paragraphs(lines, numbered[body_start][0] if body_start < body_end else 0,
                               numbered[body_end][0] if body_end < len(numbered) else len(lines) + 1)
    published_at = None
    if published is not None:
        number, line = numbered[published]
        published_at = _parse_time(_PUBLISHED.match(line)["date"], timezone)
        if published_at is None:
            problems.append(Problem(file, f"line {number}", f"cannot read the date in {line!r}", "kept"))
    article_id = _slug(title)
    non_space = len(re.sub(r"\s", "", article_text))
    articles = pd.DataFrame([{
        "article_id": article_id, "source": source, "title": title, "text": article_text,
        "published_at": published_at,
        "masked_share": sum(map(len, _MASK.findall(article_text))) / non_space if non_space else 0.0,
    }])

    records = []
    for k, header in enumerate(headers):
        end = headers[k + 1] if k + 1 < len(headers) else len(numbered)
        records.append(_comment(numbered, lines, header, end, file, timezone, problems))
    if count_line is not None:
        number, line = numbered[count_line]
        stated = int(_COMMENTS.match(line)["count"])
        if stated != len(records):
            problems.append(Problem(
                file, f"line {number}", f"the page says Comments ({stated}) but {len(records)} comments were parsed",
                "warning",
            ))
    comments = pd.DataFrame(records, columns=[
        "author", "created_at", "affiliation", "text", "reactions", "line",
    ])
    comments["article_id"] = article_id
    comments["source"] = source
    comments["comment_id"] = [
        hashlib.sha1(f"{article_id}\n{a}\n{d}\n{t}".encode()).hexdigest()[:16]
        for a, d, t in zip(comments["author"], comments["created_at"], comments["text"])
    ]
    comments["position"] = range(len(comments))
    comments = pd.concat([comments, _votes_from_reactions(comments["reactions"], reaction_labels)], axis=1)
    comments["parent_id"] = _infer_parents(comments, recency_bonus)
    # the page shows no structure: every comment's place in the tree, top level included, is inferred
    comments["parent_inferred"] = True
    return Parsed(articles=articles, comments=comments, problems=problems)


def _is_header(numbered: list[tuple[int, str]], i: int) -> bool:
    """Avatar line, author line, date line, on consecutive non-blank lines."""
    (_, avatar), (_, author), (_, date) = numbered[i : i + 3]
    return bool(_AVATAR.match(avatar) and not _DATE.match(author) and _DATE.match(date) and _parse_time(date, "UTC"))


def _comment(numbered, lines, header, end, file, timezone, problems) -> dict:
    number = numbered[header][0]
    author = numbered[header + 1][1]
    created_at = _parse_time(numbered[header + 2][1], timezone)
    body = numbered[header + 3 : end]
    reactions: list[int] = []
    while body and _REACTION.match(body[-1][1]):
        reactions.insert(0, int(_REACTION.match(body[-1][1])["count"]))
        body = body[:-1]
    affiliation = None
    # an affiliation sits directly under the date, with no blank line between
    if body and body[0][0] == numbered[header + 2][0] + 1 and len(body) > 1:
        affiliation, body = body[0][1], body[1:]
    text = _paragraphs(lines, body[0][0], body[-1][0] + 1) if body else ""
    if not text:
        problems.append(Problem(file, f"line {number}", f"comment by {author} has no text", "kept"))
    return {"author": author, "created_at": created_at, "affiliation": affiliation, "text": text,
            "reactions": reactions, "line": number}


def _paragraphs(lines: list[str], first: int, stop: int) -> str:
    """Lines ``first``..``stop - 1`` (1-based) joined, blank lines separating paragraphs."""
    block = "\n".join(line.strip() for line in lines[max(first - 1, 0) : max(stop - 1, 0)])
    return re.sub(r"\n{2,}", "\n\n", block).strip()


def _parse_time(value: str, timezone: str) -> pd.Timestamp | None:
    """Read dates such as ``Oct 04, 2018`` and ``Oct 04, 2018 13:28 PM`` (a 24-hour time with a stray PM)."""
    time = _TIME.search(value)
    day = value[: time.start()] if time else value
    try:
        stamp = pd.Timestamp(pd.to_datetime(day.strip(), format="mixed"))
    except (ValueError, OverflowError):
        return None
    if time:
        hour, minute = int(time["hour"]), int(time["minute"])
        if time["half"] and time["half"].upper() == "PM" and hour < 12:
            hour += 12
        elif time["half"] and time["half"].upper() == "AM" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            return None
        stamp = stamp + pd.Timedelta(hours=hour, minutes=minute)
    return stamp.tz_localize(timezone).tz_convert("UTC")


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if len(slug) > 100:  # cut at a word boundary where there is one
        head = slug[:101]
        slug = head.rsplit("-", 1)[0] if "-" in head else slug[:100]
    return slug or hashlib.sha1(title.encode()).hexdigest()[:16]


def _votes_from_reactions(reactions: pd.Series, labels: tuple[str, ...]) -> pd.DataFrame:
    """Map unlabeled reaction counts to up/down votes by position (missing positions count 0)."""
    votes = {}
    for kind in ("up", "down"):
        positions = [i for i, label in enumerate(labels) if label == kind]
        votes[f"{kind}votes"] = [
            sum(counts[i] for i in positions if i < len(counts)) if positions else None for counts in reactions
        ]
    return pd.DataFrame(votes, index=reactions.index, dtype="Int64")


def _infer_parents(comments: pd.DataFrame, recency_bonus: float) -> list[str | None]:
    """Parent of each comment on a page that flattens replies (see the module docstring)."""
    if comments.empty:
        return []
    dates = comments["created_at"]
    earlier = (dates < dates.shift()).fillna(False).to_numpy()
    thread = np.cumsum(earlier)
    texts = comments["text"].map(lambda t: _MASKED_WORD.sub(" ", t)).tolist()
    try:
        matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
        similarity = (matrix @ matrix.T).toarray()
    except ValueError:  # every text empty or stop words only
        similarity = np.zeros((len(texts), len(texts)))
    parents: list[str | None] = []
    ids = comments["comment_id"].tolist()
    for k in range(len(comments)):
        candidates = [j for j in range(k) if thread[j] == thread[k]]
        if not candidates:
            parents.append(None)
            continue
        score = [similarity[k, j] + recency_bonus / (k - j) for j in candidates]
        parents.append(ids[candidates[int(np.argmax(score))]])
    return parents
