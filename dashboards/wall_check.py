"""Look at a big screen the way its viewer does: a real headless Chromium at 1920x1080.

Used by the browser tests (and the screenshot pushes to come). It logs in through
Superset's own login form as the given user (so row-level security applies), opens a
dashboard in wall mode (``standalone=2``: no nav bar, no title bar), waits until every
chart has left its loading state, and reports what a person would see: how many charts
rendered, which show an error or an empty state, whether the page needs scrolling, and a
PNG of the screen, with a check that it is not blank.

Selenium with Debian's ``chromium`` + ``chromium-driver`` (one source package, so driver
and browser versions always match; Playwright expects its own downloaded Chromium build,
which cannot be fetched here). Chinese glyphs need ``fonts-noto-cjk``; bootstrap installs
all three.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

WIDTH, HEIGHT = 1920, 1080
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHART = '[data-test="chart-grid-component"]'
LOADING = '[data-test="loading-indicator"], .loading'
EMPTY = '[data-test="empty-state"]'
# Superset shows a failed query as an Ant Design error alert inside the chart holder.
ERROR = '.ant-alert-error, [data-test="error-tooltip"], .alert-danger'


class WallCheckError(RuntimeError):
    """The screen could not be opened or did not finish rendering."""


@dataclass
class ScreenReport:
    url: str
    charts: int
    errors: list[str] = field(default_factory=list)  # chart titles (or texts) with an error
    empty: list[str] = field(default_factory=list)  # chart titles showing an empty state
    scroll_height: int = 0
    seconds_to_render: float = 0.0
    png: bytes = b""
    distinct_colours: int = 0
    reloaded_from: str = ""  # what a stuck first load showed before its one reload

    @property
    def needs_scrolling(self) -> bool:
        return self.scroll_height > HEIGHT

    @property
    def blank(self) -> bool:
        """A grey or white page: a real screen has text, numbers and charts in many shades."""
        return self.distinct_colours < 32

    def problems(self, expected_charts: int) -> list[str]:
        """What a person at the wall would object to, in zh-CN; empty when the screen is fine."""
        missing = self.charts != expected_charts
        found = [f"只渲染了 {self.charts}/{expected_charts} 个图" if missing else "",
                 f"错误 {self.errors}" if self.errors else "",
                 f"无数据 {self.empty}" if self.empty else "",
                 f"需要滚动 ({self.scroll_height}px)" if self.needs_scrolling else "",
                 "空白截图" if self.blank else ""]  # fmt: skip
        return [problem for problem in found if problem]


def browser_available() -> bool:
    return shutil.which(CHROMIUM) is not None and shutil.which(CHROMEDRIVER) is not None


@contextmanager
def headless_chromium(capture_network: bool = False) -> Iterator[WebDriver]:
    """A Chromium at 1920x1080, offline (no background networking), cleaned up on exit.
    ``capture_network`` keeps the page's requests for :func:`chart_data_requests`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--hide-scrollbars", "--lang=zh-CN",
                 f"--window-size={WIDTH},{HEIGHT}"):  # fmt: skip
        options.add_argument(flag)
    if capture_network:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        # The window includes the browser's own bars: make the page itself 1920x1080.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        driver.quit()


