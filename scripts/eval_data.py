"""The labelled sets the off-topic and speculation models learn from and are measured on, and their split.

Every set is cut once, here, into a tuning part (70 %) and a held-out part (30 %) by a CRC-32 of
``SPLIT_SEED`` and the group id, so the cut never changes between runs and no group sits on both sides:

- ``gnm_labelled``: the 545 Globe and Mail comments of ``labelled_comments/`` (two annotators). They sit
  on 4 articles only, so the groups are threads (root comments): a thread's replies answer its root and
  would leak its answer. Gold = the label both annotators gave (off topic = ``offtopic >= 1``); comments
  the annotators disagree on are left out of training and scoring.
- ``one_million_posts_dev``: Der Standard moderators' ``label_offtopic`` (German), grouped by article.
- ``stackexchange (injected)``: a tenth of the Bicycles Meta comments moved to another question
  (``eval_offtopic.inject``); half A of the questions tunes, half B is held out (as before).
- ``gnm_more_labelled``: 529 Globe and Mail comments of 30 further articles (one annotator model, blind to every
  score; :func:`gnm_more_articles`), grouped and split by article: 22 articles tune, 8 are held out.

Tuning, feature choice and thresholds look only at ``tune`` rows; the held-out rows are read once, by
``scripts/evaluate.py``, next to the naive baseline. Data come from ``$MODERATION_DATA``
(default ``/work/shared/data``); none of it is copied into the repository.
"""

from __future__ import annotations

import os
import sys
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moderation import offtopic_learning, threads  # noqa: E402
from moderation.ingest import load  # noqa: E402
from moderation.offtopic import offtopic_components  # noqa: E402
from moderation.topics import TextFeatures  # noqa: E402

DATA = Path(os.environ.get("MODERATION_DATA", "/work/shared/data"))
GNM_MORE_LABELS = Path(__file__).resolve().parent / "data" / "gnm_more_articles_labels.csv"
GNM_SAMPLE_CSVS = "socc_globe_and_mail/SFU_Comment_Extractor/Sample_Resources/Sample_Comments_CSVs"
# where gnm_more_articles' comment ids point: file under DATA, its id column, its text column
GNM_MORE_SOURCES = ((f"{GNM_SAMPLE_CSVS}/old_comments.csv", "ID", "text"),
                    (f"{GNM_SAMPLE_CSVS}/comments_csv_sample.csv", "comment_counter", "text"),
                    ("socc_globe_and_mail/Constructiveness_Toxicity_Corpus/SFU_constructiveness_toxicity.csv",
                     "_unit_id", "comment"))
SPLIT_SEED = "detect-2026-12-01"
TUNE_SHARE = 0.7
INJECTED_SHARE = 0.1


def is_tuning(groups: pd.Series) -> np.ndarray:
    """True for rows whose group falls in the tuning 70 % (stable CRC-32 of ``SPLIT_SEED`` and the group)."""
    hashed = groups.astype("str").map(lambda g: zlib.crc32(f"{SPLIT_SEED}:{g}".encode()) % 1000)
    return hashed.to_numpy() < TUNE_SHARE * 1000


@dataclass
class LabelledSet:
    """One labelled set: every comment (labelled or context), its components and labels.

    ``offtopic`` and ``speculative`` are float arrays over ``comments`` (1, 0, NaN = not labelled);
    ``tune`` marks the tuning part; ``groups`` are the split and cross-validation groups.
    """

    name: str
    articles: pd.DataFrame
    comments: pd.DataFrame
    components: pd.DataFrame
    offtopic: np.ndarray
    speculative: np.ndarray
    tune: np.ndarray
    groups: np.ndarray


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the evaluation needs the shared data folder ({DATA})")
    return path


def _components(comments: pd.DataFrame, articles: pd.DataFrame) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = TextFeatures().fit(comments, articles)
    return offtopic_components(comments, articles, features)


