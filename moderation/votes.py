"""Vote-pattern measures: comments readers endorsed, rejected, split over, or voted on oddly.

:func:`score_votes` adds, per comment, the counts (``vote_total``, ``vote_net``,
``upvote_ratio``), confidence bounds (``wilson_lower``, ``wilson_lower_down``),
Reddit's ``controversy``, thread-relative percentiles and robust z-scores, an
outlier score (``vote_anomaly``) and, where individual votes with times exist,
burst flags (:func:`vote_velocity`). Each comment gets one ``vote_flag`` and a
readable ``vote_reason``.

Sources that give only a net score (Reddit, Hacker News) keep ``upvotes`` and
``downvotes`` NA: every measure that needs both is NA for them, and they are
ranked by their thread-relative net score. A down-vote count is never invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted, validate_data

from moderation.schema import ARTICLE_KEY, COMMENT_KEY

FLAGS = ("heavily_down", "heavily_up", "controversial", "anomalous")  # priority order for ``vote_flag``

# 1.4826 * MAD estimates the standard deviation of normal data; where MAD is 0
# (most comments in a thread share one value) 1.2533 * mean absolute deviation
# does, as in Iglewicz & Hoaglin's modified z-score (1993) and IBM SPSS.
_MAD_TO_SD = 1.4826
_MEAN_AD_TO_SD = 1.253314


@dataclass(frozen=True)
class VoteParams:
    """Thresholds of the vote measures; every default is a documented choice, all are configurable.

    Attributes
    ----------
    z : float
        Normal quantile of the Wilson bound; 1.281551565545 is the 80% one-sided
        bound that Reddit's "best" sort uses.
    controversial_min_votes : int
        Fewest votes (up + down) for ``is_controversial``.
    controversial_ratio : tuple of float
        Inclusive range of ``upvote_ratio`` for ``is_controversial``.
    heavily_min_votes : int
        Fewest votes for a heavily up/down flag (``vote_total``, or ``|vote_net|``
        for score-only sources, which is a lower bound of the votes cast).
    heavily_wilson : float
        Least Wilson lower bound of the up (or down) share, in [0, 1].
    heavily_z : float
        Least thread-relative robust z of ``vote_net`` (its negative for down).
    anomaly_contamination : float
        Share of comments the outlier model flags, in (0, 0.5].
    anomaly_max_samples : int
        Comments per isolation tree; bounds the fitting cost on a million comments.
    anomaly_n_estimators : int
        Number of isolation trees.
    anomaly_min_comments : int
        Fewer comments with a feature set than this and no model is fitted
        (``vote_anomaly`` NA): too few to say what is unusual.
    anomaly_top_features : int
        How many features ``vote_anomaly_features`` names.
    burst_window : str
        Length of the sliding window for bursts (a pandas Timedelta string).
        Stack Exchange dumps give vote dates only, hence one day.
    burst_min_votes : int
        Fewest votes inside one window for a burst.
    burst_factor : float
        A burst has at least this many times the article's mean votes per window.
    random_state : int
        Seed of the outlier model.
    """

    z: float = 1.281551565545
    controversial_min_votes: int = 7
    controversial_ratio: tuple[float, float] = (0.4, 0.6)
    heavily_min_votes: int = 5
    heavily_wilson: float = 0.6
    heavily_z: float = 2.0
    anomaly_contamination: float = 0.01
    anomaly_max_samples: int = 256
    anomaly_n_estimators: int = 100
    anomaly_min_comments: int = 50
    anomaly_top_features: int = 2
    burst_window: str = "1D"
    burst_min_votes: int = 5
    burst_factor: float = 5.0
    random_state: int = 0


def wilson_lower_bound(successes, n, z: float = VoteParams.z) -> np.ndarray:
    """Lower bound of the Wilson score interval of a share.

    Wilson (1927); Evan Miller, "How Not To Sort By Average Rating" (2009):

    ``(p + z²/2n − z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)`` with ``p = successes / n``.

    Parameters
    ----------
    successes, n : array-like of shape (n_comments,)
        Counts (float; NaN where unknown), ``0 <= successes <= n``.
    z : float
        Normal quantile.

    Returns
    -------
    ndarray of float, shape (n_comments,), in [0, 1]; 0 where n = 0, NaN where a count is NaN.
    """
    successes = np.asarray(successes, dtype="float64")
    n = np.asarray(n, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        bound = (p + z**2 / (2 * n) - z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))) / (1 + z**2 / n)
    return np.where(n == 0, 0.0, bound)


def controversy(up, down) -> np.ndarray:
    """Reddit's controversy (``_sorts.pyx``, since 2014): ``(up + down) ** balance``, 0 when either side is 0.

    ``balance`` is ``down / up`` when ``up > down``, else ``up / down``.

    Returns
    -------
    ndarray of float, shape (n_comments,), >= 0; NaN where a count is NaN.
    """
    up = np.asarray(up, dtype="float64")
    down = np.asarray(down, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        balance = np.where(up > down, down / up, up / down)
        value = (up + down) ** balance
    return np.where((up <= 0) | (down <= 0), 0.0, value)


def robust_z(values, groups) -> np.ndarray:
    """Robust z-score of each value within its group: ``(x − median) / (1.4826 · MAD)``.

    Where a group's MAD is 0, ``1.253314 · mean absolute deviation`` is the scale;
    where that is 0 too, every value equals the median and z is 0.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        NaN values are left out of their group's statistics and get NaN.
    groups : array-like of int, shape (n,)
        Group code of each value (e.g. the article).
    """
    x = pd.Series(np.asarray(values, dtype="float64"))
    by = x.groupby(np.asarray(groups))
    deviation = (x - by.transform("median")).abs()
    by_deviation = deviation.groupby(np.asarray(groups))
    scale = _MAD_TO_SD * by_deviation.transform("median")
    scale = scale.where(scale > 0, _MEAN_AD_TO_SD * by_deviation.transform("mean"))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - by.transform("median")) / scale
    return np.where((deviation == 0).to_numpy(), 0.0, z.to_numpy())


def _share_at_least(values: np.ndarray, groups: np.ndarray, descending: bool) -> np.ndarray:
    """Share (0..1] of the group's non-NaN values that are >= (descending) or <= each value; NaN for NaN."""
    return pd.Series(values).groupby(groups).rank(method="max", ascending=not descending, pct=True).to_numpy()


