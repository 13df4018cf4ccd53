"""The gallery in a real browser (Debian's chromium through Playwright) against the live stack:
muted preview on hover and focus, infinite scroll, filters without a page load, the back
button, the selection bar, and "use again" filling the form from a past video.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from generations.catalog import catalog
from generations.models import Generation
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, snap  # noqa: F401  (imported from here by other tests)
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tab(browse, gallery_owner):
    """A chromium page, signed in as the gallery's owner."""
    return browse(user=gallery_owner)


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


def test_a_filtered_view_scrolls_survives_a_visit_and_use_again_fills_the_form(gallery_owner, tab):
    flash = Generation.objects.filter(owner=gallery_owner, model_key="wan-2.6-flash")
    total = flash.count()
    assert total > 24, "the seeded gallery needs more than a page of one model"
    tab.goto("/gallery/")
    tab.locator(".filters-more summary").click()
    tab.select_option("#gallery-model", "wan-2.6-flash")
    tab.wait_for_url("**/gallery/?model=wan-2.6-flash")
    cards = tab.locator("[data-card]")
    expect(cards).to_have_count(24)
    # Scrolling loads the rest of the filtered view, and only it.
    tab.locator("#gallery-next").scroll_into_view_if_needed()
    expect(cards).to_have_count(total, timeout=10_000)
    name = catalog()["wan-2.6-flash"].name
    assert all(name in meta for meta in tab.locator(".card-meta").all_inner_texts())
    tab.evaluate("window.scrollTo(0, 0)")
    snap(tab, "gallery-filtered")

    # Open a video, then "use again": the form comes back filled as it was made.
    chosen = tab.locator("[data-card]").nth(1)
    chosen.locator("a.card-link").click()
    tab.wait_for_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    generation = Generation.objects.get(pk=tab.url.rstrip("/").rsplit("/", 1)[1])
    tab.get_by_role("link", name="Use again").click()
    expect(tab.locator("#model-form")).to_have_attribute("data-model", generation.model_key)
    assert tab.input_value("#id_prompt") == generation.prompt
    duration = generation.params["duration"]
    assert tab.is_checked(f'input[name=duration][value="{duration}"]')
    assert tab.is_checked(f'input[name=resolution][value="{generation.params["resolution"]}"]')
    expect(tab.locator("#field-image .reference-chosen")).to_be_visible()
    expect(tab.locator("#live-price .price")).to_have_text(f"{generation.cost} credits")
    snap(tab, "create-use-again")

    # Back twice: the gallery as it was left, filter and all.
    tab.go_back()
    tab.wait_for_url(re.compile(r"/generations/"))
    tab.go_back()
    tab.wait_for_url("**/gallery/?model=wan-2.6-flash")
    expect(tab.locator("#gallery-model")).to_have_value("wan-2.6-flash")
    expect(cards.first).to_be_visible()
    assert all(name in meta for meta in tab.locator(".card-meta").all_inner_texts())
