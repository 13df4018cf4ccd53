"""The generation page's media: HTTP Range on the video (seeking), posters and downloads."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from tests.factories import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(user):
    return make_generation(owner=user)


@pytest.fixture
def data(finished) -> bytes:
    with default_storage.open(finished.video.name, "rb") as handle:
        return handle.read()


def video(client, generation, **headers):
    return client.get(f"/generations/{generation.id}/video/", headers=headers)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_without_range_the_whole_video_comes_with_its_length(signed_in, finished, data):
    response = video(signed_in, finished)
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(data))
    assert body(response) == data
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, None),
        ("bytes=-100", None, 100),
        ("bytes=0-", 0, None),
        ("bytes=10-10", 10, 10),
    ],
)
def test_a_range_answers_206_with_exactly_those_bytes(
    signed_in, finished, data, header, first, last
):
    size = len(data)
    if first is None:  # a suffix: the last N bytes
        start, end = size - last, size - 1
    else:
        start, end = first, size - 1 if last is None else last
    response = video(signed_in, finished, Range=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert response["Content-Length"] == str(end - start + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert body(response) == data[start : end + 1]


def test_a_range_past_the_end_is_cut_to_the_file(signed_in, finished, data):
    size = len(data)
    response = video(signed_in, finished, Range=f"bytes={size - 10}-{size + 5000}")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert body(response) == data[-10:]
    suffix = video(signed_in, finished, Range=f"bytes=-{size * 3}")
    assert suffix.status_code == 206 and body(suffix) == data


@pytest.mark.parametrize(
    "header", ["bytes={size}-", "bytes={size}-{more}", "bytes=-0", "bytes=9-3"]
)
def test_an_unsatisfiable_range_answers_416_with_the_size(signed_in, finished, data, header):
    size = len(data)
    response = video(signed_in, finished, Range=header.format(size=size, more=size + 10))
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-10", "bytes=abc", "bytes=-"])
def test_a_range_the_server_does_not_serve_gets_the_whole_file(signed_in, finished, data, header):
    response = video(signed_in, finished, Range=header)
    assert response.status_code == 200
    assert body(response) == data


def test_seeking_reads_the_file_piece_by_piece(signed_in, finished, data):
    pieces, position = [], 0
    while position < len(data):
        response = video(signed_in, finished, Range=f"bytes={position}-{position + 4095}")
        assert response.status_code == 206
        pieces.append(body(response))
        position += 4096
    assert b"".join(pieces) == data


def test_head_answers_like_get_without_the_bytes(signed_in, finished, data):
    response = signed_in.head(f"/generations/{finished.id}/video/")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(data))


def test_the_download_link_names_the_file(signed_in, finished, data):
    response = signed_in.get(f"/generations/{finished.id}/video/?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="studio-{finished.id}.mp4"'
    assert body(response) == data
    ranged = signed_in.get(
        f"/generations/{finished.id}/video/?download=1", headers={"Range": "bytes=0-9"}
    )
    assert ranged.status_code == 206 and "attachment" in ranged["Content-Disposition"]


def test_the_poster_is_a_jpeg(signed_in, finished):
    response = signed_in.get(f"/generations/{finished.id}/poster/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert body(response)[:3] == b"\xff\xd8\xff"


def test_media_of_an_unfinished_generation_is_not_found(signed_in, user):
    running = make_generation(owner=user, state="running")
    assert signed_in.get(f"/generations/{running.id}/video/").status_code == 404
    assert signed_in.get(f"/generations/{running.id}/poster/").status_code == 404


def test_media_needs_a_signed_in_viewer(client, finished):
    response = client.get(f"/generations/{finished.id}/video/", headers={"Range": "bytes=0-9"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