class VoteAnomaly(OutlierMixin, BaseEstimator):
    """Isolation forest over vote features, with a [0, 1] score and the features that drove it.

    ``anomaly_score`` is the score ``s = 2^(−E[h(x)] / c(n))`` of Liu, Ting &
    Zhou (2008): near 1 is easy to isolate (unusual), below 0.5 is normal.

    Parameters
    ----------
    contamination : float
        Share of training comments labelled outliers by ``predict``.
    max_samples : int
        Comments drawn per tree (bounds the cost on large inputs).
    n_estimators : int
        Number of trees.
    random_state : int or None
        Seed.
    """

    # Each tree sees only max_samples rows; the outlier threshold (a quantile of
    # the scores) and the reference for naming rare features need no more than this.
    _FIT_ROWS = 50_000

    def __init__(self, contamination=0.01, max_samples=256, n_estimators=100, random_state=None):
        self.contamination = contamination
        self.max_samples = max_samples
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit on ``X`` (n_comments, n_features); at most 50,000 rows, drawn at random, are used."""
        X = validate_data(self, X, dtype="float64")
        rng = np.random.default_rng(self.random_state)
        sample = X[rng.choice(X.shape[0], min(self._FIT_ROWS, X.shape[0]), replace=False)]
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, sample.shape[0]),
            contamination=self.contamination,
            random_state=self.random_state,
        ).fit(sample)
        self.reference_ = np.sort(sample, axis=0)
        self.offset_ = self.forest_.offset_
        return self

    def score_samples(self, X) -> np.ndarray:
        """scikit-learn's convention: the lower, the more unusual; equals ``-anomaly_score(X)``."""
        check_is_fitted(self)
        return self.forest_.score_samples(validate_data(self, X, dtype="float64", reset=False))

    def anomaly_score(self, X) -> np.ndarray:
        """Anomaly score ``s`` in [0, 1] per row, shape (n_comments,); the higher, the more unusual."""
        return -self.score_samples(X)

    def decision_function(self, X) -> np.ndarray:
        """Negative for outliers, positive for inliers: ``score_samples(X) - offset_``."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """-1 for outliers, 1 for inliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def explain(self, X, top: int = 2) -> list[str]:
        """Name, per row, the ``top`` features in which the row is rarest among the training comments.

        Rarity is the two-sided tail share of the value in the training sample
        (how few comments lie further out), a simple stand-in for path-based
        attributions; each name is prefixed "high" or "low".
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype="float64", reset=False)
        m = self.reference_.shape[0]
        columns = range(X.shape[1])
        below = np.column_stack([np.searchsorted(self.reference_[:, j], X[:, j], "right") for j in columns])
        above = m - np.column_stack([np.searchsorted(self.reference_[:, j], X[:, j], "left") for j in columns])
        tail = np.minimum(below, above) / m
        names = np.asarray(getattr(self, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])]), dtype=object)
        side = np.where(above < below, "high ", "low ").astype(object)
        order = np.argsort(tail, axis=1, kind="stable")[:, :top]
        rows = np.arange(X.shape[0])[:, None]
        return [", ".join(parts) for parts in (side[rows, order] + names[order]).tolist()]


@dataclass
class VoteVelocity:
    """Vote pace and bursts, one frame per level.

    ``comments``: source, article_id, comment_id, votes, up, down, first_vote,
    last_vote, votes_per_day, peak_votes (most votes in one window), peak_start,
    baseline_per_window (the article's mean votes per window), is_burst, burst_reason.
    ``articles``: the same columns without comment_id.
    """

    comments: pd.DataFrame
    articles: pd.DataFrame


def _epoch_seconds(times: pd.Series) -> np.ndarray:
    """Seconds since 1970 of UTC timestamps, float with NaN for NaT."""
    # integer microseconds: subtracting a nanosecond Timestamp overflows for dates outside 1677-2262
    micros = pd.Series(times).dt.tz_convert("UTC").dt.as_unit("us").array.asi8.astype("float64")
    return np.where(pd.Series(times).isna().to_numpy(), np.nan, micros / 1e6)


def _window_counts(groups: np.ndarray, seconds: np.ndarray, window: int) -> np.ndarray:
    """Votes of the same group in ``[t, t + window)`` from each vote; inputs sorted by group, then time."""
    # lay the groups end to end on one time axis so one searchsorted serves all of them
    span = int(seconds.max() - seconds.min()) + window + 1 if len(seconds) else 1
    key = groups.astype(np.int64) * span + (seconds - (seconds.min() if len(seconds) else 0))
    return np.searchsorted(key, key + window, side="left") - np.arange(len(key))


def _window_text(window: pd.Timedelta) -> str:
    """'1 day', '6 hours', '30 minutes'."""
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count = window.total_seconds() / seconds
        if count >= 1 and count == int(count):
            return f"{int(count)} {unit}{'s' if count != 1 else ''}"
    return str(window)


def _pace(events: pd.DataFrame, key: list[str], params: VoteParams) -> pd.DataFrame:
    """Per group of ``key``: counts, pace and the busiest window; events sorted by key then time."""
    window = pd.Timedelta(params.burst_window)
    groups = events.groupby(key, sort=False).ngroup().to_numpy()
    # sorted by article first, so both levels number the articles alike
    article_codes = events.groupby(ARTICLE_KEY, sort=False).ngroup().to_numpy()
    seconds = _epoch_seconds(events["voted_at"]).astype(np.int64)
    in_window = pd.Series(_window_counts(groups, seconds, int(window.total_seconds())))
    by = in_window.groupby(groups, sort=False)
    busiest = by.idxmax().to_numpy(dtype=np.int64)
    first = events.groupby(groups, sort=False)["voted_at"]
    is_up = (events["vote"] == "up").to_numpy()
    out = events.iloc[busiest][key].reset_index(drop=True)
    out["votes"] = by.size().to_numpy()
    out["up"] = pd.Series(is_up).groupby(groups, sort=False).sum().to_numpy()
    out["down"] = out["votes"] - out["up"]
    out["first_vote"] = first.min().reset_index(drop=True)  # Series keep the dtype when there are no votes
    out["last_vote"] = first.max().reset_index(drop=True)
    active = np.maximum((out["last_vote"] - out["first_vote"]) / window, 1.0)
    out["votes_per_day"] = out["votes"] / (active * window / pd.Timedelta("1D"))
    out["peak_votes"] = by.max().to_numpy()
    out["peak_start"] = events["voted_at"].iloc[busiest].reset_index(drop=True)
    out["_article"] = article_codes[busiest]
    out["_active_windows"] = active
    return out


def vote_velocity(vote_events: pd.DataFrame, params: VoteParams = VoteParams()) -> VoteVelocity:
    """Vote pace per comment and per article, and bursts that may be brigading.

    A burst is a window (``params.burst_window``) holding at least
    ``burst_min_votes`` votes and at least ``burst_factor`` times the article's
    own baseline: its mean votes per window over the span from its first to its
    last vote (one window at least). Comment and article are judged against
    the same article baseline.

    Parameters
    ----------
    vote_events : DataFrame
        The vote_events table (source, article_id, comment_id, vote, voted_at);
        rows without a time are left out.

    Returns
    -------
    VoteVelocity
    """
    events = vote_events.dropna(subset=["voted_at"]).sort_values(
        ["source", "article_id", "comment_id", "voted_at"], kind="stable"
    )
    articles = _pace(events.sort_values([*ARTICLE_KEY, "voted_at"], kind="stable"), ARTICLE_KEY, params)
    comments = _pace(events, [*ARTICLE_KEY, "comment_id"], params)
    baseline = pd.Series(articles["votes"].to_numpy() / articles["_active_windows"].to_numpy(),
                         index=articles["_article"].to_numpy())
    return VoteVelocity(comments=_judge(comments, baseline, params), articles=_judge(articles, baseline, params))


def _judge(pace: pd.DataFrame, baseline: pd.Series, params: VoteParams) -> pd.DataFrame:
    """Add the article baseline, ``is_burst`` and ``burst_reason`` to a frame from :func:`_pace`."""
    described = _window_text(pd.Timedelta(params.burst_window))
    out = pace.assign(baseline_per_window=baseline.reindex(pace["_article"]).to_numpy())
    out["is_burst"] = (out["peak_votes"] >= params.burst_min_votes) & (
        out["peak_votes"] >= params.burst_factor * out["baseline_per_window"])
    out["burst_reason"] = (
        "burst: " + out["peak_votes"].astype(str) + " votes within " + described + " from "
        + out["peak_start"].dt.strftime("%Y-%m-%d %H:%M UTC") + " (this article's baseline "
        + out["baseline_per_window"].round(2).astype(str) + " per " + described + ")"
    ).where(out["is_burst"])
    return out.drop(columns=["_article", "_active_windows"])


def _counts(comments: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per comment: up, down, has_split, total, net (up − down, or the score) and ratio, as floats."""
    up = pd.to_numeric(comments["upvotes"]).astype("float64").to_numpy()
    down = pd.to_numeric(comments["downvotes"]).astype("float64").to_numpy()
    score = pd.to_numeric(comments["score"]).astype("float64").to_numpy()
    has_split = ~np.isnan(up) & ~np.isnan(down)
    total = up + down
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, up / total, np.nan)
    return {"up": up, "down": down, "has_split": has_split, "total": total,
            "net": np.where(has_split, up - down, score), "ratio": ratio}


