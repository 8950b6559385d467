"""Hypothesis strategies and the crash check shared by the JSON format tests."""

import json
import tempfile
from pathlib import Path

from hypothesis import strategies as st

from moderation.ingest import IngestError, finish
from moderation.store import Store


def json_values(keys: list[str], words: list[str]):
    """Nested JSON made of the format's own ``keys`` and typical ``words`` plus arbitrary scalars."""
    scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=12) | st.sampled_from(words + ["\ud800", "0202-05-01", "1.5", "abc"]))
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(keys), inner, max_size=6),
        max_leaves=12,
    )


def assert_parses_or_refuses(module, records: list, as_lines: bool) -> None:
    """``module.parse`` gives valid frames for ``records`` (an array or JSON lines) or raises IngestError only.

    The frames also go through the store and back, which is where a bad date or number used to end a run.
    """
    text = "\n".join(map(json.dumps, records)) if as_lines else json.dumps(records)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.json"
        path.write_text(text)
        try:
            parsed = finish(module.parse(path), str(path))
        except IngestError:
            return
        assert parsed.comments["comment_id"].notna().all()
        store = Store(f"sqlite:///{Path(folder) / 'store.db'}")
        store.ingest(parsed)
        assert len(store.load()[1]) == len(parsed.comments)
        store.engine.dispose()
