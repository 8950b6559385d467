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
  article, author, date and text, stable when the page is captured again.
  Identical blocks (a placeholder such as "This comment has been deleted", a
  double post) stay distinct comments: the second and later copies, counted in
  page order, add their copy number to the hash;
- replies are flattened on such pages: a comment dated earlier than the one
  before it starts a new top-level thread; within a thread the parent is the
  earlier comment, among the ``reply_window`` (default 1,000) before it, with
  the best text similarity plus a small recency bonus (the first 100,000
  characters of each text are compared), and ``parent_inferred`` is set on
  every comment (roots included);
- reactions are kept in order in ``reactions``; ``reaction_labels`` (default
  ``("up", "down")``) says what each position means ("up", "down" or
  "ignore"). A comment showing fewer counts than labels gets 0 for the
  missing ones: the page shows no count when nobody reacted. A count too large
  to store (over 2**63 - 1) is reported; that comment keeps ``reactions`` and
  the votes counted from it empty.
- dates carry no time zone; they are read in ``timezone`` (default UTC); a
  time skipped by daylight saving moves on to the next hour, one that occurs
  twice is read as the first.

Every pattern is linear in the length of a line, so no line can hang the
reader; a ``Comments (N)`` count that differs from the comments parsed is
reported.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from moderation.ingest import IngestError, Parsed, read_text
from moderation.ingest.common import head
from moderation.schema import Problem

NAME = "page"

# lines are stripped before matching, so no pattern needs a trailing \s*
_PUBLISHED = re.compile(r"^Published\s+(?P<date>.+)$")
_COMMENTS = re.compile(r"^Comments\s*\((?P<count>\d+)\)$")
_AVATAR = re.compile(r"^(?:[A-Z]{1,3}|Avatar)$")
_DATE = re.compile(r"^(?P<date>[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4})$")
_REACTION = re.compile(r"^\((?P<count>\d+)\)$")
_TIME = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<half>[AP]M)?", re.IGNORECASE)

_LARGEST_COUNT = 2**63 - 1  # what an Int64 column (and the store) holds
_LONGEST_DATE = 100  # characters; a longer "date" is prose, not a date
_COMPARED_CHARS = 100_000  # of each text, for reply inference: bounds its memory on a huge comment
_BLOCK = 512  # comments whose similarities are computed at once
REPLY_WINDOW = 1_000


def sniff(path: Path) -> bool:
    """A text file with a ``Published`` line near the top or a ``Comments (N)`` line."""
    lines = [line.strip() for line in head(path, 200_000).splitlines()]
    return any(_PUBLISHED.match(line) for line in lines[:10]) or any(_COMMENTS.match(line) for line in lines)


def parse(
    path: Path,
    reaction_labels: tuple[str, ...] = ("up", "down"),
    timezone: str = "UTC",
    recency_bonus: float = 0.1,
    source: str = NAME,
    reply_window: int = REPLY_WINDOW,
    **_options,
) -> Parsed:
    """Parse one page file. See the module docstring for what is derived and how."""
    problems: list[Problem] = []
    return parse_text(
        read_text(path, problems), str(path), problems, reaction_labels=reaction_labels, timezone=timezone,
        recency_bonus=recency_bonus, source=source, reply_window=reply_window,
    )


def parse_text(
    text: str,
    file: str = "<text>",
    problems: list[Problem] | None = None,
    reaction_labels: tuple[str, ...] = ("up", "down"),
    timezone: str = "UTC",
    recency_bonus: float = 0.1,
    source: str = NAME,
    reply_window: int = REPLY_WINDOW,
) -> Parsed:
    """Parse page text.

    Raises
    ------
    IngestError
        When the text has no title, or neither a ``Published`` line, a
        ``Comments (N)`` line nor a single comment block; or when an option
        is invalid (reaction labels, time zone, a reply window below 1).
    """
    problems = [] if problems is None else problems
    unknown = set(reaction_labels) - {"up", "down", "ignore"}
    if unknown:
        raise IngestError(f"{file}: reaction labels must be up, down or ignore, not {sorted(unknown)}")
    try:
        pd.Timestamp(2000, 1, 1).tz_localize(timezone)
    except Exception as error:  # pandas raises a different type per time-zone library
        raise IngestError(f"{file}: unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin)") from error
    if reply_window < 1:
        raise IngestError(f"{file}: the reply window must be at least 1 comment, not {reply_window}")
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
            problems.append(Problem(file, f"line {number}", f"cannot read the date in {_shown(line)}", "kept"))
    article_id = _slug(title)
    non_space = len(re.sub(r"\s", "", article_text))
    articles = pd.DataFrame([{
        "article_id": article_id, "source": source, "title": title, "text": article_text,
        "published_at": published_at,
        "masked_share": article_text.count("*") / non_space if non_space else 0.0,
    }])

    records = []
    for k, header in enumerate(headers):
        end = headers[k + 1] if k + 1 < len(headers) else len(numbered)
        records.append(_comment(numbered, lines, header, end, file, timezone, reaction_labels, problems))
    if count_line is not None:
        number, line = numbered[count_line]
        stated = _COMMENTS.match(line)["count"]
        if _count(stated) != len(records):
            problems.append(Problem(
                file, f"line {number}",
                f"the page says Comments ({_shown(stated, quoted=False)}) but {len(records)} comments were parsed",
                "warning",
            ))
    comments = pd.DataFrame(records, columns=[
        "author", "created_at", "affiliation", "text", "reactions", "upvotes", "downvotes", "line",
    ])
    comments["article_id"] = article_id
    comments["source"] = source
    comments["comment_id"] = _comment_ids(article_id, comments)
    comments["position"] = range(len(comments))
    for kind in ("upvotes", "downvotes"):
        comments[kind] = comments[kind].astype("Int64")
    comments["parent_id"] = _infer_parents(comments, recency_bonus, reply_window)
    # the page shows no structure: every comment's place in the tree, top level included, is inferred
    comments["parent_inferred"] = True
    return Parsed(articles=articles, comments=comments, problems=problems)


