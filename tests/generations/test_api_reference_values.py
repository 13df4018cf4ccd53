"""Every default and example the API reference shows is a value the API takes.

The page is read as a person reads it: each field's default is taken from its row, put where
the row says it goes, and the whole body is sent to the API; so is the page's curl example.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from django.test import Client

from accounts.services import api_token_create
from generations.catalog import catalog
from generations.models import Generation
from tests.factories import image_bytes, make_user

pytestmark = pytest.mark.django_db

ROW = re.compile(
    r"<tr>\s*<td><code>(?P<name>[^<]+)</code>.*?"
    r'data-label="Where"><code>(?P<where>[^<]+)</code>.*?'
    r'data-label="Default">(?P<default>.*?)</td>',
    re.S,
)


@pytest.fixture
def person():
    return make_user(credits=10_000)


@pytest.fixture
def api(person):
    _, raw = api_token_create(user=person, name="reference check")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def reference_page(person) -> str:
    client = Client()
    client.force_login(person)
    response = client.get("/api/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def image_url(file_server, settings) -> str:
    settings.STUDIO_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    return file_server.add("/reference.png", image_bytes(), "image/png")


def _defaults_by_model(page: str) -> dict[str, list[tuple[str, str, object]]]:
    found: dict[str, list[tuple[str, str, object]]] = {}
    sections = re.split(r'<section class="card" id="model-', page)[1:]
    for section in sections:
        key = section.split('"', 1)[0]
        rows = []
        for row in ROW.finditer(section):
            default = re.search(r"<code>(.*?)</code>", row["default"])
            if default is None:
                continue
            # What the page shows is what goes in the body, as JSON.
            rows.append((row["name"], row["where"], json.loads(html.unescape(default[1]))))
        found[key] = rows
    return found


def _post(api, body: dict):
    return api.post("/v1/video/generations", data=json.dumps(body), content_type="application/json")


def test_every_default_on_the_reference_is_taken_by_the_api(api, reference_page, image_url):
    defaults = _defaults_by_model(reference_page)
    assert set(defaults) == set(catalog())
    for key, rows in defaults.items():
        model = catalog()[key]
        assert rows, f"{key}: no defaults shown"
        image = model.field_for_role("reference_image").name
        body: dict = {"model": key, "prompt": "A lighthouse at dusk"}
        metadata: dict = {"input": {image: image_url}, "parameters": {}}
        for name, where, value in rows:
            if where == "top level":
                body[name] = value
            else:
                metadata[where.removeprefix("metadata.")][name] = value
        body["metadata"] = metadata
        response = _post(api, body)
        assert response.status_code == 200, (key, body, response.content)
        created = Generation.objects.get(pk=response.json()["task_id"])
        for name, _, value in rows:
            field = model.field(name)
            assert created.params[field.name] == value, (key, name)


def test_the_reference_example_is_taken_by_the_api(api, reference_page, image_url):
    example = re.search(r"-d '(\{.*?\})'</pre>", reference_page, re.S)
    assert example is not None
    body = json.loads(html.unescape(example[1]))
    body["metadata"]["input"]["img_url"] = image_url  # the example's host is not reachable here
    response = _post(api, body)
    assert response.status_code == 200, response.content
