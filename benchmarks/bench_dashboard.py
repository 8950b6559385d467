"""Per-page render time of the dashboard on a large results folder (default: one million comments).

Usage::

    .venv/bin/python benchmarks/bench_dashboard.py                      # /tmp/bench_results if the lead made it,
                                                                        # else a synthetic 1M-comment folder
    .venv/bin/python benchmarks/bench_dashboard.py --results DIR --runs 5
    .venv/bin/python benchmarks/bench_dashboard.py --browser            # also time each page in Debian chromium
    .venv/bin/python benchmarks/bench_dashboard.py --cold 3 --baseline-app OLD_CHECKOUT  # cold starts, old vs new

Each page is run through ``streamlit.testing.v1.AppTest`` (the script run the
server would do, without the browser's drawing): the first visit (caches cold
for that page) and the median of ``--runs`` reruns after it (the figure the
"within 2 s after the first load" goal is about). The review page's first visit is the
app's cold start (it reads the folder). The same run prints a
baseline: the time to read ``comments.parquet`` alone. The store is a
temporary SQLite file holding ``--decisions`` decisions, so the folder's own
store is never written.

With ``--browser`` the same pages are also opened in headless Debian chromium
against ``streamlit run``, one session moving between pages with the sidebar
navigation: time from the click until the page's heading and first table (or
its "queue is empty" notice) are drawn and the script has finished (including a fixed 0.3 s settle wait). The
review page's first visit is the server's cold start (imports, reading the folder). The same run times a
decision on /review until the next card is drawn: in AppTest (the script run after the click) and, with
``--browser``, from the key press until the new card is on screen.

``--cold N`` measures the cold start N times, each in new processes: (1) a fresh Python process that imports
streamlit and runs the app's first /review script (AppTest: imports, reading the folder, the queue, the card;
wall and CPU seconds); (2) ``python -m moderation dashboard`` started (the documented command) with a new
chromium profile open: seconds from the launch until its health check answers, from navigation (right then)
and from the launch until /review's card text is drawn (not the grey skeleton), then from a click on Overview
until its figures are drawn. ``--baseline-app DIR`` runs the same against another
checkout's ``dashboards/streamlit_app.py`` (e.g. ``git archive HEAD`` of the code before a change),
alternating with this one so both see the same machine load. Screenshots go to ``test-artifacts/cold_*.png``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moderation.store import Store  # noqa: E402
from tests.dashboard_fixtures import write_results  # noqa: E402

APP = str(ROOT / "dashboards" / "streamlit_app.py")
LEAD_RESULTS = Path("/tmp/bench_results")
SYNTHETIC = Path(tempfile.gettempdir()) / "bench_dashboard_results"
TITLES = {"review": "Review", "history": "History", "overview": "Overview", "votes": "Vote review",
          "offtopic": "Off-topic speculation", "authors": "Authors", "engagement": "Engagement",
          "thread": "Thread", "topics": "Topics", "decisions": "Decisions", "teach": "Teach"}
PAGES = list(TITLES)
LANDING = "review"  # where the app opens
DECISION_KEYS = "arfe"  # approve, remove, flag, escalate


def results_folder(args) -> Path:
    """The folder to measure: --results, else the lead's /tmp/bench_results, else a synthetic one (made once)."""
    if args.results:
        return Path(args.results)
    if (LEAD_RESULTS / "comments.parquet").exists():
        return LEAD_RESULTS
    if not (SYNTHETIC / "comments.parquet").exists() or args.regenerate:
        started = time.perf_counter()
        write_results(SYNTHETIC, n_comments=args.comments, n_articles=args.articles)
        print(f"generated {args.comments:,} synthetic comments in {SYNTHETIC} ({time.perf_counter() - started:.0f} s)")
    return SYNTHETIC


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def checked(app, page: str) -> None:
    """RuntimeError unless ``app``'s last run drew ``page`` (its title) without an exception or error box."""
    if app.exception:
        raise RuntimeError(f"{page}: {app.exception[0].message}")
    if app.error:
        raise RuntimeError(f"{page}: {app.error[0].value}")
    if TITLES[page] not in [title.value for title in app.title]:
        raise RuntimeError(f"{page}: the run drew {[title.value for title in app.title]}, not {TITLES[page]!r}")


def measure(page: str, query: dict, runs: int) -> tuple[float, float, float]:
    """(first visit s, median rerun s, max rerun s) of one page opened with URL ``query``."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=900)
    app.query_params.update(query)
    target = f"app_pages/{page}.py"

    def visit():
        if page == LANDING:
            app.run()
        else:
            app.switch_page(target).run()
        checked(app, page)

    first = timed(visit)
    reruns = [timed(visit) for _ in range(runs)]
    return first, statistics.median(reruns), max(reruns)


def warm_session_times(runs: int) -> tuple[float, float]:
    """(median s, max s) of a new session's first run of /review once the app is warm (another tab opening it)."""
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(runs):
        app = AppTest.from_file(APP, default_timeout=900)
        times.append(timed(app.run))
        checked(app, LANDING)
    return statistics.median(times), max(times)


