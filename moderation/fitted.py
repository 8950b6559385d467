"""Fitted state: what a full run learned from the whole corpus, saved with its results for later imports.

A full run fits, once, what every article's scores depend on beyond that article: the text features
(vocabulary, IDF, topics, latent semantic space; :class:`moderation.topics.TextFeatures` without its rows),
the sums off-topic scoring takes over a source's articles and texts (:class:`moderation.offtopic.OfftopicCorpus`)
and the vote outlier models (:class:`moderation.votes.VoteOutliers`); with them the partials per article of the
author and engagement tables (:class:`moderation.engagement.InsightPartials`), which an import makes again for the
articles it touches and reduces with the others' (derived, not fitted: every import updates them). :func:`save` writes them into the
results version (``catalog.STATE_FILE``, a pickle) with a record of the parameters, model files and
library versions that made them (``catalog.STATE_RECORD``, JSON). An import reads them back with :func:`load`,
which refuses state made with other parameters, other off-topic weights or model files, or other library
versions, and says which. The pickle is the folder's own output; like any pickle it must not come from
someone you do not trust.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import pickle
import platform
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from moderation import catalog, engagement, offtopic, schema, topics, votes

FORMAT = 6  # bumped when the saved objects or the columns they score change (2: text features per source;
# 3: speculation_score is the comment model's, the sentence maximum became sentence_speculation_score;
# 4: the engagement tables' partials; 5: with the author table's; 6: a plain pickle, not joblib's)
LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "pyarrow")
# protocol 5 writes numpy's arrays as they are; the C pickler and unpickler take a third of joblib's Python ones'
# time (120 MB of state at a million comments: 0.03-0.1 s to read against 0.1-0.4 s)
PICKLE_PROTOCOL = 5
MODELS = Path(__file__).parent / "models"
# parameters that change how fast a run is, not what it computes
_NOT_COMPARED = {"n_jobs", "weights_path"}


@dataclass
class FittedState:
    """What a run learned from the whole corpus, and where in the store it stopped.

    Attributes
    ----------
    text : TextFeatures without rows (``without_rows``)
    corpus : OfftopicCorpus without rows, grown by every import
    outliers : VoteOutliers
    decisions : moderators' current decisions the authors table was computed with (source, comment_id, action)
    tree_problems : the reply-tree problems of every article (source, article_id, file, record, problem, action)
    last_position, last_vote_row : the store's last comment position and vote event row these results hold
    fitted_by : run id of the full run that fitted ``text`` and ``outliers``
    fitted_comments, fitted_position : how many comments that run fitted on, and the store's last position then
    insights : the author and engagement tables' partials over every article (an import makes the touched
        articles' again)
    """

    text: topics.TextFeatures
    corpus: offtopic.OfftopicCorpus
    outliers: votes.VoteOutliers
    decisions: pd.DataFrame
    tree_problems: pd.DataFrame
    last_position: int | None
    last_vote_row: int | None
    fitted_by: str
    fitted_comments: int
    fitted_position: int | None
    insights: engagement.InsightPartials


def fingerprint(params, store: str) -> dict:
    """What must be equal for saved state to be reused: parameters, weights and model files, the stages' output
    columns, library versions, and the store (``store``: its URL without password) whose positions the state
    records.

    ``params`` is :class:`moderation.pipeline.Params`; the off-topic weights are compared by content (an import
    reads them from the run's own record), the shipped model files by their SHA-256.
    """
    def compared(value):
        if dataclasses.is_dataclass(value):
            return {k: compared(v) for k, v in dataclasses.asdict(value).items() if k not in _NOT_COMPARED}
        if isinstance(value, dict):
            return {k: compared(v) for k, v in value.items() if k not in _NOT_COMPARED}
        return list(value) if isinstance(value, tuple) else value

    weights = offtopic.load_weights(params.offtopic.weights_path)
    return {
        "format": FORMAT,
        "store": store,
        "params": json.loads(json.dumps(compared(params), default=str)),
        "offtopic_weights": _digest(json.dumps(weights, sort_keys=True).encode()),
        "model_files": {path.name: _digest(path.read_bytes()) for path in sorted(MODELS.iterdir())
                        if path.name.endswith((".pkl.gz", ".json"))},
        # a version whose stages write other columns must not merge its rows with these
        "outputs": _digest(json.dumps([schema.columns("scored_comments"), schema.columns("authors"),
                                       offtopic.COMPONENTS]).encode()),
        "libraries": {"python": platform.python_version(),
                      **{name: importlib.metadata.version(name) for name in LIBRARIES}},
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(version: Path, state: FittedState, params, store: str) -> None:
    """Write ``state`` and its record (:func:`fingerprint`, the run that fitted it) into the results version
    folder ``version``."""
    with open(version / catalog.STATE_FILE, "wb") as file:  # uncompressed: an import reads it back at once
        pickle.dump(state, file, protocol=PICKLE_PROTOCOL)
    record = {"fitted_by": state.fitted_by, **fingerprint(params, store)}
    (version / catalog.STATE_RECORD).write_text(json.dumps(record, indent=1) + "\n")


def load(folder: str | Path, params, store: str) -> tuple[FittedState | None, str]:
    """The fitted state of ``folder``'s current results if it was made as ``params`` would make it now, with
    ``store``.

    Returns (state, "") or (None, why not: no state, or which parameter, file or library differs).
    """
    version = catalog.current(folder)
    record_path, state_path = version / catalog.STATE_RECORD, version / catalog.STATE_FILE
    if not record_path.exists():
        return None, "the results have no fitted state (no earlier run, or one made before incremental runs)"
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as error:
        return None, f"{record_path} cannot be read ({error})"
    now = fingerprint(params, store)
    differs = _differences(record, now)
    if differs:
        return None, "the fitted state was made with other " + "; ".join(differs)
    if not state_path.exists():
        return None, f"the results have no fitted state ({state_path.name} is missing)"
    try:
        with open(state_path, "rb") as file:
            state = pickle.load(file)
    except Exception as error:  # noqa: BLE001 - any unreadable state means a full fit, said so
        return None, f"{state_path} cannot be read ({type(error).__name__}: {error})"
    if not isinstance(state, FittedState):
        return None, f"{state_path} does not hold fitted state"
    return state, ""


def _differences(record: dict, now: dict) -> list[str]:
    """Readable differences between a saved fingerprint and the current one ("parameters (votes.z)", ...)."""
    def flat(value, prefix=""):
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in flat(item, f"{prefix}{key}.").items()}
        return {prefix.rstrip("."): value}

    differs = []
    if record.get("format") != now["format"]:
        differs.append(f"state format ({record.get('format')}, now {now['format']})")
    if record.get("store") != now["store"]:
        differs.append(f"store ({record.get('store')}, now {now['store']})")
    before, after = flat(record.get("params", {})), flat(now["params"])
    changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    if changed:
        differs.append("parameters (" + ", ".join(changed) + ")")
    if record.get("offtopic_weights") != now["offtopic_weights"]:
        differs.append("off-topic weights")
    if record.get("model_files") != now["model_files"]:
        differs.append("model files")
    if record.get("outputs") != now["outputs"]:
        differs.append("output columns (another version of the stages)")
    libraries = record.get("libraries", {})
    changed = [f"{name} {libraries.get(name)} (now {version})" for name, version in now["libraries"].items()
               if libraries.get(name) != version]
    if changed:
        differs.append("library versions: " + ", ".join(changed))
    return differs
