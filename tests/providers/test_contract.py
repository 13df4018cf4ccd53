"""Contract tests: what the studio puts on the wire, against vectors written by hand.

Every vector below was typed from the providers' documents (../shared/seeds/), never produced
by the code under test. Two kinds: the seeds' own example request bodies, and bodies with a
non-default value in every field of both models. Bodies are compared with their JSON types
(an integer is not a float, a boolean is not an integer); key order is free.

Where DESIGN.md's wire rules add to a seed's example (a boolean is always sent, a blank seed
is drawn and sent, the form sends a field's default), the addition is spelled out next to
the vector.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from generations.catalog import catalog_get
from generations.forms import generation_form_class
from generations.models import Generation
from generations.providers.apiframe import ApiframeClient
from generations.providers.modelstream import ModelStreamClient
from generations.services import generation_create, generation_submit, references_store
from generations.signed_links import signed_file_resolve
from generations.wire import provider_request_build
from tests.factories import image_upload, make_user, wav_bytes

# --- The vectors ----------------------------------------------------------------------------

MS_IMAGE = "https://static.modelstream.ai/demo/wan/wan2.6-i2v-flash_reference.png"
MS_PROMPT = (
    "A high-fashion model walking gracefully in a neon-lit futuristic corridor, hair swaying "
    "naturally, eyes reflecting flickering lights, cinematic camera movement with a slight tilt, "
    "ultra-realistic textures and smooth motion."
)
MS_NEGATIVE = "blurry, low quality, distorted, deformed, watermark, ugly"

# ModelStream's own curl example, verbatim.
MODELSTREAM_SEED_EXAMPLE = {
    "model": "wan2.6-i2v-flash",
    "prompt": MS_PROMPT,
    "duration": 5,
    "metadata": {
        "input": {"negative_prompt": MS_NEGATIVE, "img_url": MS_IMAGE},
        "parameters": {
            "resolution": "1080P",
            "prompt_extend": True,
            "shot_type": "single",
            "audio": True,
            "watermark": False,
        },
    },
}

# Every field away from its default (shot_type needs prompt_extend on to be sent at all).
MODELSTREAM_NON_DEFAULT = {
    "model": "wan2.6-i2v-flash",
    "prompt": "A lighthouse keeper climbs the spiral stairs, camera following from below",
    "duration": 12,
    "metadata": {
        "input": {
            "img_url": "https://files.example/reference.png",
            "audio_url": "https://files.example/voice.wav",
            "negative_prompt": "text, logos",
        },
        "parameters": {
            "resolution": "720P",
            "prompt_extend": True,
            "shot_type": "multi",
            "audio": False,
            "watermark": True,
            "seed": 2147483647,
        },
    },
}

# prompt_extend off (its non-default value): shot_type, which depends on it, is not sent.
MODELSTREAM_NO_EXTEND = {
    "model": "wan2.6-i2v-flash",
    "prompt": "Rain on a tin roof, slow push in",
    "duration": 2,
    "metadata": {
        "input": {"img_url": "https://files.example/reference.png"},
        "parameters": {
            "resolution": "720P",
            "prompt_extend": False,
            "audio": True,
            "watermark": False,
            "seed": 0,
        },
    },
}

AF_PROMPT = "The race car driver pulls down her helmet visor as the camera zooms out"

# Apiframe's first example, verbatim ...
APIFRAME_SEED_EXAMPLE = {
    "prompt": AF_PROMPT,
    "model": "wan-2.6-flash",
    "wanParams": {"image": "https://example.com/driver.jpg", "duration": 5, "resolution": "720p"},
}
# ... plus what the wire rules add: booleans always sent (audio_enabled defaults to true,
# enable_prompt_expansion is unticked), multi_shots left out (its condition is off), a seed.
APIFRAME_SEED_EXAMPLE_ADDED = {"audio_enabled": True, "enable_prompt_expansion": False}

# Apiframe's "silent video" example, verbatim ...
APIFRAME_SILENT_EXAMPLE = {
    "prompt": "A figure skater performing in a bioluminescent cavern",
    "model": "wan-2.6-flash",
    "wanParams": {
        "image": "https://example.com/skater.jpg",
        "duration": 10,
        "audio_enabled": False,
    },
}
# ... plus the form's resolution default (the form always has one chosen) and the booleans.
APIFRAME_SILENT_EXAMPLE_ADDED = {"resolution": "720p", "enable_prompt_expansion": False}

APIFRAME_NON_DEFAULT = {
    "prompt": "A paper boat drifts down a flooded street at dusk",
    "model": "wan-2.6-flash",
    "wanParams": {
        "image": "https://files.example/reference.png",
        "duration": 15,
        "resolution": "1080p",
        "negative_prompt": "people, cars",
        "audio": "https://files.example/voice.wav",
        "audio_enabled": False,
        "enable_prompt_expansion": True,
        "multi_shots": True,
        "seed": 42,
    },
}


def assert_same_json(actual: Any, expected: Any, where: str = "body") -> None:
    """Equal as JSON *with* types: True is not 1, 5 is not 5.0. Key order is free."""
    assert type(actual) is type(expected), (
        f"{where}: {actual!r} ({type(actual).__name__}) is not {expected!r} "
        f"({type(expected).__name__})"
    )
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), f"{where}: keys differ"
        for key, value in expected.items():
            assert_same_json(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: lengths differ"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same_json(a, e, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_the_strict_comparison_tells_types_apart():
    with pytest.raises(AssertionError):
        assert_same_json({"duration": 5.0}, {"duration": 5})
    with pytest.raises(AssertionError):
        assert_same_json({"audio": 1}, {"audio": True})
    assert_same_json({"a": 1, "b": {"c": [True]}}, {"b": {"c": [True]}, "a": 1})


# --- The clients send exactly the body they are given, with their headers ------------------


def test_modelstream_client_sends_the_seed_example_with_bearer_and_idempotency_key(provider):
    values = {
        "prompt": MS_PROMPT,
        "negative_prompt": MS_NEGATIVE,
        "resolution": "1080P",
        "duration": 5,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": True,
        "watermark": False,
        "seed": None,  # the example has no seed; the service draws one (tested below)
    }
    body = provider_request_build(
        model=catalog_get("wan2.6-i2v-flash"), values=values, file_links={"img_url": MS_IMAGE}
    )
    client = ModelStreamClient(base_url=provider.url, api_key="sk-test-key")
    task = client.submit(body=body, idempotency_key="gen-123")

    assert task.task_id == "task-1" and task.status == "queued"
    [request] = provider.requests
    assert (request.method, request.path) == ("POST", "/v1/video/generations")
    assert request.headers["authorization"] == "Bearer sk-test-key"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "gen-123"
    assert "x-api-key" not in request.headers
    assert_same_json(request.json(), MODELSTREAM_SEED_EXAMPLE)


@pytest.mark.parametrize(
    ("values", "links", "expected"),
    [
        (
            {"prompt": AF_PROMPT, "duration": 5, "resolution": "720p", "audio_enabled": True},
            {"image": "https://example.com/driver.jpg"},
            (APIFRAME_SEED_EXAMPLE, APIFRAME_SEED_EXAMPLE_ADDED),
        ),
        (
            {
                "prompt": "A figure skater performing in a bioluminescent cavern",
                "duration": 10,
                "resolution": "720p",
                "audio_enabled": False,
            },
            {"image": "https://example.com/skater.jpg"},
            (APIFRAME_SILENT_EXAMPLE, APIFRAME_SILENT_EXAMPLE_ADDED),
        ),
    ],
    ids=["first-example", "silent-example"],
)
def test_apiframe_client_sends_the_seed_examples_with_its_key_header(
    provider, values, links, expected
):
    example, added = expected
    body = provider_request_build(
        model=catalog_get("wan-2.6-flash"),
        values={**values, "enable_prompt_expansion": False, "multi_shots": False, "seed": None},
        file_links=links,
    )
    provider.default.body = {"id": "job-9", "status": "QUEUED"}
    task = ApiframeClient(base_url=provider.url, api_key="afk_test").submit(
        body=body, idempotency_key="gen-1"
    )

    assert task.task_id == "job-9" and task.status == "queued"
    [request] = provider.requests
    assert (request.method, request.path) == ("POST", "/v2/videos/generate")
    assert request.headers["x-api-key"] == "afk_test"
    assert "authorization" not in request.headers
    assert request.headers["idempotency-key"] == "gen-1"
    vector = copy.deepcopy(example)
    vector["wanParams"].update(added)
    assert_same_json(request.json(), vector)


# --- From the form a person fills to the bytes on the wire --------------------------------


def _form_values(model_key: str, data: dict[str, str], files: dict) -> tuple:
    """Validate `data` as the browser would post it (ticked box 'on', unticked absent)."""
    user = make_user(credits=100)
    model = catalog_get(model_key)
    form = generation_form_class(model)(data, files, owner=user)
    assert form.is_valid(), form.errors
    references = references_store(owner=user, uploads=form.valid_uploads())
    return user, model, form.values(), references


def _send(settings, provider, model_key, data, files) -> tuple[Generation, dict]:
    settings.MODELSTREAM_API_BASE = settings.APIFRAME_API_BASE = provider.url
    settings.MODELSTREAM_API_KEY = settings.APIFRAME_API_KEY = "key"
    settings.STUDIO_PUBLIC_URL = "https://studio.example"
    user, model, values, references = _form_values(model_key, data, files)
    generation = generation_create(user=user, model=model, values=values, references=references)
    provider.default.body = (
        {"task_id": "t-1", "status": "queued"}
        if model.provider == "modelstream"
        else {"id": "t-1", "status": "QUEUED"}
    )
    generation_submit(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.state == "queued", generation.error_message
    [request] = provider.requests
    assert request.headers["idempotency-key"] == str(generation.id)
    return generation, request.json()


def _signed_link_to(link: str, reference) -> None:
    """The link the provider gets: absolute, under STUDIO_PUBLIC_URL, signed for this file."""
    assert link.startswith("https://studio.example/files/reference/")
    kind, token = link.removeprefix("https://studio.example/files/").split("/")[:2]
    resolved = signed_file_resolve(kind=kind, token=token)
    assert resolved is not None and resolved.object_id == str(reference.id)


def _image():
    return image_upload("reference.png", size=(320, 180))


def _audio():
    return SimpleUploadedFile("voice.wav", wav_bytes(seconds=3.5), content_type="audio/wav")


@pytest.mark.django_db
def test_the_modelstream_seed_example_filled_in_the_form_goes_out_as_documented(settings, provider):
    data = {
        "prompt": MS_PROMPT,
        "negative_prompt": MS_NEGATIVE,
        "resolution": "1080P",
        "duration": "5",
        "prompt_extend": "on",
        "shot_type": "single",
        "audio": "on",
        # watermark unticked; seed left blank
    }
    generation, body = _send(settings, provider, "wan2.6-i2v-flash", data, {"img_url": _image()})

    _signed_link_to(body["metadata"]["input"].pop("img_url"), generation.reference)
    seed = body["metadata"]["parameters"].pop("seed")
    assert type(seed) is int and 0 <= seed <= 2147483647 and seed == generation.seed
    expected = copy.deepcopy(MODELSTREAM_SEED_EXAMPLE)
    del expected["metadata"]["input"]["img_url"]
    assert_same_json(body, expected)


@pytest.mark.django_db
@pytest.mark.parametrize("vector", [MODELSTREAM_NON_DEFAULT, MODELSTREAM_NO_EXTEND])
def test_modelstream_non_default_values_go_out_with_their_documented_types(
    settings, provider, vector
):
    params = vector["metadata"]["parameters"]
    inputs = vector["metadata"]["input"]
    data = {
        "prompt": vector["prompt"],
        "negative_prompt": inputs.get("negative_prompt", ""),
        "resolution": params["resolution"],
        "duration": str(vector["duration"]),
        "shot_type": params.get("shot_type", "single"),
        "seed": str(params["seed"]),
        **{name: "on" for name in ("prompt_extend", "audio", "watermark") if params[name]},
    }
    files = {"img_url": _image()}
    if "audio_url" in inputs:
        files["audio_url"] = _audio()
    generation, body = _send(settings, provider, "wan2.6-i2v-flash", data, files)

    _signed_link_to(body["metadata"]["input"].pop("img_url"), generation.reference)
    expected = copy.deepcopy(vector)
    del expected["metadata"]["input"]["img_url"]
    if "audio_url" in inputs:
        _signed_link_to(body["metadata"]["input"].pop("audio_url"), generation.audio_reference)
        del expected["metadata"]["input"]["audio_url"]
    assert_same_json(body, expected)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "example", "added"),
    [
        (
            {"prompt": AF_PROMPT, "duration": "5", "resolution": "720p", "audio_enabled": "on"},
            APIFRAME_SEED_EXAMPLE,
            APIFRAME_SEED_EXAMPLE_ADDED,
        ),
        (
            {
                "prompt": "A figure skater performing in a bioluminescent cavern",
                "duration": "10",
            },
            APIFRAME_SILENT_EXAMPLE,
            APIFRAME_SILENT_EXAMPLE_ADDED,
        ),
    ],
    ids=["first-example", "silent-example"],
)
def test_the_apiframe_seed_examples_filled_in_the_form_go_out_as_documented(
    settings, provider, data, example, added
):
    generation, body = _send(settings, provider, "wan-2.6-flash", data, {"image": _image()})

    _signed_link_to(body["wanParams"].pop("image"), generation.reference)
    seed = body["wanParams"].pop("seed")
    assert type(seed) is int and seed == generation.seed
    expected = copy.deepcopy(example)
    expected["wanParams"].update(added)
    del expected["wanParams"]["image"]
    assert_same_json(body, expected)
    assert "webhookUrl" not in body and "webhookEvents" not in body


@pytest.mark.django_db
def test_apiframe_non_default_values_go_out_with_their_documented_types(settings, provider):
    wan = APIFRAME_NON_DEFAULT["wanParams"]
    data = {
        "prompt": APIFRAME_NON_DEFAULT["prompt"],
        "duration": str(wan["duration"]),
        "resolution": wan["resolution"],
        "negative_prompt": wan["negative_prompt"],
        "enable_prompt_expansion": "on",
        "multi_shots": "on",
        "seed": str(wan["seed"]),
        # audio_enabled unticked: false
    }
    generation, body = _send(
        settings, provider, "wan-2.6-flash", data, {"image": _image(), "audio": _audio()}
    )

    _signed_link_to(body["wanParams"].pop("image"), generation.reference)
    _signed_link_to(body["wanParams"].pop("audio"), generation.audio_reference)
    expected = copy.deepcopy(APIFRAME_NON_DEFAULT)
    del expected["wanParams"]["image"], expected["wanParams"]["audio"]
    assert_same_json(body, expected)


@pytest.mark.django_db
def test_with_webhooks_on_apiframe_jobs_name_the_studios_webhook(settings, provider):
    settings.APIFRAME_WEBHOOKS = True
    data = {"prompt": AF_PROMPT, "duration": "5", "resolution": "720p", "audio_enabled": "on"}
    _, body = _send(settings, provider, "wan-2.6-flash", data, {"image": _image()})

    assert body["webhookUrl"] == "https://studio.example/webhooks/apiframe/"
    assert body["webhookEvents"] == ["progress", "completed", "failed"]
