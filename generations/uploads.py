"""Validating reference images and audio by their content, and preparing them for a provider.

The same code serves the create page and the studio's API, in three layers:

- `LimitedUploadHandler` (installed in settings) streams each uploaded file to a temporary file
  and stops storing it once it passes its field's limit; the request is still read to its end,
  so the page can answer with the field's error (`OversizeUpload` stands for the file).
- `image_inspect` / `audio_inspect` judge a file by its bytes, never its name: images are
  sniffed, their structure walked (so truncation and data hidden after the picture show without
  decoding), and decoded once by Pillow restricted to JPEG, PNG, BMP and WEBP — a JPEG at 1/8
  scale, which still reads its whole stream. Audio is WAV or MP3, its duration measured.
- `image_prepare` makes the bytes a provider sees: EXIF orientation applied, and metadata that
  locates or identifies people (EXIF with GPS and maker notes, XMP, IPTC, comments) removed —
  losslessly, by dropping segments, unless the orientation forces one decode and re-encode.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import (
    InMemoryUploadedFile,
    TemporaryUploadedFile,
    UploadedFile,
)
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers
from PIL import Image, ImageOps, UnidentifiedImageError

MB = 1024 * 1024
IMAGE_MAX_BYTES = 20 * MB
AUDIO_MAX_BYTES = 15 * MB
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}
IMAGE_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp"}
EXTENSION_ALIASES = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "PNG": {".png"},
    "BMP": {".bmp", ".dib"},
    "WEBP": {".webp"},
    "WAV": {".wav", ".wave"},
    "MP3": {".mp3"},
}
IMAGE_MIN_SIDE = 64
IMAGE_MAX_SIDE = 8192
IMAGE_MAX_PIXELS = 40_000_000
IMAGE_MAX_ASPECT = 10
# A file that would expand to more than this many bytes of bitmap per byte stored, and past the
# pixel limit, was made to exhaust memory rather than to be looked at.
BOMB_RATIO = 100
AUDIO_MIN_SECONDS = 3.0
AUDIO_MAX_SECONDS = 30.0
BLOCK = 1024 * 1024

# What a file is when it is not one of the accepted kinds, by its first bytes.
_OTHER_KINDS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (4, b"ftypheic", "a HEIC image"),
    (4, b"ftypheix", "a HEIC image"),
    (4, b"ftypmif1", "a HEIF image"),
    (4, b"ftypavif", "an AVIF image"),
    (0, b"\x00\x00\x01\x00", "an icon (ICO)"),
    (0, b"8BPS", "a Photoshop document"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"OggS", "an Ogg file"),
    (0, b"fLaC", "a FLAC file"),
    (4, b"ftyp", "an MP4 or M4A file"),
    (0, b"\x1aE\xdf\xa3", "a WebM or Matroska file"),
    (0, b"FORM", "an AIFF file"),
    (0, b"\x7fELF", "a program"),
    (0, b"MZ", "a program"),
)


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    extension: str
    width: int  # upright, after the EXIF orientation is applied
    height: int
    size: int
    orientation: int = 1
    end: int = 0  # where the picture ends; what follows is zero padding
    strip: tuple[str, ...] = field(default=())  # metadata blocks found, removed by image_prepare

    @property
    def needs_preparing(self) -> bool:
        return self.orientation != 1 or bool(self.strip) or self.end < self.size


@dataclass(frozen=True)
class AudioInfo:
    format: str
    content_type: str
    extension: str
    duration: float
    size: int


class OversizeUpload(UploadedFile):
    """Stands for an uploaded file that went past its field's limit: counted, never stored."""

    def __init__(self, *, name: str, content_type: str, size: int, limit: int):
        super().__init__(io.BytesIO(), name=name, content_type=content_type, size=size)
        self.limit = limit


