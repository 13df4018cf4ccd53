"""Probing a stored video with PyAV: it must decode; its properties are recorded; a poster is cut."""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av
from av.error import FFmpegError

POSTER_MAX_SIDE = 1280


class ProbeError(Exception):
    """The file is not a video the studio can keep."""


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    frames: int
    poster_jpeg: bytes


def video_probe(path: str, *, poster_at: float = 0.2) -> VideoInfo:
    """Decode every video frame of `path`, measure it, and cut a JPEG poster.

    `poster_at` is the fraction of the duration where the poster frame is taken.
    """
    try:
        container = av.open(path, mode="r", options={"probesize": "5000000"})
    except (FFmpegError, OSError, ValueError) as error:
        raise ProbeError(
            f"The result is not a readable video ({error.__class__.__name__})."
        ) from None
    with container:
        if not container.streams.video:
            raise ProbeError("The result holds no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        has_audio = bool(container.streams.audio)
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        width, height = stream.codec_context.width, stream.codec_context.height
        frames = 0
        last_time = 0.0
        poster = None
        target = None
        if container.duration:
            target = container.duration / av.time_base * poster_at
        try:
            for frame in container.decode(stream):
                frames += 1
                if frame.time is not None:
                    last_time = max(last_time, float(frame.time))
                if poster is None and (target is None or (frame.time or 0) >= target):
                    poster = frame.to_image()
        except (FFmpegError, ValueError) as error:
            raise ProbeError(f"The video does not decode ({error.__class__.__name__}).") from None
        if frames == 0:
            raise ProbeError("The video holds no frames.")
        fps = float(rate) if rate else (frames / last_time if last_time else 0.0)
        if container.duration:
            duration = container.duration / av.time_base
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = last_time + (1 / fps if fps else 0)
    if poster is None:
        raise ProbeError("No frame could be taken for the poster.")
    poster.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE))
    buffer = io.BytesIO()
    poster.convert("RGB").save(buffer, format="JPEG", quality=85, optimize=True)
    return VideoInfo(
        duration=round(duration, 3),
        width=width,
        height=height,
        fps=round(fps, 3),
        has_audio=has_audio,
        frames=frames,
        poster_jpeg=buffer.getvalue(),
    )
