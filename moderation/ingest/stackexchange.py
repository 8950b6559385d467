"""Stack Exchange data dump: ``Posts.xml`` with optional ``Comments.xml``, ``Votes.xml``, ``Users.xml``.

Accepted inputs: a folder holding ``Posts.xml`` (the other three are used when
present), or ``Posts.xml`` itself (then only that file is read). Files are
streamed with ``lxml.etree.iterparse``, so a large dump never sits in memory
as a tree.

Mapping to the canonical tables:

- A question (``PostTypeId`` 1) is an article: ``article_id`` = its ``Id``,
  ``title``, ``text`` = the HTML body as plain text, ``published_at``,
  ``section`` = its first tag; extra columns ``tags`` (space-separated),
  ``accepted_answer_id``, ``closed_at``, ``view_count``, ``score`` and, with
  ``Votes.xml``, ``upvotes``/``downvotes``.
- An answer (``PostTypeId`` 2) is a top-level comment with ``comment_id`` =
  its post ``Id``; ``score`` = ``Score``; ``upvotes``/``downvotes`` = its
  ``Votes.xml`` rows of ``VoteTypeId`` 2/3 (NA without ``Votes.xml``). Extra
  columns ``PostTypeId`` (2) and ``accepted``.
- A row of ``Comments.xml`` gets ``comment_id`` = ``"c"`` + its ``Id`` (post
  and comment ids overlap). On an answer it is a reply to that answer; on the
  question it is top-level. ``score`` = ``Score``; since comments can only be
  up-voted, ``upvotes`` = ``Score`` and ``downvotes`` = NA (no down-vote
  exists to count, so no count is shown).
- ``author``: ``DisplayName`` from ``Users.xml``, else the row's
  ``OwnerDisplayName`` / ``UserDisplayName``, else NA. ``status`` is
  "published": the dump holds only visible posts.
- ``position``: per question (in ``Posts.xml`` order), its own comments, then
  each answer in ``Posts.xml`` order followed by its comments in
  ``Comments.xml`` order -- the page order when answers are sorted by date.
- ``vote_events``: one row per up-vote (``VoteTypeId`` 2) or down-vote (3) on
  an answer: ``event_id`` = the ``Votes.xml`` row ``Id``, ``voted_at`` = the
  day (the dump keeps no time of day). Votes on questions are counted in the
  article's ``upvotes``/``downvotes`` instead, because vote events are keyed
  by comment. Other vote types (accepted, close, bounty...) are not votes on
  the content's quality and are ignored.

Rows missing an ``Id``, with an unreadable date, or attached to a post that
is not in ``Posts.xml`` are reported and skipped; a ``Score`` that disagrees
with the counted votes is reported and kept. Other post types (tag wikis...)
are reported in one line per type and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from moderation import schema
from moderation.ingest import Parsed
from moderation.ingest.common import counts, html_to_text
from moderation.schema import Problem

NAME = "stackexchange"
SOURCE = "stackexchange"
QUESTION, ANSWER = "1", "2"
VOTES = {"2": "up", "3": "down"}
def _file(folder: Path, name: str) -> Path | None:
    """``name`` in ``folder`` regardless of case (dumps exist as Posts.xml and posts.xml)."""
    return next((p for p in folder.iterdir() if p.name.lower() == name.lower() and p.is_file()), None)


def _is_posts_file(path: Path) -> bool:
    """Root element ``<posts>`` with a ``<row`` in the first 4 KiB."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    head = re.sub(r"<\?.*?\?>|<!--.*?-->", "", head, flags=re.S)
    root = re.search(r"<([A-Za-z_][\w.-]*)[\s>]", head)
    return root is not None and root.group(1).lower() == "posts" and "<row" in head


def sniff(path: Path) -> bool:
    """True for a ``<posts>`` dump file or a folder holding one as ``Posts.xml``."""
    try:
        if path.is_dir():
            posts = _file(path, "Posts.xml")
            return posts is not None and _is_posts_file(posts)
        return _is_posts_file(path)
    except OSError:
        return False


