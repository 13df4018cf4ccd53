"""Validating reference images and audio by their content, and preparing them for a provider.

Images are identified by their bytes (never their name) and decoded by Pillow restricted to
JPEG, PNG, BMP and WEBP, at a reduced scale where the format allows it (JPEG), so validation
costs at most one decode. Audio is WAV or MP3 by content, its duration measured from the file.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import wave
from dataclasses import dataclass
from typing import IO

from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError

MB = 1024 * 1024
IMAGE_MAX_BYTES = 20 * MB
AUDIO_MAX_BYTES = 15 * MB
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}
IMAGE_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp"}
IMAGE_MIN_SIDE = 64
IMAGE_MAX_SIDE = 8192
IMAGE_MAX_PIXELS = 40_000_000
AUDIO_MIN_SECONDS = 3.0
AUDIO_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    extension: str
    width: int
    height: int
    size: int


@dataclass(frozen=True)
class AudioInfo:
    format: str
    content_type: str
    extension: str
    duration: float
    size: int


def _size_of(file: IO[bytes]) -> int:
    size = getattr(file, "size", None)
    if size is None:
        position = file.tell()
        file.seek(0, io.SEEK_END)
        size = file.tell()
        file.seek(position)
    return int(size)


def _mb(limit: int) -> str:
    return f"{limit // MB} MB"


def image_inspect(file: IO[bytes], *, max_bytes: int = IMAGE_MAX_BYTES) -> ImageInfo:
    """Check that `file` is one still JPEG, PNG, BMP or WEBP image a provider will accept."""
    size = _size_of(file)
    if size == 0:
        raise ValidationError("The file is empty.", code="empty")
    if size > max_bytes:
        raise ValidationError(f"The image is larger than {_mb(max_bytes)}.", code="too_large")
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=list(IMAGE_FORMATS)) as image:
                width, height = image.size
                image_format = image.format or ""
                if width * height > IMAGE_MAX_PIXELS or max(width, height) > IMAGE_MAX_SIDE:
                    raise ValidationError(
                        f"The image is {width}×{height} pixels; at most {IMAGE_MAX_SIDE} pixels a "
                        f"side and {IMAGE_MAX_PIXELS // 1_000_000} megapixels are accepted.",
                        code="too_many_pixels",
                    )
                if min(width, height) < IMAGE_MIN_SIDE:
                    raise ValidationError(
                        f"The image is {width}×{height} pixels; it needs at least "
                        f"{IMAGE_MIN_SIDE} pixels a side.",
                        code="too_small",
                    )
                if getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) > 1:
                    raise ValidationError(
                        "Animated or multi-frame images are not accepted; use a single still image.",
                        code="animated",
                    )
                if image_format == "JPEG":
                    # A reduced-scale decode still reads the whole stream, so truncation shows,
                    # at a fraction of the memory of a full decode.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except ValidationError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationError(
            "The image declares more pixels than it could sensibly hold (a decompression bomb).",
            code="bomb",
        ) from None
    except UnidentifiedImageError:
        raise ValidationError(
            "This file is not a JPEG, PNG, BMP or WEBP image.", code="not_an_image"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        text = str(error).lower()
        if "truncated" in text or isinstance(error, EOFError):
            raise ValidationError(
                "The image is truncated: the file ends before the picture does.", code="truncated"
            ) from None
        raise ValidationError("The image is damaged and cannot be read.", code="damaged") from None
    finally:
        file.seek(0)
    return ImageInfo(
        format=image_format,
        content_type=IMAGE_FORMATS[image_format],
        extension=IMAGE_EXTENSIONS[image_format],
        width=width,
        height=height,
        size=size,
    )


def image_prepare(file: IO[bytes], info: ImageInfo) -> bytes | None:
    """The bytes a provider should see: orientation applied, identifying metadata removed.

    Returns None when the file needs no change (no EXIF orientation or private metadata), so
    the original is stored as it is, without a lossy re-encode.
    """
    file.seek(0)
    with Image.open(file, formats=[info.format]) as image:
        exif = image.getexif()
        has_xmp = "xmp" in image.info or "XML:com.adobe.xmp" in image.info
        textual = any(key in image.info for key in ("comment", "Comment", "Author", "Description"))
        # Any EXIF may carry GPS, maker notes, serial numbers or an orientation to apply.
        if not exif and not has_xmp and not textual:
            return None
        image.load()
        upright = ImageOps.exif_transpose(image)
        output = io.BytesIO()
        params: dict = {}
        if "icc_profile" in image.info:
            params["icc_profile"] = image.info["icc_profile"]
        if info.format == "JPEG":
            if upright.mode not in ("RGB", "L", "CMYK"):
                upright = upright.convert("RGB")
            params.update(quality=95, comment=b"")
        upright.save(output, format=info.format, **params)
    file.seek(0)
    return output.getvalue()


def audio_inspect(
    file: IO[bytes],
    *,
    max_bytes: int = AUDIO_MAX_BYTES,
    min_seconds: float = AUDIO_MIN_SECONDS,
    max_seconds: float = AUDIO_MAX_SECONDS,
) -> AudioInfo:
    """Check that `file` is a WAV or MP3 track of an accepted length."""
    size = _size_of(file)
    if size == 0:
        raise ValidationError("The file is empty.", code="empty")
    if size > max_bytes:
        raise ValidationError(f"The audio file is larger than {_mb(max_bytes)}.", code="too_large")
    file.seek(0)
    head = file.read(12)
    file.seek(0)
    try:
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            info = _wav_inspect(file, size)
        elif head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
            info = _mp3_inspect(file, size)
        else:
            raise ValidationError("This file is not a WAV or MP3 audio file.", code="not_audio")
    finally:
        file.seek(0)
    if info.duration < min_seconds or info.duration > max_seconds:
        raise ValidationError(
            f"The audio lasts {info.duration:.1f} s; it must last between {min_seconds:g} and "
            f"{max_seconds:g} seconds.",
            code="duration",
        )
    return info


def _wav_inspect(file: IO[bytes], size: int) -> AudioInfo:
    try:
        with wave.open(file, "rb") as reader:  # type: ignore[arg-type]
            frames, rate = reader.getnframes(), reader.getframerate()
            channels, width = reader.getnchannels(), reader.getsampwidth()
    except (wave.Error, EOFError, OSError, ValueError):
        raise ValidationError(
            "The WAV file is damaged and cannot be read.", code="damaged"
        ) from None
    if rate <= 0 or channels <= 0:
        raise ValidationError("The WAV file is damaged and cannot be read.", code="damaged")
    data_bytes = frames * channels * width
    if data_bytes > size:
        raise ValidationError(
            "The WAV file is truncated: it ends before its sound does.", code="truncated"
        )
    return AudioInfo("WAV", "audio/wav", ".wav", frames / rate, size)


def _mp3_inspect(file: IO[bytes], size: int) -> AudioInfo:
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    try:
        audio = MP3(fileobj=file)
    except (MutagenError, OSError, ValueError, EOFError):
        raise ValidationError(
            "The MP3 file is damaged and cannot be read.", code="damaged"
        ) from None
    info = audio.info
    if info is None or getattr(info, "sketchy", False):
        raise ValidationError(
            "This does not look like a real MP3 file (its frames are doubtful).", code="doubtful"
        )
    if not info.length or info.length <= 0:
        raise ValidationError("The MP3 file holds no sound.", code="damaged")
    return AudioInfo("MP3", "audio/mpeg", ".mp3", float(info.length), size)


def sha256_of(file: IO[bytes]) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()