def log_in(driver: WebDriver, base_url: str, username: str, password: str) -> None:
    """Superset's login form, as a person fills it in."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/login/")
    wait = WebDriverWait(driver, 60)
    wait.until(until.presence_of_element_located((By.ID, "username"))).send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, '[data-test="login-button"]').click()
    wait.until(lambda d: "/login" not in d.current_url)


def open_screen(driver: WebDriver, base_url: str, slug: str, expected_charts: int,
                timeout: float = 90.0, stuck_after: float = 20.0) -> ScreenReport:  # fmt: skip
    """Open ``/superset/dashboard/<slug>/?standalone=2`` and wait for every chart.

    A page that shows neither a chart nor a loading indicator for ``stuck_after`` seconds
    is stuck (the browser's own error page after a refused or reset connection, or
    Superset's error page after a failed request): it is reloaded once, as the person at
    the wall would press F5, and what it showed is kept in ``ScreenReport.reloaded_from``.
    """
    from selenium.webdriver.common.by import By

    url = f"{base_url}/superset/dashboard/{slug}/?standalone=2"
    started = time.monotonic()
    driver.get(url)
    deadline = started + timeout
    blank_since: float | None = None
    reloaded_from = ""
    while True:
        charts = driver.find_elements(By.CSS_SELECTOR, CHART)
        loading = driver.find_elements(By.CSS_SELECTOR, LOADING)
        if len(charts) >= expected_charts and not loading and _every_chart_drew(driver):
            break
        now = time.monotonic()
        if now > deadline:
            raise WallCheckError(
                f"{url}: {len(charts)} of {expected_charts} charts, {len(loading)} still "
                f"loading after {timeout:.0f} s; the page shows {_page_summary(driver)}"
                + (f"; before its reload it showed {reloaded_from}" if reloaded_from else "")
            )
        blank_since = (blank_since or now) if not charts and not loading else None
        if blank_since is not None and now - blank_since > stuck_after and not reloaded_from:
            reloaded_from = _page_summary(driver)
            driver.get(url)
            blank_since = None
        time.sleep(0.1)
    png = _settled_screenshot(driver, deadline)
    report = ScreenReport(url=url, charts=len(charts), reloaded_from=reloaded_from,
                          seconds_to_render=time.monotonic() - started)  # fmt: skip
    for chart in charts:
        title = chart.text.split("\n")[0][:40]
        if chart.find_elements(By.CSS_SELECTOR, ERROR):
            report.errors.append(title or chart.text[:80])
        if chart.find_elements(By.CSS_SELECTOR, EMPTY):
            report.empty.append(title)
    report.scroll_height = int(
        driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"
        )
    )
    report.png = png
    report.distinct_colours = distinct_colours(report.png)
    return report


def _page_summary(driver: WebDriver) -> str:
    """Where the browser is and the start of what it shows, for an error message."""
    text = " ".join(visible_text(driver).split())[:300]
    return f"{driver.current_url} «{driver.title}»: {text or '(no text)'}"


def _settled_screenshot(driver: WebDriver, deadline: float) -> bytes:
    """A screenshot once two taken 0.3 s apart are the same: ECharts draws its lines and
    bars in over about a second, and a picture taken meanwhile is half a chart."""
    previous = driver.get_screenshot_as_png()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        current = driver.get_screenshot_as_png()
        if current == previous:
            return current
        previous = current
    raise WallCheckError("the screen kept changing: no settled picture before the deadline")


def _every_chart_drew(driver: WebDriver) -> bool:
    """Every chart holder has drawn something: a canvas or svg (ECharts), a table, or a
    big number; an error or empty state counts as drawn (it is reported, not waited on)."""
    return bool(
        driver.execute_script(
            f"""return Array.from(document.querySelectorAll('{CHART}')).every(c =>
                c.querySelector('canvas, svg, table, .header-line, {ERROR}, {EMPTY}'))"""
        )
    )


def distinct_colours(png: bytes) -> int:
    """How many colours a downscaled screenshot has (a blank page has a handful)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").resize((240, 135))
        pixels = getattr(small, "get_flattened_data", small.getdata)()  # Pillow >= 12.1
        return len(set(pixels))


def save(report: ScreenReport, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    path.write_bytes(report.png)
    return path


def visible_text(driver: WebDriver) -> str:
    """Everything the page shows as text (tables, tiles, legends; not canvas drawings)."""
    return str(driver.execute_script("return document.body.innerText"))


def download_by_link(driver: WebDriver, link_text: str, folder: Path,
                     timeout: float = 60.0) -> Path:  # fmt: skip
    """Click the link whose text contains ``link_text`` on the open screen, as a person
    does, and return the file the browser saved into ``folder``."""
    from selenium.webdriver.common.by import By

    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)}
    )
    driver.find_element(By.PARTIAL_LINK_TEXT, link_text).click()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in set(folder.iterdir()) - before if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.2)
    raise WallCheckError(f"nothing downloaded {timeout:.0f}s after clicking {link_text!r}")


CHART_DATA_PATHS = ("/api/v1/chart/data", "/superset/explore_json/")  # the second: legacy maps


def chart_data_requests(driver: WebDriver) -> list[dict[str, str]]:
    """The chart-data requests the page sent since the last call (method, URL, body and
    its content type), as Chromium's network log has them; needs
    ``headless_chromium(capture_network=True)``."""
    import json

    requests = []
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined,no-untyped-call]
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.requestWillBeSent":
            continue
        request = message["params"]["request"]
        if any(path in request["url"] for path in CHART_DATA_PATHS):
            headers = {key.lower(): value for key, value in request.get("headers", {}).items()}
            requests.append({"method": request["method"], "url": request["url"],
                             "body": request.get("postData", ""),
                             "content_type": headers.get("content-type", "")})  # fmt: skip
    return requests
