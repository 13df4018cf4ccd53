"""The gallery in a real browser (Debian's chromium through Playwright) against the live stack:
muted preview on hover and focus, infinite scroll, filters without a page load, the back
button, and the selection bar.
"""

from __future__ import annotations

import io
import os

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import expect, sync_playwright

from generations.models import Generation
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls made here for
    # test data are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")


@pytest.fixture
def tab(live_stack, gallery_owner):
    """A chromium page, signed in as the gallery's owner."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            base_url=live_stack.url, viewport={"width": 1280, "height": 900}
        )
        # A session made here, handed to the browser: no login form, so the login rate limit
        # and lock-out (shared by every test through the cache) are left alone.
        client = Client()
        client.force_login(gallery_owner)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_stack.url,
                }
            ]
        )
        tab = context.new_page()
        try:
            yield tab
        finally:
            context.close()
            browser.close()


@pytest.fixture
def gallery_owner(live_stack):
    user = make_user(username="browser-gallery", credits=10)
    call_command("seed_gallery", user=user.username, count=60, random_seed=5, stdout=io.StringIO())
    return user


def test_a_card_plays_muted_on_hover_and_on_focus_and_stops_after(gallery_owner, tab):
    tab.goto("/gallery/")
    card = tab.locator("[data-card]").first
    video = card.locator("video.card-video")
    card.hover()
    expect(card).to_have_class("gallery-card is-playing", timeout=10_000)
    assert video.evaluate("v => !v.paused && v.muted && v.currentTime > 0") is True
    tab.mouse.move(5, 5)
    tab.wait_for_function("v => v.paused", arg=video.element_handle())

    second = tab.locator("[data-card]").nth(1)
    second.locator("a.card-link").focus()
    tab.wait_for_function(
        "v => !v.paused && v.muted", arg=second.locator("video").element_handle(), timeout=10_000
    )


def test_scrolling_down_loads_the_next_pages_without_changing_the_url(gallery_owner, tab):
    tab.goto("/gallery/")
    cards = tab.locator("[data-card]")
    expect(cards).to_have_count(24)
    tab.locator("#gallery-next").scroll_into_view_if_needed()
    expect(cards).to_have_count(48, timeout=10_000)
    tab.locator("#gallery-next").scroll_into_view_if_needed()
    expect(cards).to_have_count(60, timeout=10_000)
    expect(tab.locator("#gallery-next")).to_have_count(0)
    assert tab.url.endswith("/gallery/")
    ids = tab.locator(".card-body").evaluate_all("els => els.map(e => e.id)")
    assert len(set(ids)) == 60


def test_filters_update_the_grid_and_the_url_and_back_restores_them(gallery_owner, tab):
    first = Generation.objects.filter(owner=gallery_owner).order_by("-created_at").first()
    Generation.objects.filter(pk=first.pk).update(prompt="A unique zanzibar festival")
    tab.goto("/gallery/")
    tab.evaluate("window.__stayed = true")
    tab.fill("#gallery-q", "zanzibar")
    tab.wait_for_url("**/gallery/?q=zanzibar")
    expect(tab.locator("[data-card]")).to_have_count(1)
    assert tab.evaluate("window.__stayed") is True  # no full tab load
    tab.select_option("#gallery-sort", "oldest")
    tab.wait_for_url("**/gallery/?q=zanzibar&sort=oldest")
    tab.go_back()
    tab.wait_for_url("**/gallery/?q=zanzibar")
    tab.go_back()
    tab.wait_for_url("**/gallery/")
    expect(tab.locator("[data-card]")).to_have_count(24)
    expect(tab.locator("#gallery-q")).to_have_value("")


def test_selecting_cards_enables_the_bulk_actions(gallery_owner, tab):
    tab.goto("/gallery/")
    favourite = tab.locator('.bulk-bar button[value="favourite"]')
    expect(favourite).to_be_disabled()
    boxes = tab.locator("[data-select]")
    boxes.nth(0).check()
    boxes.nth(2).check()
    expect(tab.locator("[data-bulk-count]")).to_have_text("2 videos selected")
    expect(favourite).to_be_enabled()
    favourite.click()
    tab.wait_for_url("**/gallery/")
    expect(tab.locator(".message")).to_contain_text("Added to your favourites: 2 videos.")
    expect(tab.locator('.favourite-button[aria-pressed="true"]')).to_have_count(2)


def test_the_star_toggles_a_favourite_in_place(gallery_owner, tab):
    tab.goto("/gallery/")
    tab.evaluate("window.__stayed = true")
    star = tab.locator(".favourite-button").first
    star.click()
    expect(tab.locator(".favourite-button").first).to_have_attribute("aria-pressed", "true")
    assert tab.evaluate("window.__stayed") is True
    assert gallery_owner.favourites.count() == 1


def test_the_gallery_and_generation_page_work_under_the_production_csp(gallery_owner, tab):
    from studio.security import content_security_policy

    directives = content_security_policy(media_origins=[])["DIRECTIVES"]
    policy = "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())

    def with_policy(route):
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": policy}
        route.fulfill(response=response, headers=headers)

    violations: list[str] = []
    tab.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    tab.on("pageerror", lambda error: violations.append(str(error)))
    tab.route("**/*", with_policy)
    tab.goto("/gallery/")
    card = tab.locator("[data-card]").first
    card.hover()
    expect(card).to_have_class("gallery-card is-playing", timeout=10_000)
    tab.locator("#gallery-next").scroll_into_view_if_needed()
    expect(tab.locator("[data-card]")).to_have_count(48, timeout=10_000)
    tab.locator(".favourite-button").first.click()
    expect(tab.locator(".favourite-button").first).to_have_attribute("aria-pressed", "true")
    tab.locator("a.card-link").first.click()
    tab.wait_for_url("**/generations/**")
    tab.wait_for_function("document.querySelector('video.player').readyState >= 1")
    assert violations == []
