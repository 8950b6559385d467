"""The speculation stage: sentence scores per comment, with the cue spans comments need.

The sentence classifiers of :mod:`moderation.speculation` score every sentence; a comment takes its most
speculative sentence's score (``speculation_score``: any hedge, Szeged's notion) and its most conjectural
one's (``conjecture_score``: epistemic and investigation cues, not opinions; ranks the off-topic speculation
queue). Readers' conjecture in news comments is often unhedged: hidden motives and plans ("a puppet",
"control behind the scenes", "X is a cover for Y"), rumours ("I heard that"), weasel attribution ("some
say", "it is believed") and insinuating questions ("could it be ...?"). Those are matched here as cue spans
(:data:`CUE_PATTERNS_EN`), shown to the moderator beside the sentence lexicon's cues.

A comment-level logistic regression over these cues and the sentence maxima was tried on the labelled
Globe and Mail comments and not shipped: on the held-out threads (16 positives) it did not beat the
sentence model's F1 at 0.5, and it put Robert Shih's opinion on the seed page into the queue
(``moderation/models/README.md`` has the figures).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from moderation.speculation import score_speculation_and_conjecture

# English comment cues the sentence lexicon lacks; each match is a cue span shown to the moderator
CUE_PATTERNS_EN = {
    "hidden motive": (
        r"\b(?:puppets?|propaganda|rigged|manipulat\w*|hidden agenda|agenda|behind the scenes|in the pocket of"
        r"|do(?:ing)? their bidding|takes? orders from|paid off|bought (?:off|out)|cover(?:-up| up| for)"
        r"|smokescreen|a distraction from|front for|real reason|secretly|conspir\w*|the goal is|their goal"
        r"|works? for the)\b"
    ),
    "rumour": r"\b(?:i (?:have |'ve )?heard (?:that|they|it)|rumou?r(?:s|ed)?|word is|reportedly)\b",
    "weasel": (
        r"\b(?:some|many|several|critics|experts|sources|insiders|people|others) (?:say|said|claim(?:ed)?|believe"
        r"|suggest(?:ed)?|argue|think)\b|\bit is (?:believed|said|thought|rumou?red|alleged|widely known)\b"
    ),
    "insinuating question": (
        r"\b(?:could it be|is it possible that|coincidence\??|who (?:paid|benefits|profits))\b"
        r"|\bwhy (?:is|are|does|do|did|would|has|have) (?:nobody|no one)\b"
    ),
}

def _cue_spans(text: str) -> list[dict]:
    """Spans {phrase, start, end} of the comment cues of :data:`CUE_PATTERNS_EN` in ``text``."""
    spans = []
    for pattern in CUE_PATTERNS_EN.values():
        spans += [{"phrase": m.group(0), "start": m.start(), "end": m.end()}
                  for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    return spans


def score_comments(comments: pd.DataFrame) -> pd.DataFrame:
    """The speculation stage: a copy of ``comments`` with the speculation columns.

    Columns: ``speculation_score`` (0..1, the most speculative sentence), ``is_speculative``,
    ``speculation_cues`` (list of {phrase, start, end} spans into the text, sorted by start: sentence-lexicon
    cues and, for English comments, the comment cues of :data:`CUE_PATTERNS_EN`), ``speculative_sentences``
    (sentences scoring >= 0.5) and ``conjecture_score`` (0..1, the most conjectural sentence). The comments'
    ``language`` column (written by the off-topic stage from the shared text features) picks the lexicon;
    without it every comment is English.
    """
    language = comments["language"] if "language" in comments else None
    sentences = score_speculation_and_conjecture(comments["text"], language=language)
    out = comments.copy()
    for name in sentences.columns:
        out[name] = sentences[name].to_numpy()
    english = np.ones(len(comments), bool) if language is None else language.to_numpy(dtype=object) != "de"
    texts = comments["text"].astype("str").fillna("")
    has_cue = texts.str.contains("|".join(CUE_PATTERNS_EN.values()), case=False).to_numpy(dtype=bool) & english
    cues = out["speculation_cues"].to_numpy(dtype=object).copy()
    for row in np.flatnonzero(has_cue):
        cues[row] = sorted([*cues[row], *_cue_spans(texts.iat[row])], key=lambda cue: cue["start"])
    out["speculation_cues"] = cues
    return out
