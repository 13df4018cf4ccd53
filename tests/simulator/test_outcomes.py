"""docs/simulator.md's table, row by row: each fault, and the outcome the studio must reach.

The studio's real clients and services (submit, tracker ticks, storing the result) run in
this process against the simulator over loopback; the simulator fetches the references from
the studio's live server through signed links. Each test names its row. The full versions
with a real qcluster are the integration tests'.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import LedgerEntry
from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.providers import http as provider_http
from generations.providers.health import breaker_reset, breaker_state
from generations.results import generation_store_result
from generations.selectors import providers_paused
from generations.services import (
    DISPATCH_RETRY_SECONDS,
    generation_create,
    generation_submit,
    reference_store,
)
from generations.tracker import tracker_tick
from generations.uploads import image_inspect
from tests.factories import image_upload, make_user
from tests.integration.lifecycle import visible_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

CREDITS = 50


@pytest.fixture
def studio(settings, live_server, sim, monkeypatch):
    settings.MODELSTREAM_API_BASE = settings.APIFRAME_API_BASE = sim.url
    settings.MODELSTREAM_API_KEY = "sk-studio-test"
    settings.APIFRAME_API_KEY = "afk-studio-test"
    settings.STUDIO_PUBLIC_URL = live_server.url
    settings.STUDIO_MAX_IN_FLIGHT_PER_USER = 0
    settings.STUDIO_POLL_MAX_INTERVAL = 0.5  # the back-off's shape, at test speed
    monkeypatch.setattr(provider_http, "BACKOFF_BASE", 0.01)
    provider_http.http_client_reset()
    for provider in ("modelstream", "apiframe"):
        breaker_reset(provider=provider)
    yield sim
    for provider in ("modelstream", "apiframe"):
        breaker_reset(provider=provider)
    provider_http.http_client_reset()


def create(prompt: str = "A lake at dawn", model_key: str = "wan2.6-i2v-flash") -> Generation:
    user = make_user(credits=CREDITS)
    upload = image_upload(size=(320, 180))
    reference = reference_store(
        owner=user, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )
    model = catalog_get(model_key)
    if model.provider == "modelstream":
        values = {"prompt": prompt, "resolution": "720P", "duration": 2, "prompt_extend": False}
        values |= {"audio": False, "watermark": False, "seed": 7}
    else:
        values = {"prompt": prompt, "resolution": "720p", "duration": 5, "audio_enabled": False}
        values |= {"enable_prompt_expansion": False, "seed": 7}
    image_field = model.field_for_role("reference_image").name
    return generation_create(
        user=user, model=model, values=values, references={image_field: reference}
    )


def submit(generation: Generation) -> Generation:
    generation_submit(generation_id=generation.id)
    generation.refresh_from_db()
    return generation


def run(generation: Generation, *, timeout: float = 20, retry_downloads: bool = True) -> Generation:
    """Submit, then tick the tracker and store results until the generation is final.

    A failed download is retried at once instead of after its back-off (`retry_downloads`).
    """
    generation = submit(generation) if generation.state == "pending" else generation
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            tracker_tick(pool=pool)
            generation.refresh_from_db()
            if generation.is_storing:
                if retry_downloads:
                    Generation.objects.filter(pk=generation.id).update(result_claimed_until=None)
                generation_store_result(generation_id=generation.id)
                generation.refresh_from_db()
            if generation.is_final:
                return generation
            time.sleep(0.1)
    raise AssertionError(f"still {generation.state} after {timeout} s")


def expire_now(generation: Generation) -> Generation:
    """Let the deadline pass and the tracker notice."""
    Generation.objects.filter(pk=generation.id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    with ThreadPoolExecutor(2) as pool:
        tracker_tick(pool=pool)
    generation.refresh_from_db()
    return generation


def refunded(generation: Generation) -> bool:
    kinds = sorted(LedgerEntry.objects.filter(generation=generation).values_list("kind", flat=True))
    generation.owner.wallet.refresh_from_db()
    return kinds == ["charge", "refund"] and generation.owner.wallet.balance == CREDITS


def charged(generation: Generation) -> bool:
    kinds = list(LedgerEntry.objects.filter(generation=generation).values_list("kind", flat=True))
    generation.owner.wallet.refresh_from_db()
    return kinds == ["charge"] and generation.owner.wallet.balance == CREDITS - generation.cost


def card(generation: Generation) -> str:
    """The generation's gallery card, as its owner sees it."""
    client = Client()
    client.force_login(generation.owner)
    return client.get(f"/generations/{generation.id}/card/").content.decode()


