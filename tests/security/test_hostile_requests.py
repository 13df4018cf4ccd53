"""Whatever a person or a script sends, validation answers — never a crash, never a 500 — and
what it lets through obeys the model's schema.

Properties (hypothesis), for every catalog model:
- the schema-built form, given any values for its fields (plausible, at the limits, or
  hostile text), validates without raising; what it accepts is within the schema (options,
  ranges, steps, lengths in code points, required fields, conditions), and the provider request
  and the price built from it never fail;
- the API's JSON → form path (`api_form_input`) turns any body into form data or a 400;
- over HTTP, any JSON body to `POST /v1/video/generations` and any form to the create page and
  its htmx endpoints is answered with a 2xx/3xx/4xx, and every accepted request is charged once.
"""

from __future__ import annotations

import json
import math
import uuid

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.services import api_token_create
from generations.api_requests import ApiError, api_form_input, api_location
from generations.catalog import CatalogField, CatalogModel, catalog
from generations.forms import generation_form_class
from generations.models import Generation
from generations.pricing import price_quote
from generations.wire import condition_met, provider_request_build
from tests.conftest import assert_ledger_balanced
from tests.factories import image_bytes, make_user
from tests.generations.test_lifecycle import _create
from tests.security.strategies import hostile_text, json_values

pytestmark = pytest.mark.django_db
MODELS = sorted(catalog())
HYPOTHESIS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a browser can send (a form is UTF-8; a lone surrogate cannot be encoded in it).
form_text = hostile_text.filter(lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text))


def form_value(spec: CatalogField, reference_id: str) -> st.SearchStrategy[str]:
    """What a form may carry for one field: plausible values, limits, and anything at all."""
    plausible: list[st.SearchStrategy] = [form_text]
    if spec.options:
        plausible.append(st.sampled_from([str(option.value) for option in spec.options]))
        plausible.append(st.sampled_from([str(o.value).swapcase() for o in spec.options]))
    if spec.type in ("integer", "number"):
        low = -(10**6) if spec.min is None else int(spec.min) - 2
        high = 10**6 if spec.max is None else int(spec.max) + 2
        plausible.append(st.integers(low, high).map(str))
        plausible.append(st.sampled_from(["1e999", "-0", "NaN", "inf", "2.5", "9" * 5000, "0x10"]))
        plausible.append(st.floats(allow_nan=True, allow_infinity=True).map(repr))
    if spec.type in ("text", "textarea") and spec.max_length:
        plausible.append(
            st.sampled_from(["x", "🎬"]).map(lambda c, n=spec.max_length: c * n)
        )  # exactly at the limit in code points (an emoji is one)
        plausible.append(st.just("y" * (spec.max_length + 1)))
    if spec.type == "boolean":
        plausible.append(st.sampled_from(["on", "true", "false", "", "0"]))
    if spec.is_file:
        plausible.append(st.sampled_from([reference_id, str(uuid.uuid4()), "../../etc/passwd"]))
    return st.one_of(plausible)


def form_data(model: CatalogModel, reference_id: str) -> st.SearchStrategy[dict]:
    fields = {spec.name: form_value(spec, reference_id) for spec in model.fields}
    return st.fixed_dictionaries({}, optional=fields)


def assert_within_schema(model: CatalogModel, cleaned: dict) -> None:
    values = {spec.name: cleaned.get(spec.name) for spec in model.fields if not spec.is_file}
    for spec in model.fields:
        value = cleaned.get(spec.name)
        if not condition_met(spec, values):
            assert value is None, f"{spec.name} is on although its condition is off"
            continue
        if value is None:
            assert not spec.required or spec.type == "boolean", f"{spec.name} is required"
            continue
        if spec.type == "boolean":
            assert isinstance(value, bool)
        elif spec.options:
            assert value in spec.option_values, (spec.name, value)
        elif spec.type in ("integer", "number"):
            assert math.isfinite(value)
            assert spec.min is None or value >= spec.min, (spec.name, value)
            assert spec.max is None or value <= spec.max, (spec.name, value)
            if spec.type == "integer":
                assert isinstance(value, int) and not isinstance(value, bool)
        elif spec.type in ("text", "textarea"):
            assert isinstance(value, str) and "\x00" not in value
            assert spec.max_length is None or len(value) <= spec.max_length
        elif spec.is_file:
            assert value.owner_id is not None  # a stored reference of the person's own


@pytest.fixture
def person(db):
    person = make_user(credits=1_000_000)
    person.reference = _create(person).reference  # one stored upload to pick again
    return person


@pytest.mark.parametrize("model_key", MODELS)
def test_the_form_accepts_only_what_the_schema_allows_and_never_raises(person, model_key):
    model = catalog()[model_key]
    form_class = generation_form_class(model)

    @HYPOTHESIS
    @given(form_data(model, str(person.reference.id)))
    def check(data):
        form = form_class(data, owner=person)
        if not form.is_valid():
            assert form.errors  # refused, saying why
            return
        assert_within_schema(model, form.cleaned_data)
        values = form.values()
        body = provider_request_build(
            model=model, values=values, file_links={name: "https://s/x" for name in form.references}
        )
        json.dumps(body, allow_nan=False)  # a provider gets plain JSON, no NaN or Infinity
        quote = price_quote(model=model, values={**values, **dict.fromkeys(form.references, True)})
        assert quote.credits >= 0

    check()


# --- The API's JSON -------------------------------------------------------------------------


