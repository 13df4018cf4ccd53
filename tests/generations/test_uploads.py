"""Uploads are judged by their content, like a careful provider would, and what a provider
later sees is upright and carries no metadata that locates or identifies people.

Every file here is made by the test itself: a corpus of bad images and audio, each with the
message a person gets, and good files whose stored form is checked.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopFutureHandlers
from django.utils import timezone
from PIL import Image

from generations.catalog import catalog_get
from generations.forms import upload_inspect
from generations.models import Generation, Reference
from generations.services import generation_create, reference_store, references_prune
from generations.uploads import (
    LimitedUploadHandler,
    OversizeUpload,
    audio_inspect,
    image_inspect,
)
from tests.factories import image_bytes, image_upload

MB = 1024 * 1024


# --- Files made here ----------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 20000) -> bytes:
    """A few hundred bytes declaring side × side grey pixels (400 megapixels)."""
    rows = zlib.compress(b"\x00" * (side + 1) * 16, 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def webp_bomb() -> bytes:
    """A real small WEBP whose extended header claims a 16383 × 16383 canvas."""
    exif = Image.Exif()
    exif[0x010F] = "x"
    data = bytearray(image_bytes(format="WEBP", exif=exif.tobytes()))
    assert data[12:16] == b"VP8X"
    data[24:27] = (16382).to_bytes(3, "little")
    data[27:30] = (16382).to_bytes(3, "little")
    return bytes(data)


def frames(image_format: str, **save) -> bytes:
    buffer = io.BytesIO()
    first = Image.new("RGB", (200, 150), (10, 20, 30))
    second = Image.new("RGB", (200, 150), (200, 20, 30))
    first.save(buffer, image_format, save_all=True, append_images=[second], **save)
    return buffer.getvalue()


def png_with_bad_checksum() -> bytes:
    data = bytearray(image_bytes(format="PNG"))
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF
    return bytes(data)


def jpeg_with_broken_tables() -> bytes:
    data = bytearray(image_bytes(format="JPEG"))
    dht = data.index(b"\xff\xc4")
    data[dht + 4] = 0x7F  # no such Huffman table class
    return bytes(data)


def wav(*, seconds: float = 4.0, format_tag: int = 1) -> bytes:
    rate = 8000
    samples = b"\x00\x00" * int(seconds * rate)
    fmt = struct.pack("<HHIIHH", format_tag, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


MP3_FRAME = b"\xff\xfb\x90\x00" + b"\x00" * 413  # MPEG-1 layer III, 128 kb/s, 44.1 kHz


def mp3(*, seconds: float = 4.0) -> bytes:
    return MP3_FRAME * (int(seconds * 44100 / 1152) + 1)


def text(content: str) -> bytes:
    return content.encode()


# (what it is, its name, its bytes, the message a person reads)
BAD_IMAGES: list[tuple[str, str, Callable[[], bytes], str]] = [
    ("zero bytes", "empty.png", lambda: b"", "The file is empty."),
    (
        "plain text",
        "notes.png",
        lambda: text("just some words"),
        "This file is not a JPEG, PNG, BMP or WEBP image.",
    ),
    (
        "a GIF",
        "anim.gif",
        lambda: image_bytes(format="GIF"),
        "This file is a GIF image; only JPEG, PNG, BMP or WEBP images are accepted.",
    ),
    (
        "a TIFF",
        "scan.jpg",
        lambda: image_bytes(format="TIFF"),
        "This file is a TIFF image; only JPEG, PNG, BMP or WEBP images are accepted.",
    ),
    (
        "an SVG named like a PNG",
        "logo.png",
        lambda: text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        "This file is an SVG drawing; only JPEG, PNG, BMP or WEBP images are accepted.",
    ),
    (
        "a web page named like a JPEG",
        "photo.jpg",
        lambda: text("<!doctype html><html><body>hi</body></html>"),
        "This file is a web page or XML document; only JPEG, PNG, BMP or WEBP images are accepted.",
    ),
    (
        "a PDF named like a JPEG",
        "photo.jpg",
        lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        "This file is a PDF document; only JPEG, PNG, BMP or WEBP images are accepted.",
    ),
    (
        "a truncated PNG",
        "cut.png",
        lambda: image_bytes(format="PNG")[:-40],
        "The image is truncated: the file ends before the picture does.",
    ),
    (
        "a truncated JPEG",
        "cut.jpg",
        lambda: image_bytes(format="JPEG", size=(800, 600))[:-500],
        "The image is truncated: the file ends before the picture does.",
    ),
    (
        "a truncated WEBP",
        "cut.webp",
        lambda: image_bytes(format="WEBP", size=(800, 600))[:-100],
        "The image is truncated: the file ends before the picture does.",
    ),
    (
        "a truncated BMP",
        "cut.bmp",
        lambda: image_bytes(format="BMP")[:-100],
        "The image is truncated: the file ends before the picture does.",
    ),
    (
        "a PNG failing its checksum",
        "bits.png",
        png_with_bad_checksum,
        "The image is damaged: its 'IDAT' block fails its checksum.",
    ),
    (
        "a JPEG with broken tables",
        "bits.jpg",
        jpeg_with_broken_tables,
        "The image is damaged and cannot be read.",
    ),
    (
        "a PNG decompression bomb",
        "bomb.png",
        png_bomb,
        "The image claims 20000×20000 pixels from a file of only",
    ),
    (
        "a WEBP claiming a huge canvas",
        "bomb.webp",
        webp_bomb,
        "The image claims 16383×16383 pixels from a file of only",
    ),
    (
        "absurd dimensions",
        "strip.png",
        lambda: image_bytes(format="PNG", size=(9000, 1000)),
        "The image is 9000×1000 pixels; at most 8192 pixels a side and 40 megapixels are accepted.",
    ),
    (
        "an absurd aspect ratio",
        "ribbon.png",
        lambda: image_bytes(format="PNG", size=(2000, 100)),
        "The image is 2000×100 pixels; one side may be at most 10 times the other.",
    ),
    (
        "a tiny image",
        "icon.png",
        lambda: image_bytes(format="PNG", size=(16, 16)),
        "The image is 16×16 pixels; it needs at least 64 pixels a side.",
    ),
    (
        "an animated PNG",
        "anim.png",
        lambda: frames("PNG"),
        "Animated or multi-frame images are not accepted; use a single still image.",
    ),
    (
        "an animated WEBP",
        "anim.webp",
        lambda: frames("WEBP"),
        "Animated or multi-frame images are not accepted; use a single still image.",
    ),
    (
        "a multi-picture JPEG (MPO)",
        "stereo.jpg",
        lambda: frames("MPO"),
        "Animated or multi-frame images are not accepted; use a single still image.",
    ),
    (
        "a PNG with a ZIP after it (polyglot)",
        "innocent.png",
        lambda: image_bytes(format="PNG") + b"PK\x03\x04" + b"payload" * 10,
        "The file carries 74 bytes of other data after the end of the picture",
    ),
    (
        "a JPEG with a web page after it (polyglot)",
        "innocent.jpg",
        lambda: image_bytes(format="JPEG") + b"<html><script>alert(1)</script></html>",
        "The file carries 38 bytes of other data after the end of the picture",
    ),
]

BAD_AUDIO: list[tuple[str, str, Callable[[], bytes], str]] = [
    ("zero bytes", "empty.wav", lambda: b"", "The file is empty."),
    (
        "plain text",
        "song.mp3",
        lambda: text("la la la"),
        "This file is not a WAV or MP3 audio file.",
    ),
    (
        "an Ogg file",
        "song.mp3",
        lambda: b"OggS" + b"\x00" * 2000,
        "This file is an Ogg file; only WAV or MP3 audio is accepted.",
    ),
    (
        "an image",
        "song.wav",
        lambda: image_bytes(format="PNG"),
        "This file is a PNG image; only WAV or MP3 audio is accepted.",
    ),
    (
        "AAC in ADTS frames",
        "song.mp3",
        lambda: b"\xff\xf1\x50\x80" + b"\x00" * 3000,
        "This file is AAC audio (ADTS); only WAV or MP3 audio is accepted.",
    ),
    (
        "a WAV of 2 s",
        "short.wav",
        lambda: wav(seconds=2),
        "The audio lasts 2.0 s; it must last between 3 and 30 seconds.",
    ),
    (
        "a WAV of 31 s",
        "long.wav",
        lambda: wav(seconds=31),
        "The audio lasts 31.0 s; it must last between 3 and 30 seconds.",
    ),
    (
        "a truncated WAV",
        "cut.wav",
        lambda: wav(seconds=5)[:-4000],
        "The WAV file is truncated: it ends before its sound does.",
    ),
    (
        "a compressed (A-law) WAV",
        "phone.wav",
        lambda: wav(format_tag=6),
        "This WAV file holds compressed audio (format 0x0006); use plain PCM WAV or MP3.",
    ),
    (
        "a doubtful MP3 (three frames, then nothing)",
        "fake.mp3",
        lambda: MP3_FRAME * 3 + b"\x00" * 20000,
        "This does not look like a real MP3 file: its audio frames are doubtful.",
    ),
    (
        "an MP3 with no frames after its tag",
        "tagged.mp3",
        lambda: b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40,
        "The MP3 file is damaged: no MPEG audio frames could be found.",
    ),
    (
        "an MP3 of 1 s",
        "blip.mp3",
        lambda: mp3(seconds=1),
        "The audio lasts 1.0 s; it must last between 3 and 30 seconds.",
    ),
    (
        "an MP3 of 40 s",
        "podcast.mp3",
        lambda: mp3(seconds=40),
        # mutagen measures a constant-bitrate file by its size: 1,532 frames of 417 bytes.
        "The audio lasts 39.9 s; it must last between 3 and 30 seconds.",
    ),
]


def test_the_corpus_is_large_enough():
    assert len(BAD_IMAGES) + len(BAD_AUDIO) + len(OVERSIZE) >= 20


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [(name, make, message) for _, name, make, message in BAD_IMAGES],
    ids=[what for what, *_ in BAD_IMAGES],
)
def test_a_bad_image_is_refused_with_its_reason(name, data, message):
    upload = SimpleUploadedFile(name, data(), content_type="image/png")
    with pytest.raises(ValidationError) as excinfo:
        upload_inspect(catalog_get("wan2.6-i2v-flash").field("img_url"), upload)
    assert excinfo.value.messages[0].startswith(message)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [(name, make, message) for _, name, make, message in BAD_AUDIO],
    ids=[what for what, *_ in BAD_AUDIO],
)
def test_a_bad_audio_file_is_refused_with_its_reason(name, data, message):
    upload = SimpleUploadedFile(name, data(), content_type="audio/mpeg")
    with pytest.raises(ValidationError) as excinfo:
        upload_inspect(catalog_get("wan-2.6-flash").field("audio"), upload)
    assert excinfo.value.messages == [message]


# --- Oversize files: the upload handler stops storing, the page still answers -------------

OVERSIZE = [
    ("img_url", "wan2.6-i2v-flash", 20 * MB + 1, "The image is larger than 20 MB (20.0 MB)."),
    ("audio", "wan-2.6-flash", 15 * MB + 1, "The audio file is larger than 15 MB (15.0 MB)."),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "model", "size", "message"), OVERSIZE)
def test_an_oversize_upload_gets_its_fields_message(signed_in, field, model, size, message):
    # Valid bytes up front, so only the size can be the reason.
    head = image_bytes(format="BMP") if field == "img_url" else wav(seconds=4)
    upload = SimpleUploadedFile("big.bin", head + b"\x00" * (size - len(head)))
    response = signed_in.post(
        "/references/upload/", {"model": model, "field": field, field: upload}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Reference.objects.exists()


@pytest.mark.django_db
def test_an_oversize_image_on_the_page_keeps_everything_else(signed_in):
    big = SimpleUploadedFile("big.png", image_bytes(format="PNG") + b"\x00" * (21 * MB))
    page = signed_in.post(
        "/",
        {
            "model": "wan2.6-i2v-flash",
            "current_model": "wan2.6-i2v-flash",
            "img_url": big,
            "prompt": "Keep me",
            "duration": "9",
        },
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "The image is larger than 20 MB (21.0 MB)." in html
    assert "Keep me" in html and 'value="9"' in html
    assert not Generation.objects.exists()


def test_the_upload_handler_keeps_no_byte_past_the_limit():
    handler = LimitedUploadHandler()
    handler.handle_raw_input(None, {}, 64 * MB, b"boundary")
    with pytest.raises(StopFutureHandlers):
        handler.new_file("img_url", "big.png", "image/png", None)
    temporary = handler.file
    path = temporary.temporary_file_path()
    chunk = b"\x00" * (64 * 1024)
    largest = 0
    for start in range(0, 25 * MB, len(chunk)):
        handler.receive_data_chunk(chunk, start)
        largest = max(largest, os.path.getsize(path) if os.path.exists(path) else 0)
    assert 0 < largest <= 20 * MB
    assert not os.path.exists(path)  # dropped as soon as it went past the limit
    result = handler.file_complete(25 * MB)
    assert isinstance(result, OversizeUpload)
    assert (result.size, result.limit, result.name) == (25 * MB, 20 * MB, "big.png")


def test_a_file_within_the_limit_is_streamed_to_a_temporary_file():
    handler = LimitedUploadHandler()
    handler.handle_raw_input(None, {}, 2 * MB, b"boundary")
    with pytest.raises(StopFutureHandlers):
        handler.new_file("audio", "a.wav", "audio/wav", None)
    data = wav(seconds=4)
    handler.receive_data_chunk(data, 0)
    result = handler.file_complete(len(data))
    assert os.path.exists(result.temporary_file_path())
    assert result.size == len(data) and result.read() == data
    result.close()


# --- Good files and what is stored of them -------------------------------------------------


def _inspect_bytes(data: bytes):
    return image_inspect(io.BytesIO(data))


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "BMP", "WEBP"])
def test_each_accepted_format_passes_with_its_size(image_format):
    info = _inspect_bytes(image_bytes(format=image_format, size=(640, 360)))
    assert (info.format, info.width, info.height) == (image_format, 640, 360)


def test_a_progressive_jpeg_passes():
    info = _inspect_bytes(image_bytes(format="JPEG", progressive=True, size=(640, 360)))
    assert (info.format, info.width) == ("JPEG", 640)


def test_zero_padding_after_a_picture_is_accepted_and_cut():
    data = image_bytes(format="PNG") + b"\x00" * 512
    info = _inspect_bytes(data)
    assert (info.size, info.end) == (len(data), len(data) - 512)


@pytest.mark.parametrize(("seconds", "maker"), [(3, wav), (30, wav), (4, mp3), (25, mp3)])
def test_audio_within_3_to_30_seconds_is_measured(seconds, maker):
    info = audio_inspect(io.BytesIO(maker(seconds=seconds)))
    assert abs(info.duration - seconds) < 0.1


def _stored(user, upload: SimpleUploadedFile) -> Reference:
    spec = catalog_get("wan2.6-i2v-flash").field("img_url")
    return reference_store(owner=user, upload=upload_inspect(spec, upload))


def _private_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # maker
    exif[0x0110] = "EOS R5"  # model
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPS
    exif[0x8769] = {0x927C: b"maker-notes: serial 1234567"}  # Exif IFD: maker notes
    return exif.tobytes()


@pytest.mark.django_db
def test_gps_and_maker_notes_are_removed_without_touching_the_pixels(user):
    original = image_bytes(format="JPEG", size=(640, 480), exif=_private_exif(), quality=90)
    assert b"maker-notes" in original
    reference = _stored(user, SimpleUploadedFile("p.jpg", original))
    stored = reference.file.open("rb").read()
    assert b"maker-notes" not in stored and b"Canon" not in stored and b"Exif" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif()
        assert (
            image.tobytes() == Image.open(io.BytesIO(original)).tobytes()
        )  # lossless: segments dropped, not re-encoded
    assert reference.size == len(stored) < len(original)


@pytest.mark.django_db
def test_the_exif_orientation_is_applied_before_a_provider_sees_the_image(user):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0)}
    original = image_bytes(format="JPEG", size=(640, 480), exif=exif.tobytes())
    reference = _stored(user, SimpleUploadedFile("phone.jpg", original))
    assert (reference.width, reference.height) == (480, 640)
    with Image.open(reference.file.open("rb")) as image:
        assert image.size == (480, 640)
        assert not image.getexif()


@pytest.mark.django_db
def test_png_text_and_exif_chunks_are_removed(user):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Doe, 12 Home Street")
    image = Image.new("RGB", (320, 240), (1, 2, 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info, exif=_private_exif())
    reference = _stored(user, SimpleUploadedFile("p.png", buffer.getvalue()))
    stored = reference.file.open("rb").read()
    assert b"Jane Doe" not in stored and b"eXIf" not in stored and b"Canon" not in stored
    with Image.open(io.BytesIO(stored)) as again:
        assert again.tobytes() == image.tobytes()


@pytest.mark.django_db
def test_webp_exif_is_removed_and_its_header_kept_consistent(user):
    original = image_bytes(format="WEBP", exif=_private_exif())
    reference = _stored(user, SimpleUploadedFile("p.webp", original))
    stored = reference.file.open("rb").read()
    assert b"Canon" not in stored and b"EXIF" not in stored
    assert struct.unpack("<I", stored[4:8])[0] + 8 == len(stored)
    with Image.open(io.BytesIO(stored)) as image:
        image.load()
        assert not image.getexif()


@pytest.mark.django_db
def test_a_name_that_disagrees_with_the_content_is_corrected(user):
    reference = _stored(user, image_upload(name="holiday.png", format="JPEG"))
    assert reference.original_name == "holiday.jpg"
    assert reference.content_type == "image/jpeg"
    assert reference.file.name.endswith(".jpg")
    kept = _stored(user, image_upload(name="scan.JPEG", format="JPEG", color=(1, 1, 1)))
    assert kept.original_name == "scan.JPEG"


@pytest.mark.django_db
def test_the_same_content_is_stored_once_per_owner(user, other_user):
    first = _stored(user, image_upload(name="a.png"))
    again = _stored(user, image_upload(name="b.png"))
    theirs = _stored(other_user, image_upload(name="a.png"))
    assert first.pk == again.pk != theirs.pk
    assert Reference.objects.filter(owner=user).count() == 1


# --- Unused uploads go after a day -----------------------------------------------------------


@pytest.mark.django_db
def test_uploads_no_generation_used_are_removed_after_a_day(user):
    old_unused = _stored(user, image_upload(color=(1, 2, 3)))
    old_used = _stored(user, image_upload(color=(4, 5, 6)))
    fresh_unused = _stored(user, image_upload(color=(7, 8, 9)))
    generation_create(
        user=user,
        model=catalog_get("wan2.6-i2v-flash"),
        values={"prompt": "x", "resolution": "720P", "duration": 5, "audio": False},
        references={"img_url": old_used},
    )
    day_ago = timezone.now() - timedelta(days=1, minutes=1)
    Reference.objects.filter(pk__in=[old_unused.pk, old_used.pk]).update(created_at=day_ago)
    path = old_unused.file.path
    assert os.path.exists(path)

    assert references_prune() == 1

    assert set(Reference.objects.values_list("pk", flat=True)) == {old_used.pk, fresh_unused.pk}
    assert not os.path.exists(path)


@pytest.mark.django_db
def test_the_removal_runs_on_a_schedule():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="generations.tasks.references_prune_task")
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.HOURLY, -1)
