"""A scripted provider on loopback: it answers what a test tells it to and records every request."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from generations.providers import http as provider_http


@dataclass
class Answer:
    status: int = 200
    body: bytes | dict | list | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering (or before closing, with `close`)
    close: bool = False  # close the connection without answering


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self):
        return json.loads(self.body)


class ScriptedProvider:
    """Answers queued `Answer`s in order (then `default`), recording each request."""

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.default = Answer(200, {"task_id": "task-1", "status": "queued"})
        self.requests: list[Recorded] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    Recorded(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                answer = outer.answers.popleft() if outer.answers else outer.default
                if answer.hang:
                    outer.release.wait(answer.hang)
                if answer.close:
                    self.close_connection = True
                    return
                payload = answer.body
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode()
                elif isinstance(payload, str):
                    payload = payload.encode()
                head = [f"HTTP/1.1 {answer.status} X"]
                headers = {
                    "Content-Type": "application/json",
                    "Content-Length": str(len(payload)),
                    **answer.headers,
                }
                head += [f"{k}: {v}" for k, v in headers.items()]
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    scripted = ScriptedProvider()
    yield scripted
    scripted.stop()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Back-off pauses of a few milliseconds, so retry tests stay fast (the shape is the same)."""
    monkeypatch.setattr(provider_http, "BACKOFF_BASE", 0.005)


@pytest.fixture
def fresh_http_client():
    """A shared client rebuilt from the current settings (timeouts), and closed afterwards."""
    provider_http.http_client_reset()
    yield
    provider_http.http_client_reset()


@pytest.fixture
def clean_breakers():
    """Every provider's breaker closed before and after the test. The database cache lives in
    a table that tests with real transactions do not roll back, so state would otherwise leak."""
    from generations.providers.health import breaker_reset

    for name in ("modelstream", "apiframe"):
        breaker_reset(provider=name)
    yield
    for name in ("modelstream", "apiframe"):
        breaker_reset(provider=name)


def browser_for(live_server, user) -> httpx.Client:
    """An HTTP client on the live server, signed in as `user` (a real session cookie)."""
    from django.conf import settings
    from django.test import Client

    django_client = Client()
    django_client.force_login(user)
    cookie = django_client.cookies[settings.SESSION_COOKIE_NAME].value
    client = httpx.Client(base_url=live_server.url, timeout=10, follow_redirects=False)
    client.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
    return client
