"""The studio's API through the HTTP layer: tokens, submits, errors, idempotency, listing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.ledger import wallet_for_user
from accounts.models import ApiToken, LedgerEntry, Membership
from accounts.services import api_token_create, team_create
from generations.models import Generation
from tests.conftest import assert_ledger_balanced
from tests.factories import image_bytes, make_finished_generation, make_user

pytestmark = pytest.mark.django_db

SEED_PROMPT = (
    "A high-fashion model walking gracefully in a neon-lit futuristic corridor, hair swaying "
    "naturally, eyes reflecting flickering lights, cinematic camera movement with a slight tilt, "
    "ultra-realistic textures and smooth motion."
)


def seed_body(image_url: str) -> dict:
    """The body of ModelStream's own curl example, with only the image URL changed."""
    return {
        "model": "wan2.6-i2v-flash",
        "prompt": SEED_PROMPT,
        "duration": 5,
        "metadata": {
            "input": {
                "negative_prompt": "blurry, low quality, distorted, deformed, watermark, ugly",
                "img_url": image_url,
            },
            "parameters": {
                "resolution": "1080P",
                "prompt_extend": True,
                "shot_type": "single",
                "audio": True,
                "watermark": False,
            },
        },
    }


@pytest.fixture
def caller():
    user = make_user(username="scripter", credits=50)
    _, raw = api_token_create(user=user, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    return client


@pytest.fixture
def image_url(file_server):
    return file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")


def post(client, body, **headers):
    return client.post(
        "/v1/video/generations", data=json.dumps(body), content_type="application/json", **headers
    )


def test_the_seed_example_body_is_accepted_and_answers_like_modelstream(caller, image_url):
    response = post(caller, seed_body(image_url))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert set(answer) == {"task_id", "status"} and answer["status"] == "queued"
    generation = Generation.objects.get(pk=answer["task_id"])
    assert generation.owner == caller.user and generation.cost == 4
    sent = generation.request_body
    assert sent["duration"] == 5 and sent["metadata"]["parameters"] == {
        "resolution": "1080P",
        "prompt_extend": True,
        "shot_type": "single",
        "audio": True,
        "watermark": False,
        "seed": generation.seed,
    }
    assert sent["metadata"]["input"]["img_url"].startswith("http://127.0.0.1:8000/files/reference/")
    assert wallet_for_user(user=caller.user).balance == 46
    assert_ledger_balanced()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer ", "Bearer stk_nothing_here", "Token abc", "Basic dXNlcjpwYXNz"],
)
def test_a_bad_token_is_401_in_the_error_shape(header, image_url):
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()
    response = post(client, seed_body(image_url))
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert client.get("/v1/models").status_code == 401


def test_revoked_and_expired_tokens_stop_working(image_url):
    user = make_user(credits=10)
    token, raw = api_token_create(user=user, name="t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/v1/models").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/v1/models").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=None, revoked_at=timezone.now())
    assert client.get("/v1/models").status_code == 401


def test_a_session_is_not_enough_for_the_api(client, image_url):
    client.force_login(make_user(credits=10))
    assert post(client, seed_body(image_url)).status_code == 401


def test_another_persons_task_is_404(caller):
    theirs = make_finished_generation(owner=make_user())
    response = caller.get(f"/v1/video/generations/{theirs.id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert caller.post(f"/v1/video/generations/{theirs.id}/cancel").status_code == 404
    assert caller.get("/v1/video/generations/not-a-uuid").status_code == 400  # malformed


def test_a_completed_task_has_a_signed_url_to_the_video_valid_one_hour(caller, monkeypatch):
    mine = make_finished_generation(owner=caller.user, seed=42, cost=4)
    task = caller.get(f"/v1/video/generations/{mine.id}").json()
    assert task["status"] == "completed" and task["seed"] == 42 and task["cost"] == 4
    assert task["progress"] == 100 and task["expires_at"] > task["created_at"]
    path = task["url"].removeprefix("http://127.0.0.1:8000")
    anyone = Client()
    assert anyone.get(path).status_code == 200
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3601)
    assert anyone.get(path).status_code == 404


def test_not_enough_credits_is_402_naming_price_and_balance(image_url):
    user = make_user(credits=3)
    _, raw = api_token_create(user=user, name="t")
    response = post(Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), seed_body(image_url))
    assert response.status_code == 402
    message = response.json()["error"]["message"]
    assert "costs 4 credits" in message and "holds 3" in message
    assert not Generation.objects.exists()


def _with(body: dict, path: str, value) -> dict:
    body = json.loads(json.dumps(body))
    *parents, leaf = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[leaf]
    else:
        target[leaf] = value
    return body


_DELETE = object()

