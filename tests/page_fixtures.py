"""Article pages built in code, and the reply inference the page reader had before it was made sparse.

Shared by ``tests/test_ingest_page.py`` and ``benchmarks/bench_page.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer


def render_page(
    title: str, body: str, comments: Iterable[tuple[str, str, str, list[int | str]]], stated: int | None = None,
    published: str = "Jan 02, 2020 09:05 AM",
) -> str:
    """Page text in the seed's layout; ``comments`` are (author, date such as "Jan 02, 2020", text, reaction counts).

    ``stated`` is the ``Comments (N)`` count (default: the number of comments).
    """
    comments = list(comments)
    count = len(comments) if stated is None else stated
    parts = [title, "", f"Published {published}", "", body, "", f"Comments ({count})"]
    for author, date, text, reactions in comments:
        parts += ["Avatar", author, date, "", text, ""] + [f"({count})" for count in reactions]
    return "\n".join(parts) + "\n"


def dense_infer_parents(comments: pd.DataFrame, recency_bonus: float) -> list[str | None]:
    """Parents as the page reader inferred them with a dense n x n similarity matrix (the behaviour to keep)."""
    dates = comments["created_at"]
    thread = np.cumsum((dates < dates.shift()).fillna(False).to_numpy())
    texts = comments["text"].map(lambda t: re.sub(r"\S*\*\*\S*", " ", t)).tolist()
    try:
        matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
        similarity = (matrix @ matrix.T).toarray()
    except ValueError:
        similarity = np.zeros((len(texts), len(texts)))
    ids, parents = comments["comment_id"].tolist(), []
    for k in range(len(comments)):
        candidates = [j for j in range(k) if thread[j] == thread[k]]
        if not candidates:
            parents.append(None)
            continue
        score = [similarity[k, j] + recency_bonus / (k - j) for j in candidates]
        parents.append(ids[candidates[int(np.argmax(score))]])
    return parents
