"""Teams: who may do what (each cell of the table through HTTP), invitations, removal, leaving."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation, Membership, Team
from accounts.services import team_create, team_invite_link
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def crew():
    """A team with two owners, an admin, two members, and a person outside it."""
    people = {
        name: make_user(username=name)
        for name in ("owner", "owner2", "admin", "member", "member2", "outsider")
    }
    team = team_create(name="Night Crew", creator=people["owner"])
    Membership.objects.create(team=team, user=people["owner2"], role="owner")
    Membership.objects.create(team=team, user=people["admin"], role="admin")
    Membership.objects.create(team=team, user=people["member"], role="member")
    Membership.objects.create(team=team, user=people["member2"], role="member")
    return team, people


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _role(team, user) -> str | None:
    membership = Membership.objects.filter(team=team, user=user).first()
    return membership.role if membership else None


ACTORS = ["owner", "admin", "member", "outsider"]

# action: (how to do it, how to tell it happened, who may)
TABLE = {
    "see the team gallery": {"owner": True, "admin": True, "member": True, "outsider": False},
    "see the members page": {"owner": True, "admin": True, "member": True, "outsider": False},
    "invite by username": {"owner": True, "admin": True, "member": False, "outsider": False},
    "make an invite link": {"owner": True, "admin": True, "member": False, "outsider": False},
    "make a member an admin": {"owner": True, "admin": True, "member": False, "outsider": False},
    "demote an owner": {"owner": True, "admin": False, "member": False, "outsider": False},
    "make someone an owner": {"owner": True, "admin": False, "member": False, "outsider": False},
    "set a member's cap": {"owner": True, "admin": True, "member": False, "outsider": False},
    "set an admin's cap": {"owner": True, "admin": False, "member": False, "outsider": False},
    "set an owner's cap": {"owner": False, "admin": False, "member": False, "outsider": False},
    "set one's own cap": {"owner": False, "admin": False, "member": False, "outsider": False},
    "remove a member": {"owner": True, "admin": True, "member": False, "outsider": False},
    "remove an owner": {"owner": True, "admin": False, "member": False, "outsider": False},
}


def _attempt(action: str, client: Client, team: Team, people: dict, actor_user=None) -> bool:
    base = f"/teams/{team.slug}"
    member2 = people["member2"]
    if action == "see the team gallery":
        return client.get(f"{base}/").status_code == 200
    if action == "see the members page":
        return client.get(f"{base}/members/").status_code == 200
    if action == "invite by username":
        client.post(f"{base}/invite/", {"username": "newcomer", "role": "member"})
        return Invitation.objects.filter(team=team, invited_user__username="newcomer").exists()
    if action == "make an invite link":
        client.post(f"{base}/invite-link/", {"role": "member", "days": "7"})
        return Invitation.objects.filter(team=team, invited_user__isnull=True).exists()
    if action == "make a member an admin":
        client.post(f"{base}/members/{member2.pk}/role/", {f"role-{member2.pk}-role": "admin"})
        return _role(team, member2) == "admin"
    if action == "demote an owner":
        owner2 = people["owner2"]
        client.post(f"{base}/members/{owner2.pk}/role/", {f"role-{owner2.pk}-role": "member"})
        return _role(team, owner2) == "member"
    if action == "make someone an owner":
        client.post(f"{base}/members/{member2.pk}/role/", {f"role-{member2.pk}-role": "owner"})
        return _role(team, member2) == "owner"
    if action == "set a member's cap":
        client.post(f"{base}/members/{member2.pk}/cap/", {f"cap-{member2.pk}-cap": "12"})
        return Membership.objects.get(team=team, user=member2).monthly_credit_cap == 12
    if action in ("set an admin's cap", "set an owner's cap", "set one's own cap"):
        target = {
            "set an admin's cap": people["admin"],
            "set an owner's cap": people["owner2"],
            "set one's own cap": actor_user,
        }[action]
        if target is None:
            return False
        client.post(f"{base}/members/{target.pk}/cap/", {f"cap-{target.pk}-cap": "0"})
        membership = Membership.objects.filter(team=team, user=target).first()
        return membership is not None and membership.monthly_credit_cap == 0
    if action == "remove a member":
        client.post(f"{base}/members/{member2.pk}/remove/")
        return _role(team, member2) is None
    if action == "remove an owner":
        client.post(f"{base}/members/{people['owner2'].pk}/remove/")
        return _role(team, people["owner2"]) is None
    raise AssertionError(action)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", list(TABLE))
def test_who_may_do_what(crew, action, actor):
    team, people = crew
    make_user(username="newcomer")
    client = _client(people[actor])
    actor_user = people[actor] if actor != "outsider" else None
    assert _attempt(action, client, team, people, actor_user) is TABLE[action][actor]


def test_an_outsider_gets_404_on_every_team_route(crew):
    team, people = crew
    client = _client(people["outsider"])
    member = people["member"]
    invitation = team_invite_link(team=team, by=people["owner"])
    for method, path in [
        ("get", f"/teams/{team.slug}/"),
        ("get", f"/teams/{team.slug}/members/"),
        ("post", f"/teams/{team.slug}/invite/"),
        ("post", f"/teams/{team.slug}/invite-link/"),
        ("post", f"/teams/{team.slug}/invitations/{invitation.pk}/revoke/"),
        ("post", f"/teams/{team.slug}/members/{member.pk}/role/"),
        ("post", f"/teams/{team.slug}/members/{member.pk}/cap/"),
        ("post", f"/teams/{team.slug}/members/{member.pk}/remove/"),
        ("post", f"/teams/{team.slug}/leave/"),
    ]:
        assert getattr(client, method)(path).status_code == 404, path


def test_the_last_owner_cannot_leave_or_be_removed_or_demoted():
    owner, admin = make_user(username="solo"), make_user(username="helper")
    team = team_create(name="Solo", creator=owner)
    Membership.objects.create(team=team, user=admin, role="admin")
    client = _client(owner)
    response = client.post(f"/teams/{team.slug}/leave/", follow=True)
    assert "last owner" in response.content.decode()
    client.post(f"/teams/{team.slug}/members/{owner.pk}/role/", {f"role-{owner.pk}-role": "member"})
    assert _role(team, owner) == "owner"
    _client(admin).post(f"/teams/{team.slug}/members/{owner.pk}/remove/")
    assert _role(team, owner) == "owner"
    # With a second owner, leaving works.
    Membership.objects.filter(team=team, user=admin).update(role="owner")
    client.post(f"/teams/{team.slug}/leave/")
    assert _role(team, owner) is None


def test_an_invite_link_works_once():
    owner, first, second = make_user(username="o"), make_user(username="f"), make_user(username="s")
    team = team_create(name="Linked", creator=owner)
    invitation = team_invite_link(team=team, by=owner)
    page = _client(first).get(f"/teams/join/{invitation.token}/")
    assert page.status_code == 200 and "Join Linked" in page.content.decode()
    assert _client(first).post(f"/teams/join/{invitation.token}/").status_code == 302
    assert _role(team, first) == "member"
    refused = _client(second).post(f"/teams/join/{invitation.token}/")
    assert refused.status_code == 410 and "already been used" in refused.content.decode()
    assert _role(team, second) is None


def test_an_expired_invite_link_is_refused():
    owner, late = make_user(username="o"), make_user(username="late")
    team = team_create(name="Linked", creator=owner)
    invitation = team_invite_link(team=team, by=owner)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = _client(late).post(f"/teams/join/{invitation.token}/")
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert _role(team, late) is None


def test_an_unknown_invite_link_is_404():
    assert _client(make_user()).get("/teams/join/not-a-token/").status_code == 404


def test_a_username_invitation_is_accepted_from_the_teams_page(crew):
    team, people = crew
    guest = make_user(username="guest")
    _client(people["admin"]).post(
        f"/teams/{team.slug}/invite/", {"username": "guest", "role": "admin"}
    )
    client = _client(guest)
    page = client.get("/teams/").content.decode()
    assert "Night Crew" in page and "invited you as admin" in page
    invitation = Invitation.objects.get(invited_user=guest)
    assert (
        _client(people["outsider"]).post(f"/teams/invitations/{invitation.pk}/accept/").status_code
        == 404
    )
    client.post(f"/teams/invitations/{invitation.pk}/accept/")
    assert _role(team, guest) == "admin"


def test_inviting_someone_unknown_or_already_in_says_so(crew):
    team, people = crew
    client = _client(people["owner"])
    page = client.post(f"/teams/{team.slug}/invite/", {"username": "ghost", "role": "member"})
    assert page.status_code == 400 and "Nobody is called &#x27;ghost&#x27;" in page.content.decode()
    page = client.post(f"/teams/{team.slug}/invite/", {"username": "member", "role": "member"})
    assert "already in Night Crew" in page.content.decode()


def test_creating_a_team_makes_the_creator_owner_with_an_empty_wallet():
    person = make_user(username="maker")
    client = _client(person)
    response = client.post("/teams/", {"name": "Dawn Patrol"})
    team = Team.objects.get(name="Dawn Patrol")
    assert response["Location"] == f"/teams/{team.slug}/members/"
    assert _role(team, person) == "owner"
    assert team.wallet.balance == 0
    client.post("/teams/", {"name": "Dawn Patrol"})
    assert Team.objects.filter(name="Dawn Patrol").count() == 2
    assert len({t.slug for t in Team.objects.filter(name="Dawn Patrol")}) == 2


def test_team_names_are_shown_as_text(crew):
    person = make_user(username="xss")
    team_create(name="<script>alert(1)</script>", creator=person)
    html = _client(person).get("/teams/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_unknown_role_is_refused_with_a_message_and_changes_nothing():
    owner, member = make_user(username="boss"), make_user(username="crewmate")
    team = team_create(name="Roles", creator=owner)
    Membership.objects.create(team=team, user=member, role="member")
    response = _client(owner).post(
        f"/teams/{team.slug}/members/{member.pk}/role/",
        {f"role-{member.pk}-role": "emperor"},
        follow=True,
    )
    assert "Choose a role: member, admin or owner." in response.content.decode()
    assert _role(team, member) == "member"


def test_the_members_page_offers_a_cap_only_where_it_may_be_set_and_says_why_not(crew):
    team, people = crew
    client = _client(people["admin"])
    html = client.get(f"/teams/{team.slug}/members/").content.decode()
    cap_forms = set(re.findall(r"/teams/[\w-]+/members/(\d+)/cap/", html))
    assert cap_forms == {str(people["member"].pk), str(people["member2"].pk)}
    own = client.post(
        f"/teams/{team.slug}/members/{people['admin'].pk}/cap/",
        {f"cap-{people['admin'].pk}-cap": "100000"},
        follow=True,
    )
    assert "No one sets their own cap" in own.content.decode()
    owner = client.post(
        f"/teams/{team.slug}/members/{people['owner'].pk}/cap/",
        {f"cap-{people['owner'].pk}-cap": "0"},
        follow=True,
    )
    assert "An owner&#x27;s spending has no cap set by others." in owner.content.decode()
    assert Membership.objects.get(team=team, user=people["owner"]).monthly_credit_cap is None
