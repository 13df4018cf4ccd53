"""Fuzzed reference files: good images and audio of every accepted kind, cut short at random,
with bytes flipped, and with headers that declare huge dimensions (checksums fixed where the
format has them, as a deliberate attacker would).

Shared by the property tests (`test_fuzzed_uploads.py`) and the memory measurement that runs
in a fresh process (`python -m tests.security.fuzzing`, printing the peak memory as JSON).
"""

from __future__ import annotations

import io
import json
import math
import random
import struct
import sys
import wave
import zlib
from functools import cache

from PIL import Image

# --- Good files, one of each kind ---------------------------------------------------------


def _picture(size=(320, 240)) -> Image.Image:
    image = Image.new("RGB", size, (40, 120, 200))
    for x in range(0, size[0], 20):
        image.paste((x % 255, 80, 255 - x % 255), (x, 0, x + 6, size[1]))
    return image


def _saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _wav(seconds: float = 4.0, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(
            b"".join(
                struct.pack("<h", int(6000 * math.sin(i / 5))) for i in range(int(seconds * rate))
            )
        )
    return buffer.getvalue()


def _mp3(seconds: float = 4.0) -> bytes:
    frame = b"\xff\xfb\x90\x00" + bytes(413)  # MPEG-1 layer III, 128 kb/s, 44.1 kHz
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + frame * (int(seconds * 44100 / 1152) + 1)


@cache
def seeds() -> dict[str, tuple[str, bytes]]:
    """name: (kind, bytes) — every accepted format, as a person would upload it."""
    picture = _picture()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the studio re-encodes it upright
    exif[0x010F] = "Camera maker"
    return {
        "jpeg": ("image", _saved(picture, "JPEG", quality=85)),
        "jpeg-progressive": ("image", _saved(picture, "JPEG", progressive=True)),
        "jpeg-exif-rotated": ("image", _saved(picture, "JPEG", exif=exif.tobytes())),
        "png": ("image", _saved(picture, "PNG")),
        "png-rgba": ("image", _saved(picture.convert("RGBA"), "PNG")),
        "bmp": ("image", _saved(picture, "BMP")),
        "webp-lossy": ("image", _saved(picture, "WEBP", quality=80)),
        "webp-lossless": ("image", _saved(picture, "WEBP", lossless=True)),
        "webp-exif": ("image", _saved(picture, "WEBP", exif=exif.tobytes())),
        "wav": ("audio", _wav()),
        "mp3": ("audio", _mp3()),
    }


# --- Mutations ----------------------------------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, len(data))]


def flip(data: bytes, rng: random.Random, count: int | None = None) -> bytes:
    mutable = bytearray(data)
    for _ in range(count or rng.randint(1, 8)):
        at = rng.randrange(len(mutable))
        mutable[at] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
    return bytes(mutable)


HUGE = [65535, 30000, 16383, 8192, 8191, 6000, 1, 0]


def _png_huge(data: bytes, width: int, height: int) -> bytes:
    mutable = bytearray(data)
    mutable[16:24] = struct.pack(">II", width, height)
    mutable[29:33] = struct.pack(">I", zlib.crc32(bytes(mutable[12:29])))  # a valid IHDR again
    return bytes(mutable)


def _jpeg_huge(data: bytes, width: int, height: int) -> bytes:
    mutable = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = mutable.find(marker)
        if at != -1:
            mutable[at + 5 : at + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
    return bytes(mutable)


def _bmp_huge(data: bytes, width: int, height: int) -> bytes:
    mutable = bytearray(data)
    mutable[18:26] = struct.pack("<ii", width, height)
    return bytes(mutable)


def _webp_huge(data: bytes, width: int, height: int) -> bytes:
    mutable = bytearray(data)
    kind = bytes(mutable[12:16])
    if kind == b"VP8X":
        mutable[24:27] = (max(width, 1) - 1).to_bytes(3, "little")
        mutable[27:30] = (max(height, 1) - 1).to_bytes(3, "little")
    elif kind == b"VP8 ":
        mutable[26:30] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    elif kind == b"VP8L":
        bits = ((max(width, 1) - 1) & 0x3FFF) | (((max(height, 1) - 1) & 0x3FFF) << 14)
        mutable[21:25] = (bits | (int.from_bytes(mutable[21:25], "little") & ~0xFFFFFFF)).to_bytes(
            4, "little"
        )
    return bytes(mutable)


def _wav_huge(data: bytes, width: int, height: int) -> bytes:
    """A WAV whose header claims far more sound than the file holds, or a zero rate."""
    mutable = bytearray(data)
    at = mutable.find(b"data")
    mutable[at + 4 : at + 8] = struct.pack("<I", (width * height) & 0xFFFFFFFF)
    if width == 0:
        mutable[24:28] = bytes(4)  # sample rate 0
    return bytes(mutable)


def _mp3_huge(data: bytes, width: int, height: int) -> bytes:
    """An MP3 whose first frame header says another layer, rate or bitrate."""
    mutable = bytearray(data)
    at = mutable.find(b"\xff\xfb")
    mutable[at + 2] = (width ^ height) & 0xFF
    return bytes(mutable)


_HUGE = {
    "jpeg": _jpeg_huge,
    "png": _png_huge,
    "bmp": _bmp_huge,
    "webp": _webp_huge,
    "wav": _wav_huge,
    "mp3": _mp3_huge,
}


def declare_huge(name: str, data: bytes, rng: random.Random) -> bytes:
    width, height = rng.choice(HUGE), rng.choice(HUGE)
    return _HUGE[name.split("-")[0]](data, width, height)


MUTATIONS = {"truncate": truncate, "flip": flip, "huge": None}


def mutate(name: str, data: bytes, steps: list[str], rng: random.Random) -> bytes:
    for step in steps:
        if not data:
            break
        data = declare_huge(name, data, rng) if step == "huge" else MUTATIONS[step](data, rng)
    return data


def fuzzed_set(count: int, seed: int = 0) -> list[tuple[str, str, bytes]]:
    """(seed name, kind, bytes) × count, reproducible from `seed`."""
    rng = random.Random(seed)
    names = sorted(seeds())
    made = []
    for _ in range(count):
        name = rng.choice(names)
        kind, data = seeds()[name]
        steps = rng.choices(list(MUTATIONS), k=rng.randint(1, 3))
        made.append((name, kind, mutate(name, data, steps, rng)))
    return made


# --- Peak memory of validating a fuzzed set, in this fresh process -------------------------


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def measure(count: int, seed: int) -> dict:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings.test")
    import django

    django.setup()
    from django.core.exceptions import ValidationError

    from generations.uploads import audio_inspect, image_inspect, image_prepare

    def validate(kind: str, data: bytes) -> bool:
        file = io.BytesIO(data)
        try:
            if kind == "image":
                info = image_inspect(file)
                prepared = image_prepare(file, info)
                if prepared is not None:
                    prepared.close()
            else:
                audio_inspect(file)
        except ValidationError:
            return False
        return True

    files = fuzzed_set(count, seed)
    for kind, data in seeds().values():  # warm up: imports and codecs are not the files' cost
        validate(kind, data)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak (VmHWM) starts again from what is resident now
    baseline = _status("VmRSS")
    accepted = sum(validate(kind, data) for _, kind, data in files)
    return {
        "files": len(files),
        "accepted": accepted,
        "baseline_bytes": baseline,
        "peak_extra_bytes": _status("VmHWM") - baseline,
    }


if __name__ == "__main__":
    count, seed = (int(arg) for arg in sys.argv[1:3])
    print(json.dumps(measure(count, seed)))