def upload_limit_for(field_name: str) -> int:
    """The most bytes any catalog file field of this name accepts (the largest one otherwise)."""
    from .catalog import catalog

    limits = [
        spec.max_bytes or IMAGE_MAX_BYTES
        for model in catalog().values()
        for spec in model.fields
        if spec.is_file
    ]
    named = [
        spec.max_bytes or IMAGE_MAX_BYTES
        for model in catalog().values()
        for spec in model.fields
        if spec.is_file and spec.name == field_name
    ]
    return max(named or limits or [IMAGE_MAX_BYTES])


class LimitedUploadHandler(FileUploadHandler):
    """Streams each uploaded file to disk (small requests stay in memory), keeping at most its
    field's limit: past it the bytes are counted and dropped, and the file arrives as an
    `OversizeUpload`, so the form can say which field was too large and keep everything else."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        self.in_memory = content_length <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE

    def new_file(self, field_name, file_name, content_type, content_length, *args, **kwargs):
        super().new_file(field_name, file_name, content_type, content_length, *args, **kwargs)
        self.limit = upload_limit_for(field_name)
        self.received = 0
        self.over = False
        if getattr(self, "in_memory", False):
            self.file: Any = io.BytesIO()
        else:
            self.file = TemporaryUploadedFile(
                self.file_name or "upload",
                self.content_type,
                0,
                self.charset,
                self.content_type_extra,
            )
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.over:
            return None
        if self.received > self.limit:
            self.over = True
            self.file.close()  # a temporary file is deleted when closed
            return None
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> UploadedFile:
        if self.over:
            return OversizeUpload(
                name=self.file_name or "",
                content_type=self.content_type or "",
                size=self.received,
                limit=self.limit,
            )
        self.file.seek(0)
        if isinstance(self.file, io.BytesIO):
            return InMemoryUploadedFile(
                file=self.file,
                field_name=self.field_name,
                name=self.file_name,
                content_type=self.content_type,
                size=self.received,
                charset=self.charset,
                content_type_extra=self.content_type_extra,
            )
        self.file.size = self.received
        return self.file

    def upload_interrupted(self) -> None:
        file = getattr(self, "file", None)
        if file is not None and not isinstance(file, io.BytesIO):
            with contextlib.suppress(FileNotFoundError):
                file.close()


# --- Helpers ----------------------------------------------------------------------------


def _size_of(file: IO[bytes]) -> int:
    size = getattr(file, "size", None)
    if size is None:
        position = file.tell()
        file.seek(0, io.SEEK_END)
        size = file.tell()
        file.seek(position)
    return int(size)


def _mb(limit: int) -> str:
    return f"{limit / MB:g} MB"


def _read_at(file: IO[bytes], offset: int, length: int) -> bytes:
    file.seek(offset)
    return file.read(length)


def _blocks(file: IO[bytes], start: int, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) blocks of the file from `start`, read a megabyte at a time."""
    file.seek(start)
    offset = start
    while end is None or offset < end:
        want = BLOCK if end is None else min(BLOCK, end - offset)
        chunk = file.read(want)
        if not chunk:
            return
        yield offset, chunk
        offset += len(chunk)


def _only_padding(file: IO[bytes], start: int) -> bool:
    return all(not chunk.strip(b"\x00") for _, chunk in _blocks(file, start))


def _other_kind(head: bytes) -> str | None:
    if head.lstrip()[:1] == b"<":
        text = head.lstrip()[:256].lower()
        if b"<svg" in text or b"<?xml" in text and b"svg" in text:
            return "an SVG drawing"
        return "a web page or XML document"
    for offset, magic, name in _OTHER_KINDS:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def corrected_name(name: str, extension: str, aliases: set[str] | frozenset[str] = frozenset()):
    """The file's name with the extension its content calls for ("photo.png" holding a JPEG
    becomes "photo.jpg"); a name that already fits its content is kept."""
    base = PurePath((name or "").replace("\\", "/")).name.strip() or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    if f".{suffix.lower()}" in aliases or f".{suffix.lower()}" == extension:
        return base[:255]
    return f"{stem[: 255 - len(extension)]}{extension}"


