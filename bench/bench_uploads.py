"""Benchmark: receiving and validating ~20 MB reference images (JPEG, PNG, WEBP).

For each image it measures, each step in a fresh process so that peak memory is the step's own:

- parse:    Django's multipart parser with the studio's upload handler, reading the request body
            from disk — the upload must be streamed to a temporary file, never held in memory;
- validate: `uploads.image_inspect` — at most one full decode (a JPEG at 1/8 scale);
- strip:    `uploads.image_prepare` on a copy carrying GPS and maker notes (lossless removal);
- upright:  `uploads.image_prepare` on a copy with EXIF orientation 6 (one full decode and
            re-encode, done once when the reference is stored).

Memory is the process's peak resident set above its baseline just before the step (the peak is
reset through /proc/self/clear_refs), as a ratio to the file's size and to the decoded bitmap
(width × height × 3). Decodes are counted by wrapping Pillow's ImageFile.load.

    .venv/bin/python bench/bench_uploads.py            # prints a Markdown table
    .venv/bin/python bench/bench_uploads.py --json     # machine-readable

Bounded: six images made once (cached under the temp folder), four steps each, one run per
step; about a minute on two cores.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
TARGET = (19.0 * MB, 20.0 * MB)  # just under the 20 MB limit

# name: (format, save options, first guess at the size, noise)
IMAGES = {
    "jpeg-baseline": ("JPEG", {"quality": 90}, (7200, 4700), 60),
    "jpeg-progressive": ("JPEG", {"quality": 90, "progressive": True}, (7200, 4700), 60),
    "jpeg-dense": ("JPEG", {"quality": 100, "subsampling": 0}, (3200, 2100), 90),
    "png": ("PNG", {"compress_level": 1}, (3300, 2200), 60),
    "webp-lossy": ("WEBP", {"quality": 100, "method": 0}, (4300, 2850), 60),
    "webp-lossless": ("WEBP", {"lossless": True, "quality": 0, "method": 0}, (3200, 2150), 60),
}
STEPS = ("parse", "validate", "strip", "upright")


# --- Making the images --------------------------------------------------------------------


def _content(size: tuple[int, int], sigma: float):
    from PIL import Image, ImageChops

    width, height = size
    gradient = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.new("L", size, 128),
        ],
    )
    noise = Image.merge("RGB", [Image.effect_noise((width, height), sigma) for _ in range(3)])
    return ImageChops.blend(gradient, noise, 0.5)


def _encode(name: str, size: tuple[int, int], exif: bytes | None = None) -> bytes:
    image_format, options, _, sigma = IMAGES[name]
    buffer = io.BytesIO()
    extra = {"exif": exif} if exif else {}
    _content(size, sigma).save(buffer, image_format, **options, **extra)
    return buffer.getvalue()


def _exif(orientation: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Camera maker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8769] = {0x927C: b"maker notes " * 200}
    return exif.tobytes()


def make_images(folder: Path) -> dict[str, dict]:
    """Each image near 19.5 MB, plus copies with metadata; cached by name."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, (_, _, guess, _) in IMAGES.items():
        plain = folder / f"{name}.img"
        meta = folder / f"{name}.json"
        if not (plain.exists() and meta.exists()):
            size = guess
            for _ in range(4):
                data = _encode(name, size)
                if TARGET[0] <= len(data) < TARGET[1]:
                    break
                scale = ((sum(TARGET) / 2) / len(data)) ** 0.5
                size = (int(size[0] * scale), int(size[1] * scale))
            plain.write_bytes(data)
            (folder / f"{name}.strip.img").write_bytes(_encode(name, size, _exif(1)))
            (folder / f"{name}.upright.img").write_bytes(_encode(name, size, _exif(6)))
            meta.write_text(json.dumps({"width": size[0], "height": size[1]}))
        made[name] = {**json.loads(meta.read_text()), "bytes": plain.stat().st_size}
    return made


# --- One step, in a child process ------------------------------------------------------------


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS


