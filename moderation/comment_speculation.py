"""The speculation stage: sentence scores per comment, with the cue spans comments need, and a comment model.

The sentence classifiers of :mod:`moderation.speculation` score every sentence; a comment takes its most
speculative sentence's score (``sentence_speculation_score``: any hedge, Szeged's notion) and its most
conjectural one's (``sentence_conjecture_score``: epistemic and investigation cues, not opinions). Everyday hedges
(advice "I'd suggest", "you might want to"; estimates "I think it's around 9 g"; proposals; requests for
readers' views "I'm curious if everyone thinks") hedge without conjecturing, so the conjecture model reads
the text with them blanked (:data:`EVERYDAY_HEDGES_EN`). Readers' conjecture in news comments is often
unhedged: hidden motives and plans ("a puppet", "control behind the scenes", "X is a cover for Y", "doing
their dirty work"), rumours ("I heard that"), weasel attribution ("some say", "it is believed") and
insinuating questions ("could it be ...?"). Those are matched as cue spans (:data:`CUE_PATTERNS_EN`), shown to
the moderator beside the sentence lexicon's cues.

``speculation_score`` (the comment's score, ``is_speculative`` at 0.5; what gates and ranks the off-topic
speculation queue) is a logistic regression over :data:`CALIBRATION_FEATURES` (the sentence maxima, the
comment cues not negated in their sentence, predictions about others, everyday hedges, requests, length), fitted
on comments labelled speculative (conjecture) or not, with the positives weighing :data:`POSITIVE_WEIGHT`: the
shipped one (``models/comment_conjecture.json``, trained by ``scripts/train_speculation.py --comments`` on the
labelled Globe and Mail comments' tuning threads) for
English comments, or a desk's own, :func:`learn_conjecture` on its moderators' speculative / not labels
(``train-offtopic`` stores it in the learned weights file under ``"conjecture"``), for every comment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from moderation.label_evaluation import scorer_table
from moderation.speculation import score_conjecture, score_speculation_and_conjecture
from moderation.text import WordRuns, may_match

# the comment-level features of the conjecture model (shipped default and a desk's learned one); a desk's
# weights file names the features it uses, so files learned on the first three still apply
CALIBRATION_FEATURES = (
    "sentence_conjecture", "sentence_speculation", "comment_cues", "prediction", "everyday_hedges", "asks_readers",
    "log_words",
)
# computed only for a desk's weights file learned before 2026-12-01 (late evening) that names them: motive
# constructions lowered the out-of-fold F1 on every fold seed but one (models/README.md)
FORMER_FEATURES = ("motive",)
DEFAULT_CONJECTURE_PATH = Path(__file__).parent / "models" / "comment_conjecture.json"
# Conjecture is about a seventh of news comments. Unweighted, the model's probability is calibrated but
# reaches 0.5 only for the clearest tenth of them (out-of-fold F1 0.42 at 0.5, 6% flagged where 14% are
# labelled); positives weighing 3 (chosen on the tuning threads' grouped CV, models/README.md) put 0.5 near
# the best F1 (0.52) with about the labelled share flagged, so "speculative" catches most conjecture.
POSITIVE_WEIGHT = 3.0

# English comment cues the sentence lexicon lacks; each match is a cue span shown to the moderator
CUE_PATTERNS_EN = {
    "hidden motive": (
        r"\b(?:puppets?|propaganda|rigged|manipulat\w*|hidden agenda|agenda|behind the scenes|in the pocket of"
        r"|do(?:ing)? their bidding|takes? orders from|paid off|bought (?:off|out)|cover(?:-up| up| for)"
        r"|smokescreen|a distraction (?:from|to)|front for|real reason|secretly|conspir\w*|the goal is|their goal"
        r"|dirty work|talking points|propaganda machine|in bed with|pulling the strings|marching orders|lapdogs?"
        r"|mouthpieces?|bought and paid|on the payroll|hid(?:e|es|ing) the (?:truth|story|facts|news)"
        r"|(?:don'?t|do not) want (?:you|us|anyone|people|canadians|the public) to (?:know|see|hear|find)"
        r"|works? for the|there (?:has|have|had|must|needs?) to be more|(?:there'?s|there is) more to"
        r"|more to (?:it|this|that|the story) than)\b"
    ),
    # not "word is" alone: "in a single word, that word is 'learning'"
    "rumour": (
        r"\b(?:i (?:have |'ve )?heard (?:that|they|it)|rumou?r(?:s|ed)?|word (?:is|has it) that|word is out"
        r"|word on the street|reportedly)\b"
    ),
    # the labelling guidelines' own examples of a conjecture put forward as a suspicion
    "suspicion": (
        r"\b(?:i suspect|i'?d (?:bet|wager)|i bet|my guess is|one (?:has|have) to wonder"
        r"|makes? (?:you|me|one) wonder|i (?:have|had|get) a (?:hunch|feeling) that)\b"
    ),
    "weasel": (
        r"\b(?:some|many|several|critics|experts|sources|insiders|people|others) (?:say|said|claim(?:ed)?|believe"
        r"|suggest(?:ed)?|argue|think)\b|\bit is (?:believed|said|thought|rumou?red|alleged|widely known)\b"
    ),
    "insinuating question": (
        r"\b(?:could it be|is it possible that|coincidence\??|who (?:paid|benefits|profits))\b"
        r"|\bwhy (?:is|are|does|do|did|would|has|have) (?:nobody|no one)\b"
        # a hedged question about what has happened: "Perhaps the backdoor has been discovered in cameras too?"
        r"|\b(?:perhaps|maybe|possibly)\b[^.?!\n]*\b(?:has|have|had|was|were) (?:been |already )?\w+ed\b[^.?!\n]*\?"
    ),
}
# A conjecture about motives without a hedge word: "in order to stifle", "trying to hide", "the reason is";
# a former feature (FORMER_FEATURES): opinions use these constructions as often ("in order to see")
MOTIVE_EN = (
    r"\b(?:in order to|in an attempt to|(?:mainly|simply|only|just) to|so (?:that )?they (?:can|could)"
    r"|the (?:real |only )?reason (?:is|why|they|he|she)|because they (?:want|fear|need|are afraid)"
    r"|(?:trying|tries|try|want|wants|wanted) to (?:hide|keep|silence|control|push|protect|distract|stifle"
    r"|manipulate|please|avoid|bury|cover|discredit|destroy|dupe|trick))\b"
)
# Predictions about others, a guess when nobody can know: "Postmedia will default", "they are going to"
PREDICTION_EN = r"\b(?:(?i:they|he|she|it)|[A-Z][a-z]+) (?:will|won't|is going to|are going to|would never)\b"
# Everyday hedges: advice, proposals, estimates of a quantity, requests for readers' views. They hedge, but
# conjecture about nothing; the conjecture model reads the text with these phrases blanked out.
EVERYDAY_HEDGES_EN = (
    r"\b(?:i'?d|i would|i) (?:(?:strongly|probably|just) )?(?:suggest|recommend|advise)\w*\b"
    r"|\bas suggested\b|\b(?:a |the |your |my )?suggest(?:ion|ions|ed edits?)\b"
    r"|\b(?:\w+ )?suggested (?:that (?:we|you|i)|to|an?|the|this|it)\b"
    r"|\byou (?:might|may|could|probably) (?:want|wish|like|need|try|consider|be able|find|get|have)\b"
    r"|\bmight (?:want|wish|like|need) to\b|\b(?:it |that )?might be (?:worth|better|easier|best|a good idea)\b"
    r"|\b(?:maybe|perhaps) (?:try|consider|check|ask|look|use|add|edit|post|flag|write|include|change)\b"
    r"|\b(?:maybe|perhaps) (?:you|we|i) (?:could|should|might|can|may want)\b"
    r"|\b(?:maybe|perhaps) it would be (?:better|safer|easier|nice|good|best|worth)\b"
    r"|\bcould be (?:valuable|useful|helpful|worth|nice|good|a good idea)\b"
    r"|\b(?:could|would|can) you (?:please |perhaps |maybe )?(?:provide|post|add|edit|explain|clarify|share|give"
    r"|tell|link|check|try)\b"
    # a hedged recommendation: "maybe this discussion should be listed as CW?"
    r"|\b(?:maybe|perhaps)\b[^.?!\n]*\bshould\b"
    r"|\b(?:i think|i believe|i guess|probably|maybe|perhaps|possibly|likely|roughly|approximately) "
    r"(?:it'?s |it is |that'?s |is )?(?:around |about |under |over )?[$€£]?\d"
    r"|\b(?:i'?m|i am) curious (?:if|whether|what|how) (?:everyone|anyone|anybody|people|others|you|folks)\b"
    r"|\bwonder(?:ing)? (?:if|whether) (?:anyone|anybody|someone|you)\b"
    r"|\b(?:does|do|did|has|have|can|could|would) (?:anyone|anybody|someone|somebody|you(?: guys)?) "
    r"(?:know|think|have|tell|recommend|suggest|agree)\b"
    r"|\bwhat do (?:you|people|others|folks|y'all) think\b"
)
# a negation this many characters or fewer before a comment cue, in its sentence, means the cue is denied
NEGATION = re.compile(r"\b(?:not|no|never|nor|don'?t|doesn'?t|didn'?t|isn'?t|aren'?t|wasn'?t|won'?t|without)\b", re.I)
NEGATION_WINDOW = 60
# asking what readers think or know: a genuine question ("I'm curious if everyone thinks this will lead to a ban")
ASKS_READERS_EN = (
    r"\b(?:everyone|anyone|anybody|you(?: guys)?|people|folks|others) (?:think|know|agree|recommend)\w*\b"
    r"|\bwhat do (?:you|people|others|folks) think\b|\bany (?:ideas|thoughts|suggestions)\b"
)


def _cue_spans(text: str) -> list[dict]:
    """Spans {phrase, start, end} of the comment cues of :data:`CUE_PATTERNS_EN` in ``text``."""
    spans = []
    for pattern in CUE_PATTERNS_EN.values():
        spans += [{"phrase": m.group(0), "start": m.start(), "end": m.end()}
                  for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    return spans


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _found(texts: pd.Series, pattern: str, ignore_case: bool = True) -> np.ndarray:
    """Positions of the texts where ``pattern`` may match: every text where it matches, and a few texts that are
    not ASCII where it does not (:func:`moderation.text.may_match`); Python's regex then runs on these only."""
    return np.flatnonzero(may_match(texts, pattern, ignore_case))


