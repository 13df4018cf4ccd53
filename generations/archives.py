"""Several videos downloaded as one zip, written as it is sent.

The archive is streamed: each video is read from storage in chunks and each chunk leaves as
soon as it is written, so memory stays the same whether the zip holds two videos or two
hundred. Videos are stored, not compressed (an MP4 does not shrink), and the zip uses data
descriptors, so no size needs to be known before a file is sent.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.utils import timezone

from accounts.models import User

from .models import Generation
from .selectors import generations_visible_to

CHUNK_BYTES = 256 * 1024
MAX_VIDEOS = 200


@dataclass(frozen=True)
class ArchiveEntry:
    name: str  # inside the zip
    path: str  # in storage
    modified: tuple[int, int, int, int, int, int]


class _Outbox(io.RawIOBase):
    """Where the zip writes: bytes wait here until the stream hands them on. Not seekable."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _file_name(generation: Generation, taken: set[str]) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", generation.prompt.lower()).strip("-")[:40].strip("-")
    name = f"{words or 'video'}-{generation.id.hex[:8]}.mp4"
    while name in taken:  # ids differ, but stay safe with a shortened prefix
        name = f"{generation.id.hex}.mp4"
    taken.add(name)
    return name


def archive_entries(*, viewer: User, ids: Iterable[str]) -> list[ArchiveEntry]:
    """The videos among `ids` the viewer may see and that have a video, newest first."""
    keys = [key for key in ids if key][:MAX_VIDEOS]
    generations = (
        generations_visible_to(viewer=viewer)
        .filter(pk__in=keys, state=Generation.State.SUCCEEDED)
        .exclude(video="")
        .only("id", "prompt", "video", "created_at")
        .order_by("-created_at", "-id")
    )
    taken: set[str] = set()
    entries = []
    for generation in generations:
        made = timezone.localtime(generation.created_at)
        entries.append(
            ArchiveEntry(
                name=_file_name(generation, taken),
                path=generation.video.name,
                modified=(made.year, made.month, made.day, made.hour, made.minute, made.second),
            )
        )
    return entries


def zip_stream(entries: Iterable[ArchiveEntry]) -> Iterator[bytes]:
    """The zip of `entries`, chunk by chunk."""
    outbox = _Outbox()
    with zipfile.ZipFile(outbox, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=entry.modified)
            info.compress_type = zipfile.ZIP_STORED
            with (
                default_storage.open(entry.path, "rb") as source,
                archive.open(info, mode="w", force_zip64=True) as target,
            ):
                while chunk := source.read(CHUNK_BYTES):
                    target.write(chunk)
                    yield outbox.take()
            yield outbox.take()
    yield outbox.take()


def zip_response(entries: list[ArchiveEntry]) -> StreamingHttpResponse:
    stamp = timezone.localtime().strftime("%Y-%m-%d-%H%M")
    response = StreamingHttpResponse(
        (part for part in zip_stream(entries) if part), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="studio-videos-{stamp}.zip"'
    response["Cache-Control"] = "no-store"
    return response