def child(name: str, step: str, folder: Path) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.http.multipartparser import MultiPartParser
    from PIL import ImageFile

    from generations.uploads import LimitedUploadHandler, image_inspect, image_prepare

    decodes: list[tuple[int, int]] = []
    original_load = ImageFile.ImageFile.load

    def counting_load(self):
        if self.tile:  # a decode is about to happen (load() on a loaded image does nothing)
            decodes.append(tuple(self.size))
        return original_load(self)

    ImageFile.ImageFile.load = counting_load
    source = folder / f"{name}.img"
    if step in ("strip", "upright"):
        source = folder / f"{name}.{step}.img"
    body_path = None
    if step == "parse":
        boundary = "benchboundary7d3f"
        body_path = folder / f"{name}.multipart"
        with body_path.open("wb") as body:
            body.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="img_url"; '
                f'filename="{name}.img"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            )
            body.write(source.read_bytes())
            body.write(f"\r\n--{boundary}--\r\n".encode())
    # Warm up everything the step touches, so imports do not count as its memory.
    warm = io.BytesIO()
    from tests.factories import image_bytes

    warm.write(image_bytes(format=IMAGES[name][0]))
    image_inspect(warm)
    decodes.clear()

    handle = source.open("rb") if step != "parse" else None
    _reset_peak()
    baseline = _status("VmRSS")
    started = time.perf_counter()
    if step == "parse":
        length = body_path.stat().st_size
        with body_path.open("rb") as stream:
            meta = {
                "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
                "CONTENT_LENGTH": str(length),
            }
            _, files = MultiPartParser(meta, stream, [LimitedUploadHandler()]).parse()
        upload = files["img_url"]
        kept_on_disk = hasattr(upload, "temporary_file_path")
    elif step == "validate":
        info = image_inspect(handle)
    else:
        info = image_inspect(handle)
        decodes.clear()
        _reset_peak()
        baseline = _status("VmRSS")
        started = time.perf_counter()
        prepared = image_prepare(handle, info)
        prepared_size = prepared.seek(0, io.SEEK_END) if prepared is not None else None
    elapsed = time.perf_counter() - started
    peak = _status("VmHWM")
    result = {
        "image": name,
        "step": step,
        "seconds": round(elapsed, 3),
        "peak_extra_bytes": max(0, peak - baseline),
        "decodes": decodes,
    }
    if step == "parse":
        result["streamed_to_disk"] = kept_on_disk
        body_path.unlink()
    if step in ("strip", "upright"):
        result["prepared_bytes"] = prepared_size
    return result


def run_step(name: str, step: str, folder: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", name, step, "--folder", str(folder)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


# --- Report -------------------------------------------------------------------------------


def _amount(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size // 1024} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=str(Path(tempfile.gettempdir()) / "studio-bench"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("IMAGE", "STEP"))
    args = parser.parse_args()
    folder = Path(args.folder)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], folder)))
        return
    images = make_images(folder)
    rows = []
    for name, facts in images.items():
        bitmap = facts["width"] * facts["height"] * 3
        for step in STEPS:
            result = run_step(name, step, folder)
            result.update(
                file_bytes=facts["bytes"],
                size=f"{facts['width']}×{facts['height']}",
                bitmap_bytes=bitmap,
                per_file=round(result["peak_extra_bytes"] / facts["bytes"], 2),
                per_bitmap=round(result["peak_extra_bytes"] / bitmap, 2),
            )
            rows.append(result)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| image | size | file | step | time | peak extra memory | × file | × bitmap | decodes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        decodes = ", ".join(f"{w}×{h}" for w, h in row["decodes"]) or "none"
        note = ""
        if row["step"] == "parse":
            note = " (on disk)" if row["streamed_to_disk"] else " (IN MEMORY)"
        print(
            f"| {row['image']} | {row['size']} | {row['file_bytes'] / MB:.1f} MB | "
            f"{row['step']}{note} | {row['seconds'] * 1000:.0f} ms | "
            f"{_amount(row['peak_extra_bytes'])} | {row['per_file']} | {row['per_bitmap']} | "
            f"{len(row['decodes'])}: {decodes} |"
        )


if __name__ == "__main__":
    main()
