"""End to end in a real browser: Debian's chromium driven by Playwright against ``streamlit run``.

Records a decision through the UI, reloads and sees it persisted, and checks
that the hostile comment is shown as text (no ``img`` element made from it).
Screenshots go to ``test-artifacts/``.
"""

import getpass
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from moderation.store import Store
from tests.dashboard_fixtures import HOSTILE, SOURCE, write_results
from tests.e2e.serving import CHROMIUM, ROOT, free_port, launch_chromium, wait_until_serving

ARTIFACTS = ROOT / "test-artifacts"
MODERATOR = "e2e-moderator"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (/usr/bin/chromium): "
                       "apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard served on 127.0.0.1 over a fixture results folder; yields (base URL, store URL)."""
    folder = write_results(tmp_path_factory.mktemp("results"), n_comments=60, n_articles=3)
    store_url = f"sqlite:///{folder / 'moderation.db'}"
    port = free_port()
    env = {**os.environ, "MODERATION_RESULTS": str(folder), "MODERATION_STORE": store_url}
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboards" / "streamlit_app.py"),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, log.name)
        yield base, store_url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium (never a Playwright-downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def wait_for_content(page) -> None:
    """Wait until the thread page shows its heading and a table (not just the app shell)."""
    page.locator("[data-testid='stDataFrame']").first.wait_for(state="visible", timeout=60_000)
    page.get_by_role("heading", name="Thread", exact=True).wait_for(timeout=60_000)


def settle(page) -> None:
    """Let the rerun a widget change started finish (the status widget shows while the script runs)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=30_000)


def keys_ready(page) -> None:
    """Wait until the page's key listener is installed: a key pressed before the component's script ran is lost
    (seen once in CI, under load, right after sign-in)."""
    page.wait_for_function("() => !!window.__moderationKeys", timeout=30_000)


def shot(page, name: str) -> None:
    """Full-page screenshot into test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_decision_persists_and_hostile_text_stays_text(server, browser):
    """Record a decision in the thread view, reload, see it kept; the hostile comment is literal text."""
    base, store_url = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        check_flow(page, base, store_url)
    finally:
        shot(page, "e2e_last.png")  # what the browser showed at the end, also when a step failed
        page.close()


def check_flow(page, base: str, store_url: str) -> None:
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{base}/thread?source={SOURCE}&article=a0&comment=c0")
    wait_for_content(page)
    page.locator("[data-testid='stText']").filter(has_text=HOSTILE).first.wait_for(timeout=30_000)
    shot(page, "e2e_thread.png")
    assert page.locator("img[src='x'], img[src*='example.invalid']").count() == 0

    moderator = page.get_by_label("Moderator")
    moderator.fill(MODERATOR)
    moderator.press("Enter")
    settle(page)
    comments = page.locator("[data-testid='stMultiSelect']").filter(has_text="Comments")
    comments.locator("input").click()
    comments.locator("input").press_sequentially("moon landing")  # typing filters the options to the hostile comment
    page.get_by_role("option").filter(has_text="moon landing").first.click()
    page.keyboard.press("Escape")
    settle(page)
    page.locator("[data-testid='stSelectbox']").filter(has_text="Action").click()
    page.get_by_role("option", name="remove", exact=True).click()
    settle(page)
    page.locator("[data-testid='stSelectbox']").filter(has_text="Reason").click()
    page.get_by_role("option", name="type a reason…", exact=True).click()
    settle(page)
    reason = page.get_by_placeholder("your reason")
    reason.fill("e2e: hostile markup")
    reason.press("Enter")
    settle(page)
    page.get_by_role("button", name="Record 'remove' on 1 comment(s)").click()
    page.get_by_text("Recorded remove on 1 comment(s).").wait_for(timeout=30_000)
    shot(page, "e2e_decided.png")

    decided = Store(store_url).current_decisions()
    assert decided[["source", "comment_id", "action", "moderator", "reason"]].values.tolist() == [
        [SOURCE, "c0", "remove", MODERATOR, "e2e: hostile markup"]]

    page.reload()
    wait_for_content(page)
    page.get_by_text("decision: remove", exact=False).first.wait_for(timeout=30_000)
    shot(page, "e2e_reloaded.png")
    assert page.locator("img[src='x'], img[src*='example.invalid']").count() == 0
    assert dialogs == []


def test_offtopic_label_in_browser(server, browser):
    """Rank every comment on the off-topic page, label the one in view "Off topic", reload: the label is counted."""
    base, store_url = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/offtopic")
        page.get_by_role("heading", name="Off-topic speculation", exact=True).wait_for(timeout=60_000)
        page.get_by_text("Also comments below the threshold").click()
        settle(page)
        page.locator("[data-testid='stDataFrame']").first.wait_for(state="visible", timeout=60_000)
        moderator = page.get_by_label("Moderator")
        moderator.fill(MODERATOR)
        moderator.press("Enter")
        settle(page)
        page.get_by_role("button", name="Off topic", exact=True).click()
        page.get_by_text("Labelled off topic.").wait_for(timeout=30_000)
        labels = Store(store_url).labels()
        assert labels[["value", "moderator"]].values.tolist() == [[True, MODERATOR]]
        page.reload()
        page.get_by_role("heading", name="Is it off topic?").wait_for(timeout=60_000)
        page.get_by_text("Labelled so far: 1 (1 off topic)").wait_for(timeout=30_000)
    finally:
        shot(page, "e2e_offtopic_label.png")
        page.close()


def test_every_page_opens_at_its_own_path(server, browser):
    """``/<url_path>?...`` of every listed page opens that page, never "Page not found"; "/" opens the landing page."""
    source = (ROOT / "dashboards" / "streamlit_app.py").read_text()
    paths = re.findall(r'st.Page\("app_pages/[a-z]+.py", title="[^"]+", url_path="([a-z]+)"\)', source)
    assert "overview" in paths and "engagement" in paths
    base, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        for path in ["", *paths]:
            page.goto(f"{base}/{path}?since=2024-01-01")
            page.locator("h1").first.wait_for(timeout=60_000)
            settle(page)
            assert page.get_by_text("Page not found").count() == 0, path
            assert "since=2024-01-01" in page.url, (path, page.url)
    finally:
        page.close()


@pytest.mark.parametrize("path, heading", [
    ("", "Review"), ("review", "Review"), ("overview", "Overview"), ("history", "History"), ("votes", "Vote review"),
    ("offtopic", "Off-topic speculation"), ("authors?profile=user0", "Authors"), ("engagement", "Engagement"), ("topics", "Topics"), ("decisions", "Decisions"),
    ("votes?queue=anomalous&below_threshold=true", "Vote review"),
])
def test_page_renders_in_browser(server, browser, path, heading):
    """Each page shows its heading and content in a real browser, with no exception box and no injected image."""
    base, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/{path}")
        page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
        # a table, Review's card, or the notice of a page with nothing to list yet (History before any decision)
        page.locator("[data-testid='stDataFrame'], [data-testid='stAlert'], .st-key-review_card").first.wait_for(
            state="visible", timeout=60_000)
        settle(page)
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.get_by_text("Page not found").count() == 0
        assert page.locator("img[src='x'], img[src*='example.invalid']").count() == 0
    finally:
        shot(page, f"e2e_page_{path.split('?')[0] or 'overview'}.png")
        page.close()


def to_review(page) -> int:
    """Comments waiting on the Review page once it has settled (from its caption)."""
    settle(page)
    caption = page.get_by_text(re.compile(r"comments? to review")).first.inner_text()
    return int(re.match(r"([\d,]+) comments? to review", caption).group(1).replace(",", ""))


def test_review_with_keys_in_browser(server, browser):
    """(Runs before the import test, which replaces the results.) On /review: ten decisions in a row with the keys (each stored, no exception box), undo brings the last
    one back as the card; the moderator name survives a reload and a new tab; j, / and ? work."""
    from playwright.sync_api import expect

    base, store_url = server
    store = Store(store_url)
    before = len(store.current_decisions())
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/review")
        page.locator(".st-key-review_card").wait_for(timeout=60_000)
        settle(page)
        # loopback: the local user's name, or the name an earlier test chose on this server (remembered)
        expect(page.get_by_label("Moderator")).not_to_have_value("")
        assert page.get_by_label("Moderator").input_value() in (getpass.getuser(), MODERATOR)
        moderator = page.get_by_label("Moderator")
        moderator.fill(MODERATOR)
        moderator.press("Enter")
        waiting = to_review(page)
        page.get_by_role("heading", name="Review", exact=True).click()  # the focus leaves the text box
        keys_ready(page)
        shot(page, "e2e_review_start.png")
        # the viewer's toolbar (dashboards/.streamlit/config.toml): no developer options, even on localhost
        assert page.get_by_role("button", name="Deploy").count() == 0
        page.get_by_test_id("stMainMenu").click()
        menu = page.get_by_test_id("stMainMenuList")
        menu.wait_for(timeout=10_000)
        assert "Print" in menu.inner_text() and "Clear cache" not in menu.inner_text()
        page.keyboard.press("Escape")
        for i in range(10):
            page.keyboard.press("arfe"[i % 4])
            page.wait_for_function(
                "n => !document.body.innerText.includes(n + ' comments to review')", arg=f"{waiting - i:,}",
                timeout=30_000)
            assert to_review(page) == waiting - i - 1
            assert len(store.current_decisions()) == before + i + 1
            assert page.locator("[data-testid='stException']").count() == 0
        log = store.decisions().head(10)
        assert log["action"].tolist()[::-1] == [("approve", "remove", "flag", "escalate")[i % 4] for i in range(10)]
        assert log["comment_id"].nunique() == 10  # ten different comments, one after the other
        shot(page, "e2e_review_ten.png")

        page.keyboard.press("u")
        page.get_by_text("back in the queue").wait_for(timeout=30_000)
        undone = store.decisions().iloc[0]
        assert undone["undone_by"] == MODERATOR and len(store.current_decisions()) == before + 9
        comments = pd.read_parquet(Path(store_url.removeprefix("sqlite:///")).parent / "comments.parquet")
        expect(page.locator(".st-key-review_card [data-testid='stHtml']").first).to_have_text(
            comments.loc[comments["comment_id"] == undone["comment_id"], "text"].iloc[0])
        assert to_review(page) == waiting - 9

        page.reload()
        page.locator(".st-key-review_card").wait_for(timeout=60_000)
        assert to_review(page) == waiting - 9
        expect(page.get_by_label("Moderator")).to_have_value(MODERATOR)
        other = browser.new_page(viewport={"width": 1400, "height": 1000})
        other.goto(f"{base}/review")
        other.locator(".st-key-review_card").wait_for(timeout=60_000)
        expect(other.get_by_label("Moderator")).to_have_value(MODERATOR)
        other.close()

        page.get_by_role("heading", name="Review", exact=True).click()
        page.keyboard.press("j")
        page.get_by_text(re.compile(r"Comment 2 of")).wait_for(timeout=30_000)
        page.keyboard.press("?")
        page.get_by_text("Keys work when no text box has the focus").wait_for(timeout=30_000)
        shot(page, "e2e_review_keys.png")
        page.keyboard.press("Escape")
        page.get_by_role("heading", name="Review", exact=True).click()
        page.keyboard.press("/")
        page.wait_for_function("() => !!document.activeElement?.closest('.st-key-filter_text')", timeout=10_000)
        page.keyboard.press("Escape")

        # the desk's own reasons (single-user mode: this user is the admin), then one picked for a keyed decision
        page.get_by_text("The desk's decision reasons").click()
        page.locator(".st-key-desk_decision_reasons textarea").fill("doxxing\nspam")
        page.get_by_role("button", name="Save reasons").click()
        page.get_by_text("The desk's reasons are saved").wait_for(timeout=30_000)
        assert store.decision_reasons() == ["doxxing", "spam"]
        page.locator("[data-testid='stSelectbox']").filter(has_text="Reason").click()
        assert page.get_by_role("option").all_inner_texts() == ["doxxing", "spam", "type a reason…"]
        page.get_by_role("option", name="doxxing", exact=True).click()
        settle(page)
        page.get_by_role("heading", name="Review", exact=True).click()
        decided = len(store.decisions())
        page.keyboard.press("r")
        page.get_by_text("Recorded remove.").wait_for(timeout=30_000)
        assert len(store.decisions()) == decided + 1
        assert store.decisions().iloc[0][["action", "reason"]].tolist() == ["remove", "doxxing"]
        shot(page, "e2e_review_desk_reason.png")
        assert page.locator("img[src='x'], img[src*='example.invalid']").count() == 0
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        shot(page, "e2e_review_last.png")
        page.close()


COMMENTS_CSV = (
    "comment_id,article_id,parent_id,author,created_at,text,upvotes,downvotes,article_title\n"
    "u1,up1,,ann,2024-03-01T10:00:00Z,Perhaps the sanctions are cover for something else.,5,1,Trade talks resume\n"
    "u2,up1,u1,bob,2024-03-01T10:05:00Z,They are about trade.,2,0,Trade talks resume\n"
    "u3,up1,,cy,2024-03-01T11:00:00Z,=HYPERLINK(\"http://example.invalid\"),0,3,Trade talks resume\n"
)


def test_import_from_the_ui(server, browser, tmp_path):
    """Uploading garbage shows a readable error; uploading a comments CSV ingests and scores it with a progress bar."""
    base, _ = server
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01 not comments")
    upload = tmp_path / "comments.csv"
    upload.write_text(COMMENTS_CSV)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/overview")
        page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=60_000)
        page.get_by_text("Import comments").click()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(garbage))
        settle(page)
        page.get_by_role("button", name="Add and score").click()
        page.locator("[data-testid='stAlertContentError']").filter(
            has_text="Could not import: no record could be read from any input: garbage.bin").wait_for(timeout=60_000)
        shot(page, "e2e_import_error.png")

        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(upload))
        settle(page)
        page.get_by_label("Source name", exact=True).fill("uploaded")
        page.get_by_label("Source name", exact=True).press("Enter")
        settle(page)
        page.get_by_role("button", name="Add and score").click()
        outcome = page.locator("[data-testid='stAlertContentSuccess'], [data-testid='stAlertContentError']")
        # the garbage upload's "Could not import" alert goes with the rerun; wait for this upload's outcome
        outcome.filter(has_text="Import failed").or_(outcome.filter(has_text="added")).first.wait_for(timeout=120_000)
        shot(page, "e2e_import_done.png")
        assert page.locator("[data-testid='stException']").count() == 0
        assert outcome.first.inner_text().startswith("3 comments added (0 already known), 1 new article, 0 problems"), \
            outcome.first.inner_text()
        settle(page)
        # the tables are drawn after the rerun that follows the import: wait for them, on a busy machine too
        page.locator("[data-testid='stDataFrame']").filter(has_text="uploaded").first.wait_for(timeout=60_000)
        page.locator("[data-testid='stDataFrame']").filter(has_text="Trade talks resume").first.wait_for(timeout=60_000)
    finally:
        shot(page, "e2e_import_last.png")
        page.close()
