"""Schemathesis against /v1/openapi.json, in-process over WSGI, with the network guard on:
no 500s, and every response matches the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from tests.factories import make_finished_generation, make_user

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _load_schema():
    from django.core.wsgi import get_wsgi_application

    from generations.openapi import openapi_document

    # Loaded from the same generator that serves /v1/openapi.json (checked equal below).
    loaded = schemathesis.openapi.from_dict(openapi_document(server_url="http://localhost"))
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: the WSGI handler must not close the test's connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_fuzzed_document_is_the_served_one(client, settings):
    from generations.openapi import openapi_document

    served = client.get("/v1/openapi.json").json()
    assert served == openapi_document(server_url=settings.STUDIO_PUBLIC_URL)
    assert served["paths"] == schema.raw_schema["paths"]


@pytest.fixture
def token(db, settings):
    settings.STUDIO_API_SUBMIT_RATE = "0"
    user = make_user(username="fuzzer", credits=100_000)
    make_finished_generation(owner=user)
    _, raw = api_token_create(user=user, name="schemathesis")
    return raw


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_response_matches_the_document(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_without_a_token_every_operation_answers_401(case):
    response = case.call()
    if case.method.upper() != case.operation.method.upper():
        assert response.status_code == 405  # a method the operation does not have
    elif case.path != "/v1/openapi.json":
        assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def _negative_schema():
    """The same document, fuzzed with values it does not allow (malformed query parameters,
    cursors, ids and bodies): each answer must be the API's JSON error, never a 500."""
    from schemathesis import GenerationMode

    loaded = _load_schema()
    loaded.config.generation.update(modes=[GenerationMode.NEGATIVE])
    return loaded


negative = _negative_schema()


def _an_api_error(response, case) -> None:
    if case.path == "/v1/openapi.json":
        return
    if response.status_code >= 400:
        content_type = {name.lower(): value for name, value in response.headers.items()}.get(
            "content-type", [""]
        )
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/json"), (
            case.method,
            case.formatted_path,
            response.status_code,
        )
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.django_db
@negative.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_values_the_document_does_not_allow_get_a_json_error_never_a_500(case, token):
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
    )
    _an_api_error(response, case)
