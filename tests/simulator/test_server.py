"""The simulator speaks both wire formats over loopback, as the hosted providers do."""

from __future__ import annotations

import http.server
import io
import threading
import time

import av
import httpx
import pytest

from simulator.server import Config, serve
from tests.factories import image_bytes


@pytest.fixture(scope="module")
def files():
    """A tiny file server on loopback, standing in for the studio's signed links."""
    payload = {"/ref.png": image_bytes(size=(320, 180))}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = payload.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def sim():
    server = serve("127.0.0.1", 0, Config(fast=True, loopback_only=True, queue_seconds=0.05))
    yield server.simulator.config.public_base, server.simulator
    server.shutdown()


def _ms_body(image_url: str, **parameters) -> dict:
    return {
        "model": "wan2.6-i2v-flash",
        "prompt": "test",
        "duration": 2,
        "metadata": {
            "input": {"img_url": image_url},
            "parameters": {"resolution": "720P", **parameters},
        },
    }


def _wait(url: str, headers: dict, done: set[str]) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers=headers).json()
        if answer["status"] in done:
            return answer
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def test_modelstream_without_a_bearer_key_is_401_in_its_error_shape(sim):
    base, _ = sim
    response = httpx.post(base + "/v1/video/generations", json={}, headers={"X-API-Key": "k"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}


def test_apiframe_without_its_header_is_401(sim):
    base, _ = sim
    response = httpx.post(
        base + "/v2/videos/generate", json={}, headers={"Authorization": "Bearer k"}
    )
    assert response.status_code == 401


def test_a_bad_value_is_a_400_naming_the_param(sim, files):
    base, _ = sim
    response = httpx.post(
        base + "/v1/video/generations",
        json={**_ms_body(files + "/ref.png"), "duration": 16},
        headers={"Authorization": "Bearer k"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "duration"


def test_a_modelstream_task_runs_to_a_real_mp4(sim, files):
    base, _ = sim
    headers = {"Authorization": "Bearer k"}
    created = httpx.post(
        base + "/v1/video/generations", json=_ms_body(files + "/ref.png"), headers=headers
    ).json()
    assert created["status"] == "queued" and created["task_id"]
    answer = _wait(
        f"{base}/v1/video/generations/{created['task_id']}", headers, {"completed", "failed"}
    )
    assert answer["status"] == "completed", answer
    video = httpx.get(answer["url"]).content
    with av.open(io.BytesIO(video)) as container:
        assert abs(container.duration / av.time_base - 2) < 0.2


def test_an_apiframe_job_reports_credit_cost_and_a_result_object(sim, files):
    base, _ = sim
    headers = {"X-API-Key": "k"}
    body = {
        "prompt": "p",
        "model": "wan-2.6-flash",
        "wanParams": {"image": files + "/ref.png", "duration": 5, "audio_enabled": False},
    }
    created = httpx.post(base + "/v2/videos/generate", json=body, headers=headers).json()
    assert created["status"] == "QUEUED"
    answer = _wait(f"{base}/v2/jobs/{created['id']}", headers, {"COMPLETED", "FAILED"})
    assert answer["status"] == "COMPLETED"
    assert answer["creditCost"] == 2
    assert answer["result"]["videoUrl"].endswith(".mp4")


def test_a_repeated_idempotency_key_returns_the_same_task_and_is_counted(sim, files):
    base, simulator = sim
    headers = {"Authorization": "Bearer k", "Idempotency-Key": "same-key"}
    before = simulator.stats()["duplicate_submits"]
    first = httpx.post(
        base + "/v1/video/generations", json=_ms_body(files + "/ref.png"), headers=headers
    ).json()
    second = httpx.post(
        base + "/v1/video/generations", json=_ms_body(files + "/ref.png"), headers=headers
    ).json()
    assert first["task_id"] == second["task_id"]
    assert simulator.stats()["duplicate_submits"] == before + 1


def test_a_reference_that_cannot_be_fetched_fails_the_task_clearly(sim, files):
    base, _ = sim
    headers = {"Authorization": "Bearer k"}
    created = httpx.post(
        base + "/v1/video/generations", json=_ms_body(files + "/missing.png"), headers=headers
    ).json()
    answer = _wait(
        f"{base}/v1/video/generations/{created['task_id']}", headers, {"completed", "failed"}
    )
    assert answer["status"] == "failed"
    assert "Could not download" in answer["error"]["message"]