def _vote_counts(comments: pd.DataFrame) -> dict[str, np.ndarray]:
    """:func:`_counts` with the article's group code and the thread-relative z of total and net."""
    counts = _counts(comments)
    article = comments.groupby(ARTICLE_KEY, sort=False, dropna=False).ngroup().to_numpy()
    return {**counts, "article": article, "total_z": robust_z(counts["total"], article),
            "net_z": robust_z(counts["net"], article)}


def _log_votes(votes: dict[str, np.ndarray]) -> np.ndarray:
    """log1p of the votes cast where up and down are known, else of ``|vote_net|``."""
    return np.log1p(np.where(votes["has_split"], votes["total"], np.abs(votes["net"])))


def author_usual_log_votes(comments: pd.DataFrame) -> pd.Series:
    """Median ``log_votes`` of each named author's comments: Series indexed by (source, author).

    An author's usual votes span articles; an incremental run computes them over every comment of the authors
    it scores (:mod:`moderation.incremental`) and passes them to :func:`score_votes`.
    """
    log_votes = _log_votes(_counts(comments))
    author = comments["author"].fillna("")
    named = (author != "").to_numpy()
    # grouped by the columns as they are (Arrow strings are hashed in Arrow): as object arrays, a Python string
    # per comment, the usual votes of an import's authors (half a million comments at a million) took twice as long
    keys = [comments["source"][named].reset_index(drop=True), author[named].reset_index(drop=True)]
    return pd.Series(log_votes[named]).groupby(keys).median().rename_axis(["source", "author"])


