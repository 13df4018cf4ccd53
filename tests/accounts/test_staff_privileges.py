"""Least privilege for staff: every admin action and money page checks its permission, grants
above the approval threshold wait for a second admin, and the ledger stays exact throughout."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.ledger import wallet_for_team, wallet_for_user
from accounts.models import CreditGrantRequest, LedgerEntry, Team, User
from generations.models import Generation, ModelAvailability
from tests.conftest import assert_ledger_balanced
from tests.factories import make_generation, make_user

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def view_only(db) -> User:
    """A staff account that may look at every model in the admin and change nothing (the
    models' own view permissions; none of the studio's own, such as seeing usage)."""
    person = make_user(username="looker", is_staff=True)
    person.user_permissions.add(
        *[
            permission
            for permission in Permission.objects.select_related("content_type")
            if permission.codename == f"view_{permission.content_type.model}"
        ]
    )
    return User.objects.get(pk=person.pk)


@pytest.fixture
def world(db):
    ada = make_user(username="ada", credits=50)
    team = Team.objects.create(name="Night Crew", slug="night-crew")
    wallet_for_team(team=team)
    failed = make_generation(owner=ada, state="failed")
    succeeded = make_generation(owner=ada, state="succeeded")
    from generations.services import model_availability_sync

    model_availability_sync()  # every catalog model has its switch (the list makes them)
    return {"ada": ada, "team": team, "failed": failed, "succeeded": succeeded}


def _every_attempt(client: Client, world, me: User) -> dict[str, int]:
    """Try every admin action and money page; the status of each answer."""
    ada, team, failed = world["ada"], world["team"], world["failed"]
    switch = ModelAvailability.objects.get(key="wan2.6-i2v-flash").pk
    grant = {"apply": "1", "amount": "500000", "reason": "Mine now"}
    small = {"apply": "1", "amount": "500", "reason": "Mine now"}
    answers = {
        "grant to oneself (action)": client.post(
            "/admin/accounts/user/",
            {"action": "adjust_credits", "_selected_action": [me.pk], **small},
        ),
        "grant to a team (action)": client.post(
            "/admin/accounts/team/",
            {"action": "adjust_credits", "_selected_action": [team.pk], **small},
        ),
        "grant from a person's page": client.post(
            f"/admin/accounts/user/{me.pk}/credits/", {"amount": "500", "reason": "Mine"}
        ),
        "a held grant to oneself": client.post(
            "/admin/accounts/user/",
            {"action": "adjust_credits", "_selected_action": [me.pk], **grant},
        ),
        "refund by hand": client.post(
            "/admin/generations/generation/",
            {
                "action": "refund_by_hand",
                "_selected_action": [str(failed.id)],
                "apply": "1",
                "reason": "Sorry",
            },
        ),
        "try again": client.post(
            "/admin/generations/generation/",
            {"action": "try_again", "_selected_action": [str(failed.id)]},
        ),
        "switch a model off": client.post(
            "/admin/generations/modelavailability/",
            {"action": "switch_off", "_selected_action": [switch]},
        ),
        "usage page": client.get("/admin/usage/"),
        "usage CSV": client.get("/admin/usage/?format=csv"),
        "change a person": client.post(
            f"/admin/accounts/user/{ada.pk}/change/", {"username": "renamed"}
        ),
    }
    return {name: response.status_code for name, response in answers.items()}


def _state():
    return (
        sorted(LedgerEntry.objects.values_list("wallet_id", "amount", "kind")),
        sorted(Generation.objects.values_list("state", flat=True)),
        list(ModelAvailability.objects.values_list("key", "enabled")),
        CreditGrantRequest.objects.count(),
        sorted(User.objects.values_list("username", flat=True)),
    )


def test_a_view_only_staff_account_is_refused_everything_and_nothing_changes(view_only, world):
    before = _state()
    answers = _every_attempt(_client(view_only), world, view_only)
    assert _state() == before, answers
    assert wallet_for_user(user=view_only).balance == 0
    # Pages answer 403; an action it may not run is not offered (the list comes back as is).
    assert answers["usage page"] == answers["usage CSV"] == 403
    assert answers["grant from a person's page"] == 403
    # (Django answers the change page's POST with the read-only page: the state above shows it
    # changed nothing.)
    changelist = _client(view_only).get("/admin/accounts/user/").content.decode()
    assert 'value="adjust_credits"' not in changelist
    assert_ledger_balanced()


def test_a_superuser_doing_the_same_succeeds(world):
    root = make_user(username="root", is_staff=True, is_superuser=True)
    before = _state()
    answers = _every_attempt(_client(root), world, root)
    assert answers["usage page"] == answers["usage CSV"] == 200
    assert _state() != before
    assert wallet_for_user(user=root).balance == 500 + 500  # the action and the page
    assert wallet_for_team(team=world["team"]).balance == 500
    assert CreditGrantRequest.objects.get().state == "pending"  # the big one waits
    assert LedgerEntry.objects.filter(generation=world["failed"], kind="refund").exists()
    assert Generation.objects.filter(retry_of=world["failed"]).exists()
    assert not ModelAvailability.objects.get(key="wan2.6-i2v-flash").enabled
    assert_ledger_balanced()


def _mover(username: str) -> User:
    person = make_user(username=username, is_staff=True)
    person.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_user", "view_creditgrantrequest", "adjust_credits"]
        )
    )
    return User.objects.get(pk=person.pk)


def test_a_grant_over_the_threshold_waits_for_a_second_admin(world, settings):
    settings.STUDIO_CREDIT_APPROVAL_THRESHOLD = 1000
    asker, approver = _mover("asker"), _mover("approver")
    ada = world["ada"]
    start = wallet_for_user(user=ada).balance
    asking = _client(asker)
    # At the threshold: applied at once.
    asking.post(f"/admin/accounts/user/{ada.pk}/credits/", {"amount": "1000", "reason": "Festival"})
    assert wallet_for_user(user=ada).balance == start + 1000
    # Above it: held, and said so.
    page = asking.post(
        f"/admin/accounts/user/{ada.pk}/credits/",
        {"amount": "1001", "reason": "Big festival"},
        follow=True,
    ).content.decode()
    assert "waiting for another admin to approve" in page
    held = CreditGrantRequest.objects.get()
    assert (held.state, held.amount, held.requested_by) == ("pending", 1001, asker)
    assert wallet_for_user(user=ada).balance == start + 1000

    # The one who asked cannot approve it.
    approve = {"action": "approve", "_selected_action": [held.pk]}
    own = asking.post("/admin/accounts/creditgrantrequest/", approve, follow=True)
    assert "another admin has to approve it" in own.content.decode()
    held.refresh_from_db()
    assert held.state == "pending" and wallet_for_user(user=ada).balance == start + 1000

    # A second admin approves: granted once, with who asked and who approved.
    _client(approver).post("/admin/accounts/creditgrantrequest/", approve)
    _client(approver).post("/admin/accounts/creditgrantrequest/", approve)  # twice: once
    held.refresh_from_db()
    assert (held.state, held.decided_by) == ("approved", approver)
    assert wallet_for_user(user=ada).balance == start + 1000 + 1001
    assert held.entry.actor == approver and "asked by asker, approved by approver" in (
        held.entry.reason
    )
    listing = _client(approver).get("/admin/accounts/creditgrantrequest/").content.decode()
    assert "Big festival" in listing and "Approved" in listing
    assert_ledger_balanced()


def test_a_refused_grant_moves_nothing_and_the_command_is_never_held(world, settings):
    from django.core.management import call_command

    settings.STUDIO_CREDIT_APPROVAL_THRESHOLD = 10
    asker, other = _mover("asker"), _mover("other")
    ada = world["ada"]
    start = wallet_for_user(user=ada).balance
    _client(asker).post(f"/admin/accounts/user/{ada.pk}/credits/", {"amount": "99", "reason": "Hm"})
    held = CreditGrantRequest.objects.get()
    _client(other).post(
        "/admin/accounts/creditgrantrequest/", {"action": "refuse", "_selected_action": [held.pk]}
    )
    held.refresh_from_db()
    assert (held.state, held.decided_by, held.entry) == ("refused", other, None)
    assert wallet_for_user(user=ada).balance == start
    call_command("grant_credits", "ada", "5000", "--reason", "Operator")
    assert wallet_for_user(user=ada).balance == start + 5000
    assert CreditGrantRequest.objects.count() == 1
    assert_ledger_balanced()
