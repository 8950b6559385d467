"""Text features are fitted per source: one source is one community, and another source's comments in the
same run never move its scores (the demo: the seed page beside 3,419 Stack Exchange comments)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderation import pipeline
from moderation.offtopic import COMPONENTS, offtopic_components
from moderation.topics import TextFeatures

ROOT = Path(__file__).resolve().parents[1]
SEEDS, BICYCLES = ROOT / "seeds", ROOT / "data" / "stackexchange_bicycles_meta"
SEED_AUTHORS = ["Undisclosed Manufacturer #1", "Undisclosed Manufacturer #2", "Rich Moore", "Robert Shih"]


def corpus(source: str, words: list[str], n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two articles of ``source`` with ``n`` comments each drawn from ``words``."""
    rng = np.random.default_rng(seed)
    articles = pd.DataFrame({"source": source, "article_id": ["a1", "a2"], "title": [" ".join(words[:3])] * 2,
                             "text": [" ".join(rng.choice(words, 30)) for _ in range(2)]})
    comments = pd.DataFrame({
        "source": source, "comment_id": [f"{source}{i}" for i in range(2 * n)],
        "article_id": ["a1"] * n + ["a2"] * n, "parent_id": None,
        "text": [" ".join(rng.choice(words, 8)) for _ in range(2 * n)],
    })
    return articles, comments


BIKES = "bike brakes wheel tyre chain saddle road rain lanes commute".split()
CAMERAS = "camera firmware sanctions chip backdoor vendor export brakes road security".split()


def test_a_source_scores_as_if_it_were_alone():
    """Fitted beside another source (sharing some words), a source's components and topics are its own fit's."""
    bike_articles, bike_comments = corpus("bikes", BIKES, 40, 0)
    camera_articles, camera_comments = corpus("cameras", CAMERAS, 5, 1)
    articles = pd.concat([camera_articles, bike_articles], ignore_index=True)
    comments = pd.concat([bike_comments.iloc[:30], camera_comments, bike_comments.iloc[30:]], ignore_index=True)
    mixed = TextFeatures(n_topics=3).fit(comments, articles)
    assert mixed.sources_ == ["bikes", "cameras"]
    together = offtopic_components(comments, articles, mixed)
    for articles_alone, comments_alone in ((bike_articles, bike_comments), (camera_articles, camera_comments)):
        alone = offtopic_components(comments_alone, articles_alone,
                                    TextFeatures(n_topics=3).fit(comments_alone, articles_alone))
        rows = together.loc[comments["source"] == comments_alone["source"].iat[0], COMPONENTS]
        np.testing.assert_allclose(rows.to_numpy(), alone[COMPONENTS].to_numpy(), atol=1e-6)
    # topic ids are numbered across sources, each topic labelled by its own source's terms
    table = mixed.topics_frame()
    assert table["topic_id"].tolist() == list(range(len(table)))
    camera_topics = table.loc[table["source"] == "cameras", "topic_id"]
    assert set(together.loc[comments["source"] == "cameras", "topic_id"]) <= set(camera_topics)
    # new texts are placed in their own source's columns; an unfitted source has no known term
    again = mixed.transform(comments["text"], mixed.comment_language_, comments["source"])
    np.testing.assert_allclose(again.toarray(), mixed.comment_matrix_.toarray())
    assert mixed.transform(pd.Series(["bike brakes"]), sources=pd.Series(["elsewhere"])).nnz == 0
    with pytest.raises(ValueError, match="say which source"):
        mixed.transform(pd.Series(["bike brakes"]))


def test_without_rows_computes_a_mixed_corpus_rows_again():
    """The state an import uses (no cached rows) gives every source's rows as the fit did."""
    bike_articles, bike_comments = corpus("bikes", BIKES, 10, 0)
    camera_articles, camera_comments = corpus("cameras", CAMERAS, 5, 1)
    articles = pd.concat([bike_articles, camera_articles], ignore_index=True)
    comments = pd.concat([camera_comments, bike_comments], ignore_index=True)
    features = TextFeatures(n_topics=2).fit(comments, articles)
    learned = features.without_rows()
    for part in (features.comment_features(comments), learned.comment_features(comments)):
        assert part[0].shape == (len(comments), len(features.vocabulary_))
    for fitted_part, computed in zip(features.comment_features(comments), learned.comment_features(comments)):
        fitted_part, computed = (p.toarray() if hasattr(p, "toarray") else p for p in (fitted_part, computed))
        if fitted_part.dtype.kind == "f":
            np.testing.assert_allclose(computed, fitted_part, atol=1e-6)
        else:
            assert (computed == fitted_part).all()


