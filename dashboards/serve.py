"""The Streamlit server with the results read while it starts: ``python dashboards/serve.py run APP [OPTIONS]``.

``python -m moderation dashboard`` becomes this instead of ``streamlit run``. In a background thread it reads
the results folder (``$MODERATION_RESULTS``) and computes the landing page's queue into the caches the pages
use (``_data.prepare_landing``) while it serves: the first moderator to open the dashboard waits only for what
the server's start has not done yet. A folder that cannot be read is left for the page to report.
"""

import logging
import sys
import threading
import time
from pathlib import Path

from streamlit.runtime import Runtime
from streamlit.web import cli

DASHBOARDS = Path(__file__).resolve().parent
# as `streamlit run` does for the app (its folder first), and the repository's `moderation` package
sys.path[:0] = [str(DASHBOARDS), str(DASHBOARDS.parent)]
_LOG = logging.getLogger(__name__)
READER = "read results"


class _ReaderHasNoScriptRun(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for the reader thread: it fills the pages' caches
    outside any script run on purpose, and a line per cached call at every start would only alarm whoever reads
    the server's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != READER


def read_results() -> None:
    """While the server starts, read the results folder into its cache (a resource cache, which the server does
    not own); once the server runs (the other caches belong to it), compute what the landing page shows first,
    then import what the Overview draws its charts with and compute its figures."""
    try:
        import _data

        folder, store_url = _data.settings([])
        _data.results(folder, _data.version(folder))
        while not Runtime.exists():
            if not threading.main_thread().is_alive():  # the server stopped before it started
                return
            time.sleep(0.05)
        _data.prepare_landing(folder, store_url)
        import plotly.express  # noqa: F401

        _data.prepare_overview(folder)
    except Exception:  # noqa: BLE001 - the page reads the folder again and says what is wrong
        _LOG.info("reading the results ahead failed; the first page will report it", exc_info=True)


if __name__ == "__main__":
    # not a daemon: one still inside pyarrow when the interpreter exits deadlocks the exit (see Table.read_ahead)
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_ReaderHasNoScriptRun())
    threading.Thread(target=read_results, name=READER).start()
    sys.argv[0] = "streamlit"
    sys.exit(cli.main())
