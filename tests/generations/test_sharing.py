"""Public share links and sharing with a team."""

import pytest
from django.test import Client

from accounts.models import Membership
from accounts.services import team_create
from generations.sharing import (
    SharingRefused,
    generation_share_to_team,
    generation_unshare_from_team,
)
from tests.factories import make_finished_generation, make_user

pytestmark = pytest.mark.django_db


def _client(user=None):
    client = Client()
    if user:
        client.force_login(user)
    return client


def test_share_links_are_off_by_default_and_work_for_anyone_once_on():
    owner = make_user(username="owner")
    generation = make_finished_generation(owner=owner, prompt="Lanterns <b>rising</b>")
    assert generation.share_token is None
    client = _client(owner)
    client.post(f"/generations/{generation.id}/share-link/", {"on": "1"})
    generation.refresh_from_db()
    token = generation.share_token
    assert token and len(token) >= 40
    anonymous = _client()
    page = anonymous.get(f"/s/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'property="og:video"' in html and 'property="og:image"' in html
    assert "Lanterns &lt;b&gt;rising&lt;/b&gt;" in html and "<b>rising</b>" not in html
    assert anonymous.get(f"/s/{token}/video.mp4").status_code == 200
    assert anonymous.get(f"/s/{token}/video.mp4", HTTP_RANGE="bytes=0-9").status_code == 206
    assert anonymous.get(f"/s/{token}/poster.jpg").status_code == 200
    # Only the video, the poster and the prompt: nothing else of the generation.
    assert str(generation.id) not in html and "seed" not in html.lower()
    # Listed on the account page, and revocable at once.
    assert f"/s/{token}/" in client.get("/account/").content.decode()
    client.post(f"/generations/{generation.id}/share-link/", {"on": "0"})
    for path in (f"/s/{token}/", f"/s/{token}/video.mp4", f"/s/{token}/poster.jpg"):
        assert anonymous.get(path).status_code == 404, path


def test_only_the_owner_can_turn_a_share_link_on():
    owner, teammate = make_user(username="owner"), make_user(username="mate")
    team = team_create(name="Crew", creator=owner)
    Membership.objects.create(team=team, user=teammate)
    generation = make_finished_generation(owner=owner, team=team)
    _client(teammate).post(f"/generations/{generation.id}/share-link/", {"on": "1"})
    assert (
        _client(make_user())
        .post(f"/generations/{generation.id}/share-link/", {"on": "1"})
        .status_code
        == 404
    )
    generation.refresh_from_db()
    assert generation.share_token is None


def test_a_deleted_generation_is_no_longer_shared():
    from django.utils import timezone

    owner = make_user(username="owner")
    generation = make_finished_generation(owner=owner)
    _client(owner).post(f"/generations/{generation.id}/share-link/", {"on": "1"})
    generation.refresh_from_db()
    type(generation).objects.filter(pk=generation.pk).update(deleted_at=timezone.now())
    assert _client().get(f"/s/{generation.share_token}/").status_code == 404


def test_an_unknown_token_is_404():
    assert _client().get("/s/nope/").status_code == 404


def test_share_link_redirect_never_leaves_the_site():
    owner = make_user(username="owner")
    generation = make_finished_generation(owner=owner)
    response = _client(owner).post(
        f"/generations/{generation.id}/share-link/",
        {"on": "1", "next": "https://elsewhere.example/"},
    )
    assert response["Location"] == f"/generations/{generation.id}/"


def test_sharing_with_a_team_and_who_may_unshare():
    maker, admin, member = (
        make_user(username="maker"),
        make_user(username="admin"),
        make_user(username="member"),
    )
    team = team_create(name="Crew", creator=make_user(username="founder"))
    Membership.objects.create(team=team, user=maker)
    Membership.objects.create(team=team, user=admin, role="admin")
    Membership.objects.create(team=team, user=member)
    generation = make_finished_generation(owner=maker)
    with pytest.raises(SharingRefused):
        generation_share_to_team(generation=generation, team=team, by=member)
    generation_share_to_team(generation=generation, team=team, by=maker)
    assert _client(member).get(f"/generations/{generation.id}/").status_code == 200
    with pytest.raises(SharingRefused):
        generation_unshare_from_team(generation=generation, by=member)
    generation_unshare_from_team(generation=generation, by=admin)
    generation.refresh_from_db()
    assert generation.team is None
    assert _client(member).get(f"/generations/{generation.id}/").status_code == 404
    outsider_team = team_create(name="Other", creator=make_user(username="x"))
    with pytest.raises(SharingRefused, match="not a member"):
        generation_share_to_team(generation=generation, team=outsider_team, by=maker)


def test_the_generation_page_shares_with_a_team_and_publicly_and_takes_it_back():
    owner, mate = make_user(username="owner"), make_user(username="mate")
    team = team_create(name="Crew", creator=owner)
    Membership.objects.create(team=team, user=mate)
    generation = make_finished_generation(owner=owner)
    client = _client(owner)
    page = client.get(f"/generations/{generation.id}/").content.decode()
    assert "Share with a team" in page and "Make a public link" in page
    client.post(f"/generations/{generation.id}/team/", {"team": "crew"})
    generation.refresh_from_db()
    assert generation.team == team
    assert _client(mate).get(f"/generations/{generation.id}/").status_code == 200
    page = client.get(f"/generations/{generation.id}/").content.decode()
    assert "Crew</a>&#x27;s gallery" in page or "Crew</a>'s gallery" in page
    client.post(f"/generations/{generation.id}/share-link/", {"on": "1"})
    generation.refresh_from_db()
    page = client.get(f"/generations/{generation.id}/").content.decode()
    assert f"/s/{generation.share_token}/" in page and "Stop sharing publicly" in page
    client.post(f"/generations/{generation.id}/team/", {"team": ""})
    generation.refresh_from_db()
    assert generation.team is None
    assert _client(mate).get(f"/generations/{generation.id}/").status_code == 404


def test_a_team_the_owner_is_not_in_cannot_be_chosen():
    owner = make_user(username="owner")
    other = team_create(name="Other", creator=make_user(username="x"))
    generation = make_finished_generation(owner=owner)
    response = _client(owner).post(f"/generations/{generation.id}/team/", {"team": other.slug})
    assert response.status_code == 404
    generation.refresh_from_db()
    assert generation.team is None