def page(generation: Generation) -> str:
    """The generation's page, as its owner sees it."""
    client = Client()
    client.force_login(generation.owner)
    return client.get(f"/generations/{generation.id}/").content.decode()


# --- The provider behaves -------------------------------------------------------------------


@pytest.mark.parametrize("model_key", ["wan2.6-i2v-flash", "wan-2.6-flash"])
def test_row_no_fault_succeeds_with_the_video_stored(studio, model_key):
    done = run(create(model_key=model_key))

    assert done.state == "succeeded" and done.video and charged(done)
    assert '<video class="player"' in page(done)
    assert studio.stats()["submits"] == 1 and studio.stats()["duplicate_submits"] == 0


def test_row_latency_only_makes_it_slower(studio):
    studio.configure("latency=0.2")
    done = run(create())
    assert done.state == "succeeded" and charged(done)


# --- Submit faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["seconds", "date"])
def test_row_submit_429_is_waited_out_then_accepted(studio, form):
    generation = create(f"x sim:submit.rate_limit=1 sim:retry_after=2 sim:retry_after_form={form}")
    started = time.monotonic()
    sent = submit(generation)

    assert sent.state == "queued"
    assert time.monotonic() - started >= 0.95  # the client waited as asked (1-2 s)
    assert studio.stats()["faults"]["submit.rate_limit"] == 1
    assert run(sent).state == "succeeded"
    assert studio.stats()["tasks"] == 1


def test_row_submit_429_with_a_long_retry_after_waits_pending_then_expires_refunded(studio):
    generation = submit(create("x sim:submit.rate_limit=always sim:retry_after=90"))

    assert generation.state == "pending" and charged(generation)
    assert "it will be sent again" in generation.events.last().detail
    # Offered again only once the provider's Retry-After has passed.
    with ThreadPoolExecutor(2) as pool:
        tracker_tick(pool=pool)
    assert studio.stats()["faults"]["submit.rate_limit"] == 1
    generation.refresh_from_db()
    assert generation.dispatch_requested_at > timezone.now() + timedelta(seconds=80)
    # The page and the gallery card say it is held, and until when (not "Submitting" one
    # moment and "waiting to be sent" the next).
    next_try = timezone.localtime(
        generation.dispatch_requested_at + timedelta(seconds=DISPATCH_RETRY_SECONDS)
    ).strftime("%H:%M:%S")
    held = f"Pending · the provider asked to wait; next try at {next_try}"
    assert held in visible_text(page(generation))
    assert held in visible_text(card(generation))
    expired = expire_now(generation)
    assert expired.state == "expired" and refunded(expired)
    assert "took too long" in page(expired)


def test_row_submit_5xx_a_few_times_is_retried_within_the_call(studio):
    sent = submit(create("x sim:submit.error=2 sim:error_status=502"))

    assert sent.state == "queued"
    assert studio.stats()["faults"]["submit.error"] == 2
    assert run(sent).state == "succeeded"


def test_row_submit_5xx_always_pauses_the_provider_and_new_generations_wait(studio, settings):
    settings.STUDIO_BREAKER_THRESHOLD = 2
    studio.configure("submit.error=always error_status=503")
    first, second = submit(create()), submit(create())
    assert first.state == second.state == "pending"
    assert breaker_state(provider="modelstream").is_open()
    assert [p["name"] for p in providers_paused()] == ["ModelStream"]
    calls = studio.stats()["faults"]["submit.error"]

    third = submit(create())

    assert third.state == "pending" and studio.stats()["faults"]["submit.error"] == calls
    open_until = breaker_state(provider="modelstream").open_until
    assert open_until is not None
    next_try = timezone.localtime(datetime.fromtimestamp(open_until, tz=UTC)).strftime("%H:%M:%S")
    held = f"Pending · ModelStream is paused; next try at {next_try}"
    assert held in visible_text(page(third))
    assert held in visible_text(card(third))
    assert expire_now(third).state == "expired" and refunded(third)


