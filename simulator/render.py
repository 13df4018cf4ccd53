"""Rendering a real H.264/AAC MP4 from a reference image, following the request.

Duration, resolution (short side 720 or 1080, keeping the image's aspect ratio), seed (the
same seed gives the same file), multi-shot (visible cuts between framings), an audio track
(generated, or the given file) and a watermark in the lower-right corner.
"""

from __future__ import annotations

import io
import math
import random
from array import array
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import av
from PIL import Image, ImageDraw, ImageFont

SAMPLE_RATE = 48000
AHEAD = 3  # frames painted ahead of the encoder
WATERMARK_TEXT = "AI-generated"


@dataclass(frozen=True)
class RenderRequest:
    duration: int
    short_side: int  # 720 or 1080
    seed: int
    multi_shot: bool = False
    audio: bool = True
    audio_bytes: bytes | None = None
    watermark: bool = False
    fast: bool = False


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """The frame size: the short side as asked, the aspect ratio kept, both sides even."""
    scale = short_side / min(width, height)
    out_w = max(2, int(round(width * scale / 2)) * 2)
    out_h = max(2, int(round(height * scale / 2)) * 2)
    return out_w, out_h


def _shots(rng: random.Random, duration: float, multi: bool) -> list[tuple[float, float]]:
    """Start and end times of each shot; multi-shot gives two or three shots."""
    if not multi or duration < 2:
        return [(0.0, duration)]
    count = 3 if duration >= 6 else 2
    cuts = sorted(rng.uniform(0.3, 0.7) * duration * (i + 1) / count for i in range(count - 1))
    edges = [0.0, *cuts, duration]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def _framing(rng: random.Random, width: int, height: int, shot: int) -> tuple[tuple, tuple]:
    """A start and an end crop box for one shot: a slow push-in, a new angle per shot.

    The first shot opens on the whole image; each later one starts closer in, somewhere
    else, so the cut between shots is plain to see while the motion within a shot stays slow.
    """
    aspect = width / height

    def box(zoom: float, cx: float, cy: float) -> tuple[float, float, float, float]:
        w = width / zoom
        h = w / aspect
        left = min(max(cx * width - w / 2, 0), width - w)
        top = min(max(cy * height - h / 2, 0), height - h)
        return (left, top, left + w, top + h)

    if shot == 0:
        zoom, cx, cy = 1.0, 0.5, 0.5
        end_zoom = rng.uniform(1.1, 1.25)
    else:
        zoom, cx, cy = rng.uniform(1.5, 2.2), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
        end_zoom = zoom * rng.uniform(1.05, 1.12)
    start = box(zoom, cx, cy)
    end = box(end_zoom, cx + rng.uniform(-0.05, 0.05), cy + rng.uniform(-0.05, 0.05))
    return start, end


def _mirrored(box: tuple, width: float) -> tuple:
    """The same crop box on the horizontally flipped image."""
    left, top, right, bottom = box
    return (width - right, top, width - left, bottom)


