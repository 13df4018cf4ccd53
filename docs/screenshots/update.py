"""Copy the screenshots the docs show from the browser tests' output into docs/screenshots/.

    make test PYTEST_ARGS="tests/browser"      # writes test-artifacts/screenshots/
    .venv/bin/python docs/screenshots/update.py

The browser tests photograph every step of their journeys and every page in both themes at
desktop and phone width; this picks the ones the user guide, the admin guide and the README
use, trims long pages to their top, and composes the README's picture (the gallery on a desktop
with the create page on a phone beside it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "test-artifacts" / "screenshots"
OUT = Path(__file__).resolve().parent

# docs name: (screenshot of the tests, the height kept from the top; None keeps all of it)
PICKS: dict[str, tuple[str, int | None]] = {
    # User guide
    "sign-up.png": ("newcomer-01-sign-up", 760),
    "create-filled.png": ("newcomer-04-create-filled", 1500),
    "progress.png": ("newcomer-05-progress", 760),
    "video.png": ("newcomer-06-video", 760),
    "bad-upload.png": ("create-bad-upload", 900),
    "out-of-range.png": ("create-out-of-range", None),
    "empty-gallery.png": ("newcomer-02-empty-gallery", 700),
    "gallery.png": ("page-gallery-desktop-light", 1100),
    "gallery-dark.png": ("page-gallery-desktop-dark", 1100),
    "gallery-filtered.png": ("gallery-filtered", 900),
    "use-again.png": ("create-use-again", 1000),
    "generation-failed.png": ("credits-02-failed-refunded", 760),
    "fix-and-try-again.png": ("credits-04-fix-and-try-again", 1400),
    "not-enough-credits.png": ("credits-01-not-enough", 900),
    "account.png": ("credits-03-account", 900),
    "teams.png": ("teams-02-invitation", 700),
    "team-gallery.png": ("page-team-gallery-desktop-light", 1000),
    "team-members.png": ("teams-04-members", None),
    "team-removed.png": ("teams-05-removed", 700),
    "phone-create.png": ("page-create-phone-light", 1600),
    "phone-gallery-dark.png": ("page-gallery-phone-dark", 1600),
    "phone-generation.png": ("page-generation-running-phone-dark", 1400),
    # Admin guide
    "admin-usage.png": ("admin-usage", None),
    "admin-grant.png": ("admin-grant-form", 420),
    "admin-grant-done.png": ("admin-grant-done", 520),
    "admin-users.png": ("admin-users", 520),
    "admin-teams.png": ("admin-teams", 420),
    "admin-ledger.png": ("admin-ledger", 700),
    "admin-grant-from-page.png": ("admin-grant-from-page", 520),
    # Notices, the phone's bottom bar, a model switch's note
    "notices-desktop.png": ("notices-wide", None),
    "notices-phone.png": ("notices-phone", None),
    "phone-action-bar.png": ("create-phone", None),
    "switch-note.png": ("create-switch-note", None),
    "compare.png": ("compare-desktop", None),
    "batch.png": ("batch-page", 1100),
}
# docs/create-page.md shows these two at the top of docs/.
TOP_LEVEL = {"create-modelstream.png": ("create-modelstream", None)}
TOP_LEVEL["create-apiframe.png"] = ("create-apiframe", None)


def _trimmed(name: str, height: int | None) -> Image.Image:
    image = Image.open(SOURCE / f"{name}.png").convert("RGB")
    if height is not None and image.height > height:
        image = image.crop((0, 0, image.width, height))
    return image


def _save(image: Image.Image, path: Path) -> None:
    image.save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


def _studio_picture() -> Image.Image:
    """The README's picture: the gallery on a desktop, the create page on a phone in front."""
    desktop = _trimmed("page-gallery-desktop-light", 820)
    phone = _trimmed("page-create-phone-dark", 760)
    margin, radius = 28, 18
    overlap = phone.width * 2 // 5  # the phone stands in front of the desktop's right edge
    width = margin + desktop.width + phone.width - overlap + margin
    height = margin + desktop.height + 70
    canvas = Image.new("RGB", (width, height), (236, 236, 246))
    canvas.paste(desktop, (margin, margin))
    x, y = margin + desktop.width - overlap, height - phone.height - margin // 2
    shadow = Image.new("L", (phone.width + 60, phone.height + 60), 0)
    ImageDraw.Draw(shadow).rounded_rectangle(
        (30, 30, phone.width + 30, phone.height + 30), radius, fill=110
    )
    canvas.paste((20, 20, 40), (x - 30, y - 22), shadow.filter(ImageFilter.GaussianBlur(14)))
    mask = Image.new("L", phone.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, phone.width, phone.height), radius, fill=255)
    canvas.paste(phone, (x, y), mask)
    return canvas


def main() -> int:
    missing = [
        name
        for name, _ in [*PICKS.values(), *TOP_LEVEL.values()]
        if not (SOURCE / f"{name}.png").exists()
    ]
    if missing:
        print("Run the browser tests first; missing: " + ", ".join(missing))
        return 1
    for target, (name, height) in PICKS.items():
        _save(_trimmed(name, height), OUT / target)
    for target, (name, height) in TOP_LEVEL.items():
        _save(_trimmed(name, height), OUT.parent / target)
    _save(_studio_picture(), OUT / "studio.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
