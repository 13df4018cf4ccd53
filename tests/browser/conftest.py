"""What the browser tests share: one headless chromium per test module, a fresh browser
context per person, signing in without the login form, a real drag-and-drop, screenshots, and
the accessibility check (axe-core, vendored under vendor/axe-core/).

Every test here runs against the session's live stack (tests/live_stack.py): gunicorn, a real
qcluster and the simulator in fast mode, on loopback.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.live_stack import ARTIFACTS

CHROMIUM = os.environ.get("STUDIO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE_SOURCE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
VIEWPORTS = {
    "desktop": {"width": 1280, "height": 900},
    "wide": {"width": 1440, "height": 900},
    "phone": {"width": 390, "height": 844},
}


@pytest.fixture(scope="module")
def chromium():
    """One browser for all the tests of a module; each test opens its own contexts.

    Module scope (not session): Playwright's sync API cannot run twice in one thread, so a test
    module (here or in another package) that starts its own Playwright can run between these.
    """
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is missing at {CHROMIUM} (CI needs it for the browser tests)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread for as long as it runs; the
    # tests' own ORM calls (test data, checks) stay synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def session_cookie(user) -> str:
    """A signed-in session for `user`, made here rather than through the login form, so the
    login throttles (shared through the cache by every test) are left alone."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def browse(live_stack, chromium):
    """Open a page in a fresh browser context: `browse(user=None, viewport="desktop",
    color_scheme="light")`. Signed in as `user` when given. Each page records its script
    errors in `page.errors`."""
    contexts = []

    def open_page(*, user=None, viewport: str = "desktop", color_scheme: str = "light"):
        context = chromium.new_context(
            base_url=live_stack.url,
            viewport=VIEWPORTS[viewport],
            color_scheme=color_scheme,
        )
        contexts.append(context)
        if user is not None:
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": session_cookie(user),
                        "url": live_stack.url,
                    }
                ]
            )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(f"{page.url}: {error}"))
        page.on(
            "console",
            lambda message: (
                page.errors.append(f"{page.url}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        return page

    yield open_page
    for context in contexts:
        context.close()


def snap(page, name: str, *, full_page: bool = True, animations: str = "disabled") -> Path:
    """Save a screenshot under test-artifacts/screenshots/ (a folder CI keeps). Animations are
    stopped at their end unless `animations="allow"` (a toast's end is its leaving)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if full_page:
        # From the top: a sticky part (the create page's price) is drawn where the scroll left it.
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page, animations=animations)
    return path


def axe_violations(page) -> list[dict]:
    """Run axe-core's default rules (WCAG 2.x A and AA, and best practices) on the page."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated, not added as a <script>: the page's Content-Security-Policy stays intact.
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    return page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(" "),
                                                      summary: n.failureSummary}))}));
        }"""
    )


def assert_accessible(page, where: str = "") -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe found problems on {where or page.url}:\n" + json.dumps(
        violations, indent=2, ensure_ascii=False
    )


def drop_file(
    page, selector: str, *, name: str, mime: str, data: bytes = b"", size: int = 0
) -> None:
    """Drop a file on an element the way a browser does: dragenter, dragover and drop events
    carrying a DataTransfer that holds the File. `size` makes a file of that many zero bytes in
    the page instead of sending `data` (for files too big to be worth sending)."""
    transfer = page.evaluate_handle(
        """([name, mime, encoded, size]) => {
            const bytes = size ? new Uint8Array(size)
                               : Uint8Array.from(atob(encoded), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: mime}));
            return transfer;
        }""",
        [name, mime, base64.b64encode(data).decode(), size],
    )
    zone = page.locator(selector)
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    assert "is-dragging" in (zone.get_attribute("class") or ""), "no feedback while dragging"
    zone.dispatch_event("drop", {"dataTransfer": transfer})