def _anomaly_features(comments: pd.DataFrame, votes: dict[str, np.ndarray],
                      author_usual: pd.Series | None = None) -> pd.DataFrame:
    """The outlier model's features, one row per comment (NaN where a vote measure is missing).

    ``log_votes`` is log1p of the votes cast where up and down are known, else
    of ``|vote_net|``; the two kinds are never fitted together. The capture
    time is not recorded, so a comment's age at capture is measured to the
    article's latest comment (hours, log1p). ``thread_position`` is the
    comment's time rank within its article (0..1]; ``author_usual_log_votes``
    the median ``log_votes`` of the author's comments, this one included (over ``comments``, or as
    ``author_usual`` from :func:`author_usual_log_votes` gives it).
    """
    article = votes["article"]
    seconds = _epoch_seconds(comments["created_at"])
    last = pd.Series(seconds).groupby(article).transform("max").to_numpy()
    log_votes = _log_votes(votes)
    if author_usual is None:
        # grouped by the Arrow columns' codes: Python strings of every author would cost more than the medians
        author_group = comments.groupby(["source", "author"], sort=False, dropna=False).ngroup().to_numpy()
        usual = pd.Series(log_votes).groupby(author_group).transform("median").to_numpy()
    else:
        author = comments["author"].fillna("").to_numpy()
        usual = author_usual.reindex(pd.MultiIndex.from_arrays([comments["source"].to_numpy(), author])).to_numpy()
    unnamed = comments["author"].fillna("").eq("").to_numpy(dtype=bool)
    usual = np.where(unnamed, log_votes, usual)  # an unnamed author is nobody's habit
    position = pd.Series(seconds).groupby(article).rank(pct=True).to_numpy()
    return pd.DataFrame({
        "log_votes": log_votes,
        "upvote_ratio": np.where(votes["total"] > 0, votes["ratio"], np.where(votes["has_split"], 0.5, np.nan)),
        "vote_total_robust_z": votes["total_z"],
        "vote_net_robust_z": votes["net_z"],
        "depth": pd.to_numeric(comments["depth"]).astype("float64").fillna(0).to_numpy(),
        "thread_position": np.nan_to_num(position, nan=0.5),
        "log_age_hours_at_capture": np.nan_to_num(np.log1p((last - seconds) / 3600), nan=0.0),
        "author_usual_log_votes": usual,
    }, index=comments.index)