def _watermark(size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """A white label with dark text, placed in the lower-right corner."""
    width, height = size
    label_h = max(8, height // 12)
    label_w = max(16, int(label_h * 4.2))
    label = Image.new("RGB", (label_w, label_h), (255, 255, 255))
    if label_h >= 14:
        try:
            font = ImageFont.load_default(size=int(label_h * 0.55))
        except TypeError:  # an older Pillow without sizes
            font = ImageFont.load_default()
        ImageDraw.Draw(label).text(
            (label_w // 2, label_h // 2), WATERMARK_TEXT, fill=(20, 20, 20), font=font, anchor="mm"
        )
    margin = max(2, height // 40)
    return label, (width - label_w - margin, height - label_h - margin)


def _tone_samples(rng: random.Random, seconds: float) -> array:
    """A seeded melody of eight plucked notes, repeated: the generated audio track."""
    total = int(seconds * SAMPLE_RATE)
    notes = [220.0 * 2 ** (rng.randrange(0, 12) / 12) for _ in range(8)]
    note_len = max(1, int(SAMPLE_RATE * 0.25))
    # One bar is computed and then repeated: the loop costs the same for 5 s as for 15 s.
    bar = array("f", bytes(4 * note_len * len(notes)))
    for index in range(len(bar)):
        frequency = notes[index // note_len]
        envelope = 1.0 - (index % note_len) / note_len
        bar[index] = 0.2 * envelope * math.sin(2 * math.pi * frequency * index / SAMPLE_RATE)
    samples = bar * (total // len(bar) + 1)
    return samples[:total]


def _decode_audio(data: bytes, seconds: float) -> array:
    """The given audio file as mono float samples at SAMPLE_RATE, trimmed or looped to fit."""
    total = int(seconds * SAMPLE_RATE)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    collected = array("f")
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                collected.frombytes(bytes(out.planes[0])[: out.samples * 4])
            if len(collected) >= total:
                break
    if not collected:
        raise ValueError("the audio file holds no sound")
    while len(collected) < total:
        collected.extend(collected[: total - len(collected)])
    return collected[:total]


@dataclass(frozen=True)
class _Level:
    scale: float  # this copy's size / the reference's size
    image: Image.Image
    flipped: Image.Image | None


def _levels(image: Image.Image, size: tuple[int, int], *, mirrored: bool) -> list[_Level]:
    """Copies of the reference at two sizes, the smallest first.

    A frame is resized from the smallest copy that still has at least as many pixels as the
    frame in its crop box: Pillow's resize costs in proportion to the pixels it reads, so
    wide shots read a copy a little larger than the frame and close-ups a larger one.
    """
    levels: list[_Level] = []
    for factor in (1.25, 2.0):
        scale = min(1.0, factor * min(size) / min(image.size))
        if levels and scale <= levels[-1].scale:
            continue
        copy = image
        if scale < 1.0:
            copy = image.resize(
                (round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR
            )
        flipped = copy.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else None
        levels.append(_Level(scale, copy, flipped))
    return levels


def _frame(levels: list[_Level], box: tuple, size: tuple[int, int], *, mirrored: bool):
    """One frame: the reference's `box` (in its own pixels) resized to `size`."""
    width = box[2] - box[0]
    level = next((lv for lv in levels if width * lv.scale >= size[0]), levels[-1])
    scaled = tuple(value * level.scale for value in box)
    if mirrored and level.flipped is not None:
        return level.flipped.resize(
            size, Image.Resampling.BILINEAR, box=_mirrored(scaled, level.image.width)
        )
    return level.image.resize(size, Image.Resampling.BILINEAR, box=scaled)


def render_video(
    image_bytes: bytes,
    request: RenderRequest,
    *,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """The MP4 bytes for `request`, made from the reference image."""
    rng = random.Random(request.seed)
    with Image.open(io.BytesIO(image_bytes)) as source:
        source.load()
        image = source.convert("RGB")
    short = 72 if request.fast else request.short_side
    fps = 12 if request.fast else 24
    size = output_size(image.width, image.height, short)
    frames_total = int(request.duration * fps)
    shots = _shots(rng, float(request.duration), request.multi_shot)
    framings = [_framing(rng, image.width, image.height, i) for i in range(len(shots))]
    mark = _watermark(size) if request.watermark else None
    levels = _levels(image, size, mirrored=len(shots) > 1)

    output = io.BytesIO()
    with av.open(output, mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast" if request.fast else "veryfast", "crf": "23"}
        audio_stream = None
        samples = None
        if request.audio_bytes:
            samples = _decode_audio(request.audio_bytes, request.duration)
        elif request.audio:
            samples = _tone_samples(rng, request.duration)
        if samples is not None:
            audio_stream = container.add_stream("aac", rate=SAMPLE_RATE)
            audio_stream.layout = "mono"

        def picture(index: int) -> av.VideoFrame:
            t = index / fps
            shot = next(i for i, (a, b) in enumerate(shots) if a <= t < b or i == len(shots) - 1)
            start, end = framings[shot]
            begin, finish = shots[shot]
            k = (t - begin) / max(finish - begin, 1e-6)
            k = k * k * (3 - 2 * k)  # ease in and out
            box = tuple(s + (e - s) * k for s, e in zip(start, end, strict=True))
            frame_image = _frame(levels, box, size, mirrored=bool(shot % 2))
            if mark is not None:
                frame_image.paste(mark[0], mark[1])
            frame = av.VideoFrame.from_image(frame_image)
            frame.pts = index
            return frame

        # Frames are painted on a second thread a few ahead of the encoder (Pillow and x264
        # both let go of the GIL), so the two halves of the work overlap on two cores.
        last_reported = -1
        with ThreadPoolExecutor(1, thread_name_prefix="paint") as painter:
            ahead = deque(painter.submit(picture, i) for i in range(min(AHEAD, frames_total)))
            for index in range(frames_total):
                frame = ahead.popleft().result()
                if index + AHEAD < frames_total:
                    ahead.append(painter.submit(picture, index + AHEAD))
                for packet in video.encode(frame):
                    container.mux(packet)
                if progress is not None:
                    percent = int(95 * (index + 1) / frames_total)
                    if percent != last_reported:
                        last_reported = percent
                        progress(percent)
        for packet in video.encode():
            container.mux(packet)
        if audio_stream is not None and samples is not None:
            chunk = 1024
            pts = 0
            for offset in range(0, len(samples), chunk):
                piece = samples[offset : offset + chunk]
                sound = av.AudioFrame(format="flt", layout="mono", samples=len(piece))
                sound.planes[0].update(piece.tobytes())
                sound.sample_rate = SAMPLE_RATE
                sound.pts = pts
                pts += len(piece)
                for packet in audio_stream.encode(sound):
                    container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return output.getvalue()