def _is_header(numbered: list[tuple[int, str]], i: int) -> bool:
    """Avatar line, author line, date line, on consecutive non-blank lines."""
    (_, avatar), (_, author), (_, date) = numbered[i : i + 3]
    return bool(_AVATAR.match(avatar) and not _DATE.match(author) and _DATE.match(date) and _parse_time(date, "UTC"))


def _comment(numbered, lines, header, end, file, timezone, reaction_labels, problems) -> dict:
    number = numbered[header][0]
    author = numbered[header + 1][1]
    created_at = _parse_time(numbered[header + 2][1], timezone)
    if created_at is None:
        problems.append(Problem(file, f"line {numbered[header + 2][0]}",
                                f"cannot read the date {numbered[header + 2][1]!r} in time zone {timezone}",
                                "kept without a date"))
    body_start, body_end = header + 3, end
    while body_end > body_start and _REACTION.match(numbered[body_end - 1][1]):
        body_end -= 1
    reactions = []
    for line_number, line in numbered[body_end:end]:
        count = _count(_REACTION.match(line)["count"])
        if count is None:
            problems.append(Problem(
                file, f"line {line_number}", f"reaction count {_shown(line)} is too large to store",
                "kept the comment with its reactions and the votes counted from them empty",
            ))
        reactions.append(count)
    body = numbered[body_start:body_end]
    affiliation = None
    # an affiliation sits directly under the date, with no blank line between
    if body and body[0][0] == numbered[header + 2][0] + 1 and len(body) > 1:
        affiliation, body = body[0][1], body[1:]
    text = _paragraphs(lines, body[0][0], body[-1][0] + 1) if body else ""
    if not text:
        problems.append(Problem(file, f"line {number}", f"comment by {_shown(author)} has no text", "kept"))
    votes = _votes_from_reactions(reactions, reaction_labels)
    for kind, total in votes.items():
        if total is not None and total > _LARGEST_COUNT:
            problems.append(Problem(file, f"line {number}", f"the {kind} reaction counts add up to more than can be "
                                    "stored", f"kept the comment with {kind} empty"))
            votes[kind] = None
    return {"author": author, "created_at": created_at, "affiliation": affiliation, "text": text,
            "reactions": None if None in reactions else reactions, **votes, "line": number}


def _count(digits: str) -> int | None:
    """A count shown on the page, or None when it is too large to store (checked before converting: no huge ints)."""
    if len(digits) > len(str(_LARGEST_COUNT)):
        return None
    count = int(digits)
    return count if count <= _LARGEST_COUNT else None


def _shown(value: str, limit: int = 80, quoted: bool = True) -> str:
    """``value`` for a problem report (quoted unless told not to), cut to ``limit`` characters."""
    show = repr if quoted else str
    return show(value) if len(value) <= limit else f"{show(value[:limit])}... ({len(value):,} characters)"


