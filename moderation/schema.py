"""The one place where the tables' column names and types are defined.

Every loader returns frames that :func:`conform` has brought to these types, and
every stage reads and adds columns named here. Identifiers are strings and are
unique only within a ``source``: tables are keyed by ``ARTICLE_KEY`` and
``COMMENT_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.config import ValidationDepth, config_context


TIMESTAMP = "datetime64[us, UTC]"
ARTICLE_KEY = ["source", "article_id"]
COMMENT_KEY = ["source", "comment_id"]
COMMENT_STATUSES = ("published", "rejected", "deleted", "spam", "pending")
# columns a loader may add to name each row's file and record ("line 12") in problem reports; never stored
FILE = "_file"
RECORD = "_record"
# where each comment was read from (the file as given, its record "line 12"): loaded and stored comments keep
# these, so a problem found later over the whole store (a reply whose parent is nowhere) names file and line
INPUT_FILE = "input_file"
INPUT_RECORD = "input_record"


# The tables' schemas are pandera objects rather than ``pa.DataFrameModel`` classes: building a model's schema
# imports every dataframe library pandera can annotate (Dask's typing module: 0.6 s of the dashboard's cold start)
_KEY = {"str_length": {"min_value": 1}}  # an identifier is never empty
_FLOAT = {"nullable": True}  # NaN/NA where a measure is undefined (no votes, no text)
_TIME = pd.DatetimeTZDtype("us", "UTC")
_INT = pd.Int64Dtype


def _column(dtype, nullable: bool = False, required: bool = True, str_length: dict | None = None, ge=None, le=None,
            isin: list | None = None) -> pa.Column:
    """A column of ``dtype`` with the checks ``pa.Field`` names so (``ge``: at least, ``le``: at most)."""
    checks = [*([pa.Check.str_length(**str_length)] if str_length else []),
              *([pa.Check.ge(ge)] if ge is not None else []), *([pa.Check.le(le)] if le is not None else []),
              *([pa.Check.isin(isin)] if isin is not None else [])]
    return pa.Column(dtype, checks=checks, nullable=nullable, required=required)


Articles = pa.DataFrameSchema(
    {
        "article_id": _column(str, **_KEY),
        "source": _column(str, **_KEY),
        "title": _column(str, nullable=True),
        "text": _column(str, nullable=True),
        "published_at": _column(_TIME, nullable=True),
        "url": _column(str, nullable=True),
        "author": _column(str, nullable=True),
        "section": _column(str, nullable=True),
        "masked_share": _column(float, nullable=True, ge=0, le=1),
    },
    strict=False,  # a source's extra columns pass through
    unique=["source", "article_id"], name="Articles", description="One row per article (the discussion's subject).",
)

Comments = pa.DataFrameSchema(
    {
        "comment_id": _column(str, **_KEY),
        "article_id": _column(str, **_KEY),
        "parent_id": _column(str, nullable=True),
        "author": _column(str, nullable=True),
        "created_at": _column(_TIME, nullable=True),
        "text": _column(str, nullable=True),
        "upvotes": _column(_INT, nullable=True, ge=0),
        "downvotes": _column(_INT, nullable=True, ge=0),
        "score": _column(_INT, nullable=True),
        "reactions": _column(object, nullable=True),
        "status": _column(str, nullable=True, isin=list(COMMENT_STATUSES)),
        "source": _column(str, **_KEY),
        "parent_inferred": _column(bool),
        "thread_id": _column(str, nullable=True),
        "depth": _column(_INT, nullable=True, ge=0),
        "position": _column(_INT, nullable=True, ge=0),
    },
    strict=False, unique=["source", "comment_id"], name="Comments",
    description="One row per comment, in the order the source lists them (``position``).",
)

VoteEvents = pa.DataFrameSchema(
    {
        "source": _column(str),
        "event_id": _column(str, nullable=True),
        "article_id": _column(str),
        "comment_id": _column(str),
        "vote": _column(str, isin=["up", "down"]),
        "voted_at": _column(_TIME),
    },
    strict=False, name="VoteEvents",
    description="Individual votes with their time, where a source records them (Stack Exchange).",
)

ScoredComments = pa.DataFrameSchema({
    **Comments.columns,
    "vote_total": _column(_INT, nullable=True),
    "vote_net": _column(_INT, nullable=True),
    "upvote_ratio": _column(pd.Float64Dtype, **_FLOAT),
    "wilson_lower": _column(pd.Float64Dtype, **_FLOAT),
    "wilson_lower_down": _column(pd.Float64Dtype, **_FLOAT),
    "controversy": _column(pd.Float64Dtype, **_FLOAT),
    "is_controversial": _column(bool),
    "vote_total_percentile": _column(pd.Float64Dtype, **_FLOAT),
    "vote_net_percentile": _column(pd.Float64Dtype, **_FLOAT),
    "vote_total_robust_z": _column(pd.Float64Dtype, **_FLOAT),
    "vote_net_robust_z": _column(pd.Float64Dtype, **_FLOAT),
    "is_heavily_up": _column(bool),
    "is_heavily_down": _column(bool),
    "vote_rank_up": _column(pd.Float64Dtype, **_FLOAT),
    "vote_rank_down": _column(pd.Float64Dtype, **_FLOAT),
    "vote_anomaly": _column(pd.Float64Dtype, **_FLOAT),
    "vote_anomaly_features": _column(str, nullable=True),
    "vote_burst": _column(bool),
    "vote_burst_reason": _column(str, nullable=True),
    "votes_per_day": _column(pd.Float64Dtype, **_FLOAT),
    "vote_peak": _column(_INT, nullable=True),
    "is_vote_anomaly": _column(bool),
    "vote_flag": _column(str, nullable=True),
    "vote_reason": _column(str, nullable=True),
    **{name: _column(float, **_FLOAT) for name in (
        "sim_article", "sim_parent", "sim_discussion", "topic_article", "topic_discussion", "novelty",
        "sim_article_relative", "sim_article_lift", "log_tokens", "lsa_article", "lsa_parent", "lsa_discussion",
        "lsa_article_relative")},
    "is_reply": _column(float, ge=0, le=1),
    "log_thread_size": _column(float, ge=0),
    "log_discussion_size": _column(float, ge=0),
    "log_article_terms": _column(float, ge=0),
    "second_person": _column(float, ge=0),
    "first_person": _column(float, ge=0),
    **{name: _column(float, ge=0, le=1) for name in (
        "has_link", "repeated_text", "is_question", "addresses_poster", "agreement", "article_has_text")},
    **{name: _column(float, **_FLOAT) for name in (
        "sim_article_with_text", "sim_parent_with_text", "sim_discussion_with_text", "novelty_with_text",
        "sim_article_relative_with_text", "sim_article_lift_with_text", "log_tokens_with_text")},
    "parent_sim_article": _column(float, ge=0, le=1),
    "root_sim_article": _column(float, ge=0, le=1),
    **{name: _column(float, **_FLOAT) for name in (
        "sim_parent_minus_discussion", "sim_discussion_relative", "sim_parent_relative", "novelty_relative",
        "lsa_discussion_relative")},
    **{name: _column(float, ge=0, le=1) for name in ("sim_discussion_rank", "sim_article_rank", "lsa_discussion_rank")},
    "language": _column(str, nullable=True),
    "offtopic_score": _column(float, nullable=True, ge=0, le=1),
    "is_offtopic": _column(bool),
    "topic_id": _column(_INT, nullable=True),
    "topic_terms": _column(str, nullable=True),
    "sentence_speculation_score": _column(float, nullable=True, ge=0, le=1),
    "speculative_sentences": _column(int, ge=0),
    "speculation_cues": _column(object, nullable=True),
    "sentence_conjecture_score": _column(float, nullable=True, ge=0, le=1),
    "speculation_score": _column(float, nullable=True, ge=0, le=1),
    "is_speculative": _column(bool),
    "offtopic_speculation_score": _column(float, nullable=True, ge=0, le=1),
    "is_offtopic_speculation": _column(bool),
    "in_queue_relative": _column(bool),
    "offtopic_reason": _column(str, nullable=True),
    # queues.readable of the text, so that the dashboard need not read every text (folders written before it
    # lack it: the dashboard then asks the texts)
    "has_readable_text": _column(bool, required=False),
}, strict=False, unique=Comments.unique, name="ScoredComments", description=(
    "``comments.parquet``: the canonical comments plus every column the vote and off-topic stages add.\n\n"
    "Types are the ones the stages write (nullable ``Float64``/``Int64`` where the vote stage keeps NA, NumPy floats "
    "from the text stages)."))

Authors = pa.DataFrameSchema(
    {
        "source": _column(str),
        "author": _column(str),
        "author_class": _column(str, isin=["named", "anonymous", "missing"]),
        "is_staff": _column(bool),
        **{name: _column(int, ge=0) for name in (
            "comments", "articles", "threads_started", "replies_made", "replies_received", "distinct_repliers")},
        "upvotes_received": _column(_INT, nullable=True),
        "downvotes_received": _column(_INT, nullable=True),
        **{name: _column(pd.Float64Dtype, **_FLOAT) for name in (
            "net_score_received", "mean_wilson_lower", "share_heavily_up", "share_heavily_down",
            "share_controversial", "share_offtopic", "share_speculative", "share_rejected", "share_deleted",
            "share_removed")},
        "first_seen": _column(_TIME, nullable=True),
        "last_seen": _column(_TIME, nullable=True),
        "active_days": _column(int, ge=0),
        "median_reply_latency": _column("timedelta64[us]", nullable=True),
    },
    strict=False, unique=["source", "author"], name="Authors",
    description="``authors.parquet``: one row per (source, author), as ``moderation.engagement.author_table`` writes "
                "it.",
)

MODELS = {
    "articles": Articles, "comments": Comments, "vote_events": VoteEvents,
    "scored_comments": ScoredComments, "authors": Authors,
}

_STRING_COLUMNS = {
    "article_id", "source", "title", "text", "url", "author", "section",
    "comment_id", "parent_id", "status", "thread_id", "vote", "event_id",
}
_TIME_COLUMNS = {"published_at", "created_at", "voted_at"}
_INT_COLUMNS = {"upvotes", "downvotes", "score", "depth", "position"}
_DEFAULTS = {"parent_inferred": False}
# the dtypes :func:`conform` leaves as they are
_TYPED = {
    **{name: (pd.StringDtype("pyarrow", na_value=float("nan")),) for name in _STRING_COLUMNS},
    **{name: (pd.DatetimeTZDtype("us", "UTC"),) for name in _TIME_COLUMNS},
    **{name: (pd.Int64Dtype(),) for name in _INT_COLUMNS},
}


def columns(table: str) -> list[str]:
    """Column names of ``table`` (a key of ``MODELS``: "articles", "comments", "vote_events", "scored_comments",
    "authors"), in order."""
    return list(MODELS[table].columns)


def to_utc(values) -> pd.Series:
    """Parse timestamps to ``datetime64[us, UTC]``; naive values are taken as UTC, unparseable ones become NaT."""
    values = pd.Series(values)
    if pd.api.types.is_string_dtype(values) and values.dtype != object:
        # a text column (CSV): ISO 8601, what exports write, in one fast pass; the rest in every other layout
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
        retry = (parsed.isna() & values.notna()).to_numpy()
        if retry.any():
            parsed = parsed.astype(object)
            parsed[retry] = pd.to_datetime(values[retry], utc=True, errors="coerce", format="mixed")
            parsed = pd.to_datetime(parsed, utc=True)
    else:
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    parsed = parsed.astype(TIMESTAMP)
    # ISO 8601 allows years before 1 ("-1024-03-01"), which no store or datetime can hold: not a time
    return parsed.where(parsed.isna() | (parsed.dt.year >= 1))


def to_int(values) -> pd.Series:
    """Counts as nullable integers; text, lists and values beyond int64 become NA."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64")
    return numbers.where(numbers.abs() < 2.0**63).round().astype("Int64")


