"""Headless Chromium for the browser tests: Debian's chromium and chromium-driver, driven by Selenium,
with a fresh profile and every background service off (the machine has no outside network). Without a
browser the tests skip, saying so; in CI (DERIVE_REQUIRE_BROWSER=1, set by .ci/run) they fail."""

import os
import shutil
import tempfile

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
         "--disable-extensions"]


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        return "no Chromium here (apt-get install chromium chromium-driver)"
    return None


#: Without a screenshot to take, a page's frames are composited on its main thread, when something changed,
#: not by a compositor thread of their own: a quarter less of Chromium's CPU over the page-editing and
#: grid tests (28-30 s against 38-41 s, one worker, interleaved). A screenshot waits for a frame from that
#: thread and never gets one, so the browsers that take them (``screenshots``) keep it; so does a pointer's
#: move (Selenium's ActionChains), which waits 5 s for that frame and then goes on: such a test uses them too.
UNTHREADED = "--disable-threaded-compositing"


def start(width: int = 1280, height: int = 1000, mobile: bool = False, screenshots: bool = False):
    """A Chrome session (skipped, or failed in CI, when there is no browser); ``screenshots``: one that
    can take them (`UNTHREADED`)."""
    reason = missing()
    if reason:
        if os.environ.get("DERIVE_REQUIRE_BROWSER"):
            pytest.fail(f"DERIVE_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, *([] if screenshots else [UNTHREADED]),
                 f"--user-data-dir={tempfile.mkdtemp(prefix='derive-chrome-')}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height,
                                                                                "pixelRatio": 2.0}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def requests(driver) -> list[str]:
    """Every URL the page asked for since the last call (from Chrome's performance log)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