_NET_ONLY = ["log_votes", "vote_net_robust_z", "depth", "thread_position", "log_age_hours_at_capture",
             "author_usual_log_votes"]


def _feature_sets(features: pd.DataFrame, has_split: np.ndarray):
    """(name, rows, columns) of the two feature sets: up/down sources, and score-only sources."""
    for name, rows, columns in (("split", has_split, list(features.columns)), ("net_only", ~has_split, _NET_ONLY)):
        yield name, rows & features[columns].notna().all(axis=1).to_numpy(), columns


@dataclass
class VoteOutliers:
    """The fitted outlier models of a corpus, one :class:`VoteAnomaly` per feature set ("split", "net_only");
    None where fewer than ``anomaly_min_comments`` comments had the set."""

    models: dict[str, VoteAnomaly | None]


def fit_vote_outliers(comments: pd.DataFrame, params: VoteParams = VoteParams()) -> VoteOutliers:
    """Fit the outlier models on ``comments`` (the corpus), for :func:`score_votes` to apply to any articles of it."""
    votes = _vote_counts(comments)
    return _fit_outliers(_anomaly_features(comments, votes), votes["has_split"], params)


def _fit_outliers(features: pd.DataFrame, has_split: np.ndarray, params: VoteParams) -> VoteOutliers:
    models = {}
    for name, rows, columns in _feature_sets(features, has_split):
        models[name] = None if rows.sum() < params.anomaly_min_comments else VoteAnomaly(
            params.anomaly_contamination, params.anomaly_max_samples, params.anomaly_n_estimators,
            params.random_state).fit(features.loc[rows, columns])
    return VoteOutliers(models)