def gnm_labelled() -> LabelledSet:
    """The Globe and Mail comments with both annotators' labels (gold where they agree)."""
    parsed = load(_require(DATA / "socc_globe_and_mail/SFU_Comment_Extractor/Output"), format="gnm")
    comments = parsed.comments.reset_index(drop=True)
    labels = pd.read_csv(_require(DATA / "labelled_comments/gnm_dev_labels.csv"), dtype={"comment_id": str})
    labels = comments[["comment_id"]].merge(labels, on="comment_id", how="left")
    off_a, off_b = labels["offtopic_a"] >= 1, labels["offtopic_b"] >= 1
    offtopic = np.where(labels["offtopic_a"].notna() & (off_a == off_b), off_a.astype(float), np.nan)
    agree = labels["speculative_a"].notna() & (labels["speculative_a"] == labels["speculative_b"])
    speculative = np.where(agree, labels["speculative_a"], np.nan).astype(float)
    groups = comments["article_id"].astype("str") + "/" + comments["thread_id"].astype("str")
    return LabelledSet("globe_and_mail (labelled)", parsed.articles, comments, _components(comments, parsed.articles),
                       offtopic, speculative, is_tuning(groups), groups.to_numpy())


def one_million_posts() -> LabelledSet:
    """Der Standard comments with the moderators' off-topic labels (no speculation labels)."""
    parsed = load(_require(DATA / "one_million_posts_dev"), format="canonical")
    comments = parsed.comments.reset_index(drop=True)
    labels, _ = offtopic_learning.offtopic_labels(comments, "label_offtopic")
    groups = comments["article_id"].astype("str")
    return LabelledSet("one_million_posts_dev (moderators, de)", parsed.articles, comments,
                       _components(comments, parsed.articles), labels.to_numpy(dtype=float),
                       np.full(len(comments), np.nan), is_tuning(groups), groups.to_numpy())


