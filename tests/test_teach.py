"""Teaching a desk's notion: which comments to label next, and adopting what was learned (moderation.teach)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderation import pipeline, reports, teach

SEED = Path(__file__).resolve().parents[1] / "seeds" / "xinjiang_sanctions_article_page.txt"


def scored(scores: list[tuple[str, float, float]]) -> pd.DataFrame:
    """Comments (article, offtopic_score, speculation_score) with ids 0.. in order."""
    return pd.DataFrame([
        {"source": "s", "comment_id": str(i), "article_id": article, "author": "x", "text": f"text {i}",
         "offtopic_score": offtopic, "speculation_score": speculation}
        for i, (article, offtopic, speculation) in enumerate(scores)
    ])


def labels(rows: list[tuple[str, bool]]) -> pd.DataFrame:
    return pd.DataFrame([{"source": "s", "comment_id": c, "value": v} for c, v in rows],
                        columns=["source", "comment_id", "value"])


def test_candidates_are_the_uncertain_ones_spread_over_articles():
    """Most uncertain first, but every article's best before any article's second; fully labelled left out."""
    comments = scored([("a", 0.5, 0.0), ("a", 0.45, 0.0), ("a", 0.9, 0.99), ("b", 0.3, 0.1), ("b", 0.0, 0.55),
                       ("c", float("nan"), 0.5)])
    picked = teach.candidates(comments, labels([("1", True)]), labels([("1", False)]), n=4)
    # uncertainty: 0 -> 1.0, 1 -> 0.9 (labelled on both: out), 2 -> 0.2, 3 -> 0.6, 4 -> 0.9; 5 has no text
    assert picked["comment_id"].tolist() == ["0", "4", "3", "2"]
    assert picked["uncertainty"].round(2).tolist() == [1.0, 0.9, 0.6, 0.2]
    articles = pd.DataFrame({"source": "s", "article_id": ["a", "b"], "title": ["Alpha", "Beta"]})
    half = teach.candidates(comments, labels([("0", True)]), labels([]), n=1, articles=articles)
    assert half["comment_id"].tolist() == ["0"] and bool(half["offtopic_label"].iat[0])
    assert half["title"].tolist() == ["Alpha"]
    assert half["speculative_label"].isna().all()


def test_before_after_reads_the_learning_evaluation():
    """The Teach page's table: current vs learned (out of fold) ROC AUC per question."""
    evaluation = pd.DataFrame([
        {"scorer": "learned (grouped 5-fold CV)", "n": 40, "positives": 12, "auc": 0.81, "auc_low": 0.7,
         "auc_high": 0.9},
        {"scorer": "current combiner", "n": 40, "positives": 12, "auc": 0.62, "auc_low": 0.45, "auc_high": 0.77},
        {"scorer": "baseline 1 - cosine to article", "n": 40, "positives": 12, "auc": 0.6, "auc_low": 0.4,
         "auc_high": 0.8},
        {"scorer": "speculation: learned (grouped 5-fold CV)", "n": 30, "positives": 9, "auc": 0.7, "auc_low": 0.5,
         "auc_high": 0.86},
        {"scorer": "speculation: current", "n": 30, "positives": 9, "auc": 0.66, "auc_low": 0.48, "auc_high": 0.8},
    ])
    table = teach.before_after(evaluation)
    assert table.values.tolist() == [["off topic", 40, 12, 0.62, "0.45 to 0.77", 0.81, "0.70 to 0.90"],
                                     ["speculative", 30, 9, 0.66, "0.48 to 0.80", 0.7, "0.50 to 0.86"]]


def test_the_resampled_auc_is_sklearns():
    """auc_or_nan (ranks) gives roc_auc_score's value, ties included, and NaN on one class."""
    from sklearn.metrics import roc_auc_score

    from moderation.label_evaluation import auc_or_nan

    rng = np.random.default_rng(1)
    y, score = rng.random(50) < 0.3, rng.integers(0, 5, 50) / 4  # many ties
    assert auc_or_nan(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(auc_or_nan(np.zeros(5, bool), score[:5]))


def test_few_labels_give_a_wide_range_and_many_a_narrow_one():
    """The ranges come from resampling the labelled articles: a dozen labels leave most of 0..1 possible, six
    hundred pin the AUC to a few hundredths, and both hold the AUC itself."""
    from moderation.label_evaluation import scorer_table

    rng = np.random.default_rng(0)
    for n, widest, narrowest in ((12, 1.0, 0.3), (600, 0.15, 0.0)):
        y = np.arange(n) % 3 == 0
        score = np.where(y, rng.normal(0.6, 0.2, n), rng.normal(0.4, 0.2, n))
        row = scorer_table(y, {"s": score}, np.arange(n) // 2).iloc[0]
        assert row["auc_low"] <= row["auc"] <= row["auc_high"]
        assert narrowest < row["auc_high"] - row["auc_low"] < widest, (n, row.to_dict())


def test_adopted_weights_score_later_runs_and_are_recorded(tmp_path):
    """After adopting, a run into the folder scores with the adopted file and the note says so."""
    out = tmp_path / "results"
    pipeline.run([SEED], out)
    assert "shipped combiner" in reports.offtopic_combiner_note(out)
    weights = pipeline.offtopic.load_weights()
    adopted = {**weights, "intercept": weights["intercept"] - 3, "trained_on": "the desk's labels"}
    path = pipeline.adopt_weights(out, adopted)
    assert "Teach page are adopted" in reports.offtopic_combiner_note(out)
    before = pd.read_parquet(out / "comments.parquet")["offtopic_score"]
    pipeline.run([], out)
    after = pd.read_parquet(out / "comments.parquet")["offtopic_score"]
    assert (after < before).all()
    note = reports.offtopic_combiner_note(out)
    assert f"learned with train-offtopic ({path})" in note and "the desk's labels" in note
    assert "are adopted" not in note  # now it is what scored the results


@pytest.mark.parametrize("n_articles", [3, 40, 2000])
def test_candidates_on_many_comments_match_ranking_them_all(n_articles):
    """Picking from the most uncertain few (the prefix grows until it is exact) gives what ranking every comment
    by (turn in its article, uncertainty) gives: few articles (long turns), many, labelled ones left out."""
    rng = np.random.default_rng(n_articles)
    n = 3000
    comments = scored([(f"a{a}", o, s) for a, o, s in zip(rng.integers(0, n_articles, n),
                                                          rng.random(n).round(2), rng.random(n).round(2))])
    labelled = [str(i) for i in rng.choice(n, 200, replace=False)]
    offtopic, speculative = labels([(c, True) for c in labelled]), labels([(c, False) for c in labelled[:150]])
    frame = comments[~comments["comment_id"].isin(labelled[:150])].copy()
    frame["uncertainty"] = np.maximum(teach._uncertainty(frame["offtopic_score"]),
                                      teach._uncertainty(frame["speculation_score"]))
    frame = frame.sort_values("uncertainty", ascending=False, kind="stable")
    frame["turn"] = frame.groupby("article_id", sort=False).cumcount()
    for k in (1, 10, 25):
        expected = frame.sort_values(["turn", "uncertainty"], ascending=[True, False], kind="stable").head(k)
        picked = teach.candidates(comments, offtopic, speculative, n=k)
        assert picked["comment_id"].tolist() == expected["comment_id"].tolist()
        assert picked["offtopic_label"].fillna(False).tolist() == [c in labelled for c in expected["comment_id"]]
