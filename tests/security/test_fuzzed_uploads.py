"""The upload corpus (tests/generations/test_uploads.py) extended by fuzzing: good images and
audio of every accepted kind, cut short at random, with bytes flipped and with headers that
declare huge dimensions (tests/security/fuzzing.py). Each is refused with a reason a person can
read, or accepted — and then it really is a valid file. Never a 500; and validating a whole
fuzzed set stays within a small, fixed amount of memory.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import av
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from generations.catalog import catalog_get
from generations.forms import upload_inspect
from generations.models import Reference
from generations.uploads import IMAGE_MAX_PIXELS, image_inspect, image_prepare
from tests.security.fuzzing import MUTATIONS, mutate, seeds

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")  # fuzzed EXIF
IMAGE_CODES = {
    "empty", "too_large", "not_an_image", "truncated", "damaged", "polyglot", "bomb",
    "too_many_pixels", "too_small", "aspect", "animated",
}  # fmt: skip
AUDIO_CODES = {
    "empty", "too_large", "not_audio", "truncated", "damaged", "unsupported", "doubtful",
    "duration",
}  # fmt: skip
FIELDS = {
    "image": catalog_get("wan2.6-i2v-flash").field("img_url"),
    "audio": catalog_get("wan-2.6-flash").field("audio"),
}

fuzzed = st.builds(
    lambda name, steps, seed: (name, *_fuzz(name, steps, seed)),
    st.sampled_from(sorted(seeds())),
    st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3),
    st.integers(0, 2**32),
)


def _fuzz(name: str, steps: list[str], seed: int) -> tuple[str, bytes]:
    kind, data = seeds()[name]
    return kind, mutate(name, data, steps, random.Random(seed))


def assert_valid_image(data: bytes, info) -> None:
    """What was accepted decodes in full, at the size the studio recorded."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # a full decode, not the reduced one validation may use
        upright = ImageOps.exif_transpose(image)
        assert (upright.width, upright.height) == (info.width, info.height)
    prepared = image_prepare(io.BytesIO(data), info)
    if prepared is not None:  # what a provider will see is itself a valid image
        again = image_inspect(prepared)
        assert (again.width, again.height) == (info.width, info.height)


def assert_valid_audio(data: bytes, info) -> None:
    """What was accepted decodes as sound, about as long as the studio measured. An MP3 frame
    whose bits were flipped may fail to decode on its own; players (and providers) skip such a
    frame, a 26 ms glitch, so a few are tolerated — never a file that does not play."""
    seconds, packets, damaged = 0.0, 0, 0
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio
        for packet in container.demux(container.streams.audio[0]):
            packets += 1
            try:
                seconds += sum(frame.samples / frame.sample_rate for frame in packet.decode())
            except av.error.InvalidDataError:
                damaged += 1
    assert seconds > 0 and abs(seconds - info.duration) < max(0.5, info.duration * 0.1)
    assert damaged <= max(1, packets // 20), (damaged, packets)


@settings(max_examples=500, deadline=None)
@given(fuzzed)
def test_a_fuzzed_file_is_refused_with_a_reason_or_is_a_valid_file(case):
    name, kind, data = case
    upload = SimpleUploadedFile(f"upload.{name}", data)
    try:
        candidate = upload_inspect(FIELDS[kind], upload)
    except ValidationError as error:
        assert error.code in (IMAGE_CODES if kind == "image" else AUDIO_CODES), error.code
        assert error.messages and all(message.endswith(".") for message in error.messages)
        return
    if kind == "image":
        assert_valid_image(data, candidate.info)
    else:
        assert_valid_audio(data, candidate.info)


def test_a_jpeg_declaring_more_picture_than_its_data_can_hold_is_refused_before_decoding():
    """Each 8×8 block costs at least one bit of Huffman-coded data; a header declaring more
    blocks than that is cut short or lying, and is refused as truncated — before libjpeg would
    allocate a progressive picture's coefficients for the declared size."""
    from tests.security.fuzzing import _jpeg_huge

    small = seeds()["jpeg-progressive"][1]  # 320×240
    lying = _jpeg_huge(small, 6000, 6000)
    with pytest.raises(ValidationError) as refused:
        image_inspect(io.BytesIO(lying))
    assert refused.value.code == "truncated"
    # A real picture of that many blocks, as flat as JPEG can make it, is accepted.
    flat = io.BytesIO()
    Image.new("L", (2000, 2000), 0).save(flat, "JPEG", quality=1, optimize=True, progressive=True)
    assert image_inspect(io.BytesIO(flat.getvalue())).width == 2000


@pytest.fixture
def signed_in_client(client, db):
    from tests.factories import make_user

    client.force_login(make_user(credits=10))
    return client


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fuzzed)
def test_a_fuzzed_upload_on_the_create_page_is_answered_never_with_a_server_error(
    signed_in_client, case
):
    name, kind, data = case
    model = "wan2.6-i2v-flash" if kind == "image" else "wan-2.6-flash"
    field = FIELDS[kind].name
    before = Reference.objects.count()
    response = signed_in_client.post(
        "/references/upload/",
        {"model": model, "field": field, field: SimpleUploadedFile(f"f.{name}", data)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:  # stored, and shown as the chosen file
        assert Reference.objects.count() in (before, before + 1)
        assert Reference.objects.filter(kind=kind).exists()
    else:
        assert Reference.objects.count() == before
        assert 'class="errorlist' in response.text or "error" in response.text


def test_validating_a_fuzzed_set_never_costs_more_than_one_picture_at_the_pixel_limit():
    """Peak resident memory of validating (and preparing) 1,000 fuzzed files in a fresh
    process, above what it held before. A header's declared size is checked before anything
    is decoded, so no file costs more than one RGBA bitmap at the pixel limit (WEBP's decoder
    allocates its whole canvas before it finds the data missing, and a WEBP cannot be judged
    from its size: lossless WEBP codes a flat picture in a few bytes). The seed includes such
    a file; without the JPEG check (`uploads._jpeg_layout`), a 6 KB progressive JPEG
    declaring 36 megapixels cost 108 MB before it was judged."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.security.fuzzing", "1000", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["files"] == 1000 and 0 < result["accepted"] < 1000
    bound = IMAGE_MAX_PIXELS * 4 + 32 * 1024 * 1024
    assert result["peak_extra_bytes"] < bound, result