def test_row_provider_down_leaves_generations_pending(studio, settings):
    settings.MODELSTREAM_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    generation = submit(create())

    assert generation.state == "pending" and charged(generation)
    assert "Not delivered" in generation.events.last().detail


def test_row_submit_timeout_is_lost_refunded_and_never_sent_again(studio, settings):
    settings.STUDIO_PROVIDER_READ_TIMEOUT = 0.5
    provider_http.http_client_reset()
    generation = submit(create("x sim:submit.timeout=always sim:timeout_seconds=5"))

    assert generation.state == "failed" and generation.error_kind == "lost"
    assert refunded(generation)
    assert "did not answer in time" in page(generation)
    stats = studio.stats()
    assert stats["tasks"] == 1 and stats["duplicate_submits"] == 0  # one job, never re-sent


def test_row_submit_malformed_answer_fails_refunded_and_is_not_sent_again(studio):
    generation = submit(create("x sim:submit.malformed=always"))

    assert generation.state == "failed" and generation.error_kind == "lost"
    assert refunded(generation)
    assert "could not read" in page(generation)
    assert studio.stats()["tasks"] == 1


def test_row_a_refusal_fails_refunded_with_the_providers_message_on_its_field(studio):
    generation = submit(create("x sim:reject=metadata.parameters.resolution"))

    assert generation.state == "failed" and generation.error_kind == "refused"
    assert generation.error_param == "resolution"  # the form field it names
    assert refunded(generation)
    assert "is not accepted for this model" in page(generation)
    assert studio.stats()["faults"]["reject"] == 1  # no retry


@pytest.mark.parametrize("status", [401, 402, 403])
def test_row_an_account_problem_fails_refunded_neutrally_and_tells_the_admin(studio, status):
    generation = submit(create(f"x sim:account={status}"))

    assert generation.state == "failed" and generation.error_kind == "account"
    assert refunded(generation)
    shown = page(generation)
    assert "could not use this provider right now" in shown
    assert "out of credit" not in shown and "API key" not in shown
    from generations.providers.health import account_problem_last

    admin_note = account_problem_last(provider="modelstream")["message"]
    assert {401: "API key", 402: "out of credit", 403: "refused"}[status] in admin_note
    assert "sk-studio-test" not in admin_note and "sk-studio-test" not in shown


# --- Read faults -----------------------------------------------------------------------------


def test_row_read_5xx_is_retried_and_the_generation_succeeds(studio):
    done = run(create("x sim:read.error=4"))
    assert done.state == "succeeded" and studio.stats()["faults"]["read.error"] == 4


def test_row_read_429_reads_again_after_retry_after(studio):
    generation = submit(create("x sim:read.rate_limit=1 sim:retry_after=2"))
    with ThreadPoolExecutor(2) as pool:
        Generation.objects.filter(pk=generation.id).update(next_poll_at=timezone.now())
        tracker_tick(pool=pool)
    generation.refresh_from_db()

    assert generation.next_poll_at - timezone.now() > timedelta(seconds=1.5)
    assert run(generation).state == "succeeded"


def test_row_read_timeout_is_retried(studio, settings):
    settings.STUDIO_PROVIDER_READ_TIMEOUT = 0.5
    provider_http.http_client_reset()
    done = run(create("x sim:read.timeout=1 sim:timeout_seconds=3"))
    assert done.state == "succeeded"


def test_row_read_malformed_now_and_then_is_retried(studio):
    assert run(create("x sim:read.malformed=2")).state == "succeeded"


def test_row_read_malformed_for_good_fails_refunded(studio):
    done = run(create("x sim:read.malformed=always"), timeout=30)

    assert done.state == "failed" and refunded(done)
    assert "keeps answering something the studio cannot read" in page(done)


# --- Task faults ---------------------------------------------------------------------------


def test_row_a_task_that_fails_shows_the_providers_message_refunded(studio):
    done = run(create("x sim:fail"))

    assert done.state == "failed" and done.error_kind == "provider"
    assert done.error_code == "content_flagged" and refunded(done)
    assert "flagged by the provider&#x27;s safety system" in page(done)


def test_row_a_stall_that_ends_still_succeeds(studio):
    done = run(create("x sim:run_seconds=0.5 sim:stall=1.5"))
    assert done.state == "succeeded"