def _fail(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def _truncated() -> ValidationError:
    return _fail("The image is truncated: the file ends before the picture does.", "truncated")


def _damaged() -> ValidationError:
    return _fail("The image is damaged and cannot be read.", "damaged")


def _animated() -> ValidationError:
    return _fail(
        "Animated or multi-frame images are not accepted; use a single still image.", "animated"
    )


def _hidden_data(extra: int) -> ValidationError:
    return _fail(
        f"The file carries {extra:,} bytes of other data after the end of the picture (another "
        "file may be hidden in it). Save the picture again as a plain image.",
        "polyglot",
    )


# --- Image structure: where each format's picture ends, and its metadata blocks ------------


@dataclass
class _Layout:
    end: int
    strip: list[str]
    size: tuple[int, int] | None = None  # width × height as the header declares them


def _png_layout(file: IO[bytes], size: int) -> _Layout:
    offset, strip = 8, list[str]()
    ihdr = _read_at(file, 8, 24)
    if len(ihdr) < 24 or ihdr[4:8] != b"IHDR":
        raise _damaged()
    declared = struct.unpack(">II", ihdr[8:16])
    while True:
        header = _read_at(file, offset, 8)
        if len(header) < 8:
            raise _truncated()
        length, kind = struct.unpack(">I4s", header)
        if offset + 12 + length > size:
            raise _truncated()
        # Every chunk's CRC is checked: Pillow does not check them, nor zlib's own checksum.
        crc = zlib.crc32(kind)
        for _, chunk in _blocks(file, offset + 8, offset + 8 + length):
            crc = zlib.crc32(chunk, crc)
        if struct.unpack(">I", _read_at(file, offset + 8 + length, 4))[0] != crc:
            raise _fail(
                f"The image is damaged: its {kind.decode('latin-1')!r} block fails its checksum.",
                "damaged",
            )
        offset += 12 + length
        if kind == b"IEND":
            return _Layout(offset, strip, declared)
        if kind in _PNG_PRIVATE:
            strip.append(kind.decode("latin-1"))


# PNG chunks that may carry who, where or with what a picture was made.
_PNG_PRIVATE = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"caBX", b"dSIG"})
# JPEG markers kept when metadata is removed: the picture's own tables and colour information.
_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF, Adobe (its colour transform matters)
_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xff\xd0-\xd7])")