def _counts(texts: pd.Series, pattern: str, ignore_case: bool = True) -> np.ndarray:
    """Matches of ``pattern`` per text (n,), float; Python's regex runs only on the texts :func:`_found` finds."""
    compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    counts = np.zeros(len(texts))
    found = _found(texts, pattern, ignore_case)
    counts[found] = [len(compiled.findall(text)) for text in texts.iloc[found].tolist()]
    return counts


def _unnegated_counts(texts: pd.Series, pattern: str) -> np.ndarray:
    """Like :func:`_counts`, leaving out matches negated earlier in their sentence ("I'm not trying to push an
    agenda", "I don't think the US needs Xinjiang as cover for ...")."""
    compiled = re.compile(pattern, re.IGNORECASE)
    counts = np.zeros(len(texts))
    found = _found(texts, pattern)
    for row, text in zip(found.tolist(), texts.iloc[found].tolist()):
        for match in compiled.finditer(text):
            before = re.split(r"[.!?\n]", text[max(0, match.start() - NEGATION_WINDOW):match.start()])[-1]
            counts[row] += NEGATION.search(before) is None
    return counts


def blank_everyday_hedges(texts: pd.Series) -> pd.Series:
    """``texts`` with the phrases of :data:`EVERYDAY_HEDGES_EN` replaced by spaces (offsets kept)."""
    compiled = re.compile(EVERYDAY_HEDGES_EN, re.IGNORECASE)
    return texts.astype("str").fillna("").str.replace(compiled, lambda m: " " * len(m.group(0)), regex=True)


