"""Storing a finished video: the claim a storing task holds (and renews) on its row, retries
with back-off, and only a complete, probed video in storage."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from generations import results
from generations.fetcher import FetchError
from generations.models import Generation
from simulator.render import RenderRequest, render_video
from tests.factories import make_user
from tests.generations.test_lifecycle import _create

pytestmark = pytest.mark.django_db(transaction=True)


def _video() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 90), (30, 90, 160)).save(buffer, format="PNG")
    return render_video(
        buffer.getvalue(), RenderRequest(duration=2, short_side=720, seed=1, fast=True)
    )


class SlowFetcher:
    """Writes a real video after `seconds`, noting the row's claim while it works."""

    def __init__(self, generation_id, seconds: float, fail: FetchError | None = None):
        self.generation_id = generation_id
        self.seconds = seconds
        self.fail = fail
        self.claims: list = []

    def fetch(self, url, handle, **limits):
        until = time.monotonic() + self.seconds
        while time.monotonic() < until:
            self.claims.append(
                Generation.objects.values_list("result_claimed_until", flat=True).get(
                    pk=self.generation_id
                )
            )
            time.sleep(0.1)
        if self.fail:
            raise self.fail
        handle.write(_video())


def _finished_at_provider() -> Generation:
    generation = _create(make_user(credits=50))
    Generation.objects.filter(pk=generation.id).update(
        state="running",
        provider_task_id="t-1",
        result_url="http://127.0.0.1:9/video.mp4",
        dispatch_requested_at=timezone.now(),
    )
    return Generation.objects.get(pk=generation.id)


def test_a_long_download_keeps_renewing_its_claim_and_then_succeeds(monkeypatch):
    monkeypatch.setattr(results, "CLAIM_SECONDS", 1)
    monkeypatch.setattr(results, "CLAIM_RENEW_SECONDS", 0.3)
    generation = _finished_at_provider()
    fetcher = SlowFetcher(generation.id, seconds=1.5)

    done = results.generation_store_result(generation_id=generation.id, fetcher=fetcher)

    claims = [c for c in fetcher.claims if c is not None]
    assert len(set(claims)) >= 3  # renewed while it worked, never let lapse
    assert all(later > timezone.now() - timedelta(seconds=5) for later in claims)
    assert done.state == "succeeded" and done.result_claimed_until is None
    assert default_storage.exists(done.video.name) and default_storage.exists(done.poster.name)
    assert done.dispatch_requested_at is None  # the claim consumed the message


def test_a_claimed_result_is_not_stored_twice_at_once():
    generation = _finished_at_provider()
    assert results._claim(generation.id) is not None
    assert results.generation_store_result(generation_id=generation.id) is None  # held


def test_a_failed_download_waits_its_back_off_then_the_fourth_failure_ends_it(settings):
    settings.STUDIO_RESULT_RETRY_SECONDS = 0.5
    generation = _finished_at_provider()
    broken = FetchError("status", "The server answered HTTP 404.")

    for attempt in range(1, 4):
        started = timezone.now()
        fetcher = SlowFetcher(generation.id, seconds=0, fail=broken)
        assert results.generation_store_result(generation_id=generation.id, fetcher=fetcher) is None
        row = Generation.objects.get(pk=generation.id)
        assert row.state == "running" and row.result_attempts == attempt
        wait = (row.result_claimed_until - started).total_seconds()
        assert 0.5 * 2**attempt - 0.2 < wait < 0.5 * 2**attempt + 1.0
        Generation.objects.filter(pk=generation.id).update(result_claimed_until=None)

    fetcher = SlowFetcher(generation.id, seconds=0, fail=broken)
    failed = results.generation_store_result(generation_id=generation.id, fetcher=fetcher)
    assert failed.state == "failed" and failed.error_kind == "download"
    assert failed.error_message.startswith("The finished video could not be copied")
    assert not failed.video


def test_a_download_ends_before_the_cluster_would_kill_its_task(settings):
    settings.STUDIO_RESULT_DOWNLOAD_SECONDS = 300
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 120}
    assert results._download_seconds() == 100
    settings.STUDIO_RESULT_DOWNLOAD_SECONDS = 30
    assert results._download_seconds() == 30


def test_a_result_whose_attempts_keep_dying_silently_fails_after_as_many_tries(settings):
    generation = _finished_at_provider()
    # Four claims whose workers died without recording anything (killed, or timed out).
    Generation.objects.filter(pk=generation.id).update(result_attempts=results.MAX_ATTEMPTS)
    fetcher = SlowFetcher(generation.id, seconds=0)

    ended = results.generation_store_result(generation_id=generation.id, fetcher=fetcher)

    assert ended.state == "failed" and ended.error_kind == "download"
    assert "Earlier attempts to copy it did not finish." in ended.error_message
    assert fetcher.claims == []  # not tried a fifth time
