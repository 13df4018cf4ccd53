"""Downloading from the gallery: one video from its card, several as one streamed zip."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

VIDEO_BYTES = 2 * 1024 * 1024


def _with_big_video(owner, prompt: str) -> Generation:
    """A finished generation whose stored video is VIDEO_BYTES of its own (not shared)."""
    generation = make_generation(owner=owner, prompt=prompt)
    name = default_storage.save(
        f"tests/zip/{generation.id}.mp4", ContentFile(os.urandom(VIDEO_BYTES))
    )
    Generation.objects.filter(pk=generation.id).update(video=name)
    return Generation.objects.get(pk=generation.id)


def _download(client, generations, **extra):
    return client.post(
        "/gallery/bulk/",
        {"action": "download", "ids": [str(g.id) for g in generations], **extra},
    )


def test_a_finished_card_has_a_download_link(signed_in, user):
    done = make_generation(owner=user)
    failed = make_generation(owner=user, state="failed")
    card = signed_in.get(f"/generations/{done.id}/card/").content.decode()
    assert f'href="/generations/{done.id}/video/?download=1"' in card
    response = signed_in.get(f"/generations/{done.id}/video/?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "card-download" not in signed_in.get(f"/generations/{failed.id}/card/").content.decode()


def test_selected_videos_come_as_one_zip_with_every_video_whole(signed_in, user, other_user):
    mine = [_with_big_video(user, f"A fox number {n}") for n in range(3)]
    unfinished = make_generation(owner=user, state="running")
    someone_elses = make_generation(owner=other_user)

    response = _download(signed_in, [*mine, unfinished, someone_elses])

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="studio-videos-')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == 3 and all(name.startswith("a-fox-number-") for name in names)
    for generation in mine:
        inside = next(name for name in names if generation.id.hex[:8] in name)
        with default_storage.open(generation.video.name, "rb") as stored:
            assert archive.read(inside) == stored.read()


def test_nothing_ready_says_so_instead_of_an_empty_zip(signed_in, user):
    running = make_generation(owner=user, state="running")
    response = _download(signed_in, [running], next="/gallery/")
    assert response.status_code == 302
    page = signed_in.get("/gallery/").content.decode()
    assert "None of the selected videos is ready to download." in page


def _peak_while_reading(client, generations) -> tuple[int, int]:
    response = _download(client, generations)
    assert response.status_code == 200
    tracemalloc.start()
    try:
        sent = 0
        for part in response.streaming_content:
            sent += len(part)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return sent, peak


def test_the_zip_is_streamed_memory_does_not_grow_with_the_number_of_videos(signed_in, user):
    few = [_with_big_video(user, f"few {n}") for n in range(2)]
    many = [_with_big_video(user, f"many {n}") for n in range(8)]

    sent_few, peak_few = _peak_while_reading(signed_in, few)
    sent_many, peak_many = _peak_while_reading(signed_in, many)

    assert sent_few > 2 * VIDEO_BYTES and sent_many > 8 * VIDEO_BYTES
    # Four times the videos, four times the bytes sent: the same memory, well under one video.
    assert peak_many < VIDEO_BYTES and peak_few < VIDEO_BYTES
    assert peak_many < peak_few * 1.5 + 256 * 1024