def decision_times(runs: int) -> tuple[float, float]:
    """(median s, max s) of a decision on /review to the next card drawn: the script run after the click."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=900)
    app.run()
    app.text_input(key="moderator").input("bench").run()
    times = []
    for i in range(runs):
        times.append(timed(lambda: app.button(key=f"review_{('approve', 'remove', 'flag', 'escalate')[i % 4]}")
                           .click().run()))
        checked(app, LANDING)
    return statistics.median(times), max(times)


IDLE = "() => document.querySelector(\"[data-testid='stApp']\")?.getAttribute('data-test-script-state') === 'notRunning'"
CARD_LINE = "() => document.querySelector(\".st-key-review_card [data-testid='stText']\")?.innerText"


def browser_first_content(browser, base: str, runs: int) -> dict[str, list[float]]:
    """Seconds from opening a new tab until its first content: /review's card text, and, as the same-run
    baseline every page pays (the frontend starting, the websocket, the sidebar), /history's heading.

    "new browser" tabs each have a browser profile of their own (nothing cached: the frontend's scripts are
    fetched and compiled again); "same browser" tabs share one, as a moderator's next tab does.
    """
    shared = browser.new_context(viewport={"width": 1400, "height": 1000})
    times = {"review card, new browser": [], "history heading, new browser (baseline)": [],
             "review card, new tab in the same browser": [],
             "history heading, new tab in the same browser (baseline)": []}
    card = ".st-key-review_card [data-testid='stHtml']"
    warm = shared.new_page()  # the moderator's browser has opened the dashboard before
    warm.goto(f"{base}/review")
    warm.locator(card).first.wait_for(timeout=120_000)
    warm.close()
    for _ in range(runs):
        for name, path, selector in (("review card, new browser", "review", card),
                                     ("history heading, new browser (baseline)", "history", "h1"),
                                     ("review card, new tab in the same browser", "review", card),
                                     ("history heading, new tab in the same browser (baseline)", "history", "h1")):
            if "same browser" in name:
                tab = shared.new_page()
            else:
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            tab.goto(f"{base}/{path}")
            tab.locator(selector).first.wait_for(timeout=120_000)
            times[name].append(time.perf_counter() - started)
            tab.wait_for_function(IDLE, timeout=120_000)
            tab.close()
    shared.close()
    return times


def browser_decisions(page, base: str, runs: int) -> tuple[list[float], list[float]]:
    """(key press until the next card's author line is drawn, until the script run has finished), seconds."""
    page.goto(f"{base}/review")
    page.locator(".st-key-review_card").wait_for(timeout=120_000)
    page.wait_for_function(IDLE, timeout=120_000)
    moderator = page.get_by_label("Moderator")
    moderator.fill("bench")
    moderator.press("Enter")
    page.wait_for_timeout(300)
    page.wait_for_function(IDLE, timeout=120_000)
    page.get_by_role("heading", name="Review", exact=True).click()
    drawn, finished = [], []
    for i in range(runs):
        before = page.evaluate(CARD_LINE)
        started = time.perf_counter()
        page.keyboard.press(DECISION_KEYS[i % 4])
        page.wait_for_function(f"b => ({CARD_LINE})() !== b", arg=before, timeout=120_000, polling=10)
        drawn.append(time.perf_counter() - started)
        page.wait_for_function(IDLE, timeout=120_000, polling=10)
        finished.append(time.perf_counter() - started)
    return drawn, finished


def browser_times(runs: int, port: int) -> None:
    """Print per-page load times in chromium against a ``streamlit run`` server (on ``port``) on the same folder."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import ARTIFACTS, CHROMIUM, settle

    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            print(f"{'browser: page':<22}{'first visit s':>15}{'revisit median s':>17}{'revisit max s':>14}")

            def show(name: str) -> None:
                if not page.url.startswith(base):
                    page.goto(base)  # the session's first load: the app starts on the review page
                else:
                    page.locator("[data-testid='stSidebar'] a", has_text=TITLES[name]).first.click()
                try:
                    page.get_by_role("heading", name=TITLES[name], exact=True).wait_for(timeout=120_000)
                    # a table, Review's card, or the notice a page shows when its queue is empty
                    content = page.locator("[data-testid='stDataFrame'], [data-testid='stAlert'], "
                                           ".st-key-review_card [data-testid='stHtml']")
                    content.first.wait_for(state="visible", timeout=120_000)
                    settle(page)
                finally:
                    ARTIFACTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / f"bench_{name}.png"))

            times = {name: [timed(lambda: show(name)) for _ in range(1)] for name in TITLES}
            for _ in range(runs):  # revisits within the same session, as a moderator moves between pages
                for name in TITLES:
                    times[name].append(timed(lambda: show(name)))
            for name, (first, *again) in times.items():
                print(f"{name:<22}{first:>15.2f}{statistics.median(again):>17.2f}{max(again):>14.2f}")
            for name, values in browser_first_content(browser, base, max(runs, 3)).items():
                print(f"browser: new tab to first content, {name}: median {statistics.median(values):.2f} s, "
                      f"max {max(values):.2f} s")
            drawn, finished = browser_decisions(page, base, max(runs, 8))
            print(f"browser: key press on /review to the next card drawn: median {statistics.median(drawn):.2f} s, "
                  f"max {max(drawn):.2f} s; to the end of that run: median {statistics.median(finished):.2f} s, "
                  f"max {max(finished):.2f} s (over {len(drawn)} decisions)")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


COLD_APPTEST = """
import resource, sys, time
started = time.perf_counter()
from streamlit import config
from streamlit.testing.v1 import AppTest
config.set_option("server.address", "127.0.0.1")
app = AppTest.from_file(sys.argv[1], default_timeout=900)
ready = time.perf_counter()
app.run()
assert not app.exception, app.exception[0].message
assert [t.value for t in app.title] == ["Review"] and app.get("html"), "no review card drawn"
usage = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - started, time.perf_counter() - ready, usage.ru_utime + usage.ru_stime)
"""


def cold_apptest(app: str) -> tuple[float, float, float]:
    """(wall s from a fresh process to the first /review run's end, of which the run itself, CPU s) of ``app``."""
    done = subprocess.run([sys.executable, "-c", COLD_APPTEST, app], capture_output=True, text=True,
                          env=os.environ.copy(), cwd=Path(app).parents[1], timeout=900)
    # a native thread pool (pyarrow's: apache/arrow#34314) sometimes aborts the interpreter's finalization after
    # the work is done, about 1 exit in 6 here ("terminate called without an active exception", or
    # "PyGILState_Release ... finalizing"): the figures were printed by then, so that abort is not a failed run
    aborted_at_exit = done.returncode == -signal.SIGABRT and len(done.stdout.split()) >= 3
    if done.returncode and not aborted_at_exit:
        raise RuntimeError(f"cold AppTest run of {app} failed ({done.returncode}): {done.stderr[-2000:]}")
    total, run, cpu = map(float, done.stdout.split()[-3:])
    return total, run, cpu


def cold_browser(app: str, port: int, label: str) -> tuple[float, float, float, float]:
    """(launch to health s, navigation to /review's card drawn s, launch to the card s, click on Overview to its
    figures s): ``python -m moderation dashboard`` of ``app``'s checkout started, its health polled, then /review
    opened in a new chromium profile (started before the server, as a moderator's browser would be)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import ARTIFACTS, CHROMIUM

    root = Path(app).parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "moderation", "dashboard", "--results", os.environ["MODERATION_RESULTS"],
             "--port", str(port)], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    if server.poll() is not None or time.perf_counter() - started > 300:
                        raise RuntimeError(f"{label}: the dashboard did not start") from None
                    time.sleep(0.1)
            healthy = time.perf_counter()
            page.goto(f"{base}/review")
            page.locator(".st-key-review_card [data-testid='stHtml']").first.wait_for(timeout=300_000)
            drawn = time.perf_counter()
            page.screenshot(path=str(ARTIFACTS / f"cold_{label}_review.png"))
            page.wait_for_function(IDLE, timeout=300_000)
            clicked = time.perf_counter()
            page.locator("[data-testid='stSidebar'] a", has_text="Overview").first.click()
            page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=300_000)
            page.locator("[data-testid='stMetric']").first.wait_for(timeout=300_000)
            page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=300_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
            overview = time.perf_counter() - clicked
            page.wait_for_function(IDLE, timeout=300_000)
            page.screenshot(path=str(ARTIFACTS / f"cold_{label}_overview.png"))
        finally:
            server.terminate()
            server.wait(timeout=30)
            browser.close()
    return healthy - started, drawn - healthy, drawn - started, overview


def cold_starts(runs: int, baseline: str | None, port: int) -> None:
    """Print cold-start figures of this app (and of ``baseline``'s, alternating, in the same run)."""
    apps = {"this": APP, **({"baseline": str(Path(baseline).resolve() / "dashboards" / "streamlit_app.py")}
                            if baseline else {})}
    figures = {name: {"apptest": [], "browser": []} for name in apps}
    for _ in range(runs):
        for name, app in apps.items():
            figures[name]["apptest"].append(cold_apptest(app))
            figures[name]["browser"].append(cold_browser(app, port, name))
    for name, measured in figures.items():
        total, run, cpu = (statistics.median(v) for v in zip(*measured["apptest"]))
        healthy, review, launch, overview = (statistics.median(v) for v in zip(*measured["browser"]))
        print(f"cold start, {name} app ({apps[name]}), median of {runs}:")
        print(f"  AppTest, fresh process to the first /review drawn: {total:.2f} s wall (the script run "
              f"{run:.2f} s), {cpu:.2f} s CPU; each: " + ", ".join(f"{t:.2f}" for t, _, _ in measured["apptest"]))
        print(f"  browser, `python -m moderation dashboard`: health after {healthy:.2f} s; navigation to /review's "
              f"card {review:.2f} s (each: " + ", ".join(f"{r:.2f}" for _, r, _, _ in measured["browser"])
              + f"); launch to the card {launch:.2f} s (each: "
              + ", ".join(f"{t:.2f}" for _, _, t, _ in measured["browser"]) + f"); then Overview drawn {overview:.2f} s "
              "(each: " + ", ".join(f"{o:.2f}" for _, _, _, o in measured["browser"]) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", help="results folder to measure")
    parser.add_argument("--comments", type=int, default=1_000_000, help="size of a generated folder")
    parser.add_argument("--articles", type=int, default=10_000, help="articles of a generated folder")
    parser.add_argument("--decisions", type=int, default=2_000, help="decisions put in the temporary store")
    parser.add_argument("--runs", type=int, default=3, help="reruns per page after the first visit")
    parser.add_argument("--regenerate", action="store_true", help="make the synthetic folder again")
    parser.add_argument("--browser", action="store_true", help="also time each page in headless chromium")
    parser.add_argument("--browser-only", action="store_true", help="only the chromium timings (no AppTest runs)")
    parser.add_argument("--cold", type=int, default=0, metavar="N", help="only N cold starts (see above)")
    parser.add_argument("--baseline-app", metavar="DIR", help="with --cold: another checkout to compare with")
    parser.add_argument("--port", type=int, help="port of the served app (default: a free one)")
    args = parser.parse_args()
    # AppTest serves as `streamlit run --server.address 127.0.0.1` would: single-user mode, no sign-in form
    from streamlit import config
    config.set_option("server.address", "127.0.0.1")

    folder = results_folder(args)
    read = timed(lambda: pd.read_parquet(folder / "comments.parquet"))
    comments = pd.read_parquet(folder / "comments.parquet", columns=["source", "article_id", "comment_id", "author"])
    store_file = Path(tempfile.mkdtemp()) / "bench.db"
    store = Store(f"sqlite:///{store_file}")
    sample = comments.sample(min(args.decisions, len(comments)), random_state=0)
    store.record_decision(list(sample[["source", "comment_id"]].itertuples(index=False, name=None)), "flag", "bench")
    os.environ["MODERATION_RESULTS"] = str(folder)
    os.environ["MODERATION_STORE"] = store.url

    source, article = comments.groupby(["source", "article_id"]).size().idxmax()
    author = comments["author"].value_counts().index[0]
    queries = {
        "thread": {"source": source, "article": article},
        "authors": {"author": author},
    }
    print(f"results: {folder} ({len(comments):,} comments); store: {args.decisions:,} decisions")
    print(f"baseline: pd.read_parquet(comments.parquet) = {read:.2f} s")
    from tests.e2e.test_browser import free_port

    port = args.port or free_port()
    if args.cold:
        cold_starts(args.cold, args.baseline_app, port)
        return
    if args.browser_only:
        browser_times(args.runs, port)
        return
    print(f"{'page':<22}{'first visit s':>15}{'rerun median s':>16}{'rerun max s':>13}")
    for page in PAGES:
        first, median, worst = measure(page, queries.get(page, {}), args.runs)
        print(f"{page:<22}{first:>15.2f}{median:>16.2f}{worst:>13.2f}")
    first, median, worst = measure("votes", {"text": "perhaps"}, args.runs)
    print(f"{'votes, text filter':<22}{first:>15.2f}{median:>16.2f}{worst:>13.2f}")
    first, median, worst = measure("offtopic", {"below_threshold": "true"}, args.runs)  # every comment ranked
    print(f"{'offtopic, all ranked':<22}{first:>15.2f}{median:>16.2f}{worst:>13.2f}")
    median, worst = warm_session_times(max(args.runs, 3))
    print(f"review: first content of a new session on the warm app: median {median:.2f} s, max {worst:.2f} s")
    median, worst = decision_times(max(args.runs, 5))
    print(f"review: decision to next card (script run after the click): median {median:.2f} s, max {worst:.2f} s")
    if args.browser:
        browser_times(args.runs, port)


if __name__ == "__main__":
    main()
