"""References given to the API by URL go through the guarded fetcher: SSRF attempts are refused.

Names are resolved by a double (never the real resolver), and the network guard of the test
settings would turn any connection outside loopback into an error rather than a packet.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.services import api_token_create
from generations import fetcher
from generations.models import Generation
from tests.factories import image_bytes, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller():
    user = make_user(credits=50)
    _, raw = api_token_create(user=user, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def resolver(monkeypatch):
    """A resolver double: test names map to fixed addresses; anything else does not resolve."""
    table = {
        "files.test": ["127.0.0.1"],
        "intranet.test": ["10.1.2.3"],
        "metadata.test": ["169.254.169.254"],
        "mixed.test": ["93.184.216.34", "192.168.0.10"],
        "v6-local.test": ["::1"],
    }

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"{host} does not resolve in tests")
        return table[host]

    monkeypatch.setattr(fetcher, "system_resolver", resolve)
    return table


def _submit(client, url: str):
    body = {"model": "wan2.6-i2v-flash", "prompt": "p", "metadata": {"input": {"img_url": url}}}
    return client.post(
        "/v1/video/generations", data=json.dumps(body), content_type="application/json"
    )


def _refused(response, fragment: str):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == "img_url" and error["code"] == "invalid_file_url"
    assert fragment in error["message"], error["message"]
    assert not Generation.objects.exists()


def test_loopback_is_refused_unless_allow_listed(caller, file_server, settings, resolver):
    url = file_server.add("/ref.png", image_bytes(), "image/png")
    settings.STUDIO_FETCH_ALLOWED_HOSTS = []
    _refused(_submit(caller, url), "internal address")
    assert file_server.hits == []
    settings.STUDIO_FETCH_ALLOWED_HOSTS = ["127.0.0.0/8"]
    assert _submit(caller, url).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/ref.png",
        "http://192.168.1.1/ref.png",
        "http://172.16.0.1/ref.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/ref.png",
        "http://[fd00::1]/ref.png",
        "http://0.0.0.0/ref.png",
        "http://100.64.0.1/ref.png",
        "http://224.0.0.1/ref.png",
        "http://[::ffff:10.0.0.1]/ref.png",
    ],
)
def test_private_and_reserved_addresses_are_refused(caller, settings, url, resolver):
    settings.STUDIO_FETCH_ALLOWED_HOSTS = []
    _refused(_submit(caller, url), "internal address")


@pytest.mark.parametrize(
    "host", ["intranet.test", "metadata.test", "mixed.test", "v6-local.test", "files.test"]
)
def test_a_name_that_resolves_to_an_internal_address_is_refused(caller, settings, resolver, host):
    settings.STUDIO_FETCH_ALLOWED_HOSTS = []
    _refused(_submit(caller, f"http://{host}/ref.png"), "internal address")


def test_a_redirect_to_an_internal_address_is_refused_at_that_hop(
    caller, file_server, settings, resolver
):
    settings.STUDIO_FETCH_ALLOWED_HOSTS = ["files.test"]  # the first host only, by name
    file_server.add("/hop", b"", status=302, headers={"Location": "http://169.254.169.254/latest"})
    file_server.add(
        "/hop-home",
        b"",
        status=302,
        headers={"Location": f"http://127.0.0.1:{file_server.port}/ref.png"},
    )
    file_server.add("/ref.png", image_bytes(), "image/png")
    _refused(_submit(caller, f"http://files.test:{file_server.port}/hop"), "internal address")
    _refused(_submit(caller, f"http://files.test:{file_server.port}/hop-home"), "internal address")
    assert "/ref.png" not in file_server.hits


def test_a_redirect_chain_to_an_allowed_host_is_followed(caller, file_server, settings, resolver):
    settings.STUDIO_FETCH_ALLOWED_HOSTS = ["files.test"]
    file_server.add("/a", b"", status=301, headers={"Location": "/b"})
    file_server.add(
        "/b", b"", status=307, headers={"Location": f"http://files.test:{file_server.port}/ref.png"}
    )
    file_server.add("/ref.png", image_bytes(), "image/png")
    assert _submit(caller, f"http://files.test:{file_server.port}/a").status_code == 200


def test_endless_redirects_are_refused(caller, file_server, settings, resolver):
    settings.STUDIO_FETCH_ALLOWED_HOSTS = ["files.test"]
    file_server.add("/loop", b"", status=302, headers={"Location": "/loop"})
    _refused(_submit(caller, f"http://files.test:{file_server.port}/loop"), "redirects")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "Only http and https"),
        ("ftp://files.test/ref.png", "Only http and https"),
        ("gopher://files.test/", "Only http and https"),
        ("http://user:pass@files.test/ref.png", "user name or password"),
        ("not a url", "Only http and https"),
        ("http://nowhere.test/ref.png", "could not be resolved"),
    ],
)
def test_other_schemes_credentials_and_unknown_names_are_refused(caller, resolver, url, fragment):
    _refused(_submit(caller, url), fragment)


def test_an_oversize_file_is_refused_without_reading_it_all(caller, file_server):
    url = file_server.add("/big.png", b"\x89PNG" + bytes(21 * 1024 * 1024), "image/png")
    _refused(_submit(caller, url), "larger than 20 MB")


def test_a_page_that_is_not_an_image_is_refused(caller, file_server):
    url = file_server.add("/page", b"<html>hi</html>", "text/html")
    _refused(_submit(caller, url), "text/html")


def test_bytes_that_are_not_an_image_are_refused_by_content(caller, file_server):
    url = file_server.add("/fake.png", b"GIF89a not really", "image/png")
    response = _submit(caller, url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (
        error["param"] == "img_url" and "GIF image; only JPEG, PNG, BMP or WEBP" in error["message"]
    )


def test_a_missing_file_is_refused_with_the_status(caller, file_server):
    _refused(_submit(caller, file_server.base + "/missing.png"), "HTTP 404")