def _rows(path: Path, problems: list[Problem]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, attributes) of each ``<row>``; a broken file is reported where it breaks, earlier rows kept."""
    if path.stat().st_size == 0:
        problems.append(Problem(str(path), "file", "the file is empty"))
        return
    parser = etree.iterparse(str(path), events=("end",), tag="row", resolve_entities=False, no_network=True,
                             huge_tree=True)
    try:
        for _, element in parser:
            yield element.sourceline, dict(element.attrib)
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        problems.append(Problem(str(path), f"line {error.lineno}",
                                f"XML error: {error.msg}; the rest of the file is not read"))


def _table(path: Path | None, fields: dict[str, str], problems: list[Problem]) -> pd.DataFrame:
    """The ``fields`` (attribute -> column) of every row with an Id and a readable ``CreationDate``."""
    columns = list(fields.values()) + ["line"]
    if path is None:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in columns + [schema.RECORD, schema.FILE]})
    records = [[attrs.get(a) for a in fields] + [line] for line, attrs in _rows(path, problems)]
    frame = pd.DataFrame(records, columns=columns, dtype=object)
    frame["line"] = frame["line"].astype("Int64")
    for name in columns[:-1]:
        frame[name] = frame[name].astype("str")
    bad = frame["Id"].isna()
    problems += [Problem(str(path), f"line {line}", "row has no Id") for line in frame.loc[bad, "line"]]
    if "CreationDate" in fields:
        created = schema.to_utc(frame["CreationDate"]).set_axis(frame.index)
        bad_date = ~bad & created.isna()
        problems += [
            Problem(str(path), f"line {line} (Id {i})", f"CreationDate {d!r} is not a date")
            for line, i, d in frame.loc[bad_date, ["line", "Id", "CreationDate"]].itertuples(index=False)
        ]
        frame["CreationDate"] = created
        bad |= bad_date
    repeated = ~bad & frame["Id"].duplicated() & frame["Id"].notna()
    problems += [
        Problem(str(path), f"line {line} (Id {i})", "duplicate Id: an earlier row has the same Id")
        for line, i in frame.loc[repeated, ["line", "Id"]].itertuples(index=False)
    ]
    frame = frame[~(bad | repeated)].reset_index(drop=True)
    frame[schema.RECORD] = "line " + frame["line"].astype("str")
    frame[schema.FILE] = str(path)
    for name in frame.columns.intersection(["Score", "ViewCount"]):
        frame[name] = counts(frame[name], frame[schema.RECORD], name, str(path), problems)
    return frame


def _among(values: pd.Series, ids) -> np.ndarray:
    """``values.isin(ids)`` for unique ``ids``, by hash lookup (much faster than ``isin`` on text columns)."""
    return pd.Index(ids).get_indexer(values) >= 0


def _authors(users: pd.DataFrame, user_ids: pd.Series, fallback: pd.Series) -> pd.Series:
    names = users.set_index("Id")["DisplayName"]
    return pd.Series(user_ids.map(names), index=user_ids.index, dtype="str").fillna(fallback)


def _unknown_posts(file: Path, what: str, post_ids: pd.Series, problems: list[Problem]) -> None:
    if len(post_ids):
        listed = ", ".join(post_ids.drop_duplicates().head(10)) + (" ..." if post_ids.nunique() > 10 else "")
        problems.append(Problem(str(file), f"PostId {listed}", f"{len(post_ids)} {what} on posts that are not "
                                "questions or answers in Posts.xml (deleted or tag-wiki posts)"))


def _discussions(posts: pd.DataFrame, file: Path, problems: list[Problem]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(questions, answers); other post types and answers to absent questions are reported."""
    other_types = posts[~posts["PostTypeId"].isin([QUESTION, ANSWER])]
    for post_type, group in other_types.groupby("PostTypeId", dropna=False):
        listed = ", ".join(group["Id"].head(10)) + (" ..." if len(group) > 10 else "")
        post_type = post_type if pd.notna(post_type) else "(none)"
        problems.append(Problem(str(file), f"Id {listed}",
                                f"{len(group)} posts of PostTypeId {post_type} are not questions or answers"))
    questions = posts[posts["PostTypeId"] == QUESTION].reset_index(drop=True)
    answers = posts[posts["PostTypeId"] == ANSWER].reset_index(drop=True)
    orphans = ~_among(answers["ParentId"], questions["Id"])
    problems += [
        Problem(str(file), f"line {line} (Id {i})", f"answer to question {q} that is not in the file")
        for line, i, q in answers.loc[orphans, ["line", "Id", "ParentId"]].itertuples(index=False)
    ]
    return questions, answers[~orphans].reset_index(drop=True)


