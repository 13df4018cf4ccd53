"""What an admin does with credits: grants, deductions, the ledger, usage, and the command."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.ledger import credits_grant, wallet_for_team, wallet_for_user
from accounts.models import LedgerEntry, Team, User
from generations.models import Generation
from tests.conftest import assert_ledger_balanced
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = make_user(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.admin = admin
    return client


def _action(client, url, action, ids, **extra):
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], **extra})


def test_an_admin_grants_credits_to_several_people_with_a_reason(admin_client):
    ada, bob = make_user(username="ada"), make_user(username="bob")
    page = _action(admin_client, "/admin/accounts/user/", "adjust_credits", [ada.pk, bob.pk])
    assert page.status_code == 200
    assert b"Grant or deduct credits" in page.content
    response = _action(
        admin_client,
        "/admin/accounts/user/",
        "adjust_credits",
        [ada.pk, bob.pk],
        apply="1",
        amount="25",
        reason="Workshop",
    )
    assert response.status_code == 302
    for person in (ada, bob):
        entry = LedgerEntry.objects.get(wallet__user=person)
        assert (entry.kind, entry.amount, entry.reason, entry.actor) == (
            "grant",
            25,
            "Workshop",
            admin_client.admin,
        )
        assert wallet_for_user(user=person).balance == 25
    assert_ledger_balanced()


def test_a_reason_is_required_and_the_amount_must_not_be_zero(admin_client):
    ada = make_user(username="ada")
    page = _action(
        admin_client,
        "/admin/accounts/user/",
        "adjust_credits",
        [ada.pk],
        apply="1",
        amount="0",
        reason=" ",
    )
    html = page.content.decode()
    assert "Enter an amount other than 0." in html
    assert "This field is required." in html or "Say why" in html
    assert not LedgerEntry.objects.exists()


def test_a_deduction_larger_than_a_balance_is_refused_for_that_wallet_only(admin_client):
    rich, poor = make_user(username="rich", credits=50), make_user(username="poor", credits=3)
    response = _action(
        admin_client,
        "/admin/accounts/user/",
        "adjust_credits",
        [rich.pk, poor.pk],
        apply="1",
        amount="-10",
        reason="Correction",
    )
    follow = admin_client.get(response["Location"])
    html = follow.content.decode()
    assert "Not changed for poor: cannot deduct 10 credits: poor holds only 3." in html
    assert wallet_for_user(user=rich).balance == 40
    assert wallet_for_user(user=poor).balance == 3
    entry = LedgerEntry.objects.get(wallet__user=rich, kind="adjustment")
    assert (entry.amount, entry.actor) == (-10, admin_client.admin)
    assert_ledger_balanced()


def test_teams_get_credits_the_same_way(admin_client):
    team = Team.objects.create(name="Crew", slug="crew")
    _action(
        admin_client,
        "/admin/accounts/team/",
        "adjust_credits",
        [team.pk],
        apply="1",
        amount="40",
        reason="Budget",
    )
    assert wallet_for_team(team=team).balance == 40
    assert b"40" in admin_client.get("/admin/accounts/team/").content


def test_the_user_list_shows_balances(admin_client):
    make_user(username="ada", credits=17)
    html = admin_client.get("/admin/accounts/user/").content.decode()
    assert "ada" in html and ">17<" in html


def test_the_ledger_is_read_only_and_filterable(admin_client):
    ada = make_user(username="ada", credits=5)
    entry = LedgerEntry.objects.get(wallet__user=ada)
    assert admin_client.get(f"/admin/accounts/ledgerentry/{entry.pk}/change/").status_code in (
        200,
        403,
    )
    response = admin_client.post(f"/admin/accounts/ledgerentry/{entry.pk}/change/", {"amount": 999})
    assert response.status_code == 403
    assert (
        admin_client.post(
            f"/admin/accounts/ledgerentry/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert admin_client.get("/admin/accounts/ledgerentry/add/").status_code == 403
    for query in (
        "kind__exact=grant",
        "wallet_of=user",
        f"wallet__id__exact={entry.wallet_id}",
        f"created_at__year={entry.created_at.year}",
        "q=ada",
    ):
        page = admin_client.get(f"/admin/accounts/ledgerentry/?{query}")
        assert page.status_code == 200, query
        assert "ada" in page.content.decode(), query
    entry.refresh_from_db()
    assert entry.amount == 5


def test_grant_credits_command_for_a_user_and_a_team(capsys):
    ada = make_user(username="ada")
    team = Team.objects.create(name="Crew", slug="crew")
    call_command("grant_credits", "ada", "30", reason="Ops")
    call_command("grant_credits", "crew", "12", reason="Ops")
    call_command("grant_credits", "ada", "-5", reason="Ops fix")
    assert wallet_for_user(user=ada).balance == 25
    assert wallet_for_team(team=team).balance == 12
    assert "balance now 25" in capsys.readouterr().out
    with pytest.raises(CommandError, match="cannot deduct 20 credits"):
        call_command("grant_credits", "crew", "-20", reason="too much")
    with pytest.raises(CommandError, match="No user or team"):
        call_command("grant_credits", "nobody", "5", reason="x")
    assert_ledger_balanced()


def test_accounts_made_by_a_command_or_an_admin_start_at_zero(admin_client):
    call_command("createsuperuser", "--noinput", "--username", "ops", "--email", "o@example.test")
    admin_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "added",
            "password1": "a-long-pass-9x!",
            "password2": "a-long-pass-9x!",
            "usable_password": "true",
        },
    )
    for name in ("ops", "added"):
        user = User.objects.get(username=name)
        assert wallet_for_user(user=user).balance == 0
        assert not LedgerEntry.objects.filter(wallet__user=user).exists()


def _spent(user, model_key, credits, team=None, provider_cost=None):
    from accounts.ledger import credits_charge

    generation = Generation.objects.create(
        owner=user,
        team=team,
        model_key=model_key,
        provider="modelstream",
        prompt="p",
        deadline_at=timezone.now() + timedelta(hours=1),
        cost=credits,
        provider_cost=provider_cost,
    )
    wallet = wallet_for_team(team=team) if team else wallet_for_user(user=user)
    credits_charge(wallet=wallet, amount=credits, actor=user, generation=generation)
    return generation


def test_the_usage_page_shows_spend_per_day_model_person_and_team(admin_client):
    ada = make_user(username="ada", credits=100)
    team = Team.objects.create(name="Crew <b>", slug="crew")
    credits_grant(wallet=wallet_for_team(team=team), amount=50, actor=None, reason="t")
    from accounts.models import Membership

    Membership.objects.create(team=team, user=ada)
    _spent(ada, "wan2.6-i2v-flash", 4)
    _spent(ada, "wan-2.6-flash", 3, provider_cost=3)
    _spent(ada, "wan-2.6-flash", 7, team=team, provider_cost=7)
    page = admin_client.get("/admin/usage/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "Crew &lt;b&gt;" in html and "Crew <b>" not in html
    report = page.context["report"]
    assert report.total == 14 and report.generations == 3
    assert {r.label: r.credits for r in report.by_model} == {
        "wan2.6-i2v-flash": 4,
        "wan-2.6-flash": 10,
    }
    assert {r.label: r.credits for r in report.by_user} == {"ada": 14}
    assert {r.label: r.credits for r in report.by_team} == {"Crew <b>": 7}
    assert [r.provider_cost for r in report.by_model if r.label == "wan-2.6-flash"][0] == 10
    assert report.by_day[-1].credits == 14


def test_usage_exports_csv_without_formula_injection(admin_client):
    evil = make_user(username="=cmd", credits=10)
    _spent(evil, "wan2.6-i2v-flash", 4)
    today = timezone.now().date()
    response = admin_client.get(f"/admin/usage/?start={today}&end={today}&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["section", "label", "credits"]
    assert ["user", "'=cmd", "4", "1", ""] in rows
    assert rows[-1][:3] == ["total", "", "4"]


def test_the_usage_page_is_for_staff_only(client):
    client.force_login(make_user(username="plain"))
    response = client.get("/admin/usage/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_invalid_period_says_so(admin_client):
    page = admin_client.get("/admin/usage/?start=2026-05-02&end=2026-05-01")
    assert "The end must not be before the start." in page.content.decode()


def test_a_grant_from_a_persons_page_takes_two_clicks(admin_client):
    ada = make_user(username="ada")
    change = admin_client.get(f"/admin/accounts/user/{ada.pk}/change/").content.decode()
    # Click one: the link beside History.
    url = f"/admin/accounts/user/{ada.pk}/credits/"
    assert f'href="{url}" class="credits-link">Grant or deduct credits</a>' in change
    form = admin_client.get(url).content.decode()
    assert 'name="amount"' in form and 'name="reason"' in form and 'value="Done"' in form
    assert "ada — balance 0" in form
    # Click two: amount, reason, done; back on their page with what happened.
    response = admin_client.post(url, {"amount": "40", "reason": "Festival entry"}, follow=True)
    assert response.redirect_chain == [(f"/admin/accounts/user/{ada.pk}/change/", 302)]
    assert "Granted 40 credits on 1 wallet(s): ada" in response.content.decode()
    entry = LedgerEntry.objects.get(wallet__user=ada)
    assert (entry.kind, entry.amount, entry.reason, entry.actor) == (
        "grant",
        40,
        "Festival entry",
        admin_client.admin,
    )
    assert_ledger_balanced()


def test_a_grant_from_a_teams_page_and_its_mistakes_stay_on_the_form(admin_client):
    team = Team.objects.create(name="Night Crew", slug="night-crew")
    url = f"/admin/accounts/team/{team.pk}/credits/"
    assert url in admin_client.get(f"/admin/accounts/team/{team.pk}/change/").content.decode()
    page = admin_client.post(url, {"amount": "0", "reason": "  "})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Enter an amount other than 0." in html and "This field is required." in html
    refused = admin_client.post(url, {"amount": "-5", "reason": "Correction"}, follow=True)
    assert "Not changed for Team Night Crew" in refused.content.decode()
    admin_client.post(url, {"amount": "12", "reason": "Pilot"})
    assert wallet_for_team(team=team).balance == 12


def test_the_grant_from_a_page_needs_the_same_permission_as_the_action(client):
    from django.contrib.auth.models import Permission

    ada = make_user(username="ada")
    viewer = make_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)
    url = f"/admin/accounts/user/{ada.pk}/credits/"
    assert url not in client.get(f"/admin/accounts/user/{ada.pk}/change/").content.decode()
    assert client.post(url, {"amount": "1000", "reason": "Mine"}).status_code == 403
    assert not LedgerEntry.objects.filter(wallet__user=ada).exists()
    assert client.get("/admin/accounts/user/999999/credits/").status_code in (302, 404)


def test_the_admin_carries_the_studios_name(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "<title>Run the studio | Studio admin</title>" in html
    assert "Studio administration" in html and "Django administration" not in html
