"""Webhooks for API clients: asked for in the request, delivered signed to a receiver on
127.0.0.1 and verified with the `standardwebhooks` package's own verifier, retried with
growing gaps (an injected clock, never by waiting), never sent to an internal address."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import ApiToken
from accounts.services import api_token_create
from generations.api_webhooks import RETRY_GAPS, webhook_send, webhooks_send_due
from generations.models import ApiWebhook, Generation, WebhookDelivery
from generations.services import generation_transition
from tests.factories import image_bytes, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller():
    user = make_user(username="hooked", credits=50)
    token, raw = api_token_create(user=user, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user, client.token = user, token
    return client


def _body(file_server, **extra) -> dict:
    image = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    return {
        "model": "wan-2.6-flash",
        "prompt": "A kite over the dunes",
        "metadata": {"input": {"image": image}},
        **extra,
    }


def _post(client, body):
    return client.post("/v1/video/generations", json.dumps(body), content_type="application/json")


def _end(task_id: str, to: str = "succeeded") -> Generation:
    for state in ("submitting", "queued", "running", to):
        generation_transition(generation_id=task_id, to=state)
    return Generation.objects.get(pk=task_id)


def test_an_ended_generation_is_told_to_the_webhook_signed_and_verifiable(
    caller, file_server, django_capture_on_commit_callbacks
):
    hook = file_server.base + "/hooks/studio"
    answer = _post(caller, _body(file_server, webhook=hook))
    assert answer.status_code == 200, answer.content
    task_id = answer.json()["task_id"]
    assert ApiWebhook.objects.get(generation_id=task_id).events == list(ApiWebhook.EVENTS)

    with django_capture_on_commit_callbacks() as sent:
        _end(task_id)
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "generation.succeeded" and len(sent) == 1
    webhook_send(delivery_id=delivery.id)  # what the queued task does

    received = [p for p in file_server.posts if p.path == "/hooks/studio"]
    assert len(received) == 1
    headers, body = received[0].headers, received[0].body
    assert headers["webhook-id"] == delivery.id and headers["content-type"] == "application/json"
    # The receiver verifies it with the package's own verifier and the token's secret.
    secret = ApiToken.objects.get(pk=caller.token.pk).webhook_secret
    event = Webhook(secret).verify(body, headers)
    assert event["type"] == "generation.succeeded"
    assert event["data"]["task_id"] == task_id and event["data"]["status"] == "completed"
    # Another secret does not verify it, and neither does a changed body.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"succeeded", b"failed!!!"), headers)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)


def test_only_the_events_asked_for_are_sent(caller, file_server):
    hook = file_server.base + "/hooks/failures"
    body = _body(file_server, webhook=hook, webhook_events=["generation.failed"])
    task_id = _post(caller, body).json()["task_id"]
    _end(task_id)
    assert not WebhookDelivery.objects.exists()
    other = _post(caller, body).json()["task_id"]
    for state in ("submitting", "queued", "failed"):
        generation_transition(generation_id=other, to=state)
    assert WebhookDelivery.objects.get().event == "generation.failed"


def test_a_failing_receiver_gets_retries_with_growing_gaps_then_the_studio_gives_up(
    caller, file_server
):
    from tests.http_fixtures import Route

    file_server.routes["/hooks/down"] = Route(body=b"down for maintenance", status=503)
    task_id = _post(caller, _body(file_server, webhook=file_server.base + "/hooks/down")).json()[
        "task_id"
    ]
    _end(task_id)
    delivery = WebhookDelivery.objects.get()
    clock = delivery.created_at
    gaps = []
    while True:
        delivery = webhook_send(delivery_id=delivery.id, now=clock)
        if delivery.state != "pending":
            break
        gap = (delivery.next_attempt_at - clock).total_seconds()
        gaps.append(gap)
        # Nothing is sent before it is due; at its time the schedule sends it.
        assert webhooks_send_due(now=clock + timedelta(seconds=gap - 1)) == 0
        clock += timedelta(seconds=gap)
    assert gaps == sorted(gaps) and gaps[0] == RETRY_GAPS[0] and gaps[-1] > gaps[0]
    assert delivery.state == "failed"
    assert clock - delivery.created_at <= timedelta(days=1)
    assert delivery.attempts == len(gaps) + 1 == len(file_server.posts)
    assert (delivery.last_status, delivery.last_answer) == (503, "down for maintenance")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000/hook",
        "ftp://example.test/hook",
        "not a url",
    ],
)
def test_an_internal_or_bad_webhook_address_is_refused_when_the_request_is_made(
    caller, file_server, url
):
    refused = _post(caller, _body(file_server, webhook=url))
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["param"] == "webhook"
    assert not Generation.objects.exists() and file_server.hits == []


def test_bad_webhook_events_are_refused_by_name(caller, file_server):
    hook = file_server.base + "/hooks/x"
    for events in (["generation.exploded"], [], "generation.failed"):
        refused = _post(caller, _body(file_server, webhook=hook, webhook_events=events))
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "webhook_events"
    alone = _post(caller, _body(file_server, webhook_events=["generation.failed"]))
    assert alone.status_code == 400 and alone.json()["error"]["param"] == "webhook_events"


def test_the_account_page_shows_the_secret_once_the_deliveries_and_sends_again(client, file_server):
    person = make_user(username="scripter2", credits=50)
    client.force_login(person)
    made = client.post("/account/tokens/", {"name": "robot"}).content.decode()
    token = ApiToken.objects.get(user=person)
    assert token.webhook_secret in made and "data-copy" in made
    assert token.webhook_secret not in client.get("/account/").content.decode()

    from tests.http_fixtures import Route

    file_server.routes["/hooks/teapot"] = Route(body=b"I'm a teapot", status=418)
    raw = re.search(r'value="(stk_[^"]+)"', made).group(1)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    task_id = _post(api, _body(file_server, webhook=file_server.base + "/hooks/teapot")).json()[
        "task_id"
    ]
    _end(task_id)
    delivery = WebhookDelivery.objects.get()
    webhook_send(delivery_id=delivery.id)
    page = client.get("/account/").content.decode()
    assert "generation.succeeded" in page and "418" in page and "I&#x27;m a teapot" in page

    file_server.routes["/hooks/teapot"] = Route(body=b"thanks", status=204)
    again = client.post(f"/account/webhooks/{delivery.id}/send-again/", follow=True)
    assert again.status_code == 200
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.next_attempt_at <= timezone.now()
    webhook_send(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_status) == ("delivered", 204)
    # Someone else's delivery cannot be sent again by this person.
    other = make_user(username="nosy")
    client.force_login(other)
    assert client.post(f"/account/webhooks/{delivery.id}/send-again/").status_code == 404