def calibration_features(scored: pd.DataFrame, names=CALIBRATION_FEATURES, words: np.ndarray | None = None,
                         ) -> pd.DataFrame:
    """The features ``names`` (of :data:`CALIBRATION_FEATURES` and :data:`FORMER_FEATURES`) of comments scored by
    :func:`score_comments`, one row per comment, in that order.

    ``words``: each comment's number of ``\\w+`` runs when the caller has it (the speculation batch finds them:
    ``score_speculation``'s ``words``); counted here otherwise.

    Sentence maxima as log-odds (the conjecture one read with everyday hedges blanked), log(1 + count) of the
    comment cues (:data:`CUE_PATTERNS_EN`, those not negated earlier in their sentence), of predictions about
    others, of everyday hedges and of requests for readers' views (and of motive constructions, when named),
    and log(1 + number of words).
    """
    names = list(names)
    texts = scored["text"].astype("str").fillna("")
    cue_pattern = "|".join(CUE_PATTERNS_EN.values())
    patterns = {"everyday_hedges": EVERYDAY_HEDGES_EN, "asks_readers": ASKS_READERS_EN}
    if "motive" in names:
        patterns["motive"] = MOTIVE_EN
    # most comments hold none of these phrases: one search finds those that may, the counts run on them only
    maybe = np.union1d(_found(texts, "|".join([cue_pattern, *patterns.values()])),
                       _found(texts, PREDICTION_EN, ignore_case=False))
    candidates = texts.iloc[maybe]
    counts = {name: _counts(candidates, pattern) for name, pattern in patterns.items()}
    counts["prediction"] = _counts(candidates, PREDICTION_EN, ignore_case=False)
    counts["comment_cues"] = _unnegated_counts(candidates, cue_pattern)
    features = {}
    for name in ("comment_cues", "prediction", *patterns):
        features[name] = np.zeros(len(texts))
        features[name][maybe] = np.log1p(counts[name])
    return pd.DataFrame({
        "sentence_conjecture": _logit(scored["sentence_conjecture_score"]),
        "sentence_speculation": _logit(scored["sentence_speculation_score"]),
        **features,
        "log_words": np.log1p(np.asarray(WordRuns(texts).counts() if words is None else words, dtype=np.float64)),
    }, index=scored.index)[names]


