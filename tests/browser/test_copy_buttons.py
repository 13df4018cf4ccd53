"""Copy buttons where a person copies: the API token shown once, share and invite links, and
the request preview (JSON and curl). Each puts exactly the shown text on the clipboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from generations.models import Generation
from tests.browser.conftest import assert_accessible
from tests.factories import make_generation, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _copy(page, button: str) -> str:
    page.click(button)
    expect(page.locator(button)).to_have_text("Copied")
    return page.evaluate("navigator.clipboard.readText()")


def test_each_copy_button_copies_what_it_stands_beside(browse):
    person = make_user(username="browser-copier", credits=200)
    page = browse(user=person)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    page.goto("/account/")
    page.fill("#id_name", "render farm")
    page.click("button:has-text('Create a token')")
    token = page.input_value("#new-token")
    assert token.startswith("stk_")
    assert _copy(page, "[data-copy=new-token]") == token
    assert_accessible(page, "account page with a new token")

    generation = make_generation(owner=person)
    page.goto(f"/generations/{generation.id}/")
    page.click("button:has-text('Make a public link')")
    share = page.input_value("#share-url")
    assert f"/s/{Generation.objects.get(pk=generation.id).share_token}/" in share
    assert _copy(page, "[data-copy=share-url]") == share

    team = make_team(slug="copy-crew", credits=0)
    Membership.objects.create(team=team, user=person, role="owner")
    page.goto(f"/teams/{team.slug}/members/")
    page.click("button:has-text('Make an invite link')")
    invite = page.input_value("#invite-link")
    assert "/teams/join/" in invite
    assert _copy(page, "[data-copy=invite-link]") == invite

    page.goto("/")
    page.fill("#id_prompt", "A lighthouse at dusk")
    page.click("summary:has-text('request')")
    expect(page.locator("#api-request-json")).to_contain_text("A lighthouse at dusk")
    body = page.inner_text("#api-request-json")
    assert _copy(page, "[data-copy=api-request-json]") == body.strip()
    curl = page.inner_text("#api-request-curl")
    copied = _copy(page, "[data-copy=api-request-curl]")
    assert copied == curl.strip() and copied.startswith("curl ")
    assert page.errors == []