VIOLATIONS = [
    ("duration", 16, "duration"),
    ("duration", 1, "duration"),
    ("duration", "5", "duration"),
    ("duration", 5.5, "duration"),
    ("prompt", _DELETE, "prompt"),
    ("prompt", "", "prompt"),
    ("prompt", "x" * 1501, "prompt"),
    ("metadata.input.negative_prompt", "n" * 501, "negative_prompt"),
    ("metadata.input.img_url", _DELETE, "img_url"),
    ("metadata.input.img_url", 7, "img_url"),
    ("metadata.parameters.resolution", "480P", "resolution"),
    ("metadata.parameters.resolution", "1080p", "resolution"),
    ("metadata.parameters.shot_type", "triple", "shot_type"),
    ("metadata.parameters.prompt_extend", "yes", "prompt_extend"),
    ("metadata.parameters.audio", 1, "audio"),
    ("metadata.parameters.seed", -1, "seed"),
    ("metadata.parameters.seed", 2147483648, "seed"),
    ("metadata.parameters.fps", 30, "fps"),
    ("metadata.input.extra", "x", "extra"),
    ("surprise", True, "surprise"),
    ("model", "wan-9", "model"),
    ("team", "nowhere", "team"),
]


@pytest.mark.parametrize(("path", "value", "param"), VIOLATIONS)
def test_every_schema_violation_is_a_400_naming_the_field(caller, image_url, path, value, param):
    response = post(caller, _with(seed_body(image_url), path, value))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    ("path", "value", "param"),
    [
        ("duration", 7, "duration"),
        ("metadata.parameters.resolution", "720P", "resolution"),
        ("metadata.parameters.audio_enabled", "no", "audio_enabled"),
        ("metadata.input.img_url", "x", "img_url"),
    ],
)
def test_the_apiframe_model_uses_its_own_field_names(caller, image_url, path, value, param):
    body = {
        "model": "wan-2.6-flash",
        "prompt": "p",
        "duration": 5,
        "metadata": {
            "input": {"image": image_url},
            "parameters": {"resolution": "720p", "audio_enabled": False},
        },
    }
    ok = post(caller, body)
    assert ok.status_code == 200, ok.content
    wrong = _with(body, path, value)
    if path == "metadata.input.img_url":
        wrong["metadata"]["input"] = {"img_url": image_url}
    response = post(caller, wrong)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_left_out_fields_take_the_schema_defaults(caller, image_url):
    response = post(
        caller,
        {"model": "wan2.6-i2v-flash", "prompt": "p", "metadata": {"input": {"img_url": image_url}}},
    )
    generation = Generation.objects.get(pk=response.json()["task_id"])
    assert generation.request_body["duration"] == 5
    assert generation.request_body["metadata"]["parameters"]["resolution"] == "1080P"
    assert generation.request_body["metadata"]["parameters"]["prompt_extend"] is True
    assert generation.request_body["metadata"]["parameters"]["audio"] is True


def test_the_same_idempotency_key_and_body_return_the_same_task_once_charged(caller, image_url):
    first = post(caller, seed_body(image_url), HTTP_IDEMPOTENCY_KEY="job-1")
    again = post(caller, seed_body(image_url), HTTP_IDEMPOTENCY_KEY="job-1")
    assert first.json()["task_id"] == again.json()["task_id"]
    assert LedgerEntry.objects.filter(kind="charge").count() == 1
    other = post(caller, _with(seed_body(image_url), "duration", 6), HTTP_IDEMPOTENCY_KEY="job-1")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    fresh = post(caller, seed_body(image_url), HTTP_IDEMPOTENCY_KEY="job-2")
    assert fresh.json()["task_id"] != first.json()["task_id"]


def test_an_idempotency_key_older_than_a_day_starts_a_new_task(caller, image_url):
    from generations.models import ApiIdempotencyKey

    first = post(caller, seed_body(image_url), HTTP_IDEMPOTENCY_KEY="old")
    ApiIdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    later = post(caller, seed_body(image_url), HTTP_IDEMPOTENCY_KEY="old")
    assert later.json()["task_id"] != first.json()["task_id"]


