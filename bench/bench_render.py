"""How fast the simulator renders: `python bench/bench_render.py [--repeat N] [--all]`.

Renders from a photo-like reference (1920×1080: gradients, shapes and grain, which cost the
encoder more than flat colour) with the simulator's own renderer, in this process, and
prints a Markdown table for docs/performance.md. The bound from issue 5: a 5 s clip at 720p
(with its audio track) renders in at most 4 s on 2 cores. Exits 1 when the median misses it
(`--no-check` to only measure).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFilter

from simulator.render import RenderRequest, render_video

BOUND_SECONDS = 4.0


def reference_image(width: int = 1920, height: int = 1080) -> bytes:
    """A deterministic picture with the detail of a photo."""
    rng = random.Random(2026)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(20, 260)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(3))
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(image, grain, 0.15)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def measure(image: bytes, request: RenderRequest, repeat: int) -> dict:
    walls, cpus = [], []
    size = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        size = len(render_video(image, request))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "median": statistics.median(walls),
        "best": min(walls),
        "cpu": statistics.median(cpus),
        "bytes": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="renders per case (median kept)")
    parser.add_argument("--all", action="store_true", help="also 15 s at 1080p (slow)")
    parser.add_argument("--no-check", action="store_true", help="do not fail on the bound")
    args = parser.parse_args()

    image = reference_image()
    cases = [
        ("5 s 720p, audio", RenderRequest(duration=5, short_side=720, seed=1, audio=True)),
        (
            "5 s 720p, multi-shot + watermark",
            RenderRequest(duration=5, short_side=720, seed=1, multi_shot=True, watermark=True),
        ),
        ("5 s 1080p, audio", RenderRequest(duration=5, short_side=1080, seed=1, audio=True)),
        ("5 s fast mode", RenderRequest(duration=5, short_side=720, seed=1, fast=True)),
    ]
    if args.all:
        cases.append(("15 s 1080p, audio", RenderRequest(duration=15, short_side=1080, seed=1)))

    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# render benchmark: {platform.python_version()}, {cores} cores, load {load:.2f}")
    print(f"reference: 1920×1080 JPEG, {len(image) // 1024} KiB; {args.repeat} renders per case\n")
    print("| case | median wall (s) | best (s) | CPU (s) | × real time | file (KiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    results = {}
    for name, request in cases:
        result = measure(image, request, args.repeat)
        results[name] = result
        speed = request.duration / result["median"]
        print(
            f"| {name} | {result['median']:.2f} | {result['best']:.2f} | {result['cpu']:.2f} "
            f"| {speed:.1f} | {result['bytes'] // 1024} |"
        )
    bounded = results["5 s 720p, audio"]["median"]
    verdict = "within" if bounded <= BOUND_SECONDS else "OVER"
    print(f"\n5 s 720p: {bounded:.2f} s, {verdict} the {BOUND_SECONDS:.0f} s bound")
    return 0 if args.no_check or bounded <= BOUND_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
