"""Open an HTML file in the system's headless Chromium (driven by Playwright) and record
what went wrong: console errors, uncaught page errors and requests that leave the file.

Playwright drives the Debian ``chromium`` package through ``executable_path``; its own
browser download (``playwright install``) is not needed.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: URL schemes that stay inside the page (everything else is a network request).
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
#: Waits until every plotly chart on the page has drawn its SVG (or there are none).
PLOTS_DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')]
    .every(div => div.querySelector('.main-svg'))"""


def chromium_path() -> str:
    """The system Chromium, or one clear error saying how to get it."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"no Chromium found (looked for {', '.join(BROWSERS)} on PATH); "
                       f"install it, e.g. `apt-get install chromium`")


@dataclasses.dataclass
class OpenPage:
    """A loaded page and what it reported while loading and drawing."""

    page: Page
    console_errors: list[str] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    external_requests: list[str] = dataclasses.field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return ([f"console: {m}" for m in self.console_errors]
                + [f"page error: {m}" for m in self.page_errors]
                + [f"request: {u}" for u in self.external_requests])

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def screenshot(self, path: Path) -> Path:
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless system Chromium; open several pages in it with :func:`open_page`."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Browser, path: Path, *, width: int = 1440, height: int = 900,
              timeout_ms: int = 30_000) -> Iterator[OpenPage]:
    """Load ``path`` and wait for its charts; network requests are recorded and refused
    (a self-contained page makes none)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        opened = OpenPage(page)
        _listen(opened)
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        page.wait_for_function(PLOTS_DRAWN, timeout=timeout_ms)
        yield opened
    finally:
        page.close()


@contextmanager
def open_html(path: Path, **options: int) -> Iterator[OpenPage]:
    """:func:`open_page` in a browser of its own."""
    with chromium() as browser, open_page(browser, path, **options) as opened:
        yield opened


def _listen(opened: OpenPage) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.console_errors.append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith(LOCAL_SCHEMES):
            opened.external_requests.append(request.url)

    def on_route(route: Route) -> None:
        if route.request.url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            route.abort()  # recorded by on_request; never let it reach the network

    opened.page.on("console", on_console)
    opened.page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
    opened.page.on("request", on_request)
    opened.page.route("**/*", on_route)
