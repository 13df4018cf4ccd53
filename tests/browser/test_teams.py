"""Teams in a real browser, two people side by side (two browser contexts): one makes a team and
invites the other by username, both see the team's gallery, and after removal the second person
sees it no more — pages and media alike.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from accounts.models import Team
from generations.models import Generation
from tests.browser.conftest import snap
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_team_is_made_shared_with_an_invited_person_and_closed_to_them_after_removal(browse):
    ada = make_user(username="ada", credits=20)
    bo = make_user(username="bo", credits=10)
    owner = browse(user=ada)
    mate = browse(user=bo)

    # Ada makes a team and lands on its members page.
    owner.goto("/teams/")
    expect(owner.get_by_role("heading", name="You are not in a team yet")).to_be_visible()
    owner.fill("#id_name", "Lighthouse Crew")
    owner.get_by_role("button", name="Create team").click()
    expect(owner.locator(".messages")).to_contain_text("Lighthouse Crew is ready")
    expect(owner.get_by_role("heading", level=1)).to_have_text("Lighthouse Crew · Members")

    # She invites Bo by username.
    owner.fill("#id_username", "bo")
    owner.get_by_role("button", name="Invite", exact=True).click()
    expect(owner.locator(".messages")).to_contain_text("Invited bo")
    expect(owner.get_by_text("Open invitations")).to_be_visible()
    snap(owner, "teams-01-members-invited")

    # The team's videos (seeded: made for the team, with real posters and clips).
    team = Team.objects.get(name="Lighthouse Crew")
    call_command("seed_gallery", user="ada", count=3, team=team.slug, stdout=io.StringIO())
    owner.get_by_role("link", name="Team gallery").click()
    expect(owner.locator("[data-card]")).to_have_count(3)
    expect(owner.locator(".card-maker").first).to_have_text("by ada")

    # Bo accepts on his Teams page and sees the same gallery.
    mate.goto("/teams/")
    invitation = mate.locator("li", has_text="Lighthouse Crew")
    expect(invitation).to_contain_text("ada invited you as member")
    snap(mate, "teams-02-invitation")
    invitation.get_by_role("button", name="Accept").click()
    # Accepting leads straight to the team's gallery.
    expect(mate.locator(".messages")).to_contain_text("You joined Lighthouse Crew")
    expect(mate.get_by_role("heading", level=1)).to_have_text("Lighthouse Crew")
    expect(mate.locator("[data-card]")).to_have_count(3)
    snap(mate, "teams-03-gallery-as-member")
    mate.locator("a.card-link").first.click()
    expect(mate.locator("video.player")).to_be_attached()
    video_page = mate.url
    shown = Generation.objects.get(pk=video_page.rstrip("/").rsplit("/", 1)[1])
    poster = f"/generations/{shown.id}/poster/"
    assert mate.request.get(poster).status == 200

    # Ada removes Bo, after a second step that says what it does.
    owner.goto(f"/teams/{team.slug}/members/")
    snap(owner, "teams-04-members")
    row = owner.locator("tr", has_text="bo")
    row.locator("summary", has_text="Remove").click()
    expect(row.locator(".confirm-body")).to_contain_text("loses access")
    row.get_by_role("button", name="Remove bo").click()
    expect(owner.locator(".messages")).to_contain_text("bo was removed")

    # At once, Bo can see none of it: the gallery, the video's page and its files answer 404.
    response = mate.goto(f"/teams/{team.slug}/")
    assert response.status == 404
    expect(mate.get_by_role("heading", name="Nothing here")).to_be_visible()
    snap(mate, "teams-05-removed")
    assert mate.goto(video_page).status == 404
    assert mate.request.get(poster).status == 404
    mate.goto("/teams/")
    expect(mate.get_by_text("Lighthouse Crew")).to_have_count(0)
    # Ada still sees everything, Bo's leaving changed nothing for the team.
    owner.goto(f"/teams/{team.slug}/")
    expect(owner.locator("[data-card]")).to_have_count(3)
