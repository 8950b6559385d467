"""A results folder made by running the stages on synthetic input, for dashboard tests and benchmarks.

:func:`build_inputs` makes canonical articles and comments (vectorised, so a
million comments take seconds); :func:`write_results` runs them through
``moderation.pipeline.run`` (ingest, store, every stage, the results folder)
exactly as ``python -m moderation run`` does; :func:`build_results` runs only
the stages. Comment 0 is hostile: Markdown and HTML that must appear
literally, inside speculation about another subject, so it heads the
off-topic queue.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from dataclasses import replace

from moderation import catalog, engagement, pipeline, schema
from moderation.store import Store

MARKUP = "![x](http://example.invalid/t.png) <img src=x onerror=alert(1)> **bold**"
HOSTILE = f"I suspect the moon landing was staged, perhaps by the same people. {MARKUP}"
HOSTILE_TITLE = "<b>Sanctions</b> **over** Xinjiang"
# the most active author's name when asked for (build_inputs(hostile_author=True)): a name is the poster's to choose
HOSTILE_AUTHOR = "**eve** ![x](http://example.invalid/a.png) [site](http://example.invalid)"
SOURCE = "demo"
STAFF = ["user1"]  # the fixture desk's staff (a desk setting in the store)
ARTICLE_TEXT = ("Sanctions over Xinjiang: the trade ministry said exports of cameras and chips will face new "
                "licences, and the opposition party asked how the tax on imports will change prices.")
_TEXTS = np.array([
    "Perhaps there has to be more to this story than we are told about the sanctions.",
    "The sanctions will hurt exports in the short run.",
    "I suspect the cameras were a cover for something bigger.",
    "Good reporting, thanks for the detail on the trade figures.",
    "Might this lead to a ban on the whole sector?",
    "Rents in this city are out of control.",
    "Maybe the hockey team will finally win the cup this season, who knows.",
    "The new licences for chips and cameras make sense to me.",
])


def build_inputs(n_comments: int = 40, n_articles: int = 3, seed: int = 0,
                 image_only: int = 0, hostile_author: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical (articles, comments) of a synthetic discussion, as a source would give them.

    Parameters
    ----------
    n_comments, n_articles : int
        Sizes; vectorised, so a million comments take seconds.
    seed : int
        Seed of the random votes, authors, times, texts and reply structure.
    image_only : int
        The last ``image_only`` comments are image-only answers: empty text, heavily up-voted.
    hostile_author : bool
        The most active author (``user0``) is named :data:`HOSTILE_AUTHOR` (Markdown that must stay text).
    """
    rng = np.random.default_rng(seed)
    n = n_comments
    article = np.sort(rng.integers(0, n_articles, n))
    article[0] = 0
    starts = np.searchsorted(article, article)  # first row of each comment's article
    offset = np.arange(n) - starts
    reply = (offset > 0) & (rng.random(n) < 0.6)
    parent = starts + np.floor(rng.random(n) * np.maximum(offset, 1)).astype(np.int64)
    comment_id = pd.Series(np.arange(n)).map("c{}".format).astype("str")
    n_authors = max(n // 8, 3)
    # heavy-tailed activity (a few prolific authors, many occasional ones), ordered so user0 is the most active
    weight = np.sort(rng.pareto(1.5, n_authors) + 1)[::-1]
    author_index = rng.choice(n_authors, n, p=weight / weight.sum())
    author = pd.Series(author_index).map("user{}".format).astype("str")
    author[rng.random(n) < 0.02] = None
    if hostile_author:
        author[author == "user0"] = HOSTILE_AUTHOR
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(article * 9 % 730, unit="D") + pd.to_timedelta(
        offset * 7 + rng.integers(0, 5, n), unit="min")
    text = pd.Series(_TEXTS[rng.integers(0, len(_TEXTS), n)], dtype="str")
    text[0] = HOSTILE
    up = rng.negative_binomial(1, 0.08, n)
    down = rng.negative_binomial(1, 0.3, n)
    if image_only:
        text[n - image_only:] = ""
        up[n - image_only:], down[n - image_only:] = 500, 0
    raw = pd.DataFrame({
        "comment_id": comment_id,
        "article_id": pd.Series(article).map("a{}".format),
        "parent_id": comment_id.to_numpy()[parent],
        "author": author,
        "created_at": created,
        "text": text,
        "upvotes": up,
        "downvotes": down,
        "source": SOURCE,
        "parent_inferred": reply & (rng.random(n) < 0.1),
        "position": np.arange(n),
    })
    raw.loc[~reply, "parent_id"] = None
    articles = schema.conform(pd.DataFrame({
        "article_id": [f"a{i}" for i in range(n_articles)],
        "source": SOURCE,
        "title": [HOSTILE_TITLE] + [f"Article number {i}" for i in range(1, n_articles)],
        "text": ARTICLE_TEXT,
        "url": [f"https://news.example.invalid/{i}" for i in range(n_articles)],
    }), "articles")
    return articles, schema.conform(raw, "comments")


def build_results(n_comments: int = 40, n_articles: int = 3, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The frames of a results folder (comments, articles, authors, vote_events, topics) from the real stages."""
    articles, comments = build_inputs(n_comments, n_articles, seed)
    vote_events = schema.empty("vote_events")
    params = replace(pipeline.Params(), engagement=engagement.EngagementParams(staff_names=tuple(STAFF)))
    scored, partials, topics, _ = pipeline.run_stages(articles, comments, vote_events, params=params)
    return {"comments": scored, "articles": articles, "authors": engagement.reduce_authors(partials),
            "vote_events": vote_events,
            "topics": topics}


def write_results(folder: str | Path, **sizes) -> Path:
    """Run :func:`build_inputs` through ``pipeline.run`` into ``folder`` (store ``folder/moderation.db``)."""
    folder = Path(folder)
    articles, comments = build_inputs(**sizes)
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / SOURCE
        inputs.mkdir()
        articles.to_parquet(inputs / "articles.parquet", index=False)
        comments.to_parquet(inputs / "comments.parquet", index=False)
        Store(catalog.default_store_url(folder)).set_desk_setting("staff_names", STAFF, "fixture")
        pipeline.run([inputs], folder, source=SOURCE)
    return folder
