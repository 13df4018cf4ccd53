"""`make run`: prepare the embedded default and start web, workers and the simulator together.

Everything a fresh machine needs happens here, and a second run reuses what exists: the
secret key and the SQLite database live under var/, migrations and the cache table are
idempotent, and the demo users are created only once. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    var = Path(env.get("STUDIO_VAR_DIR", ROOT / "var"))
    (var / "static").mkdir(parents=True, exist_ok=True)
    env.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings.base")
    # The Procfile says `python`: make it this interpreter (the virtualenv's).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    port = env.setdefault("PORT", "8000")
    simulator_port = env.setdefault("SIMULATOR_PORT", "8765")
    env["STUDIO_WEB_PORT"] = port
    env.setdefault("STUDIO_PUBLIC_URL", f"http://127.0.0.1:{port}")
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    if not env.get("SECRET_KEY") and env.get("DEBUG", "").lower() not in ("1", "true", "yes", "on"):
        key_file = var / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        env["SECRET_KEY"] = key_file.read_text().strip()
    simulator = f"http://127.0.0.1:{simulator_port}"
    uses_simulator = False
    for provider in ("MODELSTREAM", "APIFRAME"):
        if not env.get(f"{provider}_API_KEY"):
            env[f"{provider}_API_BASE"] = simulator
            env[f"{provider}_API_KEY"] = "simulator"
            uses_simulator = True
    if uses_simulator:
        allowed = [h for h in env.get("STUDIO_FETCH_ALLOWED_HOSTS", "").split(",") if h]
        if "127.0.0.1" not in allowed:
            allowed.append("127.0.0.1")
        env["STUDIO_FETCH_ALLOWED_HOSTS"] = ",".join(allowed)
        env.setdefault("SIMULATOR_LOOPBACK_ONLY", "1")
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers; a 503 from /healthz while the workers start is fine
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def main() -> int:
    env = _environment()
    print("Preparing the studio (database, cache table, demo users)…", flush=True)
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "createcachetable")
    _manage(env, "check", "--fail-level", "ERROR")
    _manage(env, "ensure_demo_users")
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", "Procfile"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{env['PORT']}/"
    try:
        if _wait_for(url + "healthz", honcho):
            print(f"\nStudio is running at {url}\n", flush=True)
        elif honcho.poll() is None:
            print(f"\nThe studio did not answer at {url} yet; see the log above.\n", flush=True)
        return honcho.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached honcho too (same process group); give it time to stop its children.
        try:
            return honcho.wait(timeout=20)
        except subprocess.TimeoutExpired:
            honcho.send_signal(signal.SIGTERM)
            return honcho.wait()


if __name__ == "__main__":
    sys.exit(main())
