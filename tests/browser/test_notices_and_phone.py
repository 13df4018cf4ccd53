"""Notices never cover the work, and a phone keeps the price and Generate at hand.

Toasts: at most three, never over the page's primary action, gone by themselves after a few
seconds and kept in the header's list. On a 390×844 phone the price, the paying wallet and the
page's one Generate button sit in a bar fixed at the bottom.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, snap
from tests.factories import make_generation, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The element at the centre of Generate, and whether it is Generate (or inside it).
AT_GENERATE = """
() => {
  const button = document.querySelector('[data-submit]');
  const box = button.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {hit: hit ? hit.outerHTML.slice(0, 120) : null, ok: !!hit && button.contains(hit)};
}
"""

IN_VIEW = """
selector => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return box.top >= 0 && box.left >= 0 && box.bottom <= innerHeight && box.right <= innerWidth
    && box.height > 0;
}
"""


def _five_endings(person, tag):
    for number in range(5):
        make_generation(owner=person, state="succeeded", prompt=f"{tag} take {number}")


@pytest.mark.parametrize("viewport", ["wide", "phone"])
def test_five_fresh_notices_never_cover_generate_and_leave_by_themselves(browse, viewport):
    person = make_user(username=f"toasted-{viewport}", credits=200)
    _five_endings(person, viewport)
    page = browse(user=person, viewport=viewport)
    page.goto("/")
    toasts = page.locator("#generation-notices [data-toast]")
    expect(toasts).to_have_count(3)  # at most three at once
    expect(page.locator("#generation-notices")).to_contain_text("2 more under Notices")
    result = page.evaluate(AT_GENERATE)
    assert result["ok"], result
    snap(page, f"notices-{viewport}", full_page=False, animations="allow")
    # Scrolled to the end of the form, the toasts still keep off Generate.
    page.mouse.wheel(0, 2000)
    page.wait_for_timeout(200)
    result = page.evaluate(AT_GENERATE)
    assert result["ok"], result
    expect(toasts).to_have_count(3)  # still there: the checks above saw them

    # They leave by themselves, and the header's list keeps all five.
    expect(toasts).to_have_count(0, timeout=12_000)
    page.get_by_text("Notices", exact=False).first.click()
    expect(page.locator("#notice-items li")).to_have_count(5)
    # A new page brings no toast again for what was shown.
    page.goto("/gallery/")
    expect(page.locator("#generation-notices [data-toast]")).to_have_count(0)
    assert page.errors == []


def test_on_a_phone_the_price_the_wallet_and_generate_stay_in_view(browse):
    person = make_user(username="phone-maker", credits=200)
    page = browse(user=person, viewport="phone")
    page.goto("/")
    for selector in ("[data-submit]", "#live-price .price", "[data-testid=paying-wallet]"):
        assert page.evaluate(IN_VIEW, selector), selector
    assert page.locator("[data-submit]").count() == 1  # the one Generate, not a copy
    page.fill("#id_prompt", "A paper boat drifting down a rain-soaked street at night")
    page.locator("#id_prompt").scroll_into_view_if_needed()
    for selector in ("[data-submit]", "#live-price .price"):
        assert page.evaluate(IN_VIEW, selector), selector
    result = page.evaluate(AT_GENERATE)
    assert result["ok"], result
    # The bar covers nothing at the end of the page: the footer's last line clears it.
    page.mouse.wheel(0, 20_000)
    page.wait_for_timeout(200)
    assert page.evaluate(
        "document.querySelector('.site-footer span').getBoundingClientRect().bottom"
        " <= document.querySelector('.action-bar').getBoundingClientRect().top"
    )
    snap(page, "create-phone", full_page=False)
    assert_accessible(page, "the create page on a phone")
    assert page.errors == []
