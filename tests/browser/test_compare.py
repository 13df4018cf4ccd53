"""Compare in a real browser: two videos played, paused, seeked and stepped together."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, snap
from tests.factories import make_generation, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMES = "[...document.querySelectorAll('[data-compare-video]')].map(v => v.currentTime)"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_two_videos_seek_play_and_step_together(browse, viewport):
    person = make_user(username=f"comparer-{viewport}", credits=100)
    one = make_generation(owner=person, state="succeeded", prompt="A lantern, seed one", seed=1)
    two = make_generation(owner=person, state="succeeded", prompt="A lantern, seed two", seed=2)
    page = browse(user=person, viewport=viewport)
    page.goto(f"/compare/?ids={one.id},{two.id}")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-compare-video]')].every(v => v.readyState >= 1)"
    )
    # A seek on the shared position moves both.
    seek = page.locator("[data-compare-seek]")
    seek.evaluate("(input) => { input.value = '500'; input.dispatchEvent(new Event('input')); }")
    page.wait_for_timeout(300)
    first, second = page.evaluate(TIMES)
    assert first > 0.5 and abs(first - second) <= 0.1, (first, second)
    # Played and paused together.
    page.get_by_role("button", name="Play all").click()
    page.wait_for_timeout(700)
    page.get_by_role("button", name="Pause all").click()
    page.wait_for_timeout(200)
    first, second = page.evaluate(TIMES)
    assert abs(first - second) <= 0.1, (first, second)
    # The keyboard steps one frame, in both.
    page.locator("[data-compare]").focus()
    page.keyboard.press(".")
    page.wait_for_timeout(200)
    stepped = page.evaluate(TIMES)
    assert 0 < stepped[0] - first < 0.1 and abs(stepped[0] - stepped[1]) <= 0.1
    expect(page.locator("tr.differs th")).to_contain_text(["Prompt", "Seed"])
    snap(page, f"compare-{viewport}", full_page=False)
    assert_accessible(page, f"compare ({viewport})")
    assert page.errors == []
