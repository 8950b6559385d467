"""End to end, served beyond 127.0.0.1: `python -m moderation dashboard --address 127.0.0.2` in real chromium.

127.0.0.2 is not 127.0.0.1, so the dashboard requires sign-in, yet the test never leaves this machine. The
sign-in form comes first; a viewer's decision attempt records nothing; a moderator's records one decision
under their name. Screenshots go to ``test-artifacts/``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from moderation.store import Store
from tests.dashboard_fixtures import write_results
from tests.e2e.serving import CHROMIUM, ROOT, free_port, launch_chromium, wait_until_serving
from tests.e2e.test_browser import keys_ready, settle, shot

ADDRESS = "127.0.0.2"
PASSWORD = "correct horse battery"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (/usr/bin/chromium): "
                       "apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def team_log(tmp_path_factory) -> Path:
    """Where the team server's output goes."""
    return tmp_path_factory.mktemp("log") / "dashboard.log"


@pytest.fixture(scope="module")
def team_server(tmp_path_factory, team_log):
    """The dashboard on 127.0.0.2 over a team store (ann moderates, vera views); yields (base URL, store URL)."""
    folder = write_results(tmp_path_factory.mktemp("results"), n_comments=40, n_articles=2)
    store_url = f"sqlite:///{folder / 'moderation.db'}"
    store = Store(store_url)
    store.add_user("ann", "moderator", PASSWORD)
    store.add_user("vera", "viewer", PASSWORD)
    port = int(os.environ.get("MODERATION_E2E_PORT") or free_port())
    log = open(team_log, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "dashboard", "--results", str(folder), "--store", store_url,
         "--address", ADDRESS, "--port", str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://{ADDRESS}:{port}"
    try:
        wait_until_serving(base, process, log.name)
        yield base, store_url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def sign_in(page, base: str, name: str) -> None:
    """Open /review: the sign-in form comes first, with nothing else; sign in as ``name``; the card shows."""
    page.goto(f"{base}/review")
    page.get_by_role("heading", name="Comment moderation: sign in").wait_for(timeout=60_000)
    assert page.locator(".st-key-review_card").count() == 0  # nothing before sign-in
    assert page.locator("[data-testid='stDataFrame']").count() == 0
    page.get_by_label("User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=60_000)
    page.locator(".st-key-review_card").wait_for(timeout=60_000)
    settle(page)
    page.get_by_role("heading", name="Review", exact=True).click()  # the focus leaves any text box
    keys_ready(page)


def test_sign_in_first_viewer_records_nothing_moderator_records_one(team_server, browser):
    """Served on 127.0.0.2: form first; vera (viewer) presses a and r on /review and nothing is recorded;
    ann (moderator) presses a and one approve is recorded under her name."""
    base, store_url = team_server
    viewer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        viewer.goto(base)
        viewer.get_by_role("heading", name="Comment moderation: sign in").wait_for(timeout=60_000)
        shot(viewer, "e2e_sign_in_form.png")
        sign_in(viewer, base, "vera")
        viewer.get_by_text("You are signed in as a viewer").first.wait_for(timeout=30_000)
        assert viewer.get_by_role("button", name="Approve (a)").is_disabled()
        for key in ("a", "r", "u"):
            viewer.keyboard.press(key)
            settle(viewer)
        shot(viewer, "e2e_viewer.png")
        assert Store(store_url).decisions().empty and Store(store_url).claims().empty
    finally:
        shot(viewer, "e2e_viewer_last.png")
        viewer.close()

    moderator = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        sign_in(moderator, base, "ann")
        claimed = Store(store_url).claims()
        assert claimed["moderator"].tolist() == ["ann"]  # opening the card claimed it
        moderator.keyboard.press("a")
        moderator.get_by_text("Recorded approve.").wait_for(timeout=30_000)
        shot(moderator, "e2e_moderator.png")
        decided = Store(store_url).decisions()
        assert decided[["comment_id", "action", "moderator"]].values.tolist() == [
            [claimed["comment_id"].iloc[0], "approve", "ann"]]
        moderator.get_by_role("button", name="Sign out").click()
        moderator.get_by_role("heading", name="Comment moderation: sign in").wait_for(timeout=30_000)
    finally:
        shot(moderator, "e2e_moderator_last.png")
        moderator.close()
    events = Store(store_url).events()["event"].tolist()
    assert events.count("sign_in") == 2 and "sign_out" in events and "claim" in events


def test_sign_in_survives_a_reload_and_a_new_tab_until_sign_out(team_server, browser):
    """ann signs in; a reload and a new tab of the same browser are still hers, with no form; after "Sign out"
    a reload asks again, and the ended token, sent by hand, signs nobody in."""
    base, store_url = team_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        sign_in(page, base, "ann")
        page.reload()
        page.get_by_text("Signed in as ann").wait_for(timeout=60_000)
        page.locator(".st-key-review_card").wait_for(timeout=60_000)
        assert page.get_by_role("heading", name="Comment moderation: sign in").count() == 0
        other = context.new_page()
        other.goto(f"{base}/history")
        other.get_by_text("Signed in as ann").wait_for(timeout=60_000)
        other.close()
        cookie = {c["name"]: c for c in context.cookies()}["moderation_session"]
        assert cookie["sameSite"] == "Strict" and cookie["value"]
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Comment moderation: sign in").wait_for(timeout=30_000)
        settle(page)
        page.reload()
        page.get_by_role("heading", name="Comment moderation: sign in").wait_for(timeout=60_000)
        settle(page)
        assert page.get_by_text("Signed in as ann").count() == 0
        replay = browser.new_context()
        replay.add_cookies([{**cookie, "expires": -1}])
        stolen = replay.new_page()
        stolen.goto(f"{base}/review")
        stolen.get_by_role("heading", name="Comment moderation: sign in").wait_for(timeout=60_000)
        replay.close()
    finally:
        shot(page, "e2e_sign_in_reload_last.png")
        context.close()


def test_the_server_log_has_no_warning_from_reading_ahead(team_server, team_log, browser):
    """The server reads the results while it starts (``dashboards/serve.py``), outside any script run: Streamlit's
    "missing ScriptRunContext" warning, one per cached call, is not in the log an operator reads."""
    base, _ = team_server
    page = browser.new_page()
    try:
        sign_in(page, base, "ann")  # by now the landing page's caches are filled, as the reader left them
    finally:
        page.close()
    log = team_log.read_text()
    assert "Uvicorn server started" in log
    assert "ScriptRunContext" not in log and "Traceback" not in log, log