def inject(comments: pd.DataFrame, share: float = INJECTED_SHARE, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Move a random ``share`` of comments to another article of the same source.

    A moved top-level comment stays top-level; a moved reply becomes a reply to a random original comment
    of its new article, so the depth mix of the positives matches the rest. Returns the new frame (same rows
    and order, threads resolved again) and a boolean array marking the moved comments.
    """
    rng = np.random.default_rng(seed)
    out = comments.copy()
    moved = np.zeros(len(out), bool)
    for _, rows in out.groupby("source", sort=False).indices.items():
        article_ids = out["article_id"].to_numpy()[rows]
        articles = np.unique(article_ids)
        if len(articles) < 2:
            continue
        chosen = rows[rng.random(len(rows)) < share]
        # a uniformly drawn *other* article: shift by 1..k-1 positions in the article list
        current = np.searchsorted(articles, out["article_id"].to_numpy()[chosen])
        target = articles[(current + rng.integers(1, len(articles), len(chosen))) % len(articles)]
        is_reply = out["parent_id"].notna().to_numpy()[chosen]
        by_article = pd.Series(rows).groupby(article_ids).apply(np.asarray)
        parents = [
            out["comment_id"].iat[rng.choice(by_article[t])] if reply else None for t, reply in zip(target, is_reply)
        ]
        out.iloc[chosen, out.columns.get_loc("article_id")] = target
        out.iloc[chosen, out.columns.get_loc("parent_id")] = parents
        moved[chosen] = True
    resolved, _ = threads.resolve(out)
    return resolved, moved


def stackexchange_injected(rounds: int = 2) -> LabelledSet:
    """Bicycles Meta with a tenth of the comments moved, ``rounds`` times; half A of the questions tunes."""
    parsed = load(_require(DATA / "stackexchange_bicycles_meta"), format="stackexchange")
    half_b = parsed.comments["article_id"].map(lambda value: zlib.crc32(value.encode()) % 2).to_numpy() == 1
    parts, labels, tune, groups = [], [], [], []
    for seed in range(rounds):
        injected, moved = inject(parsed.comments.reset_index(drop=True), seed=100 + seed)
        parts.append((injected, _components(injected, parsed.articles)))
        with_text = injected["text"].astype("str").fillna("").str.strip().ne("").to_numpy()
        labels.append(np.where(with_text, moved.astype(float), np.nan))
        tune.append(~half_b)
        groups.append(f"{seed}/" + injected["article_id"].astype("str").to_numpy())
    comments = pd.concat([p[0] for p in parts], ignore_index=True)
    components = pd.concat([p[1] for p in parts], ignore_index=True)
    return LabelledSet("stackexchange (injected)", parsed.articles, comments, components, np.concatenate(labels),
                       np.full(len(comments), np.nan), np.concatenate(tune), np.concatenate(groups))


def gnm_more_articles() -> pd.DataFrame:
    """The Globe and Mail comments of ``scripts/data/gnm_more_articles_labels.csv`` with their text.

    529 comments of 30 articles that neither ``gnm_labelled`` nor the other-articles set
    (``scripts/data/gnm_other_articles_speculation.csv``) holds, labelled ``speculative`` 0/1 and ``offtopic``
    0/1/2 by one annotator model following ``labelled_comments/GUIDELINES.md``, blind to every score (how they were
    drawn: ``moderation/models/README.md``). Columns: comment_id, article_id, speculative, offtopic, text. The
    file holds ids only; the texts are read from :data:`GNM_MORE_SOURCES` (CC BY-NC-SA) under :data:`DATA`.
    """
    labels = pd.read_csv(GNM_MORE_LABELS, dtype={"comment_id": str, "article_id": str})
    texts = pd.concat([pd.read_csv(_require(DATA / path), dtype={id_column: str}, usecols=[id_column, text_column])
                       .set_axis(["comment_id", "text"], axis=1) for path, id_column, text_column in GNM_MORE_SOURCES],
                      ignore_index=True)
    comments = labels.merge(texts, on="comment_id", how="inner", validate="one_to_one")
    if len(comments) != len(labels):
        raise ValueError(f"{GNM_MORE_LABELS}: {len(labels) - len(comments)} labelled comment ids are not in "
                         f"{', '.join(path for path, _, _ in GNM_MORE_SOURCES)}")
    return comments


def gnm_more_labelled() -> LabelledSet:
    """The 529 comments of :func:`gnm_more_articles` with their 30 articles' discussions as context (off topic =
    ``offtopic >= 1``; grouped and split by article).

    Every comment of those articles in :data:`GNM_MORE_SOURCES` is context: ``old_comments.csv`` with its threads,
    the CSV sample with the replies its ``comment_counter`` encodes (``source2_<article>_<root>_<reply>``), the
    constructiveness corpus without threads (one copy of a text posted twice). Only that corpus names its
    articles (titles); no article has text, so the baseline's cosine is 0 on the other 17.
    """
    labels = gnm_more_articles()
    labelled_articles = set(labels["article_id"])
    old, sample, constructive = (DATA / path for path, _, _ in GNM_MORE_SOURCES)
    old = load(_require(old), format="gnm").comments[["comment_id", "article_id", "parent_id", "text"]]
    sample = pd.read_csv(sample, dtype=str, usecols=["article_id", "comment_counter", "text"])
    sample = sample.assign(comment_id=sample["comment_counter"],
                           parent_id=sample["comment_counter"].str.extract(r"^(source2_\d+_\d+)_\d+$")[0])
    constructive = pd.read_csv(constructive, dtype=str, usecols=["_unit_id", "comment", "title", "globe_url"])
    constructive = constructive.assign(comment_id=constructive["_unit_id"], text=constructive["comment"],
                                       article_id=constructive["globe_url"].str.extract(r"article(\d+)")[0],
                                       title=constructive["title"].str.replace(" - The Globe and Mail", ""))
    constructive = constructive.drop_duplicates(["article_id", "text"])
    comments = pd.concat([old, sample, constructive], ignore_index=True)
    comments = comments[comments["article_id"].isin(labelled_articles)].assign(source="globe_and_mail")
    comments, _ = threads.resolve(comments[["source", "comment_id", "article_id", "parent_id", "text"]]
                                  .reset_index(drop=True))
    titles = constructive.drop_duplicates("article_id").set_index("article_id")["title"]
    articles = pd.DataFrame({"source": "globe_and_mail", "article_id": sorted(labelled_articles)})
    articles = articles.assign(title=articles["article_id"].map(titles).fillna(""), text="")
    at = comments[["comment_id"]].merge(labels, on="comment_id", how="left")
    offtopic = np.where(at["offtopic"].notna(), (at["offtopic"] >= 1).astype(float), np.nan)
    speculative = at["speculative"].to_numpy(dtype=float)
    groups = comments["article_id"].astype("str")
    return LabelledSet("globe_and_mail, 30 more articles (annotator model)", articles, comments,
                       _components(comments, articles), offtopic, speculative, is_tuning(groups), groups.to_numpy())


def labelled_sets() -> list[LabelledSet]:
    """Every set the repository can read from the shared data (missing folders raise FileNotFoundError)."""
    return [gnm_labelled(), one_million_posts(), stackexchange_injected(), gnm_more_labelled()]