def test_a_team_slug_charges_and_files_the_job_for_that_team(caller, image_url):
    from accounts.ledger import credits_grant, wallet_for_team

    team = team_create(name="Bots", creator=make_user())
    credits_grant(wallet=wallet_for_team(team=team), amount=20, actor=None, reason="t")
    response = post(caller, {**seed_body(image_url), "team": "bots"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "team"
    Membership.objects.create(team=team, user=caller.user)
    response = post(caller, {**seed_body(image_url), "team": "bots"})
    generation = Generation.objects.get(pk=response.json()["task_id"])
    assert generation.team == team
    assert (
        wallet_for_team(team=team).balance == 16 and wallet_for_user(user=caller.user).balance == 50
    )


def test_submits_are_rate_limited_per_person_across_their_tokens(caller, image_url, settings):
    settings.STUDIO_API_SUBMIT_RATE = "2/m"
    _, second = api_token_create(user=caller.user, name="another script")
    other = Client(HTTP_AUTHORIZATION=f"Bearer {second}")
    assert post(caller, seed_body(image_url)).status_code == 200
    assert post(other, seed_body(image_url)).status_code == 200
    limited = post(other, seed_body(image_url))
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limited"
    settings.STUDIO_API_SUBMIT_RATE = "0"
    assert post(caller, seed_body(image_url)).status_code == 200


def test_cancel_works_only_before_the_job_is_sent(caller, image_url):
    task_id = post(caller, seed_body(image_url)).json()["task_id"]
    cancelled = caller.post(f"/v1/video/generations/{task_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert wallet_for_user(user=caller.user).balance == 50
    sent = post(caller, seed_body(image_url)).json()["task_id"]
    Generation.objects.filter(pk=sent).update(state="queued")
    refused = caller.post(f"/v1/video/generations/{sent}/cancel")
    assert refused.status_code == 409


def test_the_list_is_newest_first_with_a_next_link(caller):
    made = [make_finished_generation(owner=caller.user, prompt=f"clip {i}") for i in range(5)]
    make_finished_generation(owner=make_user())
    page = caller.get("/v1/video/generations?limit=2").json()
    assert [t["task_id"] for t in page["data"]] == [str(made[4].id), str(made[3].id)]
    seen = [t["task_id"] for t in page["data"]]
    while page["next"]:
        page = caller.get(page["next"].removeprefix("http://testserver")).json()
        seen += [t["task_id"] for t in page["data"]]
    assert seen == [str(g.id) for g in reversed(made)]
    for bad in ("0", "101", "x"):
        response = caller.get(f"/v1/video/generations?limit={bad}")
        assert response.status_code == 400 and response.json()["error"]["param"] == "limit"


def _cursor(raw: str) -> str:
    import base64

    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-12-01T10:00:00+00:00|not-a-uuid"),  # the id part is not a UUID
        _cursor("2026-12-01T10:00:00|8f1d6b8e-6a55-4bd5-9f59-0d3c5d6c2a11"),  # no zone
        _cursor("yesterday|8f1d6b8e-6a55-4bd5-9f59-0d3c5d6c2a11"),
        _cursor("no bar at all"),
        "%%%",
        "é",
        "",
    ],
)
def test_a_malformed_cursor_answers_400_as_json(caller, cursor):
    response = caller.get("/v1/video/generations", {"after": cursor, "limit": "5"})
    if cursor == "":
        assert response.status_code == 200  # no cursor: the first page
        return
    assert response.status_code == 400, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["param"] == "after"


@pytest.mark.parametrize("task_id", ["123", "not-a-uuid", "ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ"])
def test_a_malformed_task_id_answers_400_as_json(caller, task_id):
    for response in (
        caller.get(f"/v1/video/generations/{task_id}"),
        caller.post(f"/v1/video/generations/{task_id}/cancel"),
    ):
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "task_id"
    unknown = caller.get("/v1/video/generations/8f1d6b8e-6a55-4bd5-9f59-0d3c5d6c2a11")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_models_list_the_catalog_with_form_schema_and_price(caller):
    models = caller.get("/v1/models").json()["data"]
    keys = [m["id"] for m in models]
    assert keys == ["wan2.6-i2v-flash", "wan-2.6-flash"]
    ms = caller.get("/v1/models/wan2.6-i2v-flash").json()
    duration = next(f for f in ms["form_schema"] if f["name"] == "duration")
    assert (duration["min"], duration["max"], duration["default"], duration["location"]) == (
        2,
        15,
        5,
        "top",
    )
    assert ms["price"]["credits"]["1080p"]["15"] == {"audio": 10, "silent": 7}
    assert caller.get("/v1/models/nope").status_code == 404


def test_the_openapi_document_is_generated_from_the_catalog_and_strict(client):
    document = client.get("/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    ms = schemas["Request_wan2_6_i2v_flash"]
    assert ms["additionalProperties"] is False
    assert ms["properties"]["metadata"]["properties"]["parameters"]["additionalProperties"] is False
    assert ms["properties"]["duration"] == {
        "type": "integer",
        "minimum": 2,
        "maximum": 15,
        "default": 5,
        "description": "Length of the generated video, an integer in [2, 15], default 5s.",
    }
    af = schemas["Request_wan_2_6_flash"]
    assert af["properties"]["duration"]["enum"] == [5, 10, 15]
    assert "image" in af["properties"]["metadata"]["properties"]["input"]["properties"]


def test_the_reference_page_explains_the_api(signed_in):
    html = signed_in.get("/api/").content.decode()
    assert (
        "POST /v1/video/generations" in html
        and "wan-2.6-flash" in html
        and "metadata.parameters" in html
    )


def test_tokens_are_made_on_the_account_page_shown_once_and_stored_hashed(signed_in, user):
    response = signed_in.post("/account/tokens/", {"name": "laptop", "expires_in_days": "30"})
    html = response.content.decode()
    token = ApiToken.objects.get(user=user)
    raw = html.split('data-testid="new-token"')[0].rsplit('value="', 1)[1].split('"', 1)[0]
    assert raw.startswith(token.prefix) and raw not in token.key_hash and token.key_hash != raw
    assert response["Cache-Control"] == "no-store"
    again = signed_in.get("/account/").content.decode()
    assert raw not in again and token.prefix in again and "laptop" in again
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/v1/models").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None and token.expires_at is not None
    signed_in.post(f"/account/tokens/{token.pk}/revoke/")
    assert api.get("/v1/models").status_code == 401
    other = make_user()
    other_token, _ = api_token_create(user=other, name="x")
    assert signed_in.post(f"/account/tokens/{other_token.pk}/revoke/").status_code == 404


def test_create_api_token_command_prints_the_token_on_its_last_line(capsys):
    make_user(username="ops")
    call_command("create_api_token", "ops", "--name", "cron")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {last}").get("/v1/models").status_code == 200
    assert ApiToken.objects.get().name == "cron"


def test_a_request_its_wallet_cannot_pay_fetches_nothing(file_server):
    poor = make_user(username="poor", credits=1)
    _, raw = api_token_create(user=poor, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    refused = post(client, seed_body(url))
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"
    assert "costs 4 credits" in refused.json()["error"]["message"]
    assert file_server.hits == []  # the reference was never fetched
    assert not Generation.objects.exists()


def test_the_apis_fetches_count_toward_the_upload_rate(caller, file_server, settings):
    settings.STUDIO_UPLOAD_RATE = "2/m"
    url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    assert post(caller, seed_body(url)).status_code == 200
    assert post(caller, seed_body(url)).status_code == 200
    limited = post(caller, seed_body(url))
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert len(file_server.hits) == 2


def test_a_person_holds_at_most_twenty_api_tokens(client):
    from accounts.services import API_TOKENS_PER_PERSON

    person = make_user(username="collector")
    client.force_login(person)
    for number in range(API_TOKENS_PER_PERSON):
        made = client.post("/account/tokens/", {"name": f"script {number}"})
        assert made.status_code == 200, number
    refused = client.post("/account/tokens/", {"name": "one too many"})
    html = refused.content.decode()
    assert refused.status_code == 400
    assert "You hold 20 tokens, the most one person may" in html
    assert 'value="one too many"' in html  # the form keeps what was typed
    assert ApiToken.objects.filter(user=person).count() == API_TOKENS_PER_PERSON
    token = ApiToken.objects.filter(user=person).first()
    client.post(f"/account/tokens/{token.pk}/revoke/")
    assert client.post("/account/tokens/", {"name": "room again"}).status_code == 200


@pytest.mark.parametrize(
    ("model", "where", "given", "param"),
    [
        (
            "wan-2.6-flash",
            "parameters",
            {"multi_shots": True, "enable_prompt_expansion": False},
            "multi_shots",
        ),
        (
            "wan2.6-i2v-flash",
            "parameters",
            {"shot_type": "multi", "prompt_extend": False},
            "shot_type",
        ),
    ],
)
def test_a_value_the_request_would_drop_is_refused_by_name(
    caller, file_server, model, where, given, param
):
    url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    image = "img_url" if model == "wan2.6-i2v-flash" else "image"
    body = {
        "model": model,
        "prompt": "A kite over the dunes",
        "metadata": {"input": {image: url}, where: given},
    }
    refused = post(caller, body)
    assert refused.status_code == 400, refused.content
    error = refused.json()["error"]
    assert error["param"] == param and "would be dropped" in error["message"]
    assert file_server.hits == [] and not Generation.objects.exists()
    # Its off value is harmless, and with the condition on it is taken.
    off = {**given, param: False if param == "multi_shots" else "single"}
    assert (
        post(caller, {**body, "metadata": {"input": {image: url}, where: off}}).status_code == 200
    )
    condition = next(name for name in given if name != param)
    on = {**given, condition: True}
    accepted = post(caller, {**body, "metadata": {"input": {image: url}, where: on}})
    assert accepted.status_code == 200, accepted.content
