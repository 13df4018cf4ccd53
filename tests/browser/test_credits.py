"""Credits in a real browser against the live stack: a person short of credits is told how many
are missing; an admin grants some in the Django admin and the person sees the new balance; a
video the provider fails is refunded and its page says why; a refusal that names a field opens
the form again with the field marked. The admin's usage page closes the story.

Faults come from the simulator through markers in the prompt (docs/simulator.md).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import drop_file, snap
from tests.factories import image_bytes, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONE = "#field-img_url [data-dropzone]"


def _fill(page, prompt: str) -> None:
    page.goto("/")
    drop_file(page, ZONE, name="dunes.png", mime="image/png", data=image_bytes(size=(640, 360)))
    expect(page.locator("#field-img_url .reference-chosen")).to_be_visible()
    page.fill("#id_prompt", prompt)
    page.locator("label.segment", has_text="720P").click()
    page.fill("#id_duration", "2")
    expect(page.locator("#live-price .price")).to_have_text("3 credits")


def _fill_and_generate(page, prompt: str) -> None:
    _fill(page, prompt)
    page.locator("[data-submit]").click()


def test_credits_granted_spent_and_refunded_as_a_person_and_an_admin_see_them(browse):
    cleo = make_user(username="cleo", credits=1)
    root = make_user(username="root", is_staff=True, is_superuser=True)
    person = browse(user=cleo)
    admin = browse(user=root)

    # Too few credits: the price says what is missing and whom to ask; Generate is off.
    _fill(person, "A kite over the dunes at noon")
    expect(person.get_by_test_id("price-wallet")).to_contain_text("1 available — 2 more needed")
    expect(person.locator("#shortfall-note")).to_contain_text(
        "2 more credits needed. Ask an admin of the studio for credits."
    )
    expect(person.locator("[data-submit]")).to_be_disabled()
    snap(person, "credits-01-not-enough")

    # An admin grants 20 credits, with a reason, from the Django admin.
    admin.goto("/admin/accounts/user/")
    admin.locator("tr", has_text="cleo").locator("input[name=_selected_action]").check()
    admin.select_option("select[name=action]", "adjust_credits")
    admin.locator("button[name=index]").click()
    admin.fill("#id_amount", "20")
    admin.fill("#id_reason", "Welcome to the studio")
    snap(admin, "admin-grant-form")
    admin.locator("input[type=submit][value=Apply]").click()
    expect(admin.locator(".messagelist")).to_contain_text("Granted 20 credits on 1 wallet(s): cleo")
    expect(admin.locator("tr", has_text="cleo").locator("td.field-balance")).to_have_text("21")
    snap(admin, "admin-grant-done")

    # The person sees the new balance and why it came.
    person.goto("/account/")
    expect(person.get_by_test_id("balance")).to_have_text("21")
    expect(person.locator("table")).to_contain_text("Welcome to the studio")

    # A video the provider fails: the page says why, and the credits come back.
    _fill_and_generate(person, "A kite over the dunes at noon sim:fail=content_flagged")
    person.wait_for_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    failure = person.locator(".failure")
    expect(failure).to_contain_text(
        "The content was flagged by the provider's safety system.", timeout=30_000
    )
    expect(failure).to_contain_text("The 3 credits it cost were refunded")
    expect(person.locator("#announcer")).to_contain_text("Failed")
    snap(person, "credits-02-failed-refunded")
    person.get_by_role("link", name="Account", exact=True).click()
    expect(person.get_by_test_id("balance")).to_have_text("21")
    expect(person.locator("table tbody tr").first).to_contain_text("Refund")
    snap(person, "credits-03-account")

    # A refusal that names a field: "Fix and try again" reopens the form with it marked.
    _fill_and_generate(person, "A kite over the dunes at dusk sim:reject=duration")
    person.wait_for_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    expect(person.locator(".failure")).to_contain_text("duration", timeout=30_000)
    person.get_by_role("link", name="Fix and try again").click()
    expect(person.locator("#field-duration .field-error")).to_be_visible()
    assert "kite over the dunes at dusk" in person.input_value("#id_prompt")
    snap(person, "credits-04-fix-and-try-again")

    # The admin's usage page counts what was spent: here, nothing (both were refunded).
    admin.goto("/admin/usage/")
    expect(admin.get_by_role("heading", name="Credit usage")).to_be_visible()
    snap(admin, "admin-usage-after-refunds")
    assert person.errors == []


def test_an_admin_grants_from_the_persons_page_in_two_clicks(browse):
    from tests.browser.conftest import assert_accessible

    dora = make_user(username="dora", credits=0)
    admin = browse(user=make_user(username="root", is_staff=True, is_superuser=True))
    admin.goto(f"/admin/accounts/user/{dora.pk}/change/")
    expect(admin).to_have_title(re.compile(r"\| Studio admin$"))
    admin.get_by_role("link", name="Grant or deduct credits").click()  # one
    admin.fill("#id_amount", "30")
    admin.fill("#id_reason", "Short film course")
    snap(admin, "admin-grant-from-page")
    assert_accessible(admin, "the grant form of a person's admin page")
    admin.get_by_role("button", name="Done").click()  # two
    expect(admin.locator(".messagelist")).to_contain_text("Granted 30 credits on 1 wallet(s): dora")
    assert admin.url.endswith(f"/admin/accounts/user/{dora.pk}/change/")
    assert admin.errors == []
