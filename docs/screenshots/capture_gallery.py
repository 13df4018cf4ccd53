"""Take the gallery and generation page screenshots in docs/screenshots/.

    .venv/bin/python docs/screenshots/capture_gallery.py

Builds a throw-away studio in a temporary folder (SQLite, seeded with `seed_gallery` plus an
unfinished and a failed generation), serves it with gunicorn on 127.0.0.1, and drives Debian's
chromium headless through Playwright. Everything it starts, it stops.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
USERNAME, PASSWORD = "demo", "screenshots-only-password-1"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prepare(env: dict[str, str]) -> str:
    """Migrate and fill the studio; returns the id of the generation to show on its own page."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import Membership, Team
    from accounts.services import user_create
    from generations.models import Favourite, Generation

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    user = user_create(username=USERNAME, password=PASSWORD, starting_credits=40)
    team = Team.objects.create(name="Harbour Films", slug="harbour-films")
    Membership.objects.create(team=team, user=user)
    call_command("seed_gallery", user=USERNAME, count=46, random_seed=11, stdout=io.StringIO())
    newest = list(Generation.objects.filter(owner=user).order_by("-created_at")[:8])
    now = timezone.now()
    Generation.objects.filter(pk=newest[0].pk).update(
        state="running", progress=62, video="", poster="", created_at=now, finished_at=None
    )
    Generation.objects.filter(pk=newest[1].pk).update(
        state="queued", progress=None, video="", poster="", finished_at=None
    )
    Generation.objects.filter(pk=newest[4].pk).update(
        state="failed",
        video="",
        poster="",
        error_kind="refused",
        error_message="The provider refused this request: the image is too small.",
    )
    Generation.objects.filter(pk__in=[newest[2].pk, newest[6].pk]).update(team=team)
    Favourite.objects.bulk_create([Favourite(user=user, generation=g) for g in newest[2:4]])
    shown = newest[2]
    Generation.objects.filter(pk=shown.pk).update(
        rewritten_prompt=(
            "A weathered lighthouse on a rocky point turns its beam slowly through drifting "
            "sea fog at dusk, waves breaking below, cinematic wide shot."
        )
    )
    return str(shown.id)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="studio-screens-"))
    port = _port()
    env = {
        "DJANGO_SETTINGS_MODULE": "studio.settings.base",
        "STUDIO_VAR_DIR": str(work),
        "MEDIA_ROOT": str(work / "media"),
        "SECRET_KEY": "screenshots-only-secret-key-0123456789-0123456789",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    server = None
    try:
        shown = _prepare(env)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "studio.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (503 without a worker is fine here)
            except OSError:
                time.sleep(0.2)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            for name, viewport, scale in (
                ("desktop", {"width": 1360, "height": 1000}, 1),
                ("phone", {"width": 390, "height": 844}, 2),
            ):
                context = browser.new_context(
                    base_url=base,
                    viewport=viewport,
                    device_scale_factor=scale,
                    color_scheme="light",
                )
                page = context.new_page()
                page.goto("/accounts/login/")
                page.fill('input[name="username"]', USERNAME)
                page.fill('input[name="password"]', PASSWORD)
                page.click('button[type="submit"]')
                page.wait_for_url("**/")
                page.goto("/gallery/")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"gallery-{name}.png"))
                if name == "desktop":
                    page.goto(f"/generations/{shown}/")
                    # Show a frame, not the loading spinner: seek a little and wait for it.
                    page.evaluate(
                        "() => new Promise(done => { const v = document.querySelector("
                        "'video.player'); v.addEventListener('seeked', done, {once: true}); "
                        "v.currentTime = 0.6; })"
                    )
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(OUT / "generation-page.png"), full_page=True)
                context.close()
            browser.close()
        print(f"Wrote gallery-desktop.png, gallery-phone.png and generation-page.png to {OUT}")
        return 0
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