def _with_vote_counts(posts: pd.DataFrame, votes: pd.DataFrame | None, file: Path,
                      problems: list[Problem]) -> pd.DataFrame:
    """``posts`` plus ``upvotes``/``downvotes`` counted in ``votes`` (NA without a votes file); Score is checked."""
    if votes is None:
        unknown = pd.array([pd.NA] * len(posts), dtype="Int64")
        return posts.assign(upvotes=unknown, downvotes=unknown)
    tally = votes.groupby(["PostId", "VoteTypeId"]).size().unstack(fill_value=0)
    counts = tally.reindex(index=posts["Id"], columns=list(VOTES), fill_value=0).to_numpy()
    out = posts.assign(upvotes=counts[:, 0], downvotes=counts[:, 1])
    score = pd.to_numeric(out["Score"], errors="coerce")
    off = score.notna() & (score != out["upvotes"] - out["downvotes"])
    problems += [
        Problem(str(file), f"Id {i}", f"Score {s} but Votes.xml has {u} up- and {d} down-votes", "kept")
        for i, s, u, d in out.loc[off, ["Id", "Score", "upvotes", "downvotes"]].itertuples(index=False)
    ]
    return out


def _articles(questions: pd.DataFrame, users: pd.DataFrame, source: str) -> pd.DataFrame:
    # "|a|b|" in recent dumps, "<a><b>" in older ones
    tags = questions["Tags"].map(lambda text: re.findall(r"[^|<>]+", text), na_action="ignore").astype(object)
    return pd.DataFrame({
        "article_id": questions["Id"],
        "source": source,
        "title": questions["Title"],
        "text": html_to_text(questions["Body"]),
        "published_at": questions["CreationDate"],
        "author": _authors(users, questions["UserId"], questions["DisplayName"]),
        "section": tags.map(lambda names: names[0] if names else None, na_action="ignore"),
        "tags": tags.map(" ".join, na_action="ignore"),
        "accepted_answer_id": questions["AcceptedAnswerId"],
        "closed_at": schema.to_utc(questions["ClosedDate"]).set_axis(questions.index),
        "view_count": questions["ViewCount"],
        "score": questions["Score"],
        "upvotes": questions["upvotes"],
        "downvotes": questions["downvotes"],
        schema.RECORD: questions[schema.RECORD],
        schema.FILE: questions[schema.FILE],
    })


def _comments(questions: pd.DataFrame, answers: pd.DataFrame, notes: pd.DataFrame, users: pd.DataFrame,
              question_of_answer: pd.Series, source: str) -> pd.DataFrame:
    """Answers and comments as canonical comment rows, in page order (see the module docstring)."""
    answer_rows = pd.DataFrame({
        "comment_id": answers["Id"],
        "article_id": answers["ParentId"],
        "parent_id": None,
        "author": _authors(users, answers["UserId"], answers["DisplayName"]),
        "created_at": answers["CreationDate"],
        "text": html_to_text(answers["Body"]),
        "upvotes": answers["upvotes"],
        "downvotes": answers["downvotes"],
        "score": answers["Score"],
        "PostTypeId": 2,
        "accepted": _among(answers["Id"], questions["AcceptedAnswerId"].dropna().unique()),
        schema.RECORD: answers[schema.RECORD],
        schema.FILE: answers[schema.FILE],
    })
    on_question = _among(notes["PostId"], questions["Id"])
    note_rows = pd.DataFrame({
        "comment_id": "c" + notes["Id"],
        "article_id": notes["PostId"].where(on_question, notes["PostId"].map(question_of_answer)),
        "parent_id": notes["PostId"].where(~on_question, None),
        "author": _authors(users, notes["UserId"], notes["DisplayName"]),
        "created_at": notes["CreationDate"],
        "text": notes["Text"],
        "upvotes": notes["Score"],
        "downvotes": pd.NA,
        "score": notes["Score"],
        "PostTypeId": pd.NA,
        "accepted": pd.NA,
        schema.RECORD: notes[schema.RECORD],
        schema.FILE: notes[schema.FILE],
    })
    # sort keys: question rank, answer rank (-1: on the question itself), answer before its comments, file order
    question_rank = pd.Series(np.arange(len(questions)), index=questions["Id"])
    answer_rank = pd.Series(np.arange(len(answers)), index=answers["Id"])
    order = pd.DataFrame({
        "question": np.r_[question_rank.reindex(answer_rows["article_id"]).to_numpy(),
                          question_rank.reindex(note_rows["article_id"]).to_numpy()],
        "answer": np.r_[np.arange(len(answers)), answer_rank.reindex(note_rows["parent_id"]).fillna(-1).to_numpy()],
        "kind": np.r_[np.zeros(len(answers)), np.ones(len(notes))],
        "listed": np.r_[np.arange(len(answers)), np.arange(len(notes))],
    })
    comments = pd.concat([answer_rows, note_rows], ignore_index=True)
    comments = comments.iloc[order.sort_values(["question", "answer", "kind", "listed"]).index]
    return comments.reset_index(drop=True).assign(
        accepted=lambda frame: frame["accepted"].astype("boolean"),
        PostTypeId=lambda frame: frame["PostTypeId"].astype("Int64"),
        status="published",
        source=source,
        position=np.arange(len(comments)),
    )


