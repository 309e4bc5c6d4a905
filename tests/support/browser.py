"""A real headless browser for tests: Debian's `chromium` and `chromium-driver` (installed
by `make test`, as root), driven by Selenium.

    with headless_chromium(only_host="127.0.0.1") as driver:
        driver.get(url)

Nothing is downloaded at run time: the binaries are named explicitly, so Selenium skips
Selenium Manager, and `SE_OFFLINE` would forbid it any download were it ever started.
`only_host` makes every other host fail to resolve, so that a page that needs the internet
fails here as it would offline. The browser's console and its network events are recorded
(`console_messages`, `requested_urls`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = "1400,1000"


def require_chromium() -> None:
    """Skips, saying why, where the browser is not installed (`make test` installs it)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.skip(
            f"no headless browser: {', '.join(missing)} missing; `make test` installs Debian's"
            " chromium and chromium-driver (apt-get, as root)"
        )
    pytest.importorskip("selenium", reason="selenium is in the dev extra: pip install -e .[dev]")


@contextlib.contextmanager
def headless_chromium(*, only_host: str) -> Iterator[WebDriver]:
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # read by Selenium Manager, were it ever started
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW}",
        f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {only_host}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_messages(driver: WebDriver) -> list[dict[str, Any]]:
    """The console's messages since the last call: `level` and `message`."""
    messages: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return messages


def requested_urls(driver: WebDriver, origin: str) -> list[str]:
    """Every URL the pages of `origin` asked for since the last call, from the browser's
    network events: requests that failed or were blocked included, which the page's own
    resource timing entries leave out. (The browser's own pages are not counted.)"""
    urls = []
    entries = driver.get_log("performance")  # type: ignore[no-untyped-call]
    for entry in entries:
        event = json.loads(entry["message"])["message"]
        if event["method"] != "Network.requestWillBeSent":
            continue
        page = event["params"].get("documentURL", "")
        if page == origin or page.startswith(origin + "/"):
            urls.append(event["params"]["request"]["url"])
    return urls