def empty(table: str) -> pd.DataFrame:
    """A zero-row frame of ``table`` with canonical dtypes."""
    return conform(pd.DataFrame({name: [] for name in columns(table)}), table)


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``frame`` with every canonical column of ``table`` present and typed.

    Missing optional columns are added as NA (never a fake 0); extra columns are
    kept after the canonical ones. Values that cannot take the type become NA;
    :func:`validate` reports the rows whose required values are missing.
    """
    out = frame.copy(deep=False)  # columns are replaced, never changed in place
    for name in columns(table):
        if name not in out and name in _TYPED:
            out[name] = pd.Series(None, index=out.index, dtype=_TYPED[name][0])  # empty, made in its type at once
        elif name not in out:
            out[name] = _DEFAULTS.get(name, pd.NA)
        if out[name].dtype in _TYPED.get(name, ()):
            continue  # already of its type (a checked loader's column): converting again would only copy it
        if name in _STRING_COLUMNS:
            out[name] = out[name].astype("str").where(out[name].notna(), None).astype("str")
        elif name in _TIME_COLUMNS:
            out[name] = to_utc(out[name]).set_axis(out.index)
        elif name in _INT_COLUMNS:
            out[name] = to_int(out[name]).set_axis(out.index)
        elif name == "masked_share":
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
        elif name == "parent_inferred":
            out[name] = out[name].fillna(False).astype(bool)
        elif name == "reactions":
            out[name] = out[name].astype(object)
    ordered = columns(table) + [c for c in out.columns if c not in columns(table)]
    return out[ordered]


def _shorten(value, limit: int = 80) -> str:
    """``repr`` of a bad value, cut so that one huge cell cannot flood the report."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Problem:
    """Something wrong with one record (or a whole file) of the input.

    ``record`` names the line number or the record's id; ``action`` says what
    was done about it ("skipped", "kept", "repaired").
    """

    file: str
    record: str
    problem: str
    action: str = "skipped"

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.problem} ({self.action})"


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """The problems as a frame with columns file, record, problem, action."""
    return pd.DataFrame([vars(p) for p in problems], columns=["file", "record", "problem", "action"])


