"""Pause a real `python -m moderation run` at a named point, so a test can SIGKILL it there (tests only).

Python imports this module at start-up when its folder is on PYTHONPATH (see
tests/test_catalog.py). With ``MODERATION_PART_ROWS=N`` comments.parquet is written in parts of N
comments. With ``MODERATION_KILL_POINT=NAME`` it wraps the
function reached at that point; on reaching it the process writes
``$MODERATION_KILL_READY`` and sleeps until it is killed. Points, in run order:

- ``ingesting``: comments are inserted into the corpus file, the transaction not yet committed
- ``ingested``: the first input is stored (its transaction committed)
- ``stages``: the analysis stages are about to start
- ``comments_half_written``: half of the bytes of a part of comments.parquet are on disk
- ``between_files``: articles and comments are written, authors.parquet not yet
- ``before_rename``: every file is written and flushed, the .partial folder not yet renamed
- ``before_swap``: the version folder is complete, ``current`` still points at the previous one
- ``after_swap``: ``current`` points at the new version, the run is not yet marked done
"""

import os

POINT = os.environ.get("MODERATION_KILL_POINT")


def _pause() -> None:
    import time

    with open(os.environ["MODERATION_KILL_READY"], "w") as ready:
        ready.write(POINT)
    while True:
        time.sleep(60)


def _install() -> None:
    import io

    import pandas as pd
    import pyarrow.parquet as pq

    from moderation import catalog, pipeline
    from moderation.store import Store

    def after(owner, name):
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            result = original(*args, **kwargs)
            _pause()
            return result

        setattr(owner, name, wrapped)

    def before(owner, name, when=lambda *args, **kwargs: True):
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            if when(*args, **kwargs):
                _pause()
            return original(*args, **kwargs)

        setattr(owner, name, wrapped)

    write_table = pq.write_table

    def half_written(table, where, *args, **kwargs):
        # comments are written by pyarrow, from Arrow (an incremental run) or from pandas (which calls it too)
        if f"/{catalog.COMMENTS}/" not in str(where):  # a part of the comments folder
            return write_table(table, where, *args, **kwargs)
        buffer = io.BytesIO()
        write_table(table, buffer, *args, **kwargs)
        data = buffer.getvalue()
        with open(where, "wb") as handle:
            handle.write(data[: len(data) // 2])
            handle.flush()
            os.fsync(handle.fileno())
        _pause()

    if POINT == "ingesting":
        from moderation import corpus

        after_insert = corpus._insert

        def _inserted(connection, table, *args, **kwargs):
            after_insert(connection, table, *args, **kwargs)
            if table == "comments":
                _pause()

        corpus._insert = _inserted
    elif POINT == "ingested":
        after(Store, "ingest")
    elif POINT == "stages":
        before(pipeline, "run_stages")
    elif POINT == "comments_half_written":
        pq.write_table = half_written
    elif POINT == "between_files":
        before(pd.DataFrame, "to_parquet", lambda frame, path, *a, **k: str(path).endswith("authors.parquet"))
    elif POINT == "before_rename":
        before(catalog.os, "rename", lambda source, target: str(source).endswith(catalog.PARTIAL))
    elif POINT == "before_swap":
        before(catalog, "_swap_in")
    elif POINT == "after_swap":
        before(Store, "finish_run", lambda store, run_id, status, *a, **k: status == "done")
    else:
        raise ValueError(f"unknown kill point {POINT!r}")


if os.environ.get("MODERATION_PART_ROWS"):  # small parts of comments.parquet, so a small import keeps some
    from moderation import catalog as _catalog

    _catalog.PART_ROWS = int(os.environ["MODERATION_PART_ROWS"])
if POINT:
    _install()
