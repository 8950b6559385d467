"""What every browser test needs: a free port, a served dashboard that answers, and Debian's chromium."""

import os
import socket
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
# never a Playwright-downloaded browser; without the background-networking flags chromium knocks on closed doors
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    """A TCP port nobody listens on now (``$MODERATION_TEST_PORT`` when a machine hands out ports)."""
    if os.environ.get("MODERATION_TEST_PORT"):
        return int(os.environ["MODERATION_TEST_PORT"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(base: str, process, log: Path, seconds: float = 60) -> None:
    """Poll ``base``'s health endpoint until it answers; RuntimeError naming ``log`` if the server dies or is late."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start; see {log}") from None
            time.sleep(0.5)


def launch_chromium(playwright):
    """Headless Debian chromium."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
