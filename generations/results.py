"""Copying a finished video into the studio's storage: download, probe, poster, then succeeded."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from .fetcher import FetchError, GuardedFetcher
from .models import Generation
from .probing import ProbeError, video_probe
from .services import IllegalTransition, generation_fail, generation_transition

logger = logging.getLogger(__name__)
State = Generation.State

MAX_ATTEMPTS = 4
# A storing task holds a claim on its row that it renews while it works; a killed worker stops
# renewing, and the tracker hands the result to another task once the claim has run out.
CLAIM_SECONDS = 15
CLAIM_RENEW_SECONDS = 4.0
VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")
# Failures that another try cannot fix.
PERMANENT = {"scheme", "url", "address", "too_large", "content_type", "redirect"}


def _claim(generation_id: uuid.UUID | str) -> datetime | None:
    """Claim a finished generation's result for this task; returns the claim (its expiry,
    which is also its token), or None when another task holds it or nothing is to be stored.
    Clearing `dispatch_requested_at` says the message was consumed (see the tracker)."""
    now = timezone.now()
    until = now + timedelta(seconds=CLAIM_SECONDS)
    claimed = (
        Generation.objects.filter(pk=generation_id, state=State.RUNNING)
        .exclude(result_url="")
        .filter(Q(result_claimed_until__isnull=True) | Q(result_claimed_until__lt=now))
        .update(
            result_claimed_until=until,
            result_attempts=F("result_attempts") + 1,
            dispatch_requested_at=None,
        )
    )
    return until if claimed else None


@contextlib.contextmanager
def _claim_kept(generation_id: uuid.UUID | str, claim: datetime) -> Iterator[None]:
    """Renew the claim every CLAIM_RENEW_SECONDS while the body runs (a long download), as
    long as it is still ours: the claim's expiry doubles as a compare-and-set token."""
    done = threading.Event()

    def renew() -> None:
        held = claim
        try:
            while not done.wait(CLAIM_RENEW_SECONDS):
                until = timezone.now() + timedelta(seconds=CLAIM_SECONDS)
                if not Generation.objects.filter(
                    pk=generation_id, result_claimed_until=held
                ).update(result_claimed_until=until):
                    return  # no longer ours
                held = until
        finally:
            connection.close()

    thread = threading.Thread(target=renew, name=f"claim-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def generation_store_result(
    *, generation_id: uuid.UUID | str, fetcher: GuardedFetcher | None = None
) -> Generation | None:
    """Stream the provider's video into storage, probe it, cut a poster, and finish.

    Safe to run twice: a claim on the row keeps a second run (a retry, a re-sent message) out
    while the first is at work, and a dead worker's claim runs out.
    """
    claim = _claim(generation_id)
    if claim is None:
        return None
    generation = Generation.objects.get(pk=generation_id)
    if generation.result_attempts > MAX_ATTEMPTS:
        # Earlier attempts died without a word (their workers were killed, or the cluster's
        # timeout cut them short): as many tries as a broken URL gets.
        return _failed_attempt(
            generation, "Earlier attempts to copy it did not finish.", permanent=True
        )
    fetcher = fetcher or GuardedFetcher()
    with (
        _claim_kept(generation.id, claim),
        tempfile.NamedTemporaryFile(suffix=".mp4", prefix="studio-result-") as temporary,
    ):
        try:
            fetcher.fetch(
                generation.result_url,
                temporary,
                max_bytes=settings.STUDIO_RESULT_MAX_BYTES,
                total_seconds=_download_seconds(),
                content_types=VIDEO_TYPES,
            )
            temporary.flush()
            info = video_probe(temporary.name)
        except FetchError as error:
            return _failed_attempt(generation, error.message, permanent=error.reason in PERMANENT)
        except ProbeError as error:
            return _failed_attempt(generation, str(error), permanent=True)
        temporary.seek(0)
        # Only a complete, probed video reaches storage: a worker killed before this line
        # leaves nothing behind but its temporary file; one killed after it, files that this
        # next attempt removes first (the claim makes it the only writer).
        _remove_leftovers(generation)
        generation.video.save(f"{generation.id}.mp4", File(temporary), save=False)
        generation.poster.save(f"{generation.id}.jpg", ContentFile(info.poster_jpeg), save=False)
    size = generation.video.size
    try:
        return generation_transition(
            generation_id=generation.id,
            to=State.SUCCEEDED,
            expect=[State.RUNNING],
            detail=f"Stored: {info.width}×{info.height}, {info.duration:.1f} s.",
            video=generation.video.name,
            poster=generation.poster.name,
            video_bytes=size,
            video_duration=info.duration,
            video_width=info.width,
            video_height=info.height,
            video_fps=info.fps,
            video_has_audio=info.has_audio,
            result_claimed_until=None,
        )
    except IllegalTransition:
        # It ended some other way meanwhile (e.g. an admin stopped it): keep no orphan files.
        generation.video.delete(save=False)
        generation.poster.delete(save=False)
        return Generation.objects.get(pk=generation.id)


def _download_seconds() -> float:
    """STUDIO_RESULT_DOWNLOAD_SECONDS, but ending before the cluster's task timeout would kill
    the task (the fetcher's own cap says why; a killed task says nothing)."""
    timeout = float(settings.Q_CLUSTER.get("timeout") or 0)
    cap = float(settings.STUDIO_RESULT_DOWNLOAD_SECONDS)
    return min(cap, max(10.0, timeout - 20.0)) if timeout else cap


def _remove_leftovers(generation: Generation) -> None:
    """Delete what an earlier attempt wrote before its worker died, so this one stores under
    the same names (never `<id>_x7Yz.mp4` beside an orphan). The claim makes this the only writer."""
    for file, name in (
        (generation.video, f"{generation.id}.mp4"),
        (generation.poster, f"{generation.id}.jpg"),
    ):
        target = file.field.generate_filename(generation, name)
        if file.storage.exists(target):
            file.storage.delete(target)
            logger.info(
                "result of %s: removed %s left by an earlier attempt", generation.id, target
            )


def _failed_attempt(generation: Generation, reason: str, *, permanent: bool) -> Generation | None:
    attempts = Generation.objects.values_list("result_attempts", flat=True).get(pk=generation.id)
    if permanent or attempts >= MAX_ATTEMPTS:
        logger.warning("result of %s could not be stored: %s", generation.id, reason)
        try:
            return generation_fail(
                generation_id=generation.id,
                kind=Generation.ErrorKind.DOWNLOAD,
                message=f"The finished video could not be copied into the studio: {reason}",
            )
        except IllegalTransition:
            return None
    # Try again later: release the claim after a back-off; the tracker enqueues the retry.
    delay = timedelta(seconds=min(60.0, settings.STUDIO_RESULT_RETRY_SECONDS * 2**attempts))
    Generation.objects.filter(pk=generation.id).update(
        result_claimed_until=timezone.now() + delay, dispatch_requested_at=None
    )
    logger.info("result of %s: attempt %s failed (%s); retrying", generation.id, attempts, reason)
    return None
