"""The lifecycle services against the simulator over loopback, in this process."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.storage import default_storage
from django.test import override_settings

from accounts.models import LedgerEntry
from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.results import generation_store_result
from generations.services import (
    IllegalTransition,
    generation_cancel,
    generation_create,
    generation_submit,
    generation_transition,
    reference_store,
)
from generations.tracker import tracker_tick
from generations.uploads import image_inspect
from simulator.server import Config, serve
from tests.factories import image_upload, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture(autouse=True)
def _ledger_stays_balanced(ledger_balanced):
    """The ledger invariant holds after every lifecycle scenario."""


@pytest.fixture
def simulator():
    server = serve("127.0.0.1", 0, Config(fast=True, loopback_only=True, queue_seconds=0.05))
    yield server
    server.shutdown()
    server.simulator.pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def providers(settings, simulator, live_server):
    base = simulator.simulator.config.public_base
    settings.MODELSTREAM_API_BASE = base
    settings.APIFRAME_API_BASE = base
    settings.MODELSTREAM_API_KEY = "k"
    settings.APIFRAME_API_KEY = "k"
    settings.STUDIO_PUBLIC_URL = live_server.url
    return simulator.simulator


def _create(user, model_key="wan2.6-i2v-flash", **values):
    upload = image_upload()
    reference = reference_store(
        owner=user, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )
    model = catalog_get(model_key)
    defaults = {
        "prompt": "A test",
        "resolution": "720P",
        "duration": 2,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": False,
        "watermark": False,
        "seed": None,
    }
    if model_key == "wan-2.6-flash":
        defaults = {
            "prompt": "A test",
            "resolution": "720p",
            "duration": 5,
            "audio_enabled": False,
            "enable_prompt_expansion": False,
            "multi_shots": False,
            "seed": None,
        }
    image_field = model.field_for_role("reference_image").name
    return generation_create(
        user=user, model=model, values={**defaults, **values}, references={image_field: reference}
    )


def _track_until_final(generation_id, timeout=30):
    pool = ThreadPoolExecutor(8)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            tracker_tick(pool=pool)
            generation = Generation.objects.get(pk=generation_id)
            if generation.is_storing:
                generation_store_result(generation_id=generation_id)
                generation.refresh_from_db()
            if generation.is_final:
                return generation
            time.sleep(0.1)
    finally:
        pool.shutdown()
    raise AssertionError("the generation did not finish")


@pytest.mark.parametrize("model_key", ["wan2.6-i2v-flash", "wan-2.6-flash"])
def test_happy_path_for_both_models(providers, model_key):
    user = make_user(credits=50)
    generation = _create(user, model_key)
    generation_submit(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.state in ("queued", "running")
    assert generation.provider_task_id
    done = _track_until_final(generation.id)
    assert done.state == "succeeded", done.error_message
    assert default_storage.exists(done.video.name) and default_storage.exists(done.poster.name)
    assert done.video_duration == pytest.approx(done.duration, abs=0.2)
    states = [e.to_state for e in done.events.all()]
    assert states[0] == "pending" and states[-1] == "succeeded"
    assert "submitting" in states and "running" in states
    assert providers.stats()["submits"] == 1


def test_submit_is_idempotent(providers):
    user = make_user(credits=50)
    generation = _create(user)
    generation_submit(generation_id=generation.id)
    generation_submit(generation_id=generation.id)
    assert providers.stats()["submits"] == 1


def test_a_provider_failure_fails_and_refunds_exactly_once(providers):
    user = make_user(credits=50)
    generation = _create(user, prompt="please sim:fail now")
    generation_submit(generation_id=generation.id)
    done = _track_until_final(generation.id)
    assert done.state == "failed"
    assert "safety system" in done.error_message
    entries = list(LedgerEntry.objects.filter(generation=done).values_list("kind", "amount"))
    assert sorted(entries) == sorted([("charge", -done.cost), ("refund", done.cost)])
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 50


def test_a_refusal_names_the_field_and_refunds(providers, settings):
    user = make_user(credits=50)
    generation = _create(user)
    # Ask the simulator for something it refuses: an unknown model id on the wire.
    Generation.objects.filter(pk=generation.id).update(model_key="wan2.6-i2v-flash")
    from generations import services

    original = services.generation_request_body

    def broken_body(*, generation, model):
        body = original(generation=generation, model=model)
        body["duration"] = 99
        return body

    services.generation_request_body = broken_body
    try:
        generation_submit(generation_id=generation.id)
    finally:
        services.generation_request_body = original
    generation.refresh_from_db()
    assert generation.state == "failed"
    assert generation.error_param == "duration"
    assert "duration must be an integer" in generation.error_message
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 50


def test_only_pending_generations_can_be_cancelled_and_final_states_are_final(providers):
    user = make_user(credits=50)
    generation = _create(user)
    generation_cancel(generation=generation, by=user)
    generation.refresh_from_db()
    assert generation.state == "cancelled"
    with pytest.raises(IllegalTransition):
        generation_transition(generation_id=generation.id, to="submitting")
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 50


@override_settings(STUDIO_MAX_IN_FLIGHT_PER_USER=1)
def test_more_than_the_in_flight_limit_waits_pending_and_is_sent_in_order(providers):
    user = make_user(credits=50)
    first, second = _create(user), _create(user)
    generation_submit(generation_id=first.id)
    generation_submit(generation_id=second.id)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state in ("queued", "running") and second.state == "pending"
    _track_until_final(first.id)
    generation_submit(generation_id=second.id)
    second.refresh_from_db()
    assert second.state in ("queued", "running", "succeeded")


def test_an_unreachable_provider_leaves_the_generation_pending(settings, live_server):
    settings.MODELSTREAM_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.STUDIO_PUBLIC_URL = live_server.url
    user = make_user(credits=50)
    generation = _create(user)
    generation_submit(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.state == "pending"
    assert "Not delivered" in generation.events.last().detail
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 50 - generation.cost
