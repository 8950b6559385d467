"""A results folder built in code, as ``python -m moderation run`` writes it, for dashboard tests and benchmarks.

Scores are synthetic but carry every column the vote, off-topic and
engagement stages write (docs/CONTRACTS.md); the Wilson bound and the
controversy measure come from :mod:`moderation.votes` so they are consistent.
Comment 0 is hostile: Markdown and HTML that must appear literally.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from moderation import engagement, schema, threads, votes
from moderation.store import Store

HOSTILE = "![x](http://example.invalid/t.png) <img src=x onerror=alert(1)> **bold**"
HOSTILE_TITLE = "<b>Sanctions</b> **over** Xinjiang"
SOURCE = "demo"
STAFF = engagement.EngagementParams(staff_names=("user1",))  # the fixture desk's staff
TOPIC_TERMS = [
    "sanctions, xinjiang, trade", "camera, chip, backdoor", "election, vote, party", "climate, carbon, tax",
    "housing, rent, prices", "hockey, team, season",
]
_TEXTS = np.array([
    "Perhaps there has to be more to this story than we are told.",
    "The sanctions will hurt exports in the short run.",
    "I suspect the cameras were a cover for something bigger.",
    "Good reporting, thanks for the detail on the trade figures.",
    "Might this lead to a ban on the whole sector?",
    "Rents in this city are out of control.",
])


def build_results(n_comments: int = 40, n_articles: int = 3, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The frames of a results folder: comments, articles, authors, vote_events, topics, engagement_*.

    Parameters
    ----------
    n_comments, n_articles : int
        Sizes; vectorised, so a million comments take seconds.
    seed : int
        Seed of the random votes, authors, times and scores.
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
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(article * 9 % 730, unit="D") + pd.to_timedelta(
        offset * 7 + rng.integers(0, 5, n), unit="min")
    text = pd.Series(_TEXTS[rng.integers(0, len(_TEXTS), n)], dtype="str")
    text[0] = HOSTILE
    up = rng.negative_binomial(1, 0.08, n)
    down = rng.negative_binomial(1, 0.3, n)
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
    comments, _ = threads.resolve(schema.conform(raw, "comments"))
    comments = comments.assign(**_vote_columns(up, down, article, rng), **_offtopic_columns(text, rng))
    comments.loc[0, ["is_offtopic_speculation", "offtopic_speculation_score", "is_speculative"]] = [True, 0.99, True]
    articles = schema.conform(pd.DataFrame({
        "article_id": [f"a{i}" for i in range(n_articles)],
        "source": SOURCE,
        "title": [HOSTILE_TITLE] + [f"Article number {i}" for i in range(1, n_articles)],
        "text": "Article text about sanctions and trade.",
        "url": [f"https://news.example.invalid/{i}" for i in range(n_articles)],
    }), "articles")
    topics = pd.DataFrame({"topic_id": np.arange(len(TOPIC_TERMS)), "topic_terms": TOPIC_TERMS})
    insights = engagement.insight_tables(comments, STAFF)
    return {
        "comments": comments,
        "articles": articles,
        "authors": engagement.author_table(comments, params=STAFF),
        "vote_events": schema.empty("vote_events"),
        "topics": topics,
        # the engagement tables, under their results-folder file names
        **{Path(engagement.TABLE_FILES[name]).stem: frame for name, frame in insights.items()},
    }


def _vote_columns(up: np.ndarray, down: np.ndarray, article: np.ndarray, rng) -> dict[str, object]:
    total, net = up + down, up - down
    ratio = np.where(total > 0, up / np.maximum(total, 1), np.nan)
    rank_up = pd.Series(net).groupby(article).rank(pct=True).to_numpy()
    rank_down = pd.Series(-net).groupby(article).rank(pct=True).to_numpy()
    controversial = (total >= 7) & (ratio >= 0.4) & (ratio <= 0.6)
    anomaly = rng.beta(1, 3, len(up))
    heavily_up, heavily_down = rank_up >= 0.95, (rank_down >= 0.95) & (down > up)
    is_anomaly = anomaly >= 0.5
    flag = np.select([heavily_up, heavily_down, controversial, is_anomaly],
                     ["heavily_up", "heavily_down", "controversial", "anomalous"], None)
    reason = (pd.Series(up).astype("str") + " up / " + pd.Series(down).astype("str") + " down; top "
              + pd.Series(np.round(100 * (1 - rank_up) + 1).astype(int)).astype("str") + "% of this thread")
    return {
        "vote_total": total, "vote_net": net, "upvote_ratio": ratio,
        "wilson_lower": votes.wilson_lower_bound(up, total), "wilson_lower_down": votes.wilson_lower_bound(down, total),
        "controversy": votes.controversy(up, down), "is_controversial": controversial,
        "vote_flag": pd.Series(flag, dtype="str"), "vote_reason": reason.astype("str"), "vote_anomaly": anomaly,
        "is_heavily_up": heavily_up, "is_heavily_down": heavily_down, "is_vote_anomaly": is_anomaly,
        "vote_rank_up": rank_up, "vote_rank_down": rank_down,
    }


def _offtopic_columns(text: pd.Series, rng) -> dict[str, object]:
    n = len(text)
    offtopic, speculation = rng.random(n), rng.random(n)
    combined = np.sqrt(offtopic * speculation)
    topic = rng.integers(0, len(TOPIC_TERMS), n)
    starts = text.str.find("Perhaps").to_numpy()
    cues = [[{"phrase": "Perhaps", "start": int(s), "end": int(s) + 7}] if s >= 0 else [] for s in starts]
    return {
        "offtopic_score": offtopic, "speculation_score": speculation, "is_speculative": speculation >= 0.5,
        "speculation_cues": cues, "offtopic_speculation_score": combined, "is_offtopic": offtopic >= 0.7,
        "is_offtopic_speculation": combined >= 0.75, "sim_article": 1 - offtopic,
        "topic_id": topic, "topic_terms": pd.Series(np.array(TOPIC_TERMS)[topic], dtype="str"),
        "offtopic_reason": pd.Series(
            "similarity to article " + pd.Series(np.round(1 - offtopic, 2)).astype("str") + "; nearest topic: "
            + pd.Series(np.array(TOPIC_TERMS)[topic]), dtype="str"),
    }


def write_results(folder: str | Path, **sizes) -> Path:
    """Write :func:`build_results` as a results folder with an empty store ``moderation.db``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in build_results(**sizes).items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    schema.problems_frame([]).to_csv(folder / "problems.csv", index=False)
    Store(f"sqlite:///{folder / 'moderation.db'}")
    return folder
