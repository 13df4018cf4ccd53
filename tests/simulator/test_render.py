"""The simulator's renders follow the request: decoded with PyAV and measured."""

from __future__ import annotations

import io
import math
import statistics
import struct
import wave

import av
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from simulator.render import RenderRequest, output_size, render_video
from tests.factories import image_bytes


def _probe(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        return {
            "format": container.format.name,
            "duration": container.duration / av.time_base,
            "video_codec": video.codec_context.name,
            "size": (video.codec_context.width, video.codec_context.height),
            "frames": sum(1 for _ in container.decode(video=0)),
            "audio": [(s.codec_context.name, s.duration * s.time_base) for s in audio],
        }


def _frames(data: bytes) -> list[Image.Image]:
    with av.open(io.BytesIO(data)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def _tone_wav(frequency: float, seconds: float = 3.0, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(
            b"".join(
                struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * i / rate)))
                for i in range(int(seconds * rate))
            )
        )
    return buffer.getvalue()


def _zero_crossings_per_second(data: bytes) -> float:
    samples: list[float] = []
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                raw = bytes(out.planes[0])[: out.samples * 4]
                samples.extend(struct.unpack(f"<{out.samples}f", raw))
    loud = [s for s in samples if abs(s) > 1e-4]
    crossings = sum(1 for a, b in zip(loud, loud[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / (len(samples) / 48000)


LANDSCAPE = image_bytes(size=(640, 360))


def test_a_720p_clip_has_the_asked_duration_and_keeps_the_images_aspect_ratio():
    video = render_video(LANDSCAPE, RenderRequest(duration=2, short_side=720, seed=1, audio=False))

    info = _probe(video)
    assert info["format"].startswith("mov") and info["video_codec"] == "h264"
    assert info["size"] == (1280, 720)
    assert info["duration"] == pytest.approx(2.0, abs=0.1)
    assert info["frames"] == 48
    assert info["audio"] == []  # no audio asked, no audio stream


def test_a_1080p_portrait_clip_keeps_the_portrait_aspect():
    portrait = image_bytes(size=(300, 400))
    video = render_video(portrait, RenderRequest(duration=1, short_side=1080, seed=1, audio=False))

    assert _probe(video)["size"] == (1080, 1440)


@pytest.mark.parametrize(
    ("source", "short", "expected"),
    [
        ((1920, 1080), 720, (1280, 720)),
        ((1080, 1920), 720, (720, 1280)),
        ((1000, 1000), 1080, (1080, 1080)),
        ((1001, 667), 720, (1080, 720)),  # both sides even for H.264
    ],
)
def test_the_frame_size_follows_the_short_side_and_the_aspect_ratio(source, short, expected):
    assert output_size(*source, short) == expected


def test_asking_for_audio_gives_one_aac_track_as_long_as_the_video():
    video = render_video(
        LANDSCAPE, RenderRequest(duration=2, short_side=720, seed=1, audio=True, fast=True)
    )

    [(codec, duration)] = _probe(video)["audio"]
    assert codec == "aac"
    assert float(duration) == pytest.approx(2.0, abs=0.1)


def test_a_given_audio_file_is_the_track_instead_of_the_generated_one():
    track = _tone_wav(1000.0)
    given = render_video(
        LANDSCAPE,
        RenderRequest(duration=2, short_side=720, seed=1, audio_bytes=track, fast=True),
    )
    generated = render_video(
        LANDSCAPE, RenderRequest(duration=2, short_side=720, seed=1, audio=True, fast=True)
    )

    # A 1 kHz tone crosses zero ~2000 times a second; the generated melody stays under 900.
    assert _zero_crossings_per_second(given) == pytest.approx(2000, rel=0.1)
    assert _zero_crossings_per_second(generated) < 900


def test_the_same_seed_renders_the_same_file_and_another_seed_does_not():
    request = RenderRequest(duration=2, short_side=720, seed=77, multi_shot=True, fast=True)

    first = render_video(LANDSCAPE, request)
    again = render_video(LANDSCAPE, request)
    other = render_video(LANDSCAPE, RenderRequest(**{**request.__dict__, "seed": 78}))

    assert first == again
    assert first != other


def test_the_same_seed_is_identical_at_full_size_too():
    request = RenderRequest(duration=1, short_side=720, seed=5, audio=True)
    assert render_video(LANDSCAPE, request) == render_video(LANDSCAPE, request)


def _cuts(video: bytes) -> int:
    """Frame-to-frame changes far above the clip's usual motion: the cuts between shots."""
    frames = [frame.convert("L") for frame in _frames(video)]
    changes = [
        ImageStat.Stat(ImageChops.difference(a, b)).mean[0]
        for a, b in zip(frames, frames[1:], strict=False)
    ]
    usual = statistics.median(changes)
    return sum(1 for change in changes if change > max(10 * usual, 10.0))


def _scene(width: int = 800, height: int = 450) -> bytes:
    """A picture with a few large shapes, as a photo has: motion shows little, a cut a lot."""
    image = Image.new("RGB", (width, height), (30, 30, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 2, height // 2), fill=(200, 40, 40))
    draw.rectangle((width // 2, height // 2, width, height), fill=(40, 60, 200))
    draw.ellipse((width * 0.55, height * 0.1, width * 0.8, height * 0.45), fill=(240, 220, 60))
    draw.rectangle((width * 0.1, height * 0.6, width * 0.3, height * 0.9), fill=(60, 200, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_multi_shot_cuts_between_framings_and_single_shot_does_not():
    scene = _scene()
    multi = render_video(
        scene, RenderRequest(duration=6, short_side=720, seed=3, multi_shot=True, fast=True)
    )
    single = render_video(scene, RenderRequest(duration=6, short_side=720, seed=3, fast=True))

    assert _cuts(multi) >= 2  # six seconds: three shots
    assert _cuts(single) == 0


def _mean(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    return ImageStat.Stat(image.convert("L").crop(box)).mean[0]


def test_the_watermark_is_a_bright_label_in_the_lower_right_corner():
    dark = image_bytes(size=(640, 360), color=(15, 15, 40))
    marked = _frames(
        render_video(dark, RenderRequest(duration=1, short_side=720, seed=1, watermark=True))
    )[-1]
    plain = _frames(
        render_video(dark, RenderRequest(duration=1, short_side=720, seed=1, watermark=False))
    )[-1]
    width, height = marked.size
    lower_right = (width - 160, height - 50, width - 40, height - 30)
    upper_left = (40, 30, 200, 80)

    assert _mean(marked, lower_right) > 180  # the white label
    assert _mean(plain, lower_right) < 150
    assert _mean(marked, upper_left) == pytest.approx(_mean(plain, upper_left), abs=2)


def test_progress_rises_while_it_renders():
    seen: list[int] = []
    render_video(
        LANDSCAPE,
        RenderRequest(duration=2, short_side=720, seed=1, fast=True),
        progress=seen.append,
    )

    assert seen == sorted(seen) and len(seen) > 5
    assert seen[0] < 20 and seen[-1] == 95


def test_fast_mode_keeps_the_duration_and_container_with_tiny_frames():
    info = _probe(
        render_video(LANDSCAPE, RenderRequest(duration=3, short_side=1080, seed=1, fast=True))
    )

    assert info["size"] == (128, 72)
    assert info["duration"] == pytest.approx(3.0, abs=0.15)
    assert info["format"].startswith("mov") and info["video_codec"] == "h264"