def seed_discussion(out: Path) -> pd.DataFrame:
    comments = pd.read_parquet(out / "comments.parquet")
    return comments[comments["source"] == "page"].set_index("author", drop=False)


@pytest.mark.skipif(not BICYCLES.exists(), reason="the bundled Stack Exchange sample is missing")
def test_the_demo_queues_both_seed_drifts(tmp_path):
    """The demo run (seed page + Stack Exchange): Undisclosed Manufacturer #1 and #2 are the top two of their
    discussion and in the off-topic speculation queue; Rich Moore's question and Robert Shih's opinion are not."""
    demo = tmp_path / "demo"
    pipeline.run([SEEDS, BICYCLES], demo)
    seed = seed_discussion(demo)
    ranked = seed.sort_values("offtopic_speculation_score", ascending=False)["author"].tolist()
    assert set(ranked[:2]) == {"Undisclosed Manufacturer #1", "Undisclosed Manufacturer #2"}
    queued = seed.loc[seed["is_offtopic_speculation"], "author"]
    assert sorted(queued) == ["Undisclosed Manufacturer #1", "Undisclosed Manufacturer #2"]
    # the seed alone scores its comments exactly so
    pipeline.run([SEEDS], tmp_path / "seed")
    alone = seed_discussion(tmp_path / "seed")
    np.testing.assert_allclose(seed.loc[SEED_AUTHORS, "offtopic_score"], alone.loc[SEED_AUTHORS, "offtopic_score"])


def test_an_import_of_a_new_source_fits_that_source_alone(tmp_path):
    """Fitted state knows the sources it was fitted on; an import of another source's first comments (the seed
    page into a forum's results) fits that source on them (all its rows are new), scores only them, and gives
    what a full run gives."""
    rng = np.random.default_rng(0)
    forum = tmp_path / "forum.csv"
    pd.DataFrame({"comment_id": [str(i) for i in range(20)], "article_id": ["a", "b"] * 10, "author": "ann",
                  "created_at": "2024-01-01T10:00", "text": [" ".join(rng.choice(BIKES, 6)) for _ in range(20)],
                  }).to_csv(forum, index=False)
    out, full = tmp_path / "out", tmp_path / "full"
    pipeline.run([forum], out, source="forum")
    report = pipeline.import_files([SEEDS], out)
    assert "scored 6 comments in 1 touched article with the fitted state of run" in str(report)
    pipeline.run([forum], full, source="forum")
    assert "scored with a new fit" in str(pipeline.run([SEEDS], full, refit=True).scoring)
    imported, whole = (pd.read_parquet(folder / "comments.parquet").set_index(["source", "comment_id"])
                       for folder in (out, full))
    assert whole.index.get_level_values("source").value_counts().to_dict() == {"forum": 20, "page": 6}
    for column in [*COMPONENTS, "offtopic_score", "speculation_score", "offtopic_speculation_score",
                   "is_offtopic_speculation"]:
        np.testing.assert_allclose(imported[column].astype(float), whole.loc[imported.index, column].astype(float),
                                   atol=1e-9, err_msg=column)
    topics = pd.read_parquet(out / "topics.parquet")
    assert set(topics["source"]) == {"page", "forum"}
    seed_topics = imported.loc["page", "topic_id"].dropna()
    assert set(seed_topics) <= set(topics.loc[topics["source"] == "page", "topic_id"])
    assert sorted(imported.index[imported["is_offtopic_speculation"]].get_level_values("comment_id")) == sorted(
        whole.index[whole["is_offtopic_speculation"]].get_level_values("comment_id"))
