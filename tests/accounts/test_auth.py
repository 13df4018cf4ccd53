import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import LedgerEntry, User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_the_login_page_has_username_and_password_and_links_to_signup(client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert 'href="/accounts/signup/"' in html


def test_a_person_signs_in_with_username_and_password(client):
    make_user(username="ada")
    response = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_a_wrong_password_says_so_and_keeps_the_username(client):
    make_user(username="ada")
    page = client.post("/accounts/login/", {"username": "ada", "password": "nope"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Please enter a correct username and password" in html
    assert 'value="ada"' in html


@pytest.mark.parametrize("path", ["/", "/gallery/", "/account/", "/accounts/password_change/"])
def test_every_studio_page_needs_a_signed_in_person(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_signing_up_creates_an_account_with_the_signup_credits_as_a_ledger_grant(client, settings):
    settings.STUDIO_SIGNUP_CREDITS = 10
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "email": "n@example.test",
            "password1": "a-long-pass-9x!",
            "password2": "a-long-pass-9x!",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.wallet.balance == 10
    grant = LedgerEntry.objects.get(wallet=user.wallet)
    assert (grant.kind, grant.amount) == ("grant", 10)
    assert client.get("/account/").status_code == 200


def test_signup_credits_can_be_turned_off(client, settings):
    settings.STUDIO_SIGNUP_CREDITS = 0
    client.post(
        "/accounts/signup/",
        {
            "username": "nocredit",
            "email": "n@example.test",
            "password1": "a-long-pass-9x!",
            "password2": "a-long-pass-9x!",
        },
    )
    user = User.objects.get(username="nocredit")
    assert user.wallet.balance == 0
    assert not LedgerEntry.objects.filter(wallet=user.wallet).exists()


def test_signup_checks_the_password_with_djangos_validators_and_keeps_what_was_typed(client):
    page = client.post(
        "/accounts/signup/",
        {"username": "weak", "email": "w@example.test", "password1": "123", "password2": "123"},
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "too short" in html
    assert 'value="weak"' in html and 'value="w@example.test"' in html
    assert not User.objects.filter(username="weak").exists()


def test_password_reset_sends_a_mail_with_a_working_link(client):
    make_user(username="forgetful")
    User.objects.filter(username="forgetful").update(email="f@example.test")
    client.post("/accounts/password_reset/", {"email": "f@example.test"})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line)
    path = link[link.index("/accounts/reset/") :].strip()
    page = client.get(path, follow=True)
    assert page.status_code == 200
    assert b"new_password1" in page.content


def test_password_change_for_a_signed_in_person(client):
    user = make_user(username="changer")
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-pass-7!",
            "new_password2": "another-long-pass-7!",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-long-pass-7!")


def test_admin_command_creates_demo_and_admin_once_and_prints_the_generated_password(capsys):
    from django.core.management import call_command

    call_command("ensure_demo_users")
    first = capsys.readouterr().out
    assert "Created 'demo' with password:" in first
    password = first.split("Created 'demo' with password: ")[1].split()[0]
    demo = User.objects.get(username="demo")
    assert demo.check_password(password)
    assert demo.wallet.balance == 100
    assert User.objects.get(username="admin").is_superuser
    call_command("ensure_demo_users")
    second = capsys.readouterr().out
    assert "password:" not in second and "unchanged" in second
    assert User.objects.get(username="demo").wallet.balance == 100