def api_body(model: CatalogModel) -> st.SearchStrategy[dict]:
    """Bodies in the API's layout with the model's own fields, holding any JSON values."""

    def value(spec: CatalogField) -> st.SearchStrategy:
        options = [st.just(option.value) for option in spec.options]
        typed = {"boolean": st.booleans(), "integer": st.integers(-5, 20)}.get(spec.type)
        return st.one_of(json_values, *options, *([typed] if typed is not None else []))

    parts: dict[str, dict] = {"top": {}, "input": {}, "parameters": {}}
    for spec in model.fields:
        parts[api_location(spec)][spec.name] = value(spec)
    metadata = st.fixed_dictionaries(
        {},
        optional={
            "input": st.fixed_dictionaries({}, optional=parts["input"]) | json_values,
            "parameters": st.fixed_dictionaries({}, optional=parts["parameters"]) | json_values,
        },
    )
    return st.fixed_dictionaries(
        {"model": st.just(model.key)},
        optional={
            **parts["top"],
            "metadata": metadata | json_values,
            "team": json_values,
            "extra": json_values,
        },
    )


@pytest.mark.parametrize("model_key", MODELS)
def test_any_api_body_becomes_form_data_or_a_400(person, model_key):
    model = catalog()[model_key]
    form_class = generation_form_class(model)

    @HYPOTHESIS
    @given(api_body(model))
    def check(body):
        try:
            form_input = api_form_input(model=model, body=body)
        except ApiError as error:
            assert error.status == 400 and error.as_dict()["error"]["message"]
            return
        form = form_class(form_input.data, owner=person)
        if form.is_valid():
            assert_within_schema(model, form.cleaned_data)

    check()


@pytest.fixture
def api(person, file_server, settings):
    settings.STUDIO_API_SUBMIT_RATE = "0"
    _, raw = api_token_create(user=person, name="fuzz")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.image_url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    return client


def _charged_once(ids) -> None:
    from accounts.models import LedgerEntry

    for generation_id in ids:
        assert LedgerEntry.objects.filter(generation_id=generation_id, kind="charge").count() == 1


def _nested(depth: int) -> bytes:
    """JSON nested `depth` deep: it parses, but reading it again recursively may not."""
    return b"[" * depth + b"]" * depth


@HYPOTHESIS
@given(
    model_key=st.sampled_from(MODELS),
    data=st.data(),
    raw=st.sampled_from([None, b"", b"{", b"[" * 5000, b"9" * 5000, b"\xff", b'"\\ud800"']),
)
@example(model_key=MODELS[0], data=None, raw=b'{"model": "wan2.6-i2v-flash", "prompt": "\\ud800"}')
@example(model_key=MODELS[0], data=None, raw=b'{"model": "wan2.6-i2v-flash", "team": "\\u0000"}')
@example(model_key=MODELS[0], data=None, raw=b'{"model": "x", "prompt": %s}' % _nested(900))
@example(model_key=MODELS[0], data=None, raw=b'{"model": "x", "prompt": %s}' % _nested(920))
def test_any_json_to_the_api_is_answered_never_with_a_server_error(api, model_key, data, raw):
    if raw is None:
        body = data.draw(api_body(catalog()[model_key]))
        if data.draw(st.booleans()):  # now and then a reference the studio can fetch
            body.setdefault("metadata", {})
            if isinstance(body["metadata"], dict):
                image = catalog()[model_key].field_for_role("reference_image").name
                body["metadata"]["input"] = {image: api.image_url}
        raw = json.dumps(body).encode()
    response = api.post("/v1/video/generations", data=raw, content_type="application/json")
    assert response.status_code in (200, 400, 402, 413, 422), (response.status_code, raw[:300])
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    if response.status_code == 200:
        _charged_once([answer["task_id"]])
    else:
        assert answer["error"]["message"]


# --- The create page and its htmx endpoints ---------------------------------------------------


@pytest.fixture
def as_person(client, person, settings):
    settings.STUDIO_SUBMIT_RATE = "0"
    client.force_login(person)
    return client


@HYPOTHESIS
@given(model_key=st.sampled_from(MODELS), data=st.data(), action=st.sampled_from(["", "switch"]))
def test_any_form_to_the_create_page_is_answered_never_with_a_server_error(
    as_person, person, model_key, data, action
):
    model = catalog()[model_key]
    fields = data.draw(form_data(model, str(person.reference.id)))
    other = data.draw(st.sampled_from([*MODELS, "", "no-such-model"]))
    post = {"model": model_key, "current_model": other, "action": action, **fields}
    before = set(Generation.objects.values_list("id", flat=True))
    for path in ("/", "/create/preview/", "/create/form/"):
        response = as_person.post(path, post, headers={"HX-Request": "true"} if path != "/" else {})
        assert response.status_code in (200, 303, 400, 404, 429), (path, response.status_code)
    made = set(Generation.objects.values_list("id", flat=True)) - before
    assert len(made) <= 1
    _charged_once(made)
    if made:
        generation = Generation.objects.get(pk=made.pop())
        assert_within_schema(model, {**generation.params, **_references(model, generation)})


def _references(model: CatalogModel, generation: Generation) -> dict:
    return {spec.name: generation.reference for spec in model.fields if spec.type == "image"} | {
        spec.name: generation.audio_reference
        for spec in model.fields
        if spec.type == "audio" and generation.params.get(spec.name)
    }


@pytest.fixture(autouse=True)
def _ledger_balanced_after(db):
    yield
    assert_ledger_balanced()
