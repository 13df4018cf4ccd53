"""Pages under the production Content-Security-Policy, in Debian's chromium: no violation.

The policy (studio/settings/production.py) allows no inline script or style. Templates keep to
that; this test shows a browser agrees, page by page, including what htmx itself does.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from generations.models import Generation
from studio.security import content_security_policy
from tests.factories import PASSWORD, make_user
from tests.production.services import service_missing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def csp_server(settings):
    """A live server of its own, started after the policy is set (a server builds its middleware
    chain once, when it starts)."""
    from pytest_django.live_server_helper import LiveServer

    settings.CONTENT_SECURITY_POLICY = content_security_policy(media_origins=[])
    settings.MIDDLEWARE = ["csp.middleware.CSPMiddleware", *settings.MIDDLEWARE]
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "csp"]
    server = LiveServer("127.0.0.1:0")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        service_missing("chromium")
    # Playwright runs an event loop in this thread; the test's own ORM calls come first.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            try:
                yield browser
            finally:
                browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_no_page_breaks_the_policy(csp_server, chromium):
    live_server = csp_server
    person = make_user(username="csp-person", credits=50)
    running = Generation.objects.create(
        owner=person,
        model_key="wan2.6-i2v-flash",
        provider="modelstream",
        prompt="still rendering",
        state=Generation.State.RUNNING,
        progress=30,
        deadline_at=timezone.now() + timedelta(hours=1),
    )
    page = chromium.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text[:120]}")
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    page.goto(live_server.url + "/accounts/login/")
    assert page.context.request.get(live_server.url + "/accounts/login/").headers[
        "content-security-policy"
    ]
    page.fill("input[name=username]", "csp-person")
    page.fill("input[name=password]", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_url(live_server.url + "/")
    for path in ("/", "/gallery/", f"/generations/{running.id}/", "/account/"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
    # The status card polls itself with htmx: let one swap happen.
    page.goto(live_server.url + f"/generations/{running.id}/")
    page.wait_for_timeout(1500)
    assert violations == [], "\n".join(violations)
