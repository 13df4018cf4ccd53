"""`make prod`: refuses clearly without PostgreSQL and Redis; with them, serves and stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx

from tests.live_stack import ARTIFACTS, free_port, wait_until
from tests.production.test_production_settings import ROOT, production_env


def launch(env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "studio.launch_production"],
        cwd=ROOT,
        env=env,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def test_it_names_the_missing_variables():
    env = production_env(DATABASE_URL="", REDIS_URL="", SECRET_KEY="")
    result = launch(env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = result.communicate(timeout=60)
    assert result.returncode == 2
    assert "refusing to start" in err
    assert "SECRET_KEY, DATABASE_URL, REDIS_URL" in err


def test_it_refuses_when_postgresql_does_not_answer():
    result = launch(production_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = result.communicate(timeout=60)
    assert result.returncode == 2
    assert "PostgreSQL at DATABASE_URL does not answer" in err


def test_it_refuses_an_unsafe_configuration_with_the_settings_own_words():
    result = launch(
        production_env(STUDIO_PUBLIC_URL="http://studio.example.test"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = result.communicate(timeout=60)
    assert result.returncode == 2
    assert "STUDIO_PUBLIC_URL must be an https:// address" in err
    assert "Traceback" not in err


def test_it_runs_web_and_workers_on_postgresql_and_redis_and_stops_on_sigterm(
    fresh_postgres_database, redis_server_url, tmp_path
):
    port = free_port()
    env = production_env(
        DATABASE_URL=fresh_postgres_database,
        REDIS_URL=redis_server_url.rsplit("/", 1)[0] + "/7",
        ALLOWED_HOSTS="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        STUDIO_Q_WORKERS="2",
        STATIC_ROOT=str(tmp_path / "static"),
        MEDIA_ROOT=str(tmp_path / "media"),
        MODELSTREAM_API_BASE="http://127.0.0.1:9",
        APIFRAME_API_BASE="http://127.0.0.1:9",
        STUDIO_STOP_SECONDS="40",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "make-prod.log"
    with log_path.open("w") as log:
        process = launch(env, stdout=log, stderr=subprocess.STDOUT)
        try:

            def healthy():
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
                except httpx.HTTPError:
                    return None
                return response if response.status_code == 200 else None

            response = wait_until(healthy, timeout=120, interval=0.5, what="a healthy /healthz")
            checks = response.json()["checks"]
            assert checks["database"]["vendor"] == "postgresql"
            assert checks["queue"]["broker"] == "redis"
            assert checks["queue"]["clusters"] == 1 and checks["queue"]["workers"] == 2

            # Pages are https-only behind the proxy.
            page = httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5)
            assert page.status_code == 301 and page.headers["location"].startswith("https://")

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=45) == 0
            assert time.monotonic() - started < 40
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    lines = [line for line in log_path.read_text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    assert any(e["logger"] == "gunicorn.access" and e.get("path") == "/healthz" for e in entries)
    assert any(e["logger"] == "django-q" for e in entries)
    assert env["SECRET_KEY"] not in log_path.read_text()
