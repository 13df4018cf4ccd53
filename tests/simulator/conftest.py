"""The simulator on loopback, and a file server standing in for the studio's signed links."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from simulator.server import Config, Simulator, serve
from tests.factories import image_bytes, wav_bytes

MS_KEY = {"Authorization": "Bearer sk-sim"}
AF_KEY = {"X-API-Key": "afk-sim"}


@pytest.fixture(scope="session")
def files():
    """A tiny file server on loopback: /ref.png, /ref.jpg, /voice.wav, /not-an-image.png."""
    payload = {
        "/ref.png": (image_bytes(size=(320, 180)), "image/png"),
        "/ref.jpg": (image_bytes(size=(180, 320), format="JPEG"), "image/jpeg"),
        "/voice.wav": (wav_bytes(seconds=3.5), "audio/wav"),
        "/not-an-image.png": (b"<html>nope</html>", "image/png"),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body, content_type = payload.get(self.path, (b"", "text/plain"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclass
class Sim:
    url: str
    state: Simulator

    def configure(self, faults: str) -> httpx.Response:
        response = httpx.post(self.url + "/_sim/config", json={"faults": faults})
        assert response.status_code == 200, response.text
        return response

    def stats(self) -> dict:
        return httpx.get(self.url + "/_sim/stats").json()


@pytest.fixture(scope="module")
def simulator_server():
    server = serve(
        "127.0.0.1", 0, Config(fast=True, loopback_only=True, queue_seconds=0.05, render_workers=2)
    )
    yield server
    server.shutdown()


@pytest.fixture
def sim(simulator_server) -> Sim:
    """The module's simulator, reset: no tasks, no counters, the base faults."""
    simulator_server.simulator.reset()
    return Sim(simulator_server.simulator.config.public_base, simulator_server.simulator)


def ms_body(image_url: str, prompt: str = "test", **parameters) -> dict:
    return {
        "model": "wan2.6-i2v-flash",
        "prompt": prompt,
        "duration": 2,
        "metadata": {
            "input": {"img_url": image_url},
            "parameters": {"resolution": "720P", "audio": False, **parameters},
        },
    }


def af_body(image_url: str, prompt: str = "test", **params) -> dict:
    return {
        "prompt": prompt,
        "model": "wan-2.6-flash",
        "wanParams": {"image": image_url, "duration": 5, "audio_enabled": False, **params},
    }


def wait_for(url: str, headers: dict, done: set[str], timeout: float = 20) -> dict:
    """Read a task until its status is one of `done`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers=headers).json()
        if answer.get("status") in done:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"the task never reached {done}")
