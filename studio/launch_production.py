"""`make prod`: check the production configuration, prepare the release, run web and workers.

1. Refuses, naming what is missing, when a variable production needs is not set, when the
   production settings refuse the configuration, or when PostgreSQL or Redis does not answer.
2. Migrates (skip with STUDIO_MIGRATE=0, e.g. on all but one machine), collects static files
   and runs `check --deploy`, which must report nothing.
3. Starts the processes named in STUDIO_PROCESSES (default `web,worker`): gunicorn with
   studio/gunicorn.conf.py, and one django-q2 cluster. Each runs in its own session, so a
   stop reaches only its main process: SIGTERM or Ctrl-C here is passed on as one SIGTERM to
   gunicorn's master (requests in progress finish) and to the cluster (tasks in hand finish;
   the tracker hands over at once). Whatever is still running after STUDIO_STOP_SECONDS is
   killed. If one process ends, the others are stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "STUDIO_PUBLIC_URL")
COMMANDS = {
    "web": [sys.executable, "-m", "gunicorn", "studio.wsgi", "--config", "studio/gunicorn.conf.py"],
    "worker": [sys.executable, "manage.py", "qcluster"],
}


def refuse(message: str) -> int:
    print(f"make prod: refusing to start.\n{message}", file=sys.stderr, flush=True)
    return 2


def _check_configuration(env: dict[str, str]) -> str | None:
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        return (
            "These variables must be set (see docs/deploy.md): "
            + ", ".join(missing)
            + "\nPostgreSQL and Redis come from DATABASE_URL and REDIS_URL."
        )
    probe = (
        "import django\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    django.setup()\n"
        "except ImproperlyConfigured as error:\n"
        "    raise SystemExit(str(error))\n"
        "from django.db import connection\n"
        "try:\n"
        "    connection.ensure_connection()\n"
        "except Exception as error:\n"
        "    raise SystemExit(f'PostgreSQL at DATABASE_URL does not answer: {type(error).__name__}')\n"
        "import redis\n"
        "from django.conf import settings\n"
        "try:\n"
        "    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5).ping()\n"
        "except redis.RedisError as error:\n"
        "    raise SystemExit(f'Redis at REDIS_URL does not answer: {type(error).__name__}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode == 0:
        return None
    text = result.stderr.strip() or "the settings did not load"
    # A crash prints a traceback: its last line says what went wrong.
    return text.splitlines()[-1] if "Traceback" in text else text


def _manage(env: dict[str, str], *args: str) -> bool:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env).returncode == 0


def _stop(processes: dict[str, subprocess.Popen], seconds: float) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + seconds
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"make prod: {name} did not stop in {seconds:.0f}s; killing it", flush=True)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> int:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "studio.settings.production"
    env.setdefault("PYTHONUNBUFFERED", "1")
    problem = _check_configuration(env)
    if problem:
        return refuse(problem)
    names = [n.strip() for n in env.get("STUDIO_PROCESSES", "web,worker").split(",") if n.strip()]
    unknown = [n for n in names if n not in COMMANDS]
    if unknown or not names:
        return refuse(f"STUDIO_PROCESSES may name web and worker, not {unknown or names}.")

    if env.get("STUDIO_MIGRATE", "1") != "0" and not _manage(env, "migrate", "--noinput"):
        return refuse("The migrations did not apply.")
    if "web" in names and not _manage(env, "collectstatic", "--noinput", "-v", "0"):
        return refuse("collectstatic failed.")
    if not _manage(env, "check", "--deploy", "--fail-level", "WARNING"):
        return refuse("`manage.py check --deploy` reported problems (above).")

    # Long enough for the longest task to finish (the cluster's timeout) and a margin.
    stop_seconds = float(env.get("STUDIO_STOP_SECONDS", int(env.get("STUDIO_Q_TIMEOUT", 120)) + 15))
    processes: dict[str, subprocess.Popen] = {}
    stopping: list[int] = []

    def request_stop(signum: int, frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    for name in names:
        processes[name] = subprocess.Popen(
            COMMANDS[name], cwd=ROOT, env=env, start_new_session=True
        )
    print(f"make prod: started {', '.join(f'{n} (pid {p.pid})' for n, p in processes.items())}",
          flush=True)  # fmt: skip
    exit_code = 0
    while not stopping:
        ended = [name for name, process in processes.items() if process.poll() is not None]
        if ended:
            exit_code = processes[ended[0]].returncode or 1
            print(f"make prod: {ended[0]} exited ({exit_code}); stopping the rest", flush=True)
            break
        time.sleep(0.5)
    _stop(processes, stop_seconds)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
