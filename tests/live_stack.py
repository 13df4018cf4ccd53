"""One live stack per test session: gunicorn, a real qcluster and the simulator, on loopback.

Started on first use and stopped at the end of the session. It shares the test database (a
file for SQLite, the test database for PostgreSQL) and the media folder with the test process,
so tests can drive it over HTTP and check what it stored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The URL of the test database as the test process sees it after setup."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "")
    password = quote(db.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if user else ""
    return f"postgres://{credentials}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class LiveStack:
    url: str
    simulator_url: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    # What the running `cluster` has over the stack's environment (see `cluster_with`).
    cluster_env: dict[str, str] = field(default_factory=dict)

    def _start(self, name: str, args: list[str], *, env: dict[str, str] | None = None) -> None:
        log = ARTIFACTS / f"live-{name}.log"
        self.logs[name] = log
        handle = log.open("ab")
        self.processes[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env or self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it can be killed as a whole
        )

    def start_simulator(self) -> None:
        port = self.simulator_url.rsplit(":", 1)[1]
        self._start("simulator", [sys.executable, "-m", "simulator", "--port", port])

    def start_web(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        # The web server accepts Apiframe callbacks (the route answers 404 otherwise); only a
        # cluster started with APIFRAME_WEBHOOKS asks for them (tests/integration/test_faults.py).
        self._start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "studio.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--timeout",
                "60",
                "--access-logfile",
                "-",
            ],
            env={**self.env, "APIFRAME_WEBHOOKS": "1"},
        )

    def start_cluster(self, name: str = "cluster", *, env: dict[str, str] | None = None) -> None:
        """Start a qcluster (with the stack's environment, or `env` over it) and wait until it
        reports that it runs."""
        log = ARTIFACTS / f"live-{name}.log"
        started = log.read_bytes().count(b" running.") if log.exists() else 0
        self._start(
            name, [sys.executable, "manage.py", "qcluster"], env={**self.env, **(env or {})}
        )
        wait_until(
            lambda: log.read_bytes().count(b" running.") > started,
            timeout=60,
            what=f"the cluster {name} to run",
        )

    def stop_cluster(self, name: str = "cluster") -> None:
        """Stop a cluster gracefully (SIGTERM to its main process), as an operator would."""
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # no worker outlives its cluster

    @contextlib.contextmanager
    def cluster_with(self, **env: str):
        """The stack's cluster replaced by one with `env` over the stack's environment for the
        duration; afterwards the cluster it had before is back."""
        previous = self.cluster_env
        if "cluster" in self.processes:
            self.stop_cluster("cluster")
        self.start_cluster("cluster", env=env)
        self.cluster_env = env
        try:
            yield self
        finally:
            self.stop_cluster("cluster")
            self.start_cluster("cluster", env=previous)
            self.cluster_env = previous

    def signal_group(self, name: str, sig: int) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)

    def kill_cluster(self, name: str = "cluster") -> None:
        """SIGKILL the cluster's whole process group, as a crash would."""
        self.signal_group(name, signal.SIGKILL)
        self.processes[name].wait(timeout=10)

    def stop(self) -> None:
        for name in list(self.processes):
            self.signal_group(name, signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.signal_group(name, signal.SIGKILL)
                process.wait(timeout=5)

    def wait_ready(self) -> None:
        def answers(url: str) -> bool:
            try:
                httpx.get(url, timeout=2)
                return True
            except httpx.HTTPError:
                return False

        wait_until(lambda: answers(self.simulator_url + "/healthz"), timeout=30, what="simulator")
        wait_until(lambda: answers(self.url + "/healthz"), timeout=60, what="web server")

    def simulator_stats(self) -> dict:
        return httpx.get(self.simulator_url + "/_sim/stats", timeout=5).json()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def login(self, username: str, password: str) -> httpx.Client:
        client = self.client()
        client.get("/accounts/login/")
        response = client.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
            headers={"Referer": self.url + "/accounts/login/"},
        )
        assert response.status_code == 302, f"login failed: {response.status_code}"
        return client


def stack_environment(web_port: int, simulator_port: int) -> dict[str, str]:
    env = dict(os.environ)
    simulator = f"http://127.0.0.1:{simulator_port}"
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "studio.settings.test",
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "SECRET_KEY": settings.SECRET_KEY,
            "STUDIO_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "MODELSTREAM_API_BASE": simulator,
            "MODELSTREAM_API_KEY": "test-modelstream-key",
            "APIFRAME_API_BASE": simulator,
            "APIFRAME_API_KEY": "test-apiframe-key",
            "STUDIO_FETCH_ALLOWED_HOSTS": "127.0.0.1",
            "SIMULATOR_FAST": "1",
            "SIMULATOR_LOOPBACK_ONLY": "1",
            "SIMULATOR_QUEUE_SECONDS": "0.2",
            "STUDIO_TRACKER_RUN_SECONDS": "20",
            "STUDIO_Q_WORKERS": "4",
            # Many tests sign in through the same address; the throttles have tests of their own.
            "STUDIO_LOGIN_RATE": "0",
            "STUDIO_SIGNUP_RATE": "0",
            "STUDIO_SUBMIT_RATE": "0",
            "STUDIO_UPLOAD_RATE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def empty_task_queue() -> None:
    """Tasks that earlier tests left in a shared broker (Redis outlives their transactions)
    name rows that are gone; the live cluster starts on an empty queue, as a new one would."""
    from django_q.brokers import get_broker

    get_broker().purge_queue()


@pytest.fixture(scope="session")
def live_stack(django_db_setup, django_db_blocker):
    ARTIFACTS.mkdir(exist_ok=True)
    with django_db_blocker.unblock():
        web_port, simulator_port = free_port(), free_port()
        stack = LiveStack(
            url=f"http://127.0.0.1:{web_port}",
            simulator_url=f"http://127.0.0.1:{simulator_port}",
            env=stack_environment(web_port, simulator_port),
        )
        try:
            stack.start_simulator()
            stack.start_web()
            empty_task_queue()
            stack.start_cluster()
            stack.wait_ready()
            yield stack
        finally:
            stack.stop()
