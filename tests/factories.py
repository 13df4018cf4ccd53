"""Test data made by the tests themselves: people, images, audio, generations."""

from __future__ import annotations

import io
import itertools
import math
import struct
import wave

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.ledger import credits_grant, wallet_for_user
from accounts.models import User
from accounts.services import user_create

_counter = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"


def make_user(*, username: str | None = None, credits: int = 0, **extra) -> User:
    username = username or f"person{next(_counter)}"
    user = user_create(
        username=username, email=f"{username}@example.test", password=PASSWORD, **extra
    )
    if credits:
        credits_grant(wallet=wallet_for_user(user=user), amount=credits, actor=None, reason="test")
    return user


def image_bytes(
    *, size: tuple[int, int] = (320, 240), format: str = "PNG", color=(40, 120, 200), **save
) -> bytes:
    image = Image.new("RGB", size, color)
    # A gradient so video frames are not flat, and cuts and pans are visible.
    for x in range(0, size[0], max(1, size[0] // 16)):
        image.paste((x * 255 // size[0], 80, 255 - x * 255 // size[0]), (x, 0, x + 4, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format=format, **save)
    return buffer.getvalue()


def image_upload(name: str = "reference.png", **kwargs) -> SimpleUploadedFile:
    data = image_bytes(**kwargs)
    fmt = kwargs.get("format", "PNG").lower()
    content_type = {
        "jpeg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
        "bmp": "image/bmp",
    }[fmt]
    return SimpleUploadedFile(name, data, content_type=content_type)


def wav_bytes(*, seconds: float = 4.0, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        writer.writeframes(frames)
    return buffer.getvalue()


def make_finished_generation(*, owner: User, team=None, prompt: str = "A finished clip", **fields):
    """A succeeded generation with a small stored 'video' and poster (bytes, not decoded here)."""
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from generations.models import Generation

    generation = Generation(
        owner=owner,
        team=team,
        model_key="wan2.6-i2v-flash",
        provider="modelstream",
        prompt=prompt,
        state="succeeded",
        deadline_at=timezone.now() + timedelta(hours=1),
        resolution="720p",
        duration=5,
        progress=100,
        **fields,
    )
    generation.save()
    generation.video.save(
        f"{generation.id}.mp4", ContentFile(b"\x00\x00\x00\x18ftypmp42" + bytes(2000)), save=False
    )
    generation.poster.save(
        f"{generation.id}.jpg", ContentFile(image_bytes(format="JPEG")), save=False
    )
    generation.video_bytes = generation.video.size
    generation.save()
    return generation
