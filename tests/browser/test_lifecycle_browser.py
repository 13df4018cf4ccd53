"""A generation's progress and the notice of its end in a real browser (Debian's chromium through
Playwright) against the live stack, under the production Content-Security-Policy: the page
updates itself with htmx, nothing on it moves as the figures change, and elsewhere in the
studio a notice comes when the generation ends.

The generation's state is changed here in the database, as the tracker would change it; its
next read is set far ahead so the live stack's own tracker leaves it alone.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from generations.models import Generation
from tests.browser.conftest import assert_accessible, snap
from tests.factories import make_generation, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every layout shift the page has, from its first paint (test code, not the page's).
OBSERVE_SHIFTS = """
window.__shifts = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__shifts.push({value: entry.value, at: entry.startTime});
  }
}).observe({type: "layout-shift", buffered: true});
"""


@pytest.fixture
def person(live_stack):
    return make_user(username="browser-progress", credits=200)


@pytest.fixture
def tab(browse, person):
    """A page signed in as `person`, every response under the production CSP, with its CSP
    violations and script errors collected in `tab.errors`."""
    from studio.security import content_security_policy

    directives = content_security_policy(media_origins=[])["DIRECTIVES"]
    policy = "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())

    def with_policy(route):
        response = route.fetch()
        route.fulfill(
            response=response, headers={**response.headers, "content-security-policy": policy}
        )

    page = browse(user=person)
    page.on(
        "console",
        lambda m: page.errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.route("**/*", with_policy)
    page.add_init_script(OBSERVE_SHIFTS)
    return page


def _running(person, **fields) -> Generation:
    generation = make_generation(owner=person, state="running")
    now = timezone.now()
    Generation.objects.filter(pk=generation.id).update(
        submitted_at=now, next_poll_at=now + timedelta(hours=1), **fields
    )
    return generation


def test_the_progress_updates_in_place_with_nothing_moving_then_the_video(person, tab):
    done = make_generation(owner=person)  # a past run: there is an estimate
    Generation.objects.filter(pk=done.id).update(
        submitted_at=timezone.now() - timedelta(minutes=10),
        finished_at=timezone.now() - timedelta(minutes=9),
    )
    generation = _running(person, progress=5)
    tab.goto(f"/generations/{generation.id}/")
    status = tab.locator("#generation-status")
    expect(status).to_contain_text("Running · making the video")
    expect(status).to_contain_text("5 %")
    expect(status).to_contain_text("left")
    assert_accessible(tab, "a generation's page while it runs")
    snap(tab, "lifecycle-progress")
    tab.wait_for_timeout(1500)  # fonts and images settle
    before = len(tab.evaluate("window.__shifts"))

    for percent in (40, 75, 99):
        Generation.objects.filter(pk=generation.id).update(progress=percent)
        expect(status).to_contain_text(f"{percent} %", timeout=10_000)
    expect(status.locator("time")).not_to_have_text("0:00")
    shifts = tab.evaluate("window.__shifts")[before:]
    assert sum(shift["value"] for shift in shifts) == 0, shifts

    Generation.objects.filter(pk=generation.id).update(
        state="failed", finished_at=timezone.now(), error_message="The content was flagged."
    )
    expect(status).to_contain_text("The content was flagged.", timeout=10_000)
    requests: list[str] = []
    tab.on("request", lambda request: requests.append(request.url))
    tab.wait_for_timeout(2500)
    assert not [url for url in requests if f"/generations/{generation.id}/" in url]  # stopped
    assert tab.errors == []


def test_a_notice_comes_elsewhere_when_a_generation_ends(person, tab):
    generation = _running(person, progress=50, prompt="Lanterns over a harbour")
    tab.goto("/account/")
    region = tab.locator("#generation-notices")
    assert region.get_attribute("aria-live") == "polite"
    expect(region).to_be_empty()

    Generation.objects.filter(pk=generation.id).update(
        state="succeeded", finished_at=timezone.now(), progress=100
    )
    expect(region).to_contain_text("Your video is ready: Lanterns over a harbour", timeout=12_000)
    link = region.get_by_role("link", name="Lanterns over a harbour")
    assert link.get_attribute("href") == f"/generations/{generation.id}/"
    snap(tab, "lifecycle-notice", full_page=False, animations="allow")
    region.get_by_role("button", name="Dismiss").click()
    expect(region.locator("[data-toast]")).to_have_count(0)
    assert tab.url.endswith("/account/")  # dismissed in place
    # The header's list has it too, and keeps it after the toast is gone.
    expect(tab.locator("#notice-count")).to_have_text("1")
    assert_accessible(tab, "a page with the notice")
    tab.get_by_text("Notices").click()
    expect(tab.locator("#notice-items")).to_contain_text("Lanterns over a harbour")
    assert tab.errors == []


# Every element that shows a generation's status in words, and whether any is cut off.
CLIPPED_STATUS = """
() => [...document.querySelectorAll(
    '.progress-label, .progress-estimate, .progress-elapsed, .card-state, .card-reason'
  )].filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth)
   .map(e => e.className + ': ' + e.textContent.trim())
"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_no_status_text_is_cut_off_on_cards_or_the_generation_page(person, browse, viewport):
    # Four at the provider: a fifth waits for a free slot, the longest status the studio says.
    for _ in range(4):
        _running(person, progress=40)
    waiting = make_generation(owner=person, state="pending")
    held = make_generation(owner=person, state="pending")
    Generation.objects.filter(pk=held.id).update(
        dispatch_requested_at=timezone.now() + timedelta(minutes=30)
    )
    failed = make_generation(owner=person, state="failed")
    Generation.objects.filter(pk=failed.id).update(error_kind="refused", error_param="duration")

    page = browse(user=person, viewport=viewport)
    page.goto("/gallery/")
    expect(page.locator(".card-reason").first).to_contain_text("refused the request")
    expect(page.locator(".progress-label", has_text="next try at").first).to_be_visible()
    assert page.evaluate(CLIPPED_STATUS) == []
    for generation, words in [(waiting, "waiting for a free slot"), (held, "asked to wait")]:
        page.goto(f"/generations/{generation.id}/")
        expect(page.locator("#generation-status .progress-label")).to_contain_text(words)
        assert page.evaluate(CLIPPED_STATUS) == []
    assert page.errors == []