def _comment_ids(article_id: str, comments: pd.DataFrame) -> list[str]:
    """Content hashes of the comments; identical blocks are told apart by their copy number in page order.

    The first copy keeps the hash of its content alone, so ids of pages read
    before copies were numbered do not change.
    """
    copies: Counter[bytes] = Counter()
    ids = []
    for author, created_at, text in zip(comments["author"], comments["created_at"], comments["text"]):
        digest = hashlib.sha1(f"{article_id}\n{author}\n{created_at}\n{text}".encode("utf-8", "surrogatepass"))
        copy = copies[digest.digest()]
        copies[digest.digest()] += 1
        if copy:
            # U+001E ends a line for str.splitlines, so no content (one line of author, lines of text) holds it
            digest.update(f"\x1e{copy}".encode())
        ids.append(digest.hexdigest()[:16])
    return ids


def _paragraphs(lines: list[str], first: int, stop: int) -> str:
    """Lines ``first``..``stop - 1`` (1-based) joined, blank lines separating paragraphs."""
    block = "\n".join(line.strip() for line in lines[max(first - 1, 0) : max(stop - 1, 0)])
    return re.sub(r"\n{2,}", "\n\n", block).strip()


@functools.lru_cache(maxsize=4096)  # a page repeats its dates: one parse each
def _parse_time(value: str, timezone: str) -> pd.Timestamp | None:
    """Read dates such as ``Oct 04, 2018`` and ``Oct 04, 2018 13:28 PM`` (a 24-hour time with a stray PM).

    None for anything else, including words pandas would read as the current
    time ("now", "today").
    """
    if len(value) > _LONGEST_DATE or not any(c.isdigit() for c in value):
        return None
    time = _TIME.search(value)
    day = value[: time.start()] if time else value
    try:
        stamp = pd.Timestamp(pd.to_datetime(day.strip(), format="mixed"))
    except (ValueError, OverflowError):
        return None
    if pd.isna(stamp) or stamp.tzinfo is not None:
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
    try:
        # a clock time that occurs twice (daylight saving ends) is read as the first, a skipped one as the next hour
        return stamp.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")
    except (ValueError, OverflowError):  # outside the datetime range once converted
        return None


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if len(slug) > 100:  # cut at a word boundary where there is one
        head = slug[:101]
        slug = head.rsplit("-", 1)[0] if "-" in head else slug[:100]
    return slug or hashlib.sha1(title.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _votes_from_reactions(counts: list[int | None], labels: tuple[str, ...]) -> dict[str, int | None]:
    """Up/down votes from unlabeled reaction counts by position (missing positions count 0).

    None for a kind no label names, or whose counts include one too large to store.
    """
    votes = {}
    for kind in ("up", "down"):
        shown = [counts[i] if i < len(counts) else 0 for i, label in enumerate(labels) if label == kind]
        votes[f"{kind}votes"] = sum(shown) if shown and None not in shown else None
    return votes


def _unmasked_words(text: str) -> str:
    """The words of ``text``'s first ``_COMPARED_CHARS`` characters, less the paywall-masked ones (holding ``**``)."""
    return " ".join(word for word in text[:_COMPARED_CHARS].split() if "**" not in word)


def _infer_parents(comments: pd.DataFrame, recency_bonus: float, window: int = REPLY_WINDOW) -> list[str | None]:
    """Parent of each comment on a page that flattens replies (see the module docstring).

    Similarities are computed ``_BLOCK`` comments at a time against the
    ``window`` comments before them, so memory stays bounded (a block's
    scores are ``_BLOCK`` x (``_BLOCK`` + ``window``) floats) however long the page.
    """
    n = len(comments)
    if n == 0:
        return []
    dates = comments["created_at"]
    starts_thread = (dates < dates.shift()).fillna(False).to_numpy(copy=True)
    starts_thread[0] = True
    position = np.arange(n)
    thread_start = np.maximum.accumulate(np.where(starts_thread, position, 0))
    earliest = np.maximum(thread_start, position - window)  # each comment's earliest candidate parent
    texts = [_unmasked_words(text) for text in comments["text"]]
    try:
        vectors = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    except ValueError:  # every text empty or stop words only
        vectors = sparse.csr_matrix((n, 1))
    parent = np.full(n, -1)
    for begin in range(0, n, _BLOCK):
        stop = min(begin + _BLOCK, n)
        low = earliest[begin]
        rows, cols = position[begin:stop, None], position[None, low:stop]
        with np.errstate(divide="ignore", invalid="ignore"):  # j = k is masked below
            score = (vectors[begin:stop] @ vectors[low:stop].T).toarray() + recency_bonus / (rows - cols)
        score[(cols >= rows) | (cols < earliest[begin:stop, None])] = -np.inf
        # argmax takes the first best: the earliest candidate on a tie
        best = low + np.argmax(score, axis=1)
        replies = rows[:, 0] > thread_start[begin:stop]
        parent[begin:stop][replies] = best[replies]
    ids = comments["comment_id"].to_numpy()
    return [None if p < 0 else ids[p] for p in parent]
