"""Team generations: members see them, a removed member loses access at once to every route."""

import pytest
from django.test import Client

from accounts.models import Membership
from accounts.services import team_create, team_member_remove
from tests.factories import make_finished_generation, make_user

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _routes(generation):
    return [
        f"/generations/{generation.id}/",
        f"/generations/{generation.id}/video/",
        f"/generations/{generation.id}/poster/",
    ]


def test_members_see_team_generations_and_a_removed_member_gets_404_everywhere():
    owner, member = make_user(username="owner"), make_user(username="member")
    team = team_create(name="Crew", creator=owner)
    Membership.objects.create(team=team, user=member)
    by_owner = make_finished_generation(owner=owner, team=team, prompt="Owner's clip")
    by_member = make_finished_generation(owner=member, team=team, prompt="Member's clip")
    client = _client(member)
    for route in _routes(by_owner):
        assert client.get(route).status_code == 200, route
    assert (
        client.get(f"/generations/{by_owner.id}/video/", HTTP_RANGE="bytes=0-9").status_code == 206
    )
    gallery = client.get(f"/teams/{team.slug}/").content.decode()
    assert "Owner&#x27;s clip" in gallery and "by owner" in gallery and "by member" in gallery

    team_member_remove(team=team, by=owner, user=member)

    for route in _routes(by_owner):
        assert client.get(route).status_code == 404, route
    assert (
        client.get(f"/generations/{by_owner.id}/video/", HTTP_RANGE="bytes=0-9").status_code == 404
    )
    assert client.get(f"/teams/{team.slug}/").status_code == 404
    assert client.get(f"/teams/{team.slug}/members/").status_code == 404
    # What they made for the team stays in the team.
    by_member.refresh_from_db()
    assert by_member.team == team
    owner_view = _client(owner).get(f"/teams/{team.slug}/").content.decode()
    assert "Member&#x27;s clip" in owner_view
    # And they still own it personally.
    assert client.get(f"/generations/{by_member.id}/").status_code == 200


def test_storage_used_is_shown_for_the_team():
    owner = make_user(username="owner")
    team = team_create(name="Crew", creator=owner)
    generation = make_finished_generation(owner=owner, team=team)
    html = _client(owner).get(f"/teams/{team.slug}/members/").content.decode()
    assert "stored" in html
    from django.template.defaultfilters import filesizeformat

    assert (
        str(filesizeformat(generation.video_bytes)).replace("\xa0", "&nbsp;") in html
        or "KB" in html
    )


def test_the_team_gallery_has_the_same_filters_search_and_paging(settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 2
    owner, member = make_user(username="owner"), make_user(username="member")
    team = team_create(name="Crew", creator=owner)
    Membership.objects.create(team=team, user=member)
    for index, prompt in enumerate(["red fox running", "blue whale", "red kite", "green hills"]):
        make_finished_generation(owner=owner if index % 2 else member, team=team, prompt=prompt)
    make_finished_generation(owner=member, prompt="red herring, personal")  # not the team's
    client = _client(member)
    found = client.get(f"/teams/{team.slug}/", {"q": "red"}).content.decode()
    assert "red fox running" in found and "red kite" in found
    assert "blue whale" not in found and "red herring" not in found
    first = client.get(f"/teams/{team.slug}/").content.decode()
    assert 'rel="next"' in first and "by owner" in first
    next_url = first.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert next_url.startswith(f"/teams/{team.slug}/?")
    second = client.get(next_url).content.decode()
    shown = [
        p
        for p in ("red fox running", "blue whale", "red kite", "green hills")
        if p in first + second
    ]
    assert len(shown) == 4
    fragment = client.get(
        f"/teams/{team.slug}/",
        {"q": "whale"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="gallery-results",
    )
    assert "<html" not in fragment.content.decode() and "blue whale" in fragment.content.decode()
