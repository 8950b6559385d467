"""The evaluation scripts' tables (scripts/eval_offtopic.py, scripts/eval_comment_speculation.py) on made-up sets:
what each column measures, not the shared data."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from moderation.offtopic import combine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import eval_comment_speculation  # noqa: E402
import eval_data  # noqa: E402
import eval_offtopic  # noqa: E402
from eval_data import LabelledSet  # noqa: E402
from moderation import label_evaluation  # noqa: E402
from moderation.label_evaluation import bootstrap_interval  # noqa: E402


@pytest.fixture(autouse=True)
def fewer_resamples(monkeypatch):
    """Intervals of 50 resamples: the same code, a twentieth of the time."""
    monkeypatch.setattr(label_evaluation, "RESAMPLES", 50)


def _set(name: str, n: int, drift_is_low_similarity: bool, seed: int) -> LabelledSet:
    """``n`` comments on 20 articles, a third off topic; off-topic ones have low ``sim_article`` when
    ``drift_is_low_similarity``, high otherwise (a desk whose notion is the opposite)."""
    rng = np.random.default_rng(seed)
    offtopic = (np.arange(n) % 3 == 0).astype(float)
    low = offtopic == 1 if drift_is_low_similarity else offtopic == 0
    sim_article = np.where(low, rng.uniform(0.0, 0.3, n), rng.uniform(0.2, 0.5, n))
    # the rest of the discussion: as close for every comment (the discussion baseline cannot rank them)
    components = pd.DataFrame({"sim_article": sim_article, "log_tokens": rng.normal(3, 1, n),
                               "sim_discussion": rng.uniform(0.2, 0.5, n)})
    groups = np.asarray([f"a{i % 20}" for i in range(n)])
    return LabelledSet(name, pd.DataFrame(), pd.DataFrame({"text": ["some words"] * n}), components, offtopic,
                       np.full(n, np.nan), np.isin(groups, [f"a{i}" for i in range(14)]), groups)


def test_held_out_table_fits_leave_one_dataset_out_without_the_set_itself():
    sets = [_set("usual one", 300, True, 1), _set("usual two", 300, True, 2), _set("opposite", 300, False, 3)]
    choice = eval_offtopic.Choice("similarity and length", ("sim_article", "log_tokens"), 1.0)
    shipped = eval_offtopic.fit(*eval_offtopic.pooled(sets, "all")[:3], choice)
    table, _ = eval_offtopic.held_out_table(sets, choice, shipped)
    rows = table.set_index("dataset")
    assert list(rows.index) == ["usual one", "usual two", "opposite"]
    assert (rows["held-out n"] == 90).all()  # articles a14..a19: 6 of 20
    # the baseline is 1 - sim_article, whatever was learned: high where drift has low similarity
    assert rows.loc["usual one", "baseline auc"] > 0.8 > 0.2 > rows.loc["opposite", "baseline auc"]
    held_X, held_y, held_names, _, _ = eval_offtopic.pooled(sets, "held_out")
    usual = held_names == "usual one"
    assert rows.loc["usual one", "discussion baseline auc"] == pytest.approx(
        roc_auc_score(held_y[usual], 1 - held_X["sim_discussion"][usual]), abs=0.0005)
    assert 0.3 < rows.loc["usual one", "discussion baseline auc"] < 0.7
    # fitted on the two usual sets only (every row of theirs), the opposite desk is ranked backwards
    X, y, names, _, _ = eval_offtopic.pooled(sets[:2], "all")
    others_only = eval_offtopic.fit(X, y, names, choice)
    held_X, held_y, _, _, _ = eval_offtopic.pooled(sets[2:], "held_out")
    expected = roc_auc_score(held_y, combine(held_X, others_only))
    assert rows.loc["opposite", "leave-one-dataset-out auc"] == pytest.approx(expected, abs=0.0005) and expected < 0.2
    assert rows.loc["opposite", "tuned auc"] > rows.loc["opposite", "leave-one-dataset-out auc"]
    margin = rows.loc["opposite", "leave-one-dataset-out - baseline"]
    assert margin == pytest.approx(rows.loc["opposite", "leave-one-dataset-out auc"]
                                   - rows.loc["opposite", "baseline auc"], abs=0.002)
    for column in ("tuned [90 %]", "leave-one-dataset-out [90 %]", "baseline [90 %]", "tuned - baseline [90 %]"):
        low, high = (float(v) for v in rows.loc["usual one", column].strip("[]").split(","))
        assert low <= high
    assert rows.loc["opposite", "leave-one-dataset-out - baseline [90 %]"].startswith("[-")
    low, high = (float(v) for v in rows.loc["usual one", "baseline [90 %]"].strip("[]").split(","))
    assert low <= rows.loc["usual one", "baseline auc"] <= high


def test_bootstrap_interval_resamples_whole_groups():
    # every group holds one value twice: any resample of whole groups has a mean among the group values' range
    values = np.repeat([0.0, 1.0, 2.0, 3.0], 2)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    low, high = bootstrap_interval(lambda rows: values[rows].mean(), groups)
    assert 0.0 <= low < 1.5 < high <= 3.0
    # a statistic that only one group's rows decide cannot vary more than that group's share allows
    assert bootstrap_interval(lambda rows: float((values[rows] >= 0).all()), groups) == (1.0, 1.0)


def test_speculation_table_has_every_scorer_of_every_set_and_the_baseline():
    texts = ["Perhaps they hid it.", "Maybe use a pump.", "The bridge opened.", "It rained.", "I suspect a cover-up."]
    scored = pd.DataFrame({"text": texts, "speculation_score": [0.9, 0.2, 0.1, 0.6, 0.8],
                           "sentence_speculation_score": [0.9, 0.9, 0.1, 0.1, 0.7],
                           "speculation_cues": [[]] * 5})
    labels = np.array([1, 0, 0, 0, 1])
    sets = [eval_comment_speculation.ScoredSet("desk", scored, labels, np.arange(5)),
            eval_comment_speculation.ScoredSet("desk, first three", scored.iloc[:3], labels[:3], np.arange(3))]
    table = eval_comment_speculation.table(sets)
    assert list(table["dataset"]) == ["desk"] * 3 + ["desk, first three"] * 3
    desk = table[table["dataset"] == "desk"].set_index("scorer")
    # the comment score flags rows 0, 3, 4: two of three right, both positives found
    assert desk.loc["speculation_score (shipped)", "precision"] == pytest.approx(0.667, abs=0.001)
    assert desk.loc["speculation_score (shipped)", "recall"] == 1.0
    # the baseline flags the two "perhaps"/"maybe" comments: one right, one of two positives
    baseline = desk.loc["baseline: perhaps/maybe/might/probably/possibly"]
    assert (baseline["precision"], baseline["recall"], baseline["f1 - baseline [90 %]"]) == (0.5, 0.5, "")
    assert desk.loc["speculation_score (shipped)", "f1 - baseline [90 %]"].startswith("+0.300 [")


def test_more_articles_labels_hold_ids_and_labels_only():
    """The committed labels of 30 further Globe and Mail articles hold no comment text (CC BY-NC-SA): four
    columns, speculative 0/1, offtopic 0/1/2, each comment once."""
    labels = pd.read_csv(eval_data.GNM_MORE_LABELS, dtype=str)
    assert list(labels.columns) == ["comment_id", "article_id", "speculative", "offtopic"]
    assert labels["comment_id"].is_unique
    assert set(labels["speculative"]) <= {"0", "1"} and set(labels["offtopic"]) <= {"0", "1", "2"}


def test_more_articles_reads_each_source_by_its_own_id_column(tmp_path, monkeypatch):
    """``gnm_more_articles`` finds each labelled id in the file that holds it (old_comments by ``ID``, the CSV sample
    by ``comment_counter``, the constructiveness corpus by ``_unit_id``) and fails naming an id found nowhere."""
    texts = {"ID": "a1", "comment_counter": "source2_9_0", "_unit_id": "77"}
    for (path, id_column, text_column), comment_id in zip(eval_data.GNM_MORE_SOURCES, texts.values()):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({id_column: [comment_id, f"other {id_column}"], text_column: [f"text of {comment_id}", "x"]}).to_csv(
            tmp_path / path, index=False)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"comment_id": list(texts.values()), "article_id": ["1", "9", "5"], "speculative": [1, 0, 0],
                  "offtopic": [0, 2, 1]}).to_csv(labels, index=False)
    monkeypatch.setattr(eval_data, "DATA", tmp_path)
    monkeypatch.setattr(eval_data, "GNM_MORE_LABELS", labels)
    comments = eval_data.gnm_more_articles()
    assert comments.set_index("comment_id")["text"].to_dict() == {i: f"text of {i}" for i in texts.values()}
    pd.DataFrame({"comment_id": ["missing"], "article_id": ["1"], "speculative": [1], "offtopic": [0]}).to_csv(
        labels, index=False)
    with pytest.raises(ValueError, match="1 labelled comment ids are not in"):
        eval_data.gnm_more_articles()


def test_more_articles_split_is_the_fixed_one():
    """The 30 further articles are cut by article once (``eval_data.is_tuning``): 22 tune (349 comments, 65
    speculative), 8 are held out (180, 36); the shipped model's choices looked only at the tuning part."""
    labels = pd.read_csv(eval_data.GNM_MORE_LABELS, dtype={"comment_id": str, "article_id": str})
    tuning = eval_data.is_tuning(labels["article_id"])
    assert (labels["article_id"][tuning].nunique(), labels["article_id"][~tuning].nunique()) == (22, 8)
    assert (tuning.sum(), labels["speculative"][tuning].sum()) == (349, 65)
    assert ((~tuning).sum(), labels["speculative"][~tuning].sum()) == (180, 36)


def test_more_articles_part_scores_only_its_articles(monkeypatch):
    """``eval_comment_speculation.gnm_more_articles(part)`` scores the held-out or the tuning articles, never
    both, and together every comment."""
    articles = [str(i) for i in range(40)]
    comments = pd.DataFrame({"comment_id": articles, "article_id": articles, "speculative": [0, 1] * 20,
                             "offtopic": 0, "text": "Perhaps they knew all along."})
    monkeypatch.setattr(eval_comment_speculation, "more_articles", lambda: comments)
    tuning = set(comments["article_id"][eval_data.is_tuning(comments["article_id"])])
    (held_out,) = eval_comment_speculation.gnm_more_articles("held out")
    (tuned,) = eval_comment_speculation.gnm_more_articles("tuning")
    assert set(tuned.groups) == tuning and not set(held_out.groups) & tuning
    assert len(held_out.labels) + len(tuned.labels) == len(comments) and "held out" in held_out.name
