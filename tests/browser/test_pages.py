"""Every page of the studio's own, signed in and signed out, in a real browser: axe-core finds no
accessibility problem (WCAG 2.x A and AA, and best practices) at desktop and phone widths in the
light and the dark theme, and each is saved as a screenshot for review.

The Django admin is the admin's own look and is left aside from the check; its pages are
photographed for the admin guide.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.utils import timezone
from playwright.sync_api import expect

from accounts.ledger import credits_charge, credits_grant, wallet_for_team, wallet_for_user
from accounts.models import Membership
from accounts.services import team_create, team_invite_link, team_invite_user
from generations.models import Favourite, Generation
from generations.sharing import generation_share_link_enable
from tests.browser.conftest import assert_accessible, snap
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@dataclass
class Studio:
    maker: object
    mate: object
    newcomer: object
    admin: object
    team_slug: str
    running: str
    done: str
    failed: str
    share_token: str
    join_token: str


def _spend(generations, *, wallet, actor) -> None:
    """Charge seeded generations as if they had been made here, within the last month."""
    rng = random.Random(4)
    now = timezone.now()
    for generation in generations:
        credits_charge(wallet=wallet, amount=generation.cost, actor=actor, generation=generation)
        Generation.objects.filter(pk=generation.pk).update(
            created_at=now - timedelta(days=rng.uniform(0, 27), hours=rng.uniform(0, 20))
        )


@pytest.fixture
def studio(live_stack) -> Studio:
    """A studio in use: a maker with a gallery and a team, a teammate, a newcomer, an admin."""
    maker = make_user(username="maria", credits=400)
    mate = make_user(username="sam", credits=200)
    newcomer = make_user(username="newcomer", credits=10)
    admin = make_user(username="root", is_staff=True, is_superuser=True)
    team = team_create(name="Harbour Films", creator=maker)
    Membership.objects.create(team=team, user=mate, role=Membership.Role.MEMBER)
    credits_grant(wallet=wallet_for_team(team=team), amount=300, actor=admin, reason="Budget")
    owls = team_create(name="Night Owls", creator=mate)
    team_invite_user(team=owls, by=mate, username="maria")
    join = team_invite_link(team=team, by=maker)
    quiet = io.StringIO()
    call_command("seed_gallery", user="maria", count=28, random_seed=11, stdout=quiet)
    call_command("seed_gallery", user="maria", count=5, team=team.slug, random_seed=3, stdout=quiet)
    call_command("seed_gallery", user="sam", count=6, team=team.slug, random_seed=7, stdout=quiet)
    call_command("seed_gallery", user="sam", count=6, random_seed=9, stdout=quiet)

    own = list(Generation.objects.filter(owner=maker, team=None).order_by("-created_at"))
    _spend(own[:14], wallet=wallet_for_user(user=maker), actor=maker)
    _spend(
        list(Generation.objects.filter(team=team)), wallet=wallet_for_team(team=team), actor=mate
    )
    _spend(
        list(Generation.objects.filter(owner=mate, team=None)),
        wallet=wallet_for_user(user=mate),
        actor=mate,
    )

    newest = list(Generation.objects.filter(owner=maker, team=None).order_by("-created_at")[:6])
    now = timezone.now()
    running, queued, done, failed = newest[0], newest[1], newest[2], newest[4]
    # Unfinished, but never read from the simulator (no next read time): they stay as shown.
    Generation.objects.filter(pk=running.pk).update(
        state="running",
        progress=62,
        video="",
        poster="",
        finished_at=None,
        created_at=now,
        next_poll_at=None,
        deadline_at=now + timedelta(hours=2),
    )
    Generation.objects.filter(pk=queued.pk).update(
        state="queued",
        progress=None,
        video="",
        poster="",
        finished_at=None,
        next_poll_at=None,
        deadline_at=now + timedelta(hours=2),
    )
    Generation.objects.filter(pk=failed.pk).update(
        state="failed",
        video="",
        poster="",
        error_kind="refused",
        error_code="invalid_parameter",
        error_param="duration",
        error_message="The provider refused this request: the duration "
        "is not supported for this resolution.",
    )
    Favourite.objects.bulk_create([Favourite(user=maker, generation=g) for g in newest[2:4]])
    shared = generation_share_link_enable(generation=Generation.objects.get(pk=done.pk), by=maker)
    return Studio(
        maker=maker,
        mate=mate,
        newcomer=newcomer,
        admin=admin,
        team_slug=team.slug,
        running=str(running.pk),
        done=str(done.pk),
        failed=str(failed.pk),
        share_token=shared.share_token,
        join_token=join.token,
    )


def _pages(studio: Studio) -> list[tuple[str, str, str]]:
    """(name, who, path) for every page of the studio's own."""
    team = studio.team_slug
    return [
        ("login", "anonymous", "/accounts/login/"),
        ("signup", "anonymous", "/accounts/signup/"),
        ("password-reset", "anonymous", "/accounts/password_reset/"),
        ("password-reset-sent", "anonymous", "/accounts/password_reset/done/"),
        ("shared-page", "anonymous", f"/s/{studio.share_token}/"),
        ("not-found-signed-out", "anonymous", "/no-such-page/"),
        ("too-many-tries", "anonymous", "/__page/429"),
        ("server-error", "anonymous", "/__page/500"),
        ("create", "maker", "/"),
        ("create-fix-and-try-again", "maker", f"/?from={studio.failed}&seed=keep"),
        ("gallery", "maker", "/gallery/"),
        ("gallery-no-match", "maker", "/gallery/?q=zzzz-nothing"),
        ("generation-running", "maker", f"/generations/{studio.running}/"),
        ("generation-done", "maker", f"/generations/{studio.done}/"),
        ("generation-failed", "maker", f"/generations/{studio.failed}/"),
        ("teams", "maker", "/teams/"),
        ("team-gallery", "maker", f"/teams/{team}/"),
        ("team-members", "maker", f"/teams/{team}/members/"),
        ("account", "maker", "/account/"),
        ("password-change", "maker", "/accounts/password_change/"),
        ("api-reference", "maker", "/api/"),
        ("not-found-signed-in", "maker", "/generations/00000000-0000-0000-0000-000000000000/"),
        ("newcomer-create", "newcomer", "/"),
        ("newcomer-gallery", "newcomer", "/gallery/"),
        ("newcomer-teams", "newcomer", "/teams/"),
        ("newcomer-account", "newcomer", "/account/"),
        ("newcomer-join-team", "newcomer", f"/teams/join/{studio.join_token}/"),
    ]