def parse(path: Path, source: str = SOURCE, **_options) -> Parsed:
    """Read a Stack Exchange dump folder (or a lone ``Posts.xml``) into articles, comments and vote events.

    ``source`` names the site in the keys (default "stackexchange"); give each
    site its own, since post ids repeat across sites.
    """
    path = Path(path)
    folder = path if path.is_dir() else None
    posts_file = _file(path, "Posts.xml") if folder else path
    files = {name: _file(folder, f"{name}.xml") if folder else None for name in ("Comments", "Votes", "Users")}
    problems: list[Problem] = []

    posts = _table(posts_file, {
        "Id": "Id", "PostTypeId": "PostTypeId", "ParentId": "ParentId", "AcceptedAnswerId": "AcceptedAnswerId",
        "CreationDate": "CreationDate", "Score": "Score", "ViewCount": "ViewCount", "Body": "Body",
        "OwnerUserId": "UserId", "OwnerDisplayName": "DisplayName", "Title": "Title", "Tags": "Tags",
        "ClosedDate": "ClosedDate",
    }, problems)
    notes = _table(files["Comments"], {
        "Id": "Id", "PostId": "PostId", "Score": "Score", "Text": "Text", "CreationDate": "CreationDate",
        "UserId": "UserId", "UserDisplayName": "DisplayName",
    }, problems)
    votes = _table(files["Votes"], {
        "Id": "Id", "PostId": "PostId", "VoteTypeId": "VoteTypeId", "CreationDate": "CreationDate",
    }, problems)
    users = _table(files["Users"], {"Id": "Id", "DisplayName": "DisplayName"}, problems)

    questions, answers = _discussions(posts, posts_file, problems)
    post_ids = pd.concat([questions["Id"], answers["Id"]])
    votes = votes[votes["VoteTypeId"].isin(list(VOTES))]
    known = _among(votes["PostId"], post_ids)
    _unknown_posts(files["Votes"], "up/down votes", votes.loc[~known, "PostId"], problems)
    votes = votes[known]
    counted = votes if files["Votes"] else None
    questions = _with_vote_counts(questions, counted, posts_file, problems)
    answers = _with_vote_counts(answers, counted, posts_file, problems)

    on_post = _among(notes["PostId"], post_ids)
    _unknown_posts(files["Comments"], "comments", notes.loc[~on_post, "PostId"], problems)
    question_of_answer = pd.Series(answers["ParentId"].to_numpy(), index=answers["Id"])
    notes = notes[on_post].reset_index(drop=True)
    comments = _comments(questions, answers, notes, users, question_of_answer, source)

    on_answers = votes[_among(votes["PostId"], answers["Id"])]
    vote_events = pd.DataFrame({
        "source": source,
        "event_id": on_answers["Id"].to_numpy(),
        "article_id": on_answers["PostId"].map(question_of_answer).to_numpy(),
        "comment_id": on_answers["PostId"].to_numpy(),
        "vote": on_answers["VoteTypeId"].map(VOTES).to_numpy(),
        "voted_at": on_answers["CreationDate"].to_numpy(),
    })
    return Parsed(articles=_articles(questions, users, source), comments=comments, vote_events=vote_events,
                  problems=problems)
