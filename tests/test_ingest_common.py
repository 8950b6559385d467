"""Helpers shared by the format modules."""

import pandas as pd

from moderation.ingest.common import html_to_text


def test_html_to_text_keeps_paragraphs_links_and_entities():
    """Tags dropped, entities decoded, paragraphs and line breaks kept, link text kept; NA stays NA."""
    html = pd.Series([
        '<p>One\n<a href="x">link</a> &amp; more</p><p>two<br>lines</p><ul><li>a</li></ul>',
        "plain < text",
        "first<p>second, HN style",
        "&lt;img src=x onerror=alert(1)&gt; stays text",
        "<script>alert(1)</script>kept",
        None,
    ])
    assert html_to_text(html).tolist()[:5] == [
        "One link & more\n\ntwo\nlines\n\na",
        "plain < text",
        "first\n\nsecond, HN style",
        "<img src=x onerror=alert(1)> stays text",
        "kept",
    ]
    assert pd.isna(html_to_text(html)[5])


import json  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from moderation.ingest.common import (  # noqa: E402
    MAX_JSON_DEPTH, booleans, counts, identifiers, parse_json, texts,
)

ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)


def check(function, values):
    problems = []
    series = pd.Series(values, dtype=object)
    return function(series, pd.Series([f"line {i}" for i in range(len(values))]), "col", "f.csv", problems), problems


def test_counts_take_whole_numbers_only_and_report_the_rest():
    """3, "4", 5.0 and "6.0" are counts; abc, 1.5, 2.5, 1e30, true and a list are reported, never rounded."""
    out, problems = check(counts, [3, "4", 5.0, "6.0", "abc", 1.5, "2.5", 1e30, True, [1], None])
    assert out.tolist() == [3, 4, 5, 6] + [pd.NA] * 7
    assert len(problems) == 6 and all(p.action == "kept" and p.file == "f.csv" for p in problems)
    assert {p.record for p in problems} == {f"line {i}" for i in range(4, 10)}


def test_identifiers_booleans_and_texts():
    """Ids lose a ".0" and refuse lists; booleans take true/false words; text is never stripped."""
    ids, problems = check(identifiers, [12, 12.0, "a b", " ", [1], 1.5, None])
    assert ids.tolist()[:3] == ["12", "12", "a b"] and ids.iloc[3:].isna().all()
    assert len(problems) == 2
    flags, problems = check(booleans, [True, "false", "Yes", "0", "maybe", None])
    assert flags.tolist() == [True, False, True, False, pd.NA, pd.NA] and len(problems) == 1
    names, problems = check(texts, [" =1+1", "=1+1", 5, {"a": 1}])
    assert names.tolist()[:3] == [" =1+1", "=1+1", "5"] and pd.isna(names.iloc[3]) and len(problems) == 1


def test_parse_json_limits_depth_and_repairs_surrogates():
    """A value nested past the limit is refused with a clear message; an unpaired surrogate becomes U+FFFD."""
    import pytest

    with pytest.raises(ValueError, match=f"nested deeper than {MAX_JSON_DEPTH}"):
        parse_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_JSON_DEPTH}"):
        parse_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)[1] is False
    value, repaired = parse_json('{"a\\ud800": ["x\\udfff", "\\ud83d\\ude00"]}')
    assert repaired and value == {"a\ufffd": ["x\ufffd", "\U0001F600"]}


@settings(max_examples=150, deadline=None)
@given(st.lists(ANY_VALUE, max_size=6))
def test_value_checks_never_raise_and_report_every_emptied_value(values):
    """Any JSON values: each check returns one value per input and reports exactly the values it emptied."""
    for function in (counts, identifiers, booleans, texts):
        out, problems = check(function, values)
        assert len(out) == len(values)
        given_values = [v for v in values if not (v is None or (isinstance(v, float) and v != v))]
        emptied = sum(1 for v, o in zip(values, out) if v in given_values and pd.isna(o)) if values else 0
        reported = sum(int(p.problem.rsplit("(", 1)[1].split()[0]) if p.problem.endswith("records)") else 1
                       for p in problems)
        blank = sum(1 for v in values if isinstance(v, str) and not v.strip()) if function is identifiers else 0
        assert reported == emptied - blank


@settings(max_examples=25, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["comment_id", "article_id", "upvotes", "created_at", "author",
                                                 "text", "status", "reactions", "parent_id"]), ANY_VALUE,
                                max_size=7), max_size=5))
def test_any_canonical_json_lines_store_and_load(tmp_path_factory, records):
    """Any JSON Lines under canonical names gives frames the store takes and gives back, or an IngestError."""
    from moderation import pipeline
    from moderation.ingest import IngestError
    from moderation.store import Store

    folder = tmp_path_factory.mktemp("jsonl")
    path = folder / "comments.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"comment_id": "0", "article_id": "a"}] + records) + "\n")
    store = Store(f"sqlite:///{folder / 'store.db'}")
    try:
        pipeline.ingest_paths(store, [path], format="canonical")
    except IngestError:
        return
    assert len(store.load()[1]) >= 1
