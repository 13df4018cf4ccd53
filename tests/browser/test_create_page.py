"""The create page in a real browser (Debian's chromium, headless) against the live stack: the
parts only JavaScript and htmx make work — the counter, dependent fields, the seed button, an
upload on choice, the live price, the model swap and the API request panel.

With STUDIO_SCREENSHOTS=<folder> it also saves the page for both models there (the pictures in
docs/ are made this way).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.factories import PASSWORD, image_bytes, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPT = "A lighthouse beam sweeping over a calm sea at dusk, the camera slowly rising"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def browser_page(live_stack, monkeypatch):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing (CI needs it for the browser tests)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop; the test's own database calls stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.errors = errors
        yield page
        browser.close()


def _login(page, url: str, username: str) -> None:
    page.goto(url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    if folder:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_the_create_page_works_as_a_person_uses_it(live_stack, browser_page):
    page = browser_page
    make_user(username="browser-maker", credits=50)
    picture = Path(tempfile.mkdtemp()) / "lighthouse.png"
    picture.write_bytes(image_bytes(size=(640, 360)))
    _login(page, live_stack.url, "browser-maker")

    # The counter counts code points, as the server does (an emoji is one, not two).
    page.fill("#id_negative_prompt", "🎬🎬🎬 blur")
    assert page.inner_text("[data-counter-for=id_negative_prompt]") == "8 / 500 characters"
    page.fill("#id_negative_prompt", "")
    page.fill("#id_prompt", PROMPT)
    assert page.inner_text("[data-counter-for=id_prompt]") == f"{len(PROMPT)} / 1500 characters"

    # Shot type depends on Prompt Extend: disabled, with its hint, while it is off.
    assert page.is_enabled("#id_shot_type_1")
    page.click("label[for=id_prompt_extend]")
    assert page.is_disabled("#id_shot_type_1")
    assert page.is_visible("#field-shot_type .condition-hint")
    page.click("label[for=id_prompt_extend]")
    page.check("#id_shot_type_1", force=True)

    # The seed's button draws from the field's range.
    page.click("[data-seed-random=id_seed]")
    assert 0 <= int(page.input_value("#id_seed")) <= 2147483647

    # A chosen file is uploaded and validated at once; the form then carries its reference.
    page.set_input_files("#id_img_url", str(picture))
    page.wait_for_selector("#field-img_url .reference-chosen")
    assert "640×360 px" in page.inner_text("#field-img_url .reference-facts")
    assert page.input_value("#id_img_url") == ""
    assert page.is_checked("#field-img_url input[type=radio][name=img_url]")

    # The price follows the form: 12 s costs the 15 s step, 1080P with audio.
    page.fill("#id_duration", "12")
    page.wait_for_function("document.querySelector('#live-price').innerText.includes('10 credits')")
    page.click(".api-request summary")
    page.wait_for_function(
        "document.querySelector('#api-request-body').innerText.includes('\"duration\": 12')"
    )
    body = page.inner_text("#api-request-body")
    assert '"shot_type": "multi"' in body and "img_url" in body and "Bearer" in body
    _screenshot(page, "create-modelstream.png")

    # Another model: the form is swapped in place and keeps what was entered, by role.
    page.check('input[name=model][value="wan-2.6-flash"]', force=True)
    page.wait_for_selector('#model-form[data-model="wan-2.6-flash"]')
    assert page.input_value("#id_prompt") == PROMPT
    assert page.is_checked('input[name=duration][value="15"]')
    assert page.is_checked("#id_enable_prompt_expansion")
    assert page.is_checked("#id_multi_shots")
    assert "640×360 px" in page.inner_text("#field-image .reference-facts")
    page.wait_for_function("document.querySelector('#live-price').innerText.includes('10 credits')")
    page.click(".api-request summary")
    assert "wanParams" in page.inner_text("#api-request-body")
    _screenshot(page, "create-apiframe.png")

    page.click("[data-submit]")
    page.wait_for_url(re.compile(r".*/generations/[0-9a-f-]{36}/$"))
    assert page.errors == []