def _serve_error_pages(page) -> None:
    """The 429 and 500 pages, as the studio renders them, at addresses of the live server (so
    their stylesheet loads from it)."""
    bodies = {
        "/__page/429": (429, render_to_string("429.html", {"retry_after": 30})),
        "/__page/500": (500, render_to_string("500.html")),
    }

    def fulfil(route):
        path = "/" + route.request.url.split("/", 3)[3]
        status, body = bodies[path]
        route.fulfill(status=status, body=body, content_type="text/html; charset=utf-8")

    page.route("**/__page/*", fulfil)


@pytest.mark.parametrize(
    ("viewport", "scheme"),
    [("desktop", "light"), ("desktop", "dark"), ("phone", "light"), ("phone", "dark")],
)
def test_every_page_passes_the_accessibility_check(studio, browse, viewport, scheme):
    people = {"anonymous": None, "maker": studio.maker, "newcomer": studio.newcomer}
    pages = {}
    for who, user in people.items():
        pages[who] = browse(user=user, viewport=viewport, color_scheme=scheme)
        _serve_error_pages(pages[who])
    for name, who, path in _pages(studio):
        page = pages[who]
        page.goto(path)
        page.wait_for_load_state("load")
        snap(page, f"page-{name}-{viewport}-{scheme}")
        assert_accessible(page, f"{name} ({path}, {viewport}, {scheme})")

    # Signing out leads back to the sign-in page.
    maker = pages["maker"]
    maker.get_by_role("button", name="Sign out").click()
    expect(maker.get_by_role("heading", name="Sign in")).to_be_visible()
    unexpected = [
        error
        for page in pages.values()
        for error in page.errors
        if "status of 404" not in error
        and "status of 429" not in error
        and "status of 500" not in error
    ]
    assert unexpected == []


def test_the_admin_pages_an_admin_guide_shows(studio, browse):
    """Not checked with axe (the Django admin's own look), but photographed for the guide."""
    page = browse(user=studio.admin)
    page.goto("/admin/usage/")
    expect(page.locator(".usage-totals")).to_contain_text("Spent")
    assert "—" not in page.locator(".usage-totals strong").first.inner_text()
    snap(page, "admin-usage")
    page.goto("/admin/accounts/user/")
    expect(page.locator("#result_list")).to_contain_text("maria")
    snap(page, "admin-users")
    page.goto("/admin/accounts/team/")
    expect(page.locator("#result_list")).to_contain_text("Harbour Films")
    snap(page, "admin-teams")
    page.goto("/admin/accounts/ledgerentry/")
    snap(page, "admin-ledger")
