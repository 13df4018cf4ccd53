"""The signed links providers fetch references from: exactly the stored bytes, to no one else."""

from __future__ import annotations

import time

import httpx
import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile

from generations.forms import UploadCandidate
from generations.services import reference_link, reference_store
from generations.uploads import audio_inspect, image_inspect
from tests.factories import image_upload, make_user, wav_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def studio(settings, live_server):
    settings.STUDIO_PUBLIC_URL = live_server.url
    return live_server


def _store(user, upload, kind):
    inspect = image_inspect if kind == "image" else audio_inspect
    return reference_store(
        owner=user, upload=UploadCandidate(file=upload, info=inspect(upload), kind=kind)
    )


def _stored_bytes(reference) -> bytes:
    with reference.file.open("rb") as handle:
        return handle.read()


def test_a_reference_link_serves_exactly_the_stored_image_to_anyone_holding_it(studio):
    reference = _store(make_user(), image_upload("r.png", size=(320, 180)), "image")
    link = reference_link(reference)

    assert link.startswith(studio.url + "/files/reference/")
    response = httpx.get(link)  # no session: the signature is the only credential

    assert response.status_code == 200
    assert response.content == _stored_bytes(reference)
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "private" in response.headers["cache-control"]
    head = httpx.head(link)
    assert head.status_code == 200 and head.headers["content-length"] == str(reference.size)


def test_a_jpeg_and_an_audio_track_keep_their_own_content_types(studio):
    user = make_user()
    jpeg = _store(user, image_upload("r.jpg", format="JPEG"), "image")
    audio = _store(
        user, SimpleUploadedFile("v.wav", wav_bytes(seconds=3.5), content_type="audio/wav"), "audio"
    )

    for reference, content_type in ((jpeg, "image/jpeg"), (audio, audio.content_type)):
        response = httpx.get(reference_link(reference))
        assert response.status_code == 200
        assert response.content == _stored_bytes(reference)
        assert response.headers["content-type"] == content_type
    assert audio.content_type.startswith("audio/")


def _token(link: str) -> str:
    return link.split("/files/reference/", 1)[1].split("/", 1)[0]


def test_without_a_valid_signature_nothing_is_served(studio):
    user = make_user()
    reference = _store(user, image_upload("a.png"), "image")
    other = _store(user, image_upload("b.png", color=(200, 10, 10)), "image")
    link = reference_link(reference)
    token = _token(link)
    value, signature = token.rsplit(":", 1)
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged_for_other = f"{other.id}:{token.split(':', 1)[1]}"

    refused = {
        "no token": link.replace(token, "x"),
        "unsigned id": link.replace(token, str(reference.id)),
        "tampered signature": link.replace(token, f"{value}:{flipped}"),
        "signature of another file": link.replace(token, forged_for_other),
        "signed as another kind": link.replace("/files/reference/", "/files/result/"),
        "unknown kind": link.replace("/files/reference/", "/files/secret/"),
    }
    for what, url in refused.items():
        response = httpx.get(url)
        assert response.status_code == 404, what
        assert response.content != _stored_bytes(reference), what
    assert httpx.get(link).status_code == 200


def test_a_reference_link_lives_24_hours(studio, monkeypatch):
    reference = _store(make_user(), image_upload(), "image")

    def signed_seconds_ago(seconds: int) -> str:
        with monkeypatch.context() as patch:
            patch.setattr(
                signing.TimestampSigner,
                "timestamp",
                lambda self: signing.b62_encode(int(time.time()) - seconds),
            )
            return reference_link(reference)

    almost_a_day_old = signed_seconds_ago(24 * 3600 - 60)
    over_a_day_old = signed_seconds_ago(24 * 3600 + 60)

    assert httpx.get(almost_a_day_old).status_code == 200
    assert httpx.get(over_a_day_old).status_code == 404


def test_a_link_to_a_deleted_reference_serves_nothing(studio):
    reference = _store(make_user(), image_upload(), "image")
    link = reference_link(reference)
    reference.delete()

    assert httpx.get(link).status_code == 404
