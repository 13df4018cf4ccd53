"""CSRF: every route of the URLconf that a session can reach refuses a state change without a
valid token — plain forms and htmx requests alike — and the only routes exempt are the ones
DESIGN.md names (the bearer-token API, provider webhooks; the other bearer surfaces — signed
file links, public share pages, /healthz — take no state-changing request at all).

The walk covers every route, the admin's included, so a route added later is checked without
anyone listing it here; a new CSRF-exempt view fails `test_only_the_designed_routes_are_exempt`.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.http import HttpResponseForbidden
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils.crypto import get_random_string

from tests.factories import make_user

pytestmark = pytest.mark.django_db

# The surfaces DESIGN.md exempts from CSRF by design, each guarded otherwise. A route may be
# listed here and still enforce CSRF (e.g. GET-only pages); it may not be exempt unless listed.
DESIGNED_EXEMPT = {
    "api:",  # /v1/... — Authorization: Bearer <token>, no session
    "generations:signed-file",  # signed links: bytes of one file for a valid signature
    "generations:webhook-apiframe",  # provider callbacks: a valid X-Webhook-Signature
    "healthz",  # health JSON, no secrets
    "generations:shared",  # public share pages, while the owner shares them
    "generations:shared-video",
    "generations:shared-poster",
}
FAILURE_HEADER = "X-Test-CSRF-Refused"


def csrf_refused(request, reason=""):
    """The CSRF failure view for these tests: a 403 that says it came from the CSRF check."""
    response = HttpResponseForbidden("CSRF refused")
    response[FAILURE_HEADER] = reason or "refused"
    return response


# --- Walking the URLconf ------------------------------------------------------------------

_SAMPLES = {"uuid": str(uuid.UUID(int=1)), "int": "1", "slug": "a-slug", "str": "x", "path": "x"}


def _route_sample(route: str) -> str:
    def value(match: re.Match) -> str:
        converter = match.group(1) or "str"
        return _SAMPLES.get(converter, "x")

    return re.sub(r"<(?:(\w+):)?\w+>", value, route)


def _regex_sample(regex: str) -> str:
    text = regex.lstrip("^").rstrip("$").replace("\\Z", "")

    def group(match: re.Match) -> str:
        body = match.group(1)
        return body.split("|")[0] if re.fullmatch(r"[\w|]+", body) else "x"

    return re.sub(r"\(\?P<\w+>([^)]*)\)", group, text)


def _sample(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return _route_sample(str(pattern))
    assert isinstance(pattern, RegexPattern), pattern
    return _regex_sample(str(pattern))


def all_routes(patterns=None, prefix: str = "/", raw: str = "", namespace: str = ""):
    """(sample path, route as written, 'namespace:name', view) for every route in the URLconf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        here = raw + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from all_routes(entry.url_patterns, prefix + _sample(entry.pattern), here, inner)
        else:
            assert isinstance(entry, URLPattern)
            name = f"{namespace}{entry.name or ''}"
            yield prefix + _sample(entry.pattern), here, name, entry.callback


def _reachable(routes):
    """The routes a request can reach: a route written exactly like an earlier one
    (django.contrib.auth.urls' login, behind the studio's throttled login) is shadowed."""
    seen = set()
    for path, raw, name, view in routes:
        if raw in seen:
            continue
        seen.add(raw)
        yield path, name, view


ROUTES = list(_reachable(all_routes()))


def _exempt_allowed(name: str) -> bool:
    return name in DESIGNED_EXEMPT or any(
        name.startswith(item) for item in DESIGNED_EXEMPT if item.endswith(":")
    )


def test_the_walk_reaches_every_route_with_a_path_that_resolves_to_it():
    assert len(ROUTES) > 100  # the studio's pages, the API and the whole admin
    for path, name, view in ROUTES:
        assert resolve(path).func is view, f"{name}: {path} resolves elsewhere"


def test_only_the_designed_routes_are_exempt():
    exempt = {name for _, name, view in ROUTES if getattr(view, "csrf_exempt", False)}
    unexpected = {name for name in exempt if not _exempt_allowed(name)}
    assert not unexpected, f"CSRF-exempt but not designed to be: {sorted(unexpected)}"
    # The two that must be exempt to work at all.
    assert "generations:webhook-apiframe" in exempt
    assert "api:generations" in exempt


# --- Every other route refuses a state change without the token ---------------------------


@pytest.fixture
def session(db, settings):
    """A signed-in staff member (so no page turns the request away before CSRF would)."""
    from django.test import Client

    settings.CSRF_FAILURE_VIEW = "tests.security.test_csrf.csrf_refused"
    person = make_user(username="csrf-admin", is_staff=True, is_superuser=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person)
    return browser


CHECKED = [(path, name) for path, name, view in ROUTES if not getattr(view, "csrf_exempt", False)]


def test_every_session_route_refuses_a_form_post_without_a_token(session):
    refused = []
    for path, name in CHECKED:
        response = session.post(path, {"anything": "1"})
        if response.status_code == 403 and response.has_header(FAILURE_HEADER):
            refused.append(name)
        else:
            pytest.fail(f"{name} ({path}) answered {response.status_code} without a CSRF token")
    assert len(refused) == len(CHECKED)


def test_every_session_route_refuses_an_htmx_request_without_the_token_header(session):
    # htmx sends what a page's hx-post/hx-delete/... says, with HX-Request: true. Without the
    # X-CSRFToken header (body hx-headers), the cookie alone is not enough.
    session.get("/")  # sets the CSRF cookie, as a page visit does
    for method in ("post", "put", "patch", "delete"):
        for path, name in CHECKED:
            response = getattr(session, method)(path, headers={"HX-Request": "true"})
            assert response.status_code == 403 and response.has_header(FAILURE_HEADER), (
                f"{method.upper()} {name} ({path}) answered {response.status_code} to htmx "
                "without a token"
            )


def test_a_token_from_another_session_is_refused(session):
    stranger = get_random_string(32)
    for path, name in CHECKED:
        response = session.post(path, headers={"HX-Request": "true", "X-CSRFToken": stranger})
        assert response.has_header(FAILURE_HEADER), f"{name} accepted another session's token"


def test_with_the_pages_own_token_the_same_requests_pass_the_check(session):
    """The refusals above come from the missing token, not from the route: with the token
    the page hands htmx (hx-headers on <body>), no route is refused by the CSRF check."""
    page = session.get("/")
    headers = json.loads(re.search(r"<body hx-headers='([^']+)'", page.text).group(1))
    assert set(headers) == {"X-CSRFToken"}
    for path, name in CHECKED:
        if name in ("logout", "admin:logout"):
            continue  # would end the session the remaining requests use
        response = session.post(path, headers={"HX-Request": "true", **headers})
        assert not response.has_header(FAILURE_HEADER), f"{name} refused a valid token"


def test_the_exempt_api_ignores_the_session_so_a_forged_request_gets_nothing(session):
    """A cross-site form can make a browser POST to /v1/ with its session cookie, but the API
    knows only bearer tokens: the request is refused and nothing is created or cancelled."""
    from generations.models import Generation

    for path, name, _ in ROUTES:
        if not name.startswith("api:") or name == "api:openapi":
            continue
        response = session.post(
            path, data='{"model": "wan2.6-i2v-flash"}', content_type="application/json"
        )
        assert response.status_code in (401, 405), f"{name} answered {response.status_code}"
        if response.status_code == 401:
            assert response.json()["error"]["code"] == "invalid_api_key"
    assert not Generation.objects.exists()