def _conjecture_model(C: float = 1.0) -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight={0: 1.0, 1: POSITIVE_WEIGHT},
                                                              max_iter=2000))


def _weights(model) -> dict:
    scaler, regression = model[0], model[1]
    return {"features": list(CALIBRATION_FEATURES), "mean": scaler.mean_.round(6).tolist(),
            "scale": scaler.scale_.round(6).tolist(), "coef": regression.coef_[0].round(6).tolist(),
            "intercept": round(float(regression.intercept_[0]), 6)}


def apply_conjecture(features: pd.DataFrame, weights: dict) -> np.ndarray:
    """Speculation score (n,), 0..1, of the learned model ``weights`` (see :func:`learn_conjecture`)."""
    z = (features[weights["features"]].to_numpy(dtype=np.float64) - np.asarray(weights["mean"])) / np.asarray(
        weights["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(weights["coef"]) + weights["intercept"])))


def learn_conjecture(
    scored: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, n_splits: int = 5, random_state: int = 0,
    C: float = 1.0,
) -> tuple[dict, pd.DataFrame]:
    """Learn the desk's speculation score from moderators' speculative 0/1 ``labels`` on ``scored`` comments.

    Logistic regression (inverse regularisation ``C``, positives weighing :data:`POSITIVE_WEIGHT`) over
    :data:`CALIBRATION_FEATURES`, fitted on the desk's own comments. Returns the weights (fitted on every row;
    ``cv_auc`` added) and an evaluation (rows "speculation: learned (grouped k-fold CV)", out of fold with folds grouped by
    ``groups`` (articles), and "speculation: current", the score the comments have now;
    :func:`moderation.label_evaluation.scorer_table`'s columns); the weights also hold the out-of-fold
    ``cv_log_loss`` and the ``positive_weight``.
    """
    labels = np.asarray(labels, dtype=int)
    features = calibration_features(scored).reset_index(drop=True)
    learned = np.zeros(len(labels))
    folds = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(features, labels, groups):
        learned[test] = _conjecture_model(C).fit(features.iloc[train], labels[train]).predict_proba(
            features.iloc[test])[:, 1]
    rows = [(f"speculation: learned (grouped {n_splits}-fold CV)", learned),
            ("speculation: current", scored["speculation_score"].to_numpy(dtype=float))]
    evaluation = scorer_table(labels, dict(rows), groups)
    weights = _weights(_conjecture_model(C).fit(features, labels))
    weights["C"] = C
    weights["positive_weight"] = POSITIVE_WEIGHT
    weights["cv_log_loss"] = round(float(log_loss(labels, learned, labels=[0, 1])), 4)
    weights["cv_auc"] = round(float(evaluation["auc"].iat[0]), 4)
    return weights, evaluation


def load_default_conjecture(path: Path = DEFAULT_CONJECTURE_PATH) -> dict | None:
    """The shipped comment speculation model (weights of :func:`learn_conjecture`), None when the file is absent."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else None


def score_comments(comments: pd.DataFrame, conjecture: dict | None = None) -> pd.DataFrame:
    """The speculation stage: a copy of ``comments`` with the speculation columns.

    Columns: ``sentence_speculation_score`` (0..1, the most speculative sentence, any hedge),
    ``speculative_sentences`` (sentences scoring >= 0.5 there), ``speculation_cues`` (list of {phrase, start,
    end} spans into the text, sorted by start: sentence-lexicon cues and, for English comments, the comment
    cues of :data:`CUE_PATTERNS_EN`), ``sentence_conjecture_score`` (0..1, the most conjectural sentence, read
    with English everyday hedges blanked: :func:`blank_everyday_hedges`), and the comment's
    ``speculation_score`` (0..1) with ``is_speculative`` (score >= 0.5): with ``conjecture`` (weights of
    :func:`learn_conjecture`) the desk's learned score on every comment; without, the shipped comment model
    (``models/comment_conjecture.json``, fitted on labelled news comments) on English comments and the
    sentence conjecture score on German ones. The comments' ``language`` column (written by the off-topic
    stage from the shared text features) picks the lexicon; without it every comment is English.
    """
    language = comments["language"] if "language" in comments else None
    sentences = score_speculation_and_conjecture(comments["text"], language=language)
    # copy on write: the new frame shares the input's columns until one is replaced
    out = comments.copy(deep=False)
    out["sentence_speculation_score"] = sentences["speculation_score"].to_numpy()
    out["speculative_sentences"] = sentences["speculative_sentences"].to_numpy()
    english = np.ones(len(comments), bool) if language is None else language.to_numpy(dtype=object) != "de"
    texts = comments["text"].astype("str").fillna("")
    has_cue = np.zeros(len(texts), dtype=bool)
    has_cue[_found(texts, "|".join(CUE_PATTERNS_EN.values()))] = True
    has_cue &= english
    cues = sentences["speculation_cues"].to_numpy(dtype=object).copy()
    for row in np.flatnonzero(has_cue):
        cues[row] = sorted([*cues[row], *_cue_spans(texts.iat[row])], key=lambda cue: cue["start"])
    out["speculation_cues"] = cues
    # advice, estimates and requests hedge without conjecturing: the conjecture model reads them blanked
    maybe_hedged = np.intersect1d(_found(texts, EVERYDAY_HEDGES_EN), np.flatnonzero(english))
    score = sentences["conjecture_score"].to_numpy(dtype=np.float64).copy()
    if len(maybe_hedged):
        blanked = blank_everyday_hedges(texts.iloc[maybe_hedged])
        hedged = (blanked != texts.iloc[maybe_hedged]).to_numpy(dtype=bool)  # the texts that held a hedge
        score[maybe_hedged[hedged]] = score_conjecture(blanked[hedged], language="en").to_numpy()
    out["sentence_conjecture_score"] = score.copy()
    weights, rows = (conjecture, np.ones(len(out), bool)) if conjecture is not None else (
        load_default_conjecture(), english)
    if weights is not None and rows.any():
        features = calibration_features(out[rows], weights["features"], sentences["words"].to_numpy()[rows])
        score[rows] = apply_conjecture(features, weights)
    out["speculation_score"] = score
    out["is_speculative"] = score >= 0.5
    return out
