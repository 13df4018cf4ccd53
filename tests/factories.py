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


# --- Generations ---------------------------------------------------------------------------

_CLIP: dict[str, bytes] = {}


def clip_bytes() -> bytes:
    """A small real H.264 MP4 (rendered once per test process) and its poster are cached here."""
    if "video" not in _CLIP:
        from generations.management.commands.seed_gallery import (
            PALETTES,
            clip_render,
            poster_render,
        )

        _CLIP["video"] = clip_render(PALETTES[0])
        _CLIP["poster"] = poster_render(_CLIP["video"])
    return _CLIP["video"]


def poster_bytes() -> bytes:
    clip_bytes()
    return _CLIP["poster"]


def make_reference(owner: User):
    from generations.forms import UploadCandidate
    from generations.services import reference_store
    from generations.uploads import image_inspect

    upload = image_upload()
    return reference_store(
        owner=owner, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )


GENERATION_DEFAULTS = {
    "wan2.6-i2v-flash": {
        "prompt": "A calm sea at dawn",
        "resolution": "720P",
        "duration": 5,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": False,
        "watermark": False,
        "seed": None,
    },
    "wan-2.6-flash": {
        "prompt": "A calm sea at dawn",
        "resolution": "720p",
        "duration": 5,
        "audio_enabled": False,
        "enable_prompt_expansion": False,
        "multi_shots": False,
        "seed": None,
    },
}


def make_generation(
    *,
    owner: User,
    state: str = "succeeded",
    model_key: str = "wan2.6-i2v-flash",
    team=None,
    reference=None,
    **values,
):
    """A generation made through the real services, then moved to `state` (test data).

    Succeeded ones get a real small video and poster; the owner needs the credits.
    """
    from django.core.files.base import ContentFile
    from django.db import transaction

    from generations.catalog import catalog_get
    from generations.models import Generation
    from generations.services import generation_create, generation_fail, generation_transition

    model = catalog_get(model_key)
    image_field = model.field_for_role("reference_image").name
    # One transaction: the submit that generation_create asks for on commit then finds the
    # generation already in its state (a live cluster would otherwise race the steps below).
    with transaction.atomic():
        generation = generation_create(
            user=owner,
            model=model,
            values={**GENERATION_DEFAULTS[model_key], **values},
            references={image_field: reference or make_reference(owner)},
            team=team,
        )
        steps = {
            "pending": [],
            "submitting": ["submitting"],
            "queued": ["submitting", "queued"],
            "running": ["submitting", "queued", "running"],
            "succeeded": ["submitting", "queued", "running"],
            "failed": ["submitting", "queued"],
            "expired": [],
            "cancelled": [],
        }[state]
        for step in steps:
            extra = (
                {"provider_task_id": f"task-{generation.id.hex[:12]}"} if step == "queued" else {}
            )
            generation_transition(generation_id=generation.id, to=step, **extra)
        if state == "succeeded":
            generation.video.save(f"{generation.id}.mp4", ContentFile(clip_bytes()), save=False)
            generation.poster.save(f"{generation.id}.jpg", ContentFile(poster_bytes()), save=False)
            generation_transition(
                generation_id=generation.id,
                to="succeeded",
                video=generation.video.name,
                poster=generation.poster.name,
                video_bytes=generation.video.size,
                video_duration=2.0,
                video_width=320,
                video_height=180,
                video_fps=12.0,
                video_has_audio=False,
            )
        elif state == "failed":
            generation_fail(
                generation_id=generation.id,
                kind=Generation.ErrorKind.REFUSED,
                message="The provider refused this request: duration is too long",
                code="InvalidParameter",
                param="duration",
            )
        elif state in ("expired", "cancelled"):
            generation_transition(generation_id=generation.id, to=state)
    return Generation.objects.select_related("team", "reference").get(pk=generation.id)


def make_team(*, slug: str, members: list[User] = (), credits: int = 100, name: str = ""):
    """A team with these members and credits in its wallet."""
    from accounts.ledger import wallet_for_team
    from accounts.models import Membership, Team

    team = Team.objects.create(name=name or slug.title(), slug=slug)
    for member in members:
        Membership.objects.create(team=team, user=member)
    if credits:
        credits_grant(wallet=wallet_for_team(team=team), amount=credits, actor=None, reason="test")
    return team
