"""Login lock-out, sign-up and login throttling, all in the shared cache."""

import pytest
from django.core.cache import cache
from django.test import RequestFactory, override_settings

from studio.clientip import client_ip
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _login(client, username, password, ip="10.9.8.7"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_too_many_wrong_passwords_lock_the_account_from_that_address(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user(username="ada")
    for _ in range(3):
        assert _login(client, "ada", "wrong").status_code in (200, 429)
    locked = _login(client, "ada", PASSWORD)
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    # Someone else, or the same person from elsewhere, is not locked out by it.
    make_user(username="bob")
    assert _login(client, "bob", PASSWORD).status_code == 302
    assert _login(client, "ada", PASSWORD, ip="10.1.1.1").status_code == 302


def test_a_successful_login_resets_the_count(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user(username="ada")
    _login(client, "ada", "wrong")
    _login(client, "ada", "wrong")
    assert _login(client, "ada", PASSWORD).status_code == 302
    client.logout()
    _login(client, "ada", "wrong")
    _login(client, "ada", "wrong")
    assert _login(client, "ada", PASSWORD).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    make_user(username="ada")
    _login(client, "ada", "wrong")
    _login(client, "ada", "wrong")
    assert _login(client, "ada", PASSWORD).status_code == 429
    cache.clear()  # the cool-off is the lifetime of the cache entries
    assert _login(client, "ada", PASSWORD).status_code == 302


@override_settings(STUDIO_SIGNUP_RATE="2/h")
def test_sign_ups_are_throttled_per_address(client):
    def signup(name, ip="10.2.2.2"):
        return client.post(
            "/accounts/signup/",
            {
                "username": name,
                "email": f"{name}@example.test",
                "password1": "a-long-pass-9x!",
                "password2": "a-long-pass-9x!",
            },
            REMOTE_ADDR=ip,
        )

    assert signup("one").status_code == 302
    client.logout()
    assert signup("two").status_code == 302
    client.logout()
    refused = signup("three")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many tries" in refused.content.decode()
    assert signup("four", ip="10.3.3.3").status_code == 302


@override_settings(STUDIO_LOGIN_RATE="3/m", AXES_FAILURE_LIMIT=100)
def test_login_attempts_are_throttled_per_address_across_usernames(client):
    for name in ("a", "b", "c"):
        assert _login(client, name, "x").status_code == 200
    assert _login(client, "d", "x").status_code == 429


def test_the_client_address_trusts_only_the_configured_proxies(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )
    settings.STUDIO_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"
    settings.STUDIO_TRUSTED_PROXY_COUNT = 1
    assert (
        client_ip(request) == "203.0.113.9"
    )  # what our proxy saw; the forged first hop is ignored


# An hour's window: four tries never straddle two windows, as they could a minute's.
@override_settings(STUDIO_LOGIN_RATE="3/h", AXES_FAILURE_LIMIT=100)
def test_the_admin_login_shares_the_login_limit_across_usernames(client):
    def admin_login(name):
        return client.post(
            "/admin/login/?next=/admin/",
            {"username": name, "password": "x", "next": "/admin/"},
            REMOTE_ADDR="10.4.4.4",
        )

    for name in ("a", "b"):
        assert admin_login(name).status_code == 200  # the form again, with its error
    assert _login(client, "c", "x", ip="10.4.4.4").status_code == 200  # one limit for both
    refused = admin_login("d")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert admin_login("e").status_code == 429


def test_the_admin_login_locks_out_like_the_studios(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    make_user(username="root", is_staff=True, is_superuser=True)
    for _ in range(2):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    locked = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert locked.status_code == 429


@override_settings(STUDIO_PASSWORD_RESET_RATE="4/h", STUDIO_PASSWORD_RESET_EMAIL_RATE="2/h")
def test_password_reset_requests_are_limited_per_address_and_per_email(client, mailoutbox):
    make_user(username="ada")  # ada@example.test

    def reset(email, ip="10.5.5.5"):
        return client.post("/accounts/password_reset/", {"email": email}, REMOTE_ADDR=ip)

    assert reset("ada@example.test").status_code == 302
    assert reset("ADA@example.test ", ip="10.6.6.6").status_code == 302
    refused = reset("ada@example.test", ip="10.7.7.7")  # a third for this address, elsewhere
    assert refused.status_code == 429 and "Too many tries" in refused.content.decode()
    assert len(mailoutbox) == 2
    # Per client address: four asks, whatever the emails (the first was for ada).
    for number in (1, 2, 3):
        assert reset(f"nobody-{number}@example.test").status_code == 302
    assert reset("nobody-4@example.test").status_code == 429
    assert len(mailoutbox) == 2
