"""Apiframe's webhooks: only signed callbacks count, and they act exactly as a poll would."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.utils import timezone

from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.services import generation_create, generation_transition, reference_store
from generations.tracker import tracker_tick
from generations.uploads import image_inspect
from tests.factories import image_upload, make_user
from tests.providers.conftest import Answer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_breakers")]

API_KEY = "afk_live_webhook_secret_42"
PATH = "/webhooks/apiframe/"


def sign(body: bytes, key: str = API_KEY) -> str:
    """The documented scheme, written out here: HMAC-SHA256(body) keyed with SHA-256(key)."""
    return hmac.new(hashlib.sha256(key.encode()).digest(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def studio(settings, live_server, provider):
    settings.APIFRAME_WEBHOOKS = True
    settings.APIFRAME_API_KEY = API_KEY
    settings.APIFRAME_API_BASE = provider.url
    settings.STUDIO_PUBLIC_URL = live_server.url
    return live_server


def _queued(task_id: str, credits: int = 20) -> Generation:
    """A generation the provider has accepted as `task_id`."""
    user = make_user(credits=credits)
    upload = image_upload()
    reference = reference_store(
        owner=user, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )
    generation = generation_create(
        user=user,
        model=catalog_get("wan-2.6-flash"),
        values={"prompt": "A kite", "duration": 5, "resolution": "720p", "seed": 3},
        references={"image": reference},
    )
    generation_transition(generation_id=generation.id, to="submitting")
    return generation_transition(
        generation_id=generation.id,
        to="queued",
        provider_task_id=task_id,
        submitted_at=timezone.now(),
        next_poll_at=timezone.now(),
    )


def _post(studio, payload: dict | bytes, signature: str | None = "sign") -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = sign(body)
    if signature is not None:
        headers["X-Webhook-Signature"] = signature
    return httpx.post(studio.url + PATH, content=body, headers=headers)


def _comparable(generation: Generation) -> tuple:
    generation.refresh_from_db()
    return (
        generation.state,
        generation.progress,
        generation.provider_status,
        generation.result_url,
        generation.error_kind,
        generation.error_message,
        generation.provider_cost,
        [event.to_state for event in generation.events.all()],
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "progress", "status": "PROCESSING", "progress": 40, "creditCost": 3},
        {
            "event": "completed",
            "status": "COMPLETED",
            "progress": 100,
            "result": {"videoUrl": "https://cdn.example/v.mp4"},
        },
        {"event": "failed", "status": "FAILED", "error": {"message": "NSFW", "code": "nsfw"}},
    ],
    ids=["progress", "completed", "failed"],
)
def test_a_signed_callback_updates_the_generation_exactly_as_a_poll_would(
    studio, provider, payload
):
    by_webhook = _queued("job-hook")
    by_poll = _queued("job-poll")

    response = _post(studio, {"id": "job-hook", **payload})
    provider.script(Answer(200, {"id": "job-poll", **payload}))
    with ThreadPoolExecutor(2) as pool:
        tracker_tick(pool=pool)

    assert response.status_code == 200 and response.json()["applied"] is True
    assert provider.requests[0].path == "/v2/jobs/job-poll"  # the poll really went out
    assert _comparable(by_webhook) == _comparable(by_poll)
    assert (
        by_webhook.state
        == {"progress": "running", "completed": "running", "failed": "failed"}[payload["event"]]
    )
    if payload["event"] == "failed":
        by_webhook.owner.wallet.refresh_from_db()
        assert by_webhook.owner.wallet.balance == 20  # refunded
        assert "NSFW" in by_webhook.error_message


def test_a_wrong_or_missing_signature_is_refused_and_changes_nothing(studio, caplog):
    generation = _queued("job-1")
    before = _comparable(generation)
    payload = {"id": "job-1", "status": "FAILED", "error": "forged"}
    body = json.dumps(payload).encode()

    caplog.set_level(logging.DEBUG)
    answers = [
        _post(studio, body, signature=None),
        _post(studio, body, signature=""),
        _post(studio, body, signature=sign(body, key="afk_someone_else")),
        _post(studio, body, signature=hmac.new(API_KEY.encode(), body, "sha256").hexdigest()),
        _post(studio, body, signature="zz" + sign(body)[2:]),
    ]

    assert [answer.status_code for answer in answers] == [401] * 5
    assert _comparable(generation) == before
    expected = sign(body)
    for text in [answer.text for answer in answers] + [caplog.text]:
        assert API_KEY not in text and expected not in text


def test_a_signature_replayed_on_another_body_is_refused(studio):
    generation = _queued("job-1")
    genuine = json.dumps({"id": "job-1", "status": "PROCESSING", "progress": 10}).encode()
    forged = json.dumps({"id": "job-1", "status": "FAILED", "error": "forged"}).encode()

    assert _post(studio, genuine).status_code == 200
    refused = _post(studio, forged, signature=sign(genuine))

    assert refused.status_code == 401
    generation.refresh_from_db()
    assert generation.state == "running" and generation.progress == 10


def test_a_replayed_body_is_answered_but_not_applied_again(studio):
    generation = _queued("job-1")
    early = json.dumps({"id": "job-1", "status": "PROCESSING", "progress": 20}).encode()
    later = json.dumps({"id": "job-1", "status": "PROCESSING", "progress": 70}).encode()

    assert _post(studio, early).json()["applied"] is True
    assert _post(studio, later).json()["applied"] is True
    replay = _post(studio, early)

    assert replay.status_code == 200 and replay.json()["applied"] is False
    generation.refresh_from_db()
    assert generation.progress == 70
    assert generation.poll_count == 2


def test_the_signature_may_be_prefixed_and_keyed_with_the_hex_digest(studio):
    """Both readings of "keyed with the SHA-256 of the API key" (see docs/providers.md)."""
    generation = _queued("job-1")
    first = json.dumps({"id": "job-1", "status": "PROCESSING", "progress": 30}).encode()
    second = json.dumps({"id": "job-1", "status": "PROCESSING", "progress": 60}).encode()
    hex_key = hashlib.sha256(API_KEY.encode()).hexdigest().encode()

    assert _post(studio, first, signature="sha256=" + sign(first).upper()).status_code == 200
    hex_keyed = hmac.new(hex_key, second, hashlib.sha256).hexdigest()
    assert _post(studio, second, signature=hex_keyed).status_code == 200
    generation.refresh_from_db()
    assert generation.progress == 60


def test_an_unknown_job_or_a_body_without_one_changes_nothing(studio):
    generation = _queued("job-1")
    before = _comparable(generation)

    unknown = _post(studio, {"id": "job-404", "status": "FAILED", "error": "x"})
    nameless = _post(studio, {"status": "FAILED"})
    not_json = _post(studio, b"not json at all")

    assert unknown.status_code == 200 and unknown.json()["applied"] is False
    assert nameless.status_code == 400 and not_json.status_code == 400
    assert _comparable(generation) == before


def test_with_webhooks_off_the_endpoint_answers_404(studio, settings):
    settings.APIFRAME_WEBHOOKS = False
    generation = _queued("job-1")

    response = _post(studio, {"id": "job-1", "status": "FAILED", "error": "x"})

    assert response.status_code == 404
    generation.refresh_from_db()
    assert generation.state == "queued"


def test_only_post_is_accepted(studio):
    assert httpx.get(studio.url + PATH).status_code == 405
