"""No file in storage without a row that names it, even when a worker dies between the two.

A video is written to storage before its generation turns `succeeded`; an upload is written
before its `Reference` row is saved. A worker killed in between leaves a file behind: the next
attempt at storing the video replaces it under the same name, and the hourly clean-up removes
whatever no row will ever name. The soak (bench/soak.py, tests/reliability/test_soak.py) checks
the same with real kills.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from generations.fetcher import FetchResult
from generations.models import Generation
from generations.orphans import media_orphans_prune
from generations.results import generation_store_result
from generations.services import generation_transition
from generations.tasks import references_prune_task
from simulator.render import RenderRequest, render_video
from tests.factories import image_bytes, make_finished_generation, make_user
from tests.generations.test_lifecycle import _create

pytestmark = pytest.mark.django_db


def files_on_disk() -> set[str]:
    root = Path(default_storage.location)
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def names_in_rows() -> set[str]:
    from generations.models import Reference

    names = set(Reference.objects.values_list("file", flat=True))
    for video, poster in Generation.objects.values_list("video", "poster"):
        names |= {name for name in (video, poster) if name}
    return names


class VideoFetcher:
    """Hands over a real small MP4, as the provider's result URL would."""

    video = render_video(
        image_bytes(), RenderRequest(duration=1, short_side=720, seed=1, fast=True)
    )

    def fetch(self, url, dest, **limits):
        dest.write(self.video)
        return FetchResult(url=url, content_type="video/mp4", size=len(self.video), redirects=0)


def _finished_at_provider(owner) -> Generation:
    generation = _create(owner)
    for state in (Generation.State.SUBMITTING, Generation.State.QUEUED, Generation.State.RUNNING):
        generation_transition(generation_id=generation.pk, to=state)
    Generation.objects.filter(pk=generation.pk).update(result_url="http://provider.test/v.mp4")
    return Generation.objects.get(pk=generation.pk)


def _leave_files_like_a_killed_attempt(generation: Generation) -> list[str]:
    """What a storing task killed after writing, before its transition committed, leaves."""
    written = [
        default_storage.save(
            generation.video.field.generate_filename(generation, f"{generation.id}.mp4"),
            ContentFile(VideoFetcher.video[:1000]),  # cut short by the kill
        ),
        default_storage.save(
            generation.poster.field.generate_filename(generation, f"{generation.id}.jpg"),
            ContentFile(b"partial"),
        ),
    ]
    Generation.objects.filter(pk=generation.pk).update(result_claimed_until=None)
    return written


def test_a_store_after_a_killed_one_replaces_its_files_under_the_same_names(user):
    generation = _finished_at_provider(user)
    left = _leave_files_like_a_killed_attempt(generation)

    stored = generation_store_result(generation_id=generation.pk, fetcher=VideoFetcher())

    assert stored.state == Generation.State.SUCCEEDED
    assert sorted([stored.video.name, stored.poster.name]) == sorted(left)
    assert default_storage.size(stored.video.name) == len(VideoFetcher.video)  # not the stub
    assert files_on_disk() <= names_in_rows()


def test_files_of_a_generation_that_ended_without_them_are_removed_hourly(user):
    generation = _finished_at_provider(user)
    left = _leave_files_like_a_killed_attempt(generation)
    # It then failed another way (its deadline passed before another attempt).
    generation_transition(generation_id=generation.pk, to=Generation.State.EXPIRED)
    assert set(left) <= files_on_disk()

    removed = media_orphans_prune()

    assert sorted(removed) == sorted(left)
    assert files_on_disk() <= names_in_rows()


def test_the_clean_up_keeps_every_file_a_row_names_or_a_running_store_may_still_name(user):
    finished = make_finished_generation(owner=user)
    storing = _finished_at_provider(user)
    in_progress = _leave_files_like_a_killed_attempt(storing)  # it may be mid-write right now
    unused_upload = _create(user).reference  # an upload: its row names it
    keep = {finished.video.name, finished.poster.name, unused_upload.file.name, *in_progress}
    other = default_storage.save("exports/report.csv", ContentFile(b"not the studio's"))

    assert media_orphans_prune() == []
    assert keep | {other} <= files_on_disk()


def test_a_file_another_generation_still_names_is_kept(user):
    """Seeded demo data shares one video between many generations; purging a deleted one
    empties its own fields but keeps the file the others name."""
    first = make_finished_generation(owner=user)
    second = make_finished_generation(owner=user)
    Generation.objects.filter(pk=second.pk).update(video=first.video.name)
    Generation.objects.filter(pk=first.pk).update(video="", poster="")  # as the purge leaves it

    removed = media_orphans_prune()

    assert first.video.name not in removed and first.video.name in files_on_disk()
    # Named by nobody now: the first's poster, and the video the second used to have.
    assert sorted(removed) == sorted([first.poster.name, second.video.name])


def test_files_whose_rows_are_gone_are_removed_references_after_a_grace(user):
    gone = make_finished_generation(owner=user)
    names = [gone.video.name, gone.poster.name]
    Generation.objects.filter(pk=gone.pk).delete()  # e.g. its account was deleted
    old_upload = default_storage.save(f"references/{user.pk}/ab/abc.png", ContentFile(b"x"))
    hour_ago = (timezone.now() - timedelta(hours=2)).timestamp()
    os.utime(default_storage.path(old_upload), (hour_ago, hour_ago))
    fresh_upload = default_storage.save(f"references/{user.pk}/cd/cde.png", ContentFile(b"y"))

    removed = media_orphans_prune()

    # A fresh upload without a row may belong to a request still saving it: it waits an hour.
    assert sorted(removed) == sorted([*names, old_upload])
    assert fresh_upload in files_on_disk()
    assert not set(removed) & files_on_disk()


def test_the_hourly_schedule_runs_the_clean_up(user):
    generation = _finished_at_provider(user)
    _leave_files_like_a_killed_attempt(generation)
    generation_transition(generation_id=generation.pk, to=Generation.State.EXPIRED)

    assert references_prune_task() == 2
    assert files_on_disk() <= names_in_rows()


@pytest.fixture(autouse=True)
def _empty_media(settings, tmp_path):
    """Each test sees only its own files."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    default_storage.__dict__.pop("location", None)
    default_storage.__dict__.pop("base_location", None)
    yield


@pytest.fixture
def user(db):
    return make_user(credits=100)
