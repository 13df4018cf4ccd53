"""Each provider's circuit breaker: a run of failures pauses it, new work waits, a trial reopens it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.providers import ErrorKind, ProviderError
from generations.providers import health as breaker
from generations.selectors import providers_paused
from generations.services import generation_create, generation_submit, reference_store
from generations.tracker import _read, tracker_tick
from generations.uploads import image_inspect
from tests.factories import image_upload, make_user
from tests.live_stack import ROOT, database_url
from tests.providers.conftest import Answer

pytestmark = pytest.mark.usefixtures("clean_breakers")

DOWN = Answer(503, {"error": {"message": "upstream unavailable", "code": "upstream"}})
UP = Answer(200, {"task_id": "t-ok", "status": "queued"})


@pytest.fixture
def studio(settings, provider):
    settings.MODELSTREAM_API_BASE = provider.url
    settings.MODELSTREAM_API_KEY = "k"
    settings.STUDIO_PUBLIC_URL = "https://studio.example"
    settings.STUDIO_BREAKER_THRESHOLD = 2
    settings.STUDIO_BREAKER_OPEN_SECONDS = 0.5
    settings.STUDIO_BREAKER_MAX_OPEN_SECONDS = 10
    return provider


def _pending(credits: int = 20) -> Generation:
    user = make_user(credits=credits)
    upload = image_upload()
    reference = reference_store(
        owner=user, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )
    values = {
        "prompt": "A lake at dawn",
        "resolution": "720P",
        "duration": 2,
        "prompt_extend": False,
        "audio": False,
        "watermark": False,
        "seed": 1,
    }
    return generation_create(
        user=user,
        model=catalog_get("wan2.6-i2v-flash"),
        values=values,
        references={"img_url": reference},
    )


def _submit(generation: Generation) -> Generation:
    generation_submit(generation_id=generation.id)
    generation.refresh_from_db()
    return generation


def _open_the_breaker() -> None:
    failure = ProviderError(ErrorKind.UNAVAILABLE, "down", status=503, delivered=False)
    breaker.breaker_record_failure(provider="modelstream", error=failure)
    breaker.breaker_record_failure(provider="modelstream", error=failure)
    assert breaker.breaker_state(provider="modelstream").is_open()


@pytest.mark.django_db
def test_a_run_of_5xx_pauses_the_provider_and_new_generations_wait_unsent(studio):
    studio.default = DOWN

    first = _submit(_pending())
    assert first.state == "pending"  # not delivered: it will be sent again
    assert breaker.breaker_state(provider="modelstream").failures == 1
    second = _submit(_pending())
    assert second.state == "pending"
    sent_so_far = len(studio.requests)
    assert breaker.breaker_state(provider="modelstream").is_open()

    third = _submit(_pending())

    assert third.state == "pending"
    assert len(studio.requests) == sent_so_far  # nothing more went to the provider
    assert [e.to_state for e in third.events.all()] == ["pending"]
    assert [p["name"] for p in providers_paused()] == ["ModelStream"]


@pytest.mark.django_db
def test_the_create_page_says_the_provider_is_paused(studio, signed_in):
    assert "is not answering right now" not in signed_in.get("/").content.decode()
    _open_the_breaker()

    html = signed_in.get("/").content.decode()

    assert "ModelStream is not answering right now" in html
    assert "wait and start on their own" in html
    assert 'value="wan2.6-i2v-flash"' in html  # still offered: its generations wait


@pytest.mark.django_db
def test_a_waiting_generation_still_expires_at_its_deadline_and_is_refunded(studio):
    _open_the_breaker()
    generation = _submit(_pending(credits=20))
    assert generation.state == "pending"
    Generation.objects.filter(pk=generation.id).update(deadline_at=generation.created_at)

    with ThreadPoolExecutor(2) as pool:
        tracker_tick(pool=pool)

    generation.refresh_from_db()
    assert generation.state == "expired"
    generation.owner.wallet.refresh_from_db()
    assert generation.owner.wallet.balance == 20
    assert studio.requests == []


@pytest.mark.django_db
def test_after_the_pause_one_trial_goes_out_and_its_success_closes_the_breaker(studio):
    _open_the_breaker()
    waiting = [_submit(_pending()) for _ in range(2)]
    assert {g.state for g in waiting} == {"pending"} and studio.requests == []
    time.sleep(breaker.breaker_state(provider="modelstream").seconds_left() + 0.05)
    studio.default = UP

    # Another worker holds the trial: this one keeps waiting.
    assert breaker.breaker_allows(provider="modelstream")
    assert _submit(waiting[0]).state == "pending" and studio.requests == []
    breaker.breaker_reset(provider="modelstream")
    _open_the_breaker()
    time.sleep(breaker.breaker_state(provider="modelstream").seconds_left() + 0.05)

    trial = _submit(waiting[0])
    assert trial.state == "queued" and len(studio.requests) == 1
    assert breaker.breaker_state(provider="modelstream").is_closed
    assert _submit(waiting[1]).state == "queued"


@pytest.mark.django_db
def test_a_failed_trial_pauses_the_provider_again_for_longer(studio):
    _open_the_breaker()
    generation = _pending()
    time.sleep(breaker.breaker_state(provider="modelstream").seconds_left() + 0.05)
    studio.default = DOWN

    assert _submit(generation).state == "pending"

    state = breaker.breaker_state(provider="modelstream")
    assert state.is_open() and state.openings == 2
    assert state.open_until - state.last_failure_at == pytest.approx(1.0, abs=0.05)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error",
    [
        ProviderError(ErrorKind.UNAVAILABLE, "slow down", status=429, delivered=False),
        ProviderError(ErrorKind.REFUSED, "bad duration", status=400),
        ProviderError(ErrorKind.ACCOUNT, "bad key", status=401),
        ProviderError(ErrorKind.MALFORMED, "garbage", status=200),
    ],
    ids=["429", "400", "401", "malformed"],
)
def test_rate_limits_refusals_and_account_problems_never_pause_a_provider(studio, error):
    for _ in range(5):
        assert breaker.breaker_record_failure(provider="modelstream", error=error) is None
    assert breaker.breaker_state(provider="modelstream").is_closed


@pytest.mark.django_db(transaction=True)
def test_failed_task_reads_count_and_a_good_read_closes_the_breaker(studio):
    def read():  # as the tracker does: on one of its pool's threads
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(_read, None, "modelstream", "t-1").result()

    studio.default = DOWN
    assert isinstance(read(), ProviderError)
    assert isinstance(read(), ProviderError)
    assert breaker.breaker_state(provider="modelstream").is_open()

    studio.default = Answer(200, {"task_id": "t-1", "status": "in_progress"})
    task = read()

    assert task.status == "running"
    assert breaker.breaker_state(provider="modelstream").is_closed


@pytest.mark.django_db
def test_failures_far_apart_do_not_add_up(studio, settings):
    settings.STUDIO_BREAKER_WINDOW = 0.1
    failure = ProviderError(ErrorKind.LOST, "no answer")
    breaker.breaker_record_failure(provider="modelstream", error=failure)
    time.sleep(0.15)
    breaker.breaker_record_failure(provider="modelstream", error=failure)

    assert breaker.breaker_state(provider="modelstream").failures == 1
    assert breaker.breaker_state(provider="modelstream").is_closed


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_another_process_sees_the_same_breaker(studio, settings):
    """Web and workers are separate processes: the state is in the shared cache."""
    settings.STUDIO_BREAKER_OPEN_SECONDS = 120  # still open when the other process looks
    _open_the_breaker()
    script = (
        "import django; django.setup(); "
        "from generations.providers.health import breaker_allows, breaker_state; "
        "print(breaker_state(provider='modelstream').is_open(), "
        "breaker_allows(provider='modelstream'))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "studio.settings.test"}
    env["DATABASE_URL"] = database_url()
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
