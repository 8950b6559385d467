"""A real server started by `python -m moderation dashboard`: an unexpected failure shows visitors no details."""

import os
import signal
import subprocess
import sys

import pytest

from tests.dashboard_fixtures import write_results
from tests.e2e.serving import CHROMIUM, ROOT, free_port, launch_chromium, wait_until_serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (/usr/bin/chromium)"),
]
# a store nobody serves: every page fails when it reads decisions, with the URL in the exception's message
UNREACHABLE = "postgresql+psycopg://visitor-must-not-see-this@127.0.0.1:1/none"


def test_an_unexpected_failure_shows_no_traceback(tmp_path):
    """The page shows Streamlit's redacted notice: no traceback, exception type or message (the log has them)."""
    from playwright.sync_api import sync_playwright

    folder = write_results(tmp_path / "results", n_comments=20, n_articles=2)
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "MODERATION_STORE": UNREACHABLE, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "-m", "moderation", "dashboard", "--results", str(folder),
                                   "--port", str(port)], cwd=tmp_path, env=env, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server, log)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(f"{base}/overview")
            notice = page.locator("[data-testid='stException']")
            notice.first.wait_for(timeout=60_000)
            shown = page.inner_text("body")
            browser.close()
        assert "The original error message is redacted" in shown
        assert "visitor-must-not-see-this" not in shown and "Traceback" not in shown
        assert "OperationalError" not in shown
        assert "Traceback" in log.read_text() and "OperationalError" in log.read_text()  # the log has them
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the command and the Streamlit server it started
        server.wait(timeout=20)