def _score_anomalies(features: pd.DataFrame, has_split: np.ndarray, params: VoteParams,
                     outliers: VoteOutliers | None = None):
    """Score with the model of each feature set (fitted here on ``features`` when ``outliers`` is None); NaN
    where there is no model."""
    outliers = outliers if outliers is not None else _fit_outliers(features, has_split, params)
    score = np.full(len(features), np.nan)
    flagged = np.zeros(len(features), dtype=bool)
    drivers = np.full(len(features), None, dtype=object)
    for name, rows, columns in _feature_sets(features, has_split):
        model = outliers.models.get(name)
        if model is None or not rows.any():
            continue
        X = features.loc[rows, columns]
        score[rows] = model.anomaly_score(X)
        outlier = -score[rows] - model.offset_ < 0  # decision_function < 0, without scoring twice
        if outlier.any():  # a fitted model may find none among a few articles' comments
            flagged[np.flatnonzero(rows)[outlier]] = True
            drivers[np.flatnonzero(rows)[outlier]] = model.explain(X[outlier], params.anomaly_top_features)
    return score, flagged, drivers


def _text(values, digits: int | None = None) -> pa.Array:
    """Numbers as Arrow text (null where NaN): whole numbers, or rounded to ``digits`` decimals."""
    numbers = pa.array(np.asarray(values, dtype="float64"), from_pandas=True)
    numbers = pc.cast(numbers, pa.int64()) if digits is None else pc.round(numbers, digits)
    return pc.cast(numbers, pa.string())


def _percent(share: np.ndarray) -> pa.Array:
    """'2%' for a share of 0.013 (rounded up, at least 1%)."""
    return pc.binary_join_element_wise(_text(np.clip(np.ceil(share * 100), 1, 100)), "%", "")


def _reasons(counts: dict[str, np.ndarray], measures: dict[str, np.ndarray], flag: np.ndarray,
             anomaly_features: np.ndarray, burst_reason: np.ndarray) -> pd.Series:
    """One sentence per comment: the counts, the place in the thread, the measure behind the flag.

    Built with Arrow's vectorised string kernels: a million sentences in about a second.
    """
    def join(*parts):
        return pc.binary_join_element_wise(*parts, "")

    def when(condition, then, otherwise):
        return pc.if_else(pa.array(np.asarray(condition, dtype=bool)), then, otherwise)

    up, down, net = _text(counts["up"]), _text(counts["down"]), _text(counts["net"])
    has_split = counts["has_split"]
    text = when(~np.isnan(counts["up"]), join(up, " up (down-votes not recorded)"), "no vote data")
    text = when(~has_split & ~np.isnan(counts["net"]), join("net score ", net, " (no up/down split)"), text)
    text = when(has_split, join(up, " up / ", down, " down"), text)
    voted = has_split & (counts["total"] > 0) | ~has_split & ~np.isnan(counts["net"])
    text = when(has_split & (counts["total"] == 0), "no votes", text)

    by = pa.array(np.where(has_split, "net votes", "net score"))
    thread = join("; top ", _percent(measures["top_share"]), " of this thread by ", by)
    thread = when(flag == "heavily_down", join("; bottom ", _percent(measures["bottom_share"]),
                                               " of this thread by ", by), thread)
    thread = when(flag == "controversial", join("; top ", _percent(measures["total_top_share"]),
                                                " of this thread by votes cast"), thread)
    measure = join("; Wilson ", _text(measures["wilson_lower"], 2))
    measure = when(flag == "heavily_down", join("; Wilson (down) ", _text(measures["wilson_lower_down"], 2)), measure)
    measure = when(flag == "controversial", join("; ", _text(np.round(100 * measures["upvote_ratio"])),
                                                 "% up, controversy ", _text(measures["controversy"], 1)), measure)
    anomaly = join("; unusual voting (anomaly ", _text(measures["vote_anomaly"], 2), ": ",
                   pa.array(anomaly_features, type=pa.string(), from_pandas=True), ")")
    burst = join("; ", pa.array(burst_reason, type=pa.string(), from_pandas=True))
    sentence = join(text, when(voted, join(pc.coalesce(thread, ""), pc.coalesce(measure, "")), ""),
                    pc.coalesce(anomaly, ""), pc.coalesce(burst, ""))
    return pd.Series(pd.array(sentence, dtype="str"))


