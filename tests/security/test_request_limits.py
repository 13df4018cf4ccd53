"""Abuse limits the other suites do not cover: bodies capped before they are read, and the
rate limits living in the cache every process shares.

Covered elsewhere: login lock-out, sign-up and login throttles per address
(tests/accounts/test_abuse_limits.py); the submit rate per person on the create page
(tests/generations/test_create_for_team.py); the API's rate per token
(tests/generations/test_api.py); a file past its field's limit stored not at all
(tests/generations/test_uploads.py).
"""

from __future__ import annotations

import io

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client

from accounts.services import api_token_create
from generations.models import Generation
from studio.ratelimit import rate_limit_hit, rate_parse
from tests.factories import make_user

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


class Untouchable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read")


def _post_without_reading(client: Client, path: str, length: int, content_type: str, **extra):
    return client.generic(
        "POST",
        path,
        content_type=content_type,
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": Untouchable()},
        **extra,
    )


@pytest.fixture
def person(client):
    person = make_user(credits=100)
    client.force_login(person)
    return person


@pytest.mark.parametrize(
    "path", ["/", "/references/upload/", "/accounts/login/", "/webhooks/apiframe/", "/teams/"]
)
def test_a_body_larger_than_anything_the_studio_accepts_is_refused_unread(client, person, path):
    response = _post_without_reading(client, path, 40 * MB + 1, "multipart/form-data; boundary=x")
    assert response.status_code == 413
    assert response["Connection"] == "close"
    assert "larger than the studio accepts (40 MB)" in response.content.decode()


def test_the_largest_real_form_fits_under_the_cap(settings):
    """The create page without JavaScript may carry a 20 MB image and a 15 MB track at once."""
    from generations.catalog import catalog

    largest = max(
        sum(spec.max_bytes or 0 for spec in model.fields if spec.is_file)
        for model in catalog().values()
    )
    assert largest + MB <= settings.STUDIO_MAX_REQUEST_BYTES


def test_an_api_body_past_its_limit_is_refused_unread_with_a_json_error(person):
    _, raw = api_token_create(user=person, name="big")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for length in (256 * 1024 + 1, 3 * MB, 41 * MB):
        response = _post_without_reading(api, "/v1/video/generations", length, "application/json")
        assert response.status_code == 413, length
        assert response.json()["error"]["code"] == "body_too_large"
    assert not Generation.objects.exists()


def test_a_form_body_is_held_in_memory_only_up_to_its_cap(client, person, settings):
    settings.STUDIO_SUBMIT_RATE = "0"
    fields = {"model": "wan2.6-i2v-flash", "prompt": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}
    response = client.post("/create/preview/", fields)
    assert response.status_code == 400  # RequestDataTooBig: refused, not buffered further


def test_too_many_form_fields_are_refused(client, person):
    data = "&".join(f"f{index}=1" for index in range(1200))
    response = client.post(
        "/create/preview/", data, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400


def test_rate_limits_count_in_the_cache_every_process_shares(settings):
    """The counts are in the database cache (Redis in production), so a limit holds across
    web processes: here a second connection — as another process would — sees the count."""
    backend = settings.CACHES["default"]["BACKEND"]
    assert backend.endswith(("DatabaseCache", "RedisCache")), backend
    rate = rate_parse("2/m")
    assert rate_limit_hit(key="submit:shared", rate=rate) is None
    assert rate_limit_hit(key="submit:shared", rate=rate) is None
    if backend.endswith("DatabaseCache"):
        table = settings.CACHES["default"]["LOCATION"]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT cache_key FROM {table}")
            keys = [row[0] for row in cursor.fetchall()]
        assert any("ratelimit:submit:shared" in key for key in keys)
    caches["default"].close()  # a fresh connection, as in another process
    assert rate_limit_hit(key="submit:shared", rate=rate) is not None


def test_the_login_lockout_uses_the_shared_cache(settings):
    assert settings.AXES_HANDLER == "axes.handlers.cache.AxesCacheHandler"
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_the_per_person_submit_limit_does_not_spill_over_to_someone_else(client, settings):
    from generations.catalog import catalog_get
    from tests.generations.test_lifecycle import _create

    settings.STUDIO_SUBMIT_RATE = "1/m"
    first, second = make_user(credits=100), make_user(credits=100)
    for person in (first, second):
        reference = _create(person).reference
        client.force_login(person)
        model = catalog_get("wan2.6-i2v-flash")
        form = {
            "model": model.key,
            "prompt": "A fox in the snow",
            "resolution": "720P",
            "duration": "5",
            model.field_for_role("reference_image").name: str(reference.id),
        }
        assert client.post("/", form).status_code == 303
        refused = client.post("/", form)
        assert refused.status_code == 429
        assert "wait" in refused.content.decode()