def _jpeg_segments(file: IO[bytes], size: int) -> Iterator[tuple[int, int, int]]:
    """(marker, offset, total length) of each segment before the first scan (SOS included)."""
    offset = 2
    while True:
        head = _read_at(file, offset, 4)
        if len(head) < 4:
            raise _truncated()
        while head[0] == 0xFF and head[1] == 0xFF:  # fill bytes before a marker
            offset += 1
            head = _read_at(file, offset, 4)
            if len(head) < 4:
                raise _truncated()
        if head[0] != 0xFF:
            raise _damaged()
        marker = head[1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            yield marker, offset, 2
            offset += 2
            continue
        length = 2 + struct.unpack(">H", head[2:4])[0]
        if offset + length > size:
            raise _truncated()
        yield marker, offset, length
        offset += length
        if marker == 0xDA:
            return


def _jpeg_layout(file: IO[bytes], size: int) -> _Layout:
    strip: list[str] = []
    scan_start = 0
    declared = None
    huffman = True
    for marker, offset, length in _jpeg_segments(file, size):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and length >= 9:
            height, width = struct.unpack(">HH", _read_at(file, offset + 5, 4))
            declared = declared or (width, height)
            huffman = marker < 0xC9  # SOF9 and up are arithmetic-coded
        if marker == 0xDA:
            scan_start = offset + length
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            if marker == 0xE2 and _read_at(file, offset + 4, 12) == b"ICC_PROFILE\x00":
                continue
            if marker == 0xE2 and _read_at(file, offset + 4, 4) == b"MPF\x00":
                strip.append("MPF")  # a multi-picture file: more pictures follow this one
                continue
            if marker not in _JPEG_KEEP_APP:
                strip.append("COM" if marker == 0xFE else f"APP{marker - 0xE0}")
    end = _jpeg_scan_end(file, size, scan_start)
    if declared and huffman:
        # Huffman coding spends at least one bit on every 8×8 block of the picture (its DC
        # value, in the first scan), so entropy-coded data shorter than that cannot hold the
        # picture the header declares: it was cut, or the header lies — and a progressive
        # decode would otherwise allocate for the declared size (2 bytes per coefficient).
        blocks = math.ceil(declared[0] / 8) * math.ceil(declared[1] / 8)
        if (end - scan_start) * 8 < blocks:
            raise _truncated()
    return _Layout(end, strip, declared)


def _jpeg_scan_end(file: IO[bytes], size: int, offset: int) -> int:
    """The offset just past EOI. Entropy-coded data never holds a bare 0xFF, so the first real
    marker found is either EOI or a table/scan segment (progressive files) to step over."""
    carry = b""
    position = offset
    while position < size:
        chunk = carry + _read_at(file, position, BLOCK)
        base = position - len(carry)
        if len(chunk) == len(carry):
            break
        skip_to = None
        for match in _JPEG_MARKER.finditer(chunk):
            marker = match.group(1)[0]
            at = base + match.start(1) - 1  # offset of the 0xFF before the marker byte
            if marker == 0xD9:
                return at + 2
            if match.end(1) + 2 > len(chunk):
                if base + len(chunk) >= size:
                    raise _truncated()
                skip_to = at  # the segment length straddles the block: read again from here
                break
            length = struct.unpack(">H", chunk[match.end(1) : match.end(1) + 2])[0]
            skip_to = at + 2 + length
            break
        if skip_to is not None:
            carry, position = b"", skip_to
            continue
        carry = chunk[-1:] if chunk.endswith(b"\xff") else b""
        position = base + len(chunk)
    raise _truncated()


def _webp_layout(file: IO[bytes], size: int) -> _Layout:
    declared = struct.unpack("<I", _read_at(file, 4, 4))[0] + 8
    if declared > size:
        raise _truncated()
    strip: list[str] = []
    offset = 12
    dimensions = None
    while offset + 8 <= declared:
        kind, length = struct.unpack("<4sI", _read_at(file, offset, 8))
        if kind in (b"EXIF", b"XMP "):
            strip.append(kind.decode("latin-1").strip())
        elif dimensions is None:
            dimensions = _webp_dimensions(kind, _read_at(file, offset + 8, 10))
        offset += 8 + length + (length & 1)
    if offset > declared + 1:
        raise _truncated()
    return _Layout(declared, strip, dimensions)


def _webp_dimensions(kind: bytes, data: bytes) -> tuple[int, int] | None:
    if len(data) < 10:
        return None
    if kind == b"VP8X":
        return (
            1 + int.from_bytes(data[4:7], "little"),
            1 + int.from_bytes(data[7:10], "little"),
        )
    if kind == b"VP8 " and data[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and data[0] == 0x2F:
        bits = int.from_bytes(data[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _bmp_layout(file: IO[bytes], size: int) -> _Layout:
    declared = struct.unpack("<I", _read_at(file, 2, 4))[0]
    header = _read_at(file, 14, 12)
    dimensions = None
    if len(header) >= 12 and struct.unpack("<I", header[:4])[0] >= 40:
        width, height = struct.unpack("<ii", header[4:12])
        dimensions = (abs(width), abs(height))
    if declared == 0 or declared == size:  # some writers leave the size out
        return _Layout(size, [], dimensions)
    if declared > size:
        raise _truncated()
    return _Layout(declared, [], dimensions)


_LAYOUTS = {"PNG": _png_layout, "JPEG": _jpeg_layout, "WEBP": _webp_layout, "BMP": _bmp_layout}


def _sniff_image(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 18:
        return "BMP"
    return None


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not hide the picture; it is removed anyway
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# --- Images -------------------------------------------------------------------------------


def image_inspect(file: IO[bytes], *, max_bytes: int = IMAGE_MAX_BYTES) -> ImageInfo:
    """Check that `file` is one still JPEG, PNG, BMP or WEBP image a provider will accept.

    Raises ValidationError with a message for a person and a code: empty, too_large,
    not_an_image, truncated, damaged, polyglot, bomb, too_many_pixels, too_small, aspect,
    animated.
    """
    size = _size_of(file)
    if size == 0:
        raise _fail("The file is empty.", "empty")
    if size > max_bytes:
        raise _fail(f"The image is larger than {_mb(max_bytes)} ({size / MB:.1f} MB).", "too_large")
    try:
        head = _read_at(file, 0, 64)
        kind = _sniff_image(head)
        if kind is None:
            other = _other_kind(head)
            if other:
                raise _fail(
                    f"This file is {other}; only JPEG, PNG, BMP or WEBP images are accepted.",
                    "not_an_image",
                )
            raise _fail("This file is not a JPEG, PNG, BMP or WEBP image.", "not_an_image")
        layout = _LAYOUTS[kind](file, size)
        if layout.size:
            # Judged from the header, before Pillow allocates anything for the picture.
            _check_dimensions(*layout.size, size)
        if layout.end < size and not _only_padding(file, layout.end):
            if "MPF" in layout.strip:
                raise _animated()
            raise _hidden_data(size - layout.end)
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=[kind]) as image:
                width, height = image.size
                if image.format != kind or getattr(image, "n_frames", 1) > 1:
                    raise _animated()
                _check_dimensions(width, height, size)
                orientation = _orientation(image)
                if kind == "JPEG":
                    # A reduced-scale decode still reads the whole stream, so damage shows, at
                    # a sixty-fourth of the memory of a full decode.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except ValidationError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _fail(
            "The image declares more pixels than it could sensibly hold (a decompression bomb).",
            "bomb",
        ) from None
    except UnidentifiedImageError:
        raise _damaged() from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError) as error:
        if "truncated" in str(error).lower() or isinstance(error, (EOFError, struct.error)):
            raise _truncated() from None
        raise _damaged() from None
    finally:
        file.seek(0)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(
        format=kind,
        content_type=IMAGE_FORMATS[kind],
        extension=IMAGE_EXTENSIONS[kind],
        width=width,
        height=height,
        size=size,
        orientation=orientation,
        end=layout.end,
        strip=tuple(layout.strip),
    )


def _check_dimensions(width: int, height: int, size: int) -> None:
    pixels = width * height
    if pixels > IMAGE_MAX_PIXELS and pixels * 3 > size * BOMB_RATIO:
        raise _fail(
            f"The image claims {width}×{height} pixels from a file of only {size:,} bytes: it "
            "would expand far beyond any real picture (a decompression bomb).",
            "bomb",
        )
    if pixels > IMAGE_MAX_PIXELS or max(width, height) > IMAGE_MAX_SIDE:
        raise _fail(
            f"The image is {width}×{height} pixels; at most {IMAGE_MAX_SIDE} pixels a side and "
            f"{IMAGE_MAX_PIXELS // 1_000_000} megapixels are accepted.",
            "too_many_pixels",
        )
    if min(width, height) < IMAGE_MIN_SIDE:
        raise _fail(
            f"The image is {width}×{height} pixels; it needs at least {IMAGE_MIN_SIDE} pixels "
            "a side.",
            "too_small",
        )
    if max(width, height) > IMAGE_MAX_ASPECT * min(width, height):
        raise _fail(
            f"The image is {width}×{height} pixels; one side may be at most {IMAGE_MAX_ASPECT} "
            "times the other.",
            "aspect",
        )


def image_prepare(file: IO[bytes], info: ImageInfo) -> IO[bytes] | None:
    """The bytes a provider should see, or None when the file can be stored as it is.

    Metadata blocks (EXIF — GPS, maker notes, serial numbers —, XMP, IPTC, comments, PNG text)
    are dropped segment by segment, leaving the picture's own bytes untouched; only an EXIF
    orientation other than upright needs one full decode and a re-encode, with no metadata.
    """
    if not info.needs_preparing:
        return None
    output = tempfile.SpooledTemporaryFile(max_size=4 * MB)  # noqa: SIM115 (returned open)
    if info.orientation != 1:
        _reencode_upright(file, info, output)
    else:
        {"JPEG": _jpeg_strip, "PNG": _png_strip, "WEBP": _webp_strip, "BMP": _copy}[info.format](
            file, info, output
        )
    file.seek(0)
    output.seek(0)
    return output


def _copy(file: IO[bytes], info: ImageInfo, output: IO[bytes], start: int = 0) -> None:
    for _, chunk in _blocks(file, start, info.end):
        output.write(chunk)


def _jpeg_strip(file: IO[bytes], info: ImageInfo, output: IO[bytes]) -> None:
    output.write(b"\xff\xd8")
    for marker, offset, length in _jpeg_segments(file, info.size):
        if marker == 0xD8:
            continue
        if marker == 0xDA:
            _copy(file, info, output, start=offset)
            return
        private = (0xE0 <= marker <= 0xEF and marker not in _JPEG_KEEP_APP) or marker == 0xFE
        if private and not (
            marker == 0xE2 and _read_at(file, offset + 4, 12) == b"ICC_PROFILE\x00"
        ):
            continue
        output.write(_read_at(file, offset, length))


def _png_strip(file: IO[bytes], info: ImageInfo, output: IO[bytes]) -> None:
    output.write(b"\x89PNG\r\n\x1a\n")
    offset = 8
    while offset < info.end:
        length, kind = struct.unpack(">I4s", _read_at(file, offset, 8))
        total = 12 + length
        if kind not in _PNG_PRIVATE:
            for _, chunk in _blocks(file, offset, offset + total):
                output.write(chunk)
        offset += total


def _webp_strip(file: IO[bytes], info: ImageInfo, output: IO[bytes]) -> None:
    chunks: list[tuple[bytes, int, int]] = []
    offset = 12
    while offset + 8 <= info.end:
        kind, length = struct.unpack("<4sI", _read_at(file, offset, 8))
        padded = 8 + length + (length & 1)
        if kind not in (b"EXIF", b"XMP "):
            chunks.append((kind, offset, padded))
        offset += padded
    body = sum(padded for _, _, padded in chunks)
    output.write(b"RIFF" + struct.pack("<I", body + 4) + b"WEBP")
    for kind, offset, padded in chunks:
        if kind == b"VP8X":
            data = bytearray(_read_at(file, offset, padded))
            data[8] &= ~(0x08 | 0x04) & 0xFF  # the EXIF and XMP flags
            output.write(bytes(data))
        else:
            for _, chunk in _blocks(file, offset, offset + padded):
                output.write(chunk)


def _reencode_upright(file: IO[bytes], info: ImageInfo, output: IO[bytes]) -> None:
    file.seek(0)
    with Image.open(file, formats=[info.format]) as image:
        image.load()
        icc = image.info.get("icc_profile")
        lossless = info.format == "WEBP" and image.info.get("lossless", False)
        upright = ImageOps.exif_transpose(image)
    params: dict[str, Any] = {}
    if icc:
        params["icc_profile"] = icc
    if info.format == "JPEG":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        params["quality"] = 95
    elif info.format == "WEBP":
        params.update(quality=95, lossless=bool(lossless))
    # No `exif=` and no text: nothing but the picture (and its colour profile) is written.
    upright.save(output, format=info.format, **params)


# --- Audio --------------------------------------------------------------------------------


def audio_inspect(
    file: IO[bytes],
    *,
    max_bytes: int = AUDIO_MAX_BYTES,
    min_seconds: float = AUDIO_MIN_SECONDS,
    max_seconds: float = AUDIO_MAX_SECONDS,
) -> AudioInfo:
    """Check that `file` is a WAV or MP3 track of an accepted length, measured from the file.

    Raises ValidationError with codes: empty, too_large, not_audio, truncated, damaged,
    unsupported, doubtful, duration.
    """
    size = _size_of(file)
    if size == 0:
        raise _fail("The file is empty.", "empty")
    if size > max_bytes:
        raise _fail(
            f"The audio file is larger than {_mb(max_bytes)} ({size / MB:.1f} MB).", "too_large"
        )
    try:
        head = _read_at(file, 0, 64)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            info = _wav_inspect(file, size)
        elif _mpeg_sync(head) and head[1] & 0x06 == 0:
            raise _fail(
                "This file is AAC audio (ADTS); only WAV or MP3 audio is accepted.", "not_audio"
            )
        elif head[:3] == b"ID3" or _mpeg_sync(head):
            info = _mp3_inspect(file, size)
        else:
            other = _other_kind(head)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                other = "a WEBP image"
            elif _sniff_image(head):
                other = f"a {_sniff_image(head)} image"
            if other:
                raise _fail(
                    f"This file is {other}; only WAV or MP3 audio is accepted.", "not_audio"
                )
            raise _fail("This file is not a WAV or MP3 audio file.", "not_audio")
    finally:
        file.seek(0)
    if info.duration < min_seconds or info.duration > max_seconds:
        raise _fail(
            f"The audio lasts {info.duration:.1f} s; it must last between {min_seconds:g} and "
            f"{max_seconds:g} seconds.",
            "duration",
        )
    return info


def _mpeg_sync(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


_WAV_FORMATS = {1: "PCM", 3: "IEEE float", 0xFFFE: "extensible"}
# The sub-format GUIDs of WAVE_FORMAT_EXTENSIBLE for PCM and float samples.
_WAV_SUBFORMATS = {
    b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x008\x9bq",
    b"\x03\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x008\x9bq",
}


def _wav_inspect(file: IO[bytes], size: int) -> AudioInfo:
    """Walk the RIFF chunks: the `fmt ` chunk says how many bytes a second holds, the `data`
    chunk how many there are (the `wave` module reads PCM only, and trusts a truncated file)."""
    declared = struct.unpack("<I", _read_at(file, 4, 4))[0] + 8
    offset, fmt, data_size = 12, None, None
    while offset + 8 <= min(size, declared):
        kind, length = struct.unpack("<4sI", _read_at(file, offset, 8))
        if kind == b"fmt ":
            fmt = _read_at(file, offset + 8, min(length, 40))
        elif kind == b"data":
            if offset + 8 + length > size:
                raise _fail(
                    "The WAV file is truncated: it ends before its sound does.", "truncated"
                )
            data_size = length
        offset += 8 + length + (length & 1)
    if fmt is None or len(fmt) < 16 or data_size is None:
        if declared > size:
            raise _fail("The WAV file is truncated: it ends before its sound does.", "truncated")
        raise _fail("The WAV file is damaged and cannot be read.", "damaged")
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag not in _WAV_FORMATS or (tag == 0xFFFE and fmt[24:40] not in _WAV_SUBFORMATS):
        raise _fail(
            f"This WAV file holds compressed audio (format 0x{tag:04X}); use plain PCM WAV or MP3.",
            "unsupported",
        )
    if not channels or not rate or not block_align or byte_rate != rate * block_align:
        raise _fail("The WAV file is damaged and cannot be read.", "damaged")
    return AudioInfo("WAV", "audio/wav", ".wav", data_size / byte_rate, size)


def _mp3_inspect(file: IO[bytes], size: int) -> AudioInfo:
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    try:
        audio = MP3(fileobj=file)
    except (MutagenError, OSError, ValueError, EOFError, struct.error):
        raise _fail(
            "The MP3 file is damaged: no MPEG audio frames could be found.", "damaged"
        ) from None
    info = audio.info
    if info is None or getattr(info, "sketchy", False):
        raise _fail(
            "This does not look like a real MP3 file: its audio frames are doubtful.", "doubtful"
        )
    if getattr(info, "layer", 3) != 3:
        raise _fail(
            f"This is MPEG layer {info.layer} audio, not MP3; use MP3 or WAV.", "unsupported"
        )
    if not info.length or info.length <= 0:
        raise _fail("The MP3 file holds no sound.", "damaged")
    return AudioInfo("MP3", "audio/mpeg", ".mp3", float(info.length), size)


def sha256_of(file: IO[bytes]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for _, chunk in _blocks(file, 0):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()