def score_votes(comments: pd.DataFrame, vote_events: pd.DataFrame | None = None,
                params: VoteParams = VoteParams(), outliers: VoteOutliers | None = None,
                author_usual: pd.Series | None = None) -> pd.DataFrame:
    """Add the vote-pattern columns to a copy of ``comments`` (same rows, order and index).

    Parameters
    ----------
    comments : DataFrame, shape (n_comments, ...)
        Canonical comments (see :mod:`moderation.schema`): upvotes, downvotes,
        score, source, article_id, author, created_at, depth are read.
    vote_events : DataFrame or None
        Canonical vote_events; when given, bursts are merged in.
    params : VoteParams
    outliers : VoteOutliers, optional
        Outlier models fitted on the corpus (:func:`fit_vote_outliers`) when ``comments`` are some of its
        articles; fitted here on ``comments`` when None.
    author_usual : Series, optional
        :func:`author_usual_log_votes` over every comment of the authors in ``comments``; computed over
        ``comments`` when None.

    Returns
    -------
    DataFrame, shape (n_comments, ...) with added columns:

    - ``vote_total`` (Int64, up + down), ``vote_net`` (Int64, up − down, or
      ``score`` for score-only sources), ``upvote_ratio`` (Float64, 0..1; NA at 0 votes);
    - ``wilson_lower``, ``wilson_lower_down`` (Float64, 0..1; 0 at 0 votes),
      ``controversy`` (Float64, >= 0), ``is_controversial`` (bool);
    - ``vote_total_percentile``, ``vote_net_percentile`` (Float64, (0, 1]: share
      of the article's comments with a value <= this one) and
      ``vote_total_robust_z``, ``vote_net_robust_z`` (Float64) within the article;
    - ``is_heavily_up``, ``is_heavily_down``, ``is_vote_anomaly`` (bool) and the
      queue sort columns ``vote_rank_up``, ``vote_rank_down`` (Float64);
    - ``vote_anomaly`` (Float64, 0..1; NA where no model could be fitted) and
      ``vote_anomaly_features`` (str, for flagged comments);
    - ``vote_burst`` (bool), ``vote_burst_reason`` (str), ``votes_per_day``, ``vote_peak`` (from vote events);
    - ``vote_flag`` (str: heavily_down, heavily_up, controversial, anomalous; NA for none)
      and ``vote_reason`` (str, one sentence).
    All measures needing both up and down counts are NA where either is NA.
    """
    # copy on write: the new frame shares the input's columns until one is replaced
    out = comments.copy(deep=False)
    votes = _vote_counts(out)
    up, down, has_split, total, net, ratio, article, total_z, net_z = (votes[name] for name in (
        "up", "down", "has_split", "total", "net", "ratio", "article", "total_z", "net_z"))
    wilson_up, wilson_down = wilson_lower_bound(up, total, params.z), wilson_lower_bound(down, total, params.z)
    low, high = params.controversial_ratio
    enough_split = has_split & (total >= params.heavily_min_votes)
    enough_net = ~has_split & (np.abs(net) >= params.heavily_min_votes)
    heavily_up = (enough_split & (wilson_up >= params.heavily_wilson) | enough_net & (net > 0)) & (
        net_z >= params.heavily_z)
    heavily_down = (enough_split & (wilson_down >= params.heavily_wilson) | enough_net & (net < 0)) & (
        net_z <= -params.heavily_z)

    def nullable_float(values):
        return pd.array(values, dtype="Float64")

    out["vote_total"] = pd.array(np.where(has_split, total, np.nan), dtype="Float64").astype("Int64")
    out["vote_net"] = pd.array(net, dtype="Float64").astype("Int64")
    out["upvote_ratio"] = nullable_float(ratio)
    out["wilson_lower"] = nullable_float(wilson_up)
    out["wilson_lower_down"] = nullable_float(wilson_down)
    out["controversy"] = nullable_float(controversy(up, down))
    out["is_controversial"] = (has_split & (total >= params.controversial_min_votes)
                               & (ratio >= low) & (ratio <= high))
    out["vote_total_percentile"] = nullable_float(_share_at_least(total, article, descending=False))
    out["vote_net_percentile"] = nullable_float(_share_at_least(net, article, descending=False))
    out["vote_total_robust_z"] = nullable_float(total_z)
    out["vote_net_robust_z"] = nullable_float(net_z)
    out["is_heavily_up"] = heavily_up
    out["is_heavily_down"] = heavily_down
    out["vote_rank_up"] = nullable_float(net_z)
    out["vote_rank_down"] = nullable_float(-net_z)

    anomaly, outlier, drivers = _score_anomalies(_anomaly_features(out, votes, author_usual), has_split, params,
                                                 outliers)
    out["vote_anomaly"] = nullable_float(anomaly)
    out["vote_anomaly_features"] = pd.array(drivers, dtype="str")

    out["vote_burst"] = False
    out["vote_burst_reason"] = pd.array([None] * len(out), dtype="str")
    out["votes_per_day"] = nullable_float(np.full(len(out), np.nan))
    out["vote_peak"] = pd.array([None] * len(out), dtype="Int64")
    if vote_events is not None and len(vote_events):
        pace = vote_velocity(vote_events, params).comments.set_index(COMMENT_KEY)
        found = pace.reindex(pd.MultiIndex.from_frame(out[COMMENT_KEY]))
        out["vote_burst"] = found["is_burst"].fillna(False).astype(bool).to_numpy()
        out["vote_burst_reason"] = found["burst_reason"].astype("str").to_numpy()
        out["votes_per_day"] = nullable_float(found["votes_per_day"].to_numpy(dtype="float64"))
        out["vote_peak"] = pd.array(found["peak_votes"].to_numpy(dtype="float64"), dtype="Float64").astype("Int64")
    out["is_vote_anomaly"] = outlier | out["vote_burst"].to_numpy()

    flag = np.select([heavily_down, heavily_up, out["is_controversial"].to_numpy(), out["is_vote_anomaly"].to_numpy()],
                     list(FLAGS), default="")
    out["vote_flag"] = pd.array(np.where(flag == "", None, flag), dtype="str")
    measures = {column: out[column].to_numpy(dtype="float64", na_value=np.nan) for column in
                ("wilson_lower", "wilson_lower_down", "upvote_ratio", "controversy", "vote_anomaly")}
    measures |= {"top_share": _share_at_least(net, article, descending=True),
                 "bottom_share": out["vote_net_percentile"].to_numpy(dtype="float64", na_value=np.nan),
                 "total_top_share": _share_at_least(total, article, descending=True)}
    out["vote_reason"] = _reasons(
        {"up": up, "down": down, "net": net, "total": total, "has_split": has_split}, measures, flag,
        out["vote_anomaly_features"].to_numpy(dtype=object, na_value=None),
        out["vote_burst_reason"].to_numpy(dtype=object, na_value=None),
    ).set_axis(out.index)
    return out


def controversiality_agreement(scored: pd.DataFrame) -> pd.DataFrame:
    """Cross-table of a source's own ``controversiality`` flag (Reddit: 0/1) and ``is_controversial``.

    Parameters
    ----------
    scored : DataFrame
        Output of :func:`score_votes` with a ``controversiality`` column.

    Returns
    -------
    DataFrame indexed by controversiality (0, 1, "all"), columns is_controversial
    False/True/"all": comment counts. Score-only rows have ``is_controversial``
    False because their split is unknown, so the table shows how much the two
    flags can agree on the data at hand, not only how much they do.

    Raises
    ------
    ValueError
        When the frame has no ``controversiality`` column.
    """
    if "controversiality" not in scored:
        raise ValueError("no 'controversiality' column: only some sources (Reddit) provide it")
    rows = scored["controversiality"].notna()
    return pd.crosstab(pd.to_numeric(scored.loc[rows, "controversiality"]).astype("Int64").rename("controversiality"),
                       scored.loc[rows, "is_controversial"], margins=True, margins_name="all")