def _failure(check: str) -> str:
    """A pandera check name in words ("greater_than_or_equal_to(0)" -> "is negative")."""
    return {"greater_than_or_equal_to(0)": "is negative", "isin": "is not an accepted value"}.get(
        check.split("(")[0] if check.startswith("isin") else check, f"fails {check}")


def record_label(id_column: str | None, value, label) -> str:
    """How a problem names a row: ``"comment_id abc (line 12)"``, ``"line 12"`` without an id, ``"comment_id abc"``."""
    has_id = id_column is not None and value is not None and not pd.isna(value)
    has_label = label is not None and not pd.isna(label)
    if has_id and has_label:
        return f"{id_column} {value} ({label})"
    if has_id:
        return f"{id_column} {value}"
    return str(label) if has_label else f"{id_column or 'row'} (none)"


def duplicate(id_column: str) -> str:
    """The problem of a record whose key an earlier record (of this piece, an earlier piece or file) had."""
    return f"duplicate {id_column}: an earlier record has the same id"


def validate(frame: pd.DataFrame, table: str, file: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate a conformed frame; report each failing value, empty it where it may be empty, else drop the row.

    Uses pandera's lazy validation so that every failing row is reported, not
    only the first. A bad value in a column that may be empty (a negative
    vote count, an unknown status) is reported and left empty, the record
    kept ("kept"); a missing or bad id, or a repeated key, skips the record.
    Rows are named by their id and, where the frame has them, by the
    ``FILE`` and ``RECORD`` columns a loader adds.
    """
    if frame.empty:  # no value can fail, and only failures of a row are reported: pandera's call alone costs 10-30 ms
        return frame.copy(deep=False), []
    key = {"articles": ARTICLE_KEY, "comments": COMMENT_KEY}.get(table)
    id_column = key[1] if key else None
    model = MODELS[table]
    frame = frame.copy(deep=False)  # emptied values must not reach the caller's frame
    problems: list[Problem] = []

    def where(index) -> tuple[str, str]:
        row_file = frame.at[index, FILE] if FILE in frame else file
        label = frame.at[index, RECORD] if RECORD in frame else None
        value = frame.at[index, id_column] if id_column else None
        if id_column is None and (label is None or pd.isna(label)):
            label = f"row {index}"
        return (file if row_file is None or pd.isna(row_file) else str(row_file)), record_label(id_column, value,
                                                                                                  label)

    if key:
        duplicated = frame.duplicated(key, keep="first") & frame[key].notna().all(axis=1)
        for index in frame.index[duplicated]:
            problems.append(Problem(*where(index), duplicate(id_column)))
        frame = frame[~duplicated]
    for _ in range(2):  # emptied values pass the second time; what is left is in required columns
        try:
            model.validate(frame, lazy=True)
            return frame, problems
        except pa.errors.SchemaErrors as errors:
            cases = errors.failure_cases.dropna(subset=["index"])
        emptied = False
        for (index, column), row_cases in cases.groupby(["index", "column"], sort=False):
            if column in model.columns and model.columns[column].nullable:
                failures = "; ".join(_failure(c.check) for c in row_cases.itertuples())
                value = _shorten(row_cases["failure_case"].iloc[0])
                problems.append(Problem(*where(index), f"{column} {value} {failures}; left empty", "kept"))
                frame.loc[index, column] = None
                emptied = True
        if not emptied:
            break
    skipped = []
    for index, row_cases in cases.groupby("index", sort=False):
        failures = "; ".join(f"{c.column} is missing" if c.check == "not_nullable" else
                             f"{c.column} {_failure(c.check)} (value {_shorten(c.failure_case)})"
                             for c in row_cases.itertuples())
        problems.append(Problem(*where(index), f"invalid record: {failures}"))
        skipped.append(index)
    return frame.drop(index=skipped), problems

class OutputError(ValueError):
    """A stage's output (or a results file) lacks a column its schema requires, or has it with another type."""


def check_output(frame: pd.DataFrame, table: str, file: str, data: bool = True, typed: bool = False) -> None:
    """Check a whole output table against its schema; ``data=False`` checks only columns and types (fast, for reading).

    ``typed=True`` says ``frame``'s dtypes are meaningful even without rows (the empty frame of a
    non-empty file's schema, ``moderation.catalog.Table.empty``): they are checked too.

    Raises
    ------
    OutputError
        Naming ``file`` and each missing or mistyped column (and, with ``data``, the first failing check's values).
    """
    if frame.empty and not typed:  # nothing to score: the stages' empty columns carry no dtype, only names count
        missing = [name for name in columns(table) if name not in frame]
        if missing:
            raise OutputError(f"{file}: " + "; ".join(f"missing column {name}" for name in missing))
        return
    depth = ValidationDepth.SCHEMA_AND_DATA if data else ValidationDepth.SCHEMA_ONLY
    try:
        with config_context(validation_depth=depth):
            # in place: the models coerce nothing, and a copy of a million scored comments for the check took
            # 0.6 GB at the run's peak
            MODELS[table].validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as errors:
        raise OutputError(f"{file}: " + "; ".join(_describe(errors.failure_cases, frame))) from None


def _describe(cases: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """One phrase per failed check: "missing column x", "column y is str, not Float64", "column z fails ..."."""
    found = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        if check == "column_in_dataframe":
            found += [f"missing column {name}" for name in group["failure_case"]]
        elif str(check).startswith("dtype("):
            found.append(f"column {column} is {frame[column].dtype}, not {str(check)[7:-2]}")
        else:
            example = _shorten(group["failure_case"].iloc[0])
            found.append(f"column {column} fails {check} ({len(group)} rows, e.g. {example})")
    return found
