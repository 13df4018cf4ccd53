"""`POST /v1/batches` and `GET /v1/batches/<id>`: the product of the axes, validated whole,
pictures fetched once each, charged all or nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.ledger import wallet_for_user
from accounts.services import api_token_create
from generations.models import Batch, Generation
from tests.conftest import assert_ledger_balanced
from tests.factories import image_bytes, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller():
    user = make_user(username="batch-script", credits=200)
    _, raw = api_token_create(user=user, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    return client


def _post(client, body):
    return client.post("/v1/batches", json.dumps(body), content_type="application/json")


def _body(url: str, **extra) -> dict:
    return {
        "model": "wan-2.6-flash",
        "prompt": "A kite over the dunes",
        "metadata": {"input": {"image": url}},
        **extra,
    }


def test_prompts_images_a_sweep_and_variations_make_their_product(caller, file_server):
    one = file_server.add("/one.png", image_bytes(size=(320, 240)), "image/png")
    two = file_server.add("/two.png", image_bytes(size=(480, 270)), "image/png")
    before = wallet_for_user(user=caller.user).balance
    body = {
        "model": "wan-2.6-flash",
        "prompt": "unused",
        "prompts": ["A kite", "A hare"],
        "images": [one, two],
        "sweep": {"resolution": ["720p", "1080p"]},
        "variations": 2,
        "metadata": {"parameters": {"seed": 40}},
    }
    answer = _post(caller, body)
    assert answer.status_code == 200, answer.content
    created = answer.json()
    assert len(created["task_ids"]) == 16
    batch = Batch.objects.get(pk=created["id"])
    members = list(batch.members.all())
    assert created["price"] == sum(m.cost for m in members)
    assert wallet_for_user(user=caller.user).balance == before - created["price"]
    assert sorted(file_server.hits) == ["/one.png", "/two.png"]  # each picture fetched once
    assert {m.prompt for m in members} == {"A kite", "A hare"}
    assert {m.resolution for m in members} == {"720p", "1080p"}
    assert {m.seed for m in members} == {40, 41}
    assert len({m.reference_id for m in members}) == 2
    shown = caller.get(f"/v1/batches/{batch.id}").json()
    assert shown["object"] == "batch" and len(shown["tasks"]) == 16
    assert {t["task_id"] for t in shown["tasks"]} == set(created["task_ids"])
    assert_ledger_balanced()


def test_too_large_a_batch_is_refused_and_nothing_fetched_or_charged(caller, file_server):
    url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    before = wallet_for_user(user=caller.user).balance
    refused = _post(
        caller,
        _body(
            url,
            variations=16,
            sweep={"resolution": ["720p", "1080p"], "audio_enabled": [True, False, True]},
        ),
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "batch_too_large"
    assert file_server.hits == [] and not Generation.objects.exists()
    assert wallet_for_user(user=caller.user).balance == before


def test_a_batch_its_wallet_cannot_pay_is_402_with_nothing_made(file_server):
    poor = make_user(username="poor-batch", credits=5)
    _, raw = api_token_create(user=poor, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    refused = _post(client, _body(url, variations=4))
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"
    assert file_server.hits == [] and not Batch.objects.exists()
    assert wallet_for_user(user=poor).balance == 5


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"variations": 0}, "variations"),
        ({"variations": "4"}, "variations"),
        ({"prompts": []}, "prompts"),
        ({"prompts": ["ok", ""]}, "prompts"),
        ({"sweep": {"nope": [1]}}, "sweep"),
        ({"sweep": {"resolution": ["720p", "4K"]}}, "resolution"),
    ],
)
def test_a_bad_batch_is_400_naming_what_is_wrong(caller, file_server, extra, param):
    url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    refused = _post(caller, _body(url, **extra))
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["param"] == param
    assert file_server.hits == [] and not Generation.objects.exists()


def test_another_persons_batch_is_404_and_a_bad_id_400(caller, file_server):
    url = file_server.add("/ref.png", image_bytes(size=(320, 240)), "image/png")
    created = _post(caller, _body(url, variations=2)).json()
    stranger = make_user(username="stranger-api")
    _, raw = api_token_create(user=stranger, name="x")
    other = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert other.get(f"/v1/batches/{created['id']}").status_code == 404
    assert caller.get("/v1/batches/not-a-uuid").status_code == 400
