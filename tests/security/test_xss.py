"""Markup in what people and providers type is shown as text, everywhere it is shown.

Prompts, team names, usernames and provider error messages each carry a payload that would run
script if it reached a page as markup. Every place that shows one of them is fetched through the
HTTP layer, parsed as a browser would, and checked: the payload is there, as text, and no
element or attribute of it came alive. Usernames cannot hold markup when chosen on the sign-up
page; an account made otherwise (imported, created in code) is still shown safely.
"""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest

from accounts.ledger import credits_grant, wallet_for_team
from accounts.models import Membership, User
from accounts.services import team_create
from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.providers.modelstream import parse_task
from generations.services import (
    generation_apply_provider_task,
    generation_create,
    generation_transition,
    reference_store,
)
from generations.sharing import generation_share_link_enable
from generations.uploads import image_inspect
from tests.factories import image_upload, make_finished_generation, make_user

pytestmark = pytest.mark.django_db


def payload(kind: str) -> str:
    return f"<script>alert('{kind}')</script><img src=x onerror=alert(1) data-xss={kind}>"


PROMPT, TEAM, USER, PROVIDER = (payload(k) for k in ("prompt", "team", "user", "provider"))


class _Page(HTMLParser):
    """What a browser would build from a page: its elements, their attributes, its text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        self.text.extend(value for value in attributes.values() if value)
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def assert_shown_as_text(html: str, *payloads: str) -> None:
    page = _Page(html)
    for tag, attributes in page.elements:
        assert "data-xss" not in attributes, f"<{tag}> from a payload became an element"
        assert not any(name.startswith("on") for name in attributes), f"<{tag}> has a handler"
    assert not any("alert(" in script for script in page.scripts), "a payload's script runs"
    text = "".join(page.text)
    for item in payloads:
        assert item in text, f"{item!r} is not shown"


# --- Data --------------------------------------------------------------------------------


@pytest.fixture
def world(db):
    """A person whose username, team, prompt and provider error all carry markup."""
    maker = make_user(username=USER, credits=100)  # in code: sign-up would refuse this name
    team = team_create(name=TEAM, creator=maker)
    credits_grant(wallet=wallet_for_team(team=team), amount=50, actor=None, reason="test")
    finished = make_finished_generation(owner=maker, team=team, prompt=PROMPT)
    generation_share_link_enable(generation=finished, by=maker)
    failed = _charged(maker, team)
    for state in (Generation.State.SUBMITTING, Generation.State.QUEUED):
        generation_transition(generation_id=failed.pk, to=state, provider_task_id="t-1")
    # The provider's own words, through the real parser and the real service.
    answer = {"task_id": "t-1", "status": "failed", "error": {"message": PROVIDER, "code": "x"}}
    generation_apply_provider_task(generation_id=failed.pk, task=parse_task(answer))
    failed.refresh_from_db()
    assert failed.state == Generation.State.FAILED and failed.error_message == PROVIDER
    staff = make_user(username="staff", is_staff=True, is_superuser=True)
    return {"maker": maker, "team": team, "finished": finished, "failed": failed, "staff": staff}


@pytest.fixture
def as_maker(client, world):
    client.force_login(world["maker"])
    return client


@pytest.fixture
def as_staff(client, world):
    client.force_login(world["staff"])
    return client


def _charged(maker, team) -> Generation:
    """A generation made and paid for as the create page makes it (so usage reports show it)."""
    upload = image_upload()
    reference = reference_store(
        owner=maker, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )
    return generation_create(
        user=maker,
        model=catalog_get("wan2.6-i2v-flash"),
        values={"prompt": PROMPT, "resolution": "720P", "duration": 5, "audio": False},
        references={"img_url": reference},
        team=team,
    )


def _get(client, path: str, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


# --- Pages -------------------------------------------------------------------------------


def test_the_generation_page_shows_prompt_and_provider_error_as_text(as_maker, world):
    assert_shown_as_text(_get(as_maker, f"/generations/{world['finished'].id}/"), PROMPT)
    assert_shown_as_text(_get(as_maker, f"/generations/{world['failed'].id}/"), PROMPT, PROVIDER)


def test_the_htmx_status_fragment_shows_the_provider_error_as_text(as_maker, world):
    fragment = _get(as_maker, f"/generations/{world['failed'].id}/", **{"HX-Request": "true"})
    assert "<html" not in fragment  # the fragment, not the page
    assert_shown_as_text(fragment, PROVIDER)


def test_the_gallery_shows_prompts_as_text(as_maker):
    assert_shown_as_text(_get(as_maker, "/gallery/"), PROMPT[:80])


def test_the_team_pages_show_team_name_username_and_prompts_as_text(as_maker, world):
    slug = world["team"].slug
    assert_shown_as_text(_get(as_maker, "/teams/"), TEAM)
    assert_shown_as_text(_get(as_maker, f"/teams/{slug}/"), TEAM, USER, PROMPT[:80])
    assert_shown_as_text(_get(as_maker, f"/teams/{slug}/members/"), TEAM, USER)


def test_the_create_page_shows_the_team_name_as_text(as_maker):
    assert_shown_as_text(_get(as_maker, "/"), TEAM)


def test_the_create_page_gives_back_a_refused_prompt_as_text(as_maker):
    """An invalid form comes back with what was typed: in a textarea, where `</textarea>`
    must not close the element early."""
    typed = "</textarea>" + PROMPT
    response = as_maker.post("/", {"model": "wan2.6-i2v-flash", "prompt": typed, "duration": "999"})
    assert response.status_code == 200
    assert_shown_as_text(response.content.decode(), typed)


def test_the_account_page_shows_username_and_team_as_text(as_maker):
    assert_shown_as_text(_get(as_maker, "/account/"), USER)


def test_the_public_share_page_shows_the_prompt_as_text(client, world):
    html = _get(client, f"/s/{world['finished'].share_token}/")
    assert_shown_as_text(html, PROMPT)


def test_a_markup_username_is_refused_at_sign_up(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": USER,
            "email": "x@example.test",
            "password1": "a-long-pass-9x!",
            "password2": "a-long-pass-9x!",
        },
    )
    assert response.status_code == 200
    assert_shown_as_text(response.content.decode(), USER)  # given back, as text
    assert not User.objects.filter(email="x@example.test").exists()


def test_the_login_page_gives_back_a_markup_username_as_text(client, world):
    response = client.post("/accounts/login/", {"username": USER, "password": "wrong"})
    assert response.status_code == 200
    assert_shown_as_text(response.content.decode(), USER)


# --- The Django admin ---------------------------------------------------------------------


def test_the_admin_lists_and_pages_show_everything_as_text(as_staff, world):
    failed, maker, team = world["failed"], world["maker"], world["team"]
    assert_shown_as_text(_get(as_staff, "/admin/generations/generation/"), USER, TEAM)
    assert_shown_as_text(
        _get(as_staff, f"/admin/generations/generation/{failed.pk}/change/"),
        PROMPT,
        PROVIDER,
        USER,
        TEAM,
    )
    assert_shown_as_text(_get(as_staff, "/admin/accounts/user/"), USER)
    assert_shown_as_text(_get(as_staff, f"/admin/accounts/user/{maker.pk}/change/"), USER)
    assert_shown_as_text(_get(as_staff, "/admin/accounts/team/"), TEAM)
    assert_shown_as_text(_get(as_staff, f"/admin/accounts/team/{team.pk}/change/"), TEAM, USER)
    assert_shown_as_text(_get(as_staff, "/admin/accounts/wallet/"), USER, TEAM)
    assert_shown_as_text(_get(as_staff, "/admin/accounts/ledgerentry/"), USER, TEAM)


def test_the_usage_page_and_its_charts_show_names_as_text(as_staff):
    assert_shown_as_text(_get(as_staff, "/admin/usage/"), USER, TEAM)


@pytest.mark.parametrize(
    "formula", ['=HYPERLINK("http://evil.example","x")', "@SUM(A1)", "+1+2", "-2+3", "\t=1+2"]
)
def test_the_usage_csv_holds_names_as_plain_cells_a_spreadsheet_will_not_run(
    as_staff, world, formula
):
    world["team"].__class__.objects.filter(pk=world["team"].pk).update(name=formula)
    today = str(world["failed"].created_at.date())
    response = as_staff.get("/admin/usage/", {"format": "csv", "start": today, "end": today})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    cells = [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    assert USER in cells  # markup is plain text in a CSV; it stays exactly as typed
    assert "'" + formula in cells and formula not in cells


# --- The API ------------------------------------------------------------------------------


def test_the_api_returns_the_provider_error_verbatim_in_json_never_as_a_page(client, world):
    from accounts.services import api_token_create

    _, raw = api_token_create(user=world["maker"], name="xss", expires_in_days=None)
    response = client.get(
        f"/v1/video/generations/{world['failed'].id}", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.json()["error"]["message"] == PROVIDER  # the caller gets exactly the text
    listing = client.get("/v1/video/generations", headers={"Authorization": f"Bearer {raw}"})
    assert listing["Content-Type"] == "application/json"
    assert PROVIDER in [item.get("error", {}).get("message") for item in listing.json()["data"]]


def test_a_team_member_sees_the_makers_name_as_text(client, world):
    other = make_user(username="member")
    Membership.objects.create(team=world["team"], user=other)
    client.force_login(other)
    assert_shown_as_text(_get(client, f"/teams/{world['team'].slug}/"), USER, TEAM)