@pytest.mark.parametrize("fault", ["stall", "never"])
def test_row_a_task_that_never_finishes_expires_at_the_deadline_refunded(studio, fault):
    generation = submit(create(f"x sim:{fault}"))
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            tracker_tick(pool=pool)
            time.sleep(0.2)
    generation.refresh_from_db()
    assert generation.state in ("queued", "running")

    expired = expire_now(generation)

    assert expired.state == "expired" and refunded(expired)


def test_row_the_provider_cannot_fetch_the_reference_fails_refunded(studio, settings):
    settings.STUDIO_PUBLIC_URL = "http://127.0.0.1:9"  # links nobody can follow
    done = run(create())

    assert done.state == "failed" and refunded(done)
    assert "Could not download the file" in done.error_message


# --- Result faults -----------------------------------------------------------------------------


def test_row_a_result_url_that_404s_is_retried_then_fails_refunded(studio):
    done = run(create("x sim:result=404"))

    assert done.state == "failed" and done.error_kind == "download" and refunded(done)
    assert done.result_attempts == 4  # retried before giving up
    assert "could not be copied into the studio" in page(done)


@pytest.mark.parametrize(
    ("result", "words"),
    [("html", ("text/html",)), ("garbage", ("not a readable video", "no video stream"))],
)
def test_row_a_result_that_is_not_a_video_fails_at_once_refunded(studio, result, words):
    done = run(create(f"x sim:result={result}"))

    assert done.state == "failed" and done.error_kind == "download" and refunded(done)
    assert done.result_attempts == 1
    assert any(word in done.error_message for word in words), done.error_message


def test_row_a_very_slow_download_is_cut_off_retried_and_fails_refunded(studio, settings):
    settings.STUDIO_RESULT_DOWNLOAD_SECONDS = 0.5
    done = run(create("x sim:result=slow sim:result_rate=15000"))

    assert done.state == "failed" and done.error_kind == "download" and refunded(done)
    assert "took too long" in done.error_message


def test_row_a_slow_download_within_the_cap_succeeds(studio):
    assert run(create("x sim:result=slow sim:result_rate=200000")).state == "succeeded"


# --- Answer shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_key", "marker"),
    [
        ("wan2.6-i2v-flash", "sim:statuses=dashscope sim:url_key=video_url"),
        ("wan2.6-i2v-flash", "sim:statuses=odd"),
        ("wan-2.6-flash", "sim:statuses=lower sim:result_shape=string"),
        ("wan-2.6-flash", "sim:statuses=odd"),
    ],
)
def test_row_every_status_vocabulary_and_result_shape_ends_the_same(studio, model_key, marker):
    done = run(create(f"x {marker} sim:run_seconds=0.5", model_key=model_key))
    assert done.state == "succeeded"


def test_row_apiframe_error_as_a_string_is_shown(studio):
    done = run(create("x sim:fail=nsfw sim:error_shape=string", model_key="wan-2.6-flash"))
    assert done.state == "failed" and "(nsfw)" in done.error_message and refunded(done)


# --- Apiframe webhooks -------------------------------------------------------------------------


def _wait_for(generation: Generation, check, timeout: float = 15) -> Generation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if check(generation):
            return generation
        time.sleep(0.05)
    raise AssertionError("the callback never arrived")


def test_row_webhooks_update_the_generation_without_polling(studio, settings):
    settings.APIFRAME_WEBHOOKS = True
    generation = submit(create("x sim:run_seconds=0.5", model_key="wan-2.6-flash"))
    reads_before = studio.stats()["reads"]

    done = _wait_for(generation, lambda g: bool(g.result_url))

    assert studio.stats()["reads"] == reads_before  # no tracker ran: the callback did it
    assert studio.stats()["webhooks_sent"] >= 1
    assert run(done).state == "succeeded"


def test_row_badly_signed_webhooks_are_refused_and_polling_finishes_the_job(studio, settings):
    settings.APIFRAME_WEBHOOKS = True
    generation = submit(create("x sim:webhook=bad_signature", model_key="wan-2.6-flash"))
    time.sleep(1.0)  # long enough for the simulator to call back (and be refused)
    generation.refresh_from_db()
    assert generation.state == "queued" and not generation.result_url

    assert run(generation).state == "succeeded"
    assert studio.stats()["webhooks_failed"] >= 1
