"""Load an HTML file in headless Chromium (Selenium) and report what a reader would see broken.

Uses Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` directly: giving the driver
path to `Service` makes Selenium skip Selenium Manager (which would try the network), and the
browser is told not to touch the network either. If Chromium cannot start, `open_page` raises:
the browser tests must fail, not skip (CI installs Chromium).
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_OPTIONS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    # Nothing may come from the network: an offline report must not need it.
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
_BROKEN_IMAGES = """
return Array.from(document.images)
  .filter(img => !img.complete || img.naturalWidth === 0)
  .map(img => img.getAttribute('src'));
"""
_SECTION_IDS = "return Array.from(document.querySelectorAll('section[id]')).map(s => s.id);"
# Legibility at 100 % zoom: a figure drawn smaller than its pixels shrinks its text (tick labels
# below ~9 px); text must break between words, not inside them; nothing may be wider than the
# window (a reader would have to scroll sideways).
_SHRUNK_IMAGES = """
return Array.from(document.images)
  .filter(img => img.naturalWidth > 0 && img.clientWidth < 0.9 * img.naturalWidth)
  .map(img => `${img.getAttribute('src')} (${img.clientWidth} of ${img.naturalWidth} px)`);
"""
_BREAK_ALL = """
return Array.from(document.querySelectorAll('body *'))
  .filter(e => getComputedStyle(e).wordBreak === 'break-all')
  .map(e => `${e.tagName.toLowerCase()}: ${e.textContent.slice(0, 40)}`);
"""
_WIDER_THAN_WINDOW = "return document.documentElement.scrollWidth - window.innerWidth;"


@dataclass(frozen=True)
class PageCheck:
    """What `open_page` found on a page."""

    broken_images: list[str]
    severe_console: list[str]
    section_ids: list[str]
    n_images: int
    screenshot: Path
    shrunk_images: list[str]
    break_all: list[str]
    overflow_px: int


def _driver() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in _OPTIONS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait_loaded(driver: webdriver.Chrome, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = driver.execute_script(
            "return document.readyState === 'complete' && "
            "Array.from(document.images).every(i => i.complete);"
        )
        if done:
            return
        time.sleep(0.05)
    raise TimeoutError(f"page not loaded after {timeout} s")


def _full_page_png(driver: webdriver.Chrome) -> bytes:
    """Screenshot of the whole page (Chrome DevTools), not only the window."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    return base64.b64decode(shot["data"])


def open_page(html: Path, name: str) -> PageCheck:
    """Load ``html`` (a file) in headless Chromium; return its problems and a screenshot path.

    Parameters
    ----------
    html
        The HTML file; loaded through its ``file://`` URL.
    name
        Screenshot name: ``<repo>/test-artifacts/<name>.png``.
    """
    driver = _driver()
    try:
        driver.get(Path(html).resolve().as_uri())
        _wait_loaded(driver)
        broken = driver.execute_script(_BROKEN_IMAGES)
        n_images = driver.execute_script("return document.images.length;")
        sections = driver.execute_script(_SECTION_IDS)
        shrunk = driver.execute_script(_SHRUNK_IMAGES)
        break_all = driver.execute_script(_BREAK_ALL)
        overflow = int(driver.execute_script(_WIDER_THAN_WINDOW))
        logs = driver.get_log("browser")
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / f"{name}.png"
        screenshot.write_bytes(_full_page_png(driver))
    finally:
        driver.quit()
    severe = [entry["message"] for entry in logs if entry.get("level") == "SEVERE"]
    return PageCheck(broken, severe, sections, n_images, screenshot, shrunk, break_all, overflow)


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.sections: list[str] = []
        self.resources: list[str] = []
        self.codes: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "id" in values:
            self.ids.append(values["id"])
            if tag == "section":
                self.sections.append(values["id"])
        if "data-code" in values:
            self.codes.append(values["data-code"])
        if tag == "img":
            self.images.append(values.get("src", ""))
        self.resources += [values[k] for k in ("src", "href", "srcset", "data") if k in values]
        self.resources += _CSS_URL.findall(values.get("style", ""))

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.resources += _CSS_URL.findall(data)


_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)")
_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


@dataclass(frozen=True)
class StaticPage:
    """What an HTML file references, read without a browser."""

    ids: list[str]
    sections: list[str]
    images: list[str]
    resources: list[str]
    codes: list[str]

    @property
    def remote(self) -> list[str]:
        """Resources (src, href, srcset, data, CSS url()) that point at the network."""
        return [r for r in self.resources if _REMOTE.match(r)]


def scan_html(text: str) -> StaticPage:
    """Ids, section ids, image sources, all referenced resources and notice codes of a page."""
    scanner = _Scanner()
    scanner.feed(text)
    return StaticPage(
        scanner.ids, scanner.sections, scanner.images, scanner.resources, scanner.codes
    )
