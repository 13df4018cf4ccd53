"""The simulator speaks both wire formats over loopback, as the hosted providers do."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time

import av
import httpx
import pytest

from simulator.faults import FaultError, faults_from_prompt, parse_faults
from simulator.server import Config
from tests.live_stack import ROOT
from tests.simulator.conftest import AF_KEY, MS_KEY, af_body, ms_body, wait_for

# --- Authentication and bad input, in each provider's own error shape ----------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "k"}, {"Authorization": "Bearer"}, {"Authorization": "Basic k"}],
    ids=["none", "other-providers-header", "empty-bearer", "not-bearer"],
)
def test_modelstream_without_a_bearer_key_is_401_in_its_error_shape(sim, files, headers):
    response = httpx.post(
        sim.url + "/v1/video/generations", json=ms_body(files + "/ref.png"), headers=headers
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "authentication_error" and "Bearer" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer k"}, {"X-API-Key": ""}],
    ids=["none", "bearer", "blank"],
)
def test_apiframe_without_its_header_is_401_in_its_error_shape(sim, files, headers):
    response = httpx.post(
        sim.url + "/v2/videos/generate", json=af_body(files + "/ref.png"), headers=headers
    )
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "code", "param"}
    assert "X-API-Key" in response.json()["error"]["message"]


def test_reads_need_the_key_too(sim):
    assert httpx.get(sim.url + "/v1/video/generations/x").status_code == 401
    assert httpx.get(sim.url + "/v2/jobs/x").status_code == 401


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"duration": 16}, "duration"),
        ({"duration": 5.0}, "duration"),
        ({"model": "wan2.7"}, "model"),
        ({"prompt": ""}, "prompt"),
        ({"metadata": {"input": {}, "parameters": {}}}, "img_url"),
        (
            {"metadata": {"input": {"img_url": "x"}, "parameters": {"resolution": "720p"}}},
            "resolution",
        ),
        ({"metadata": {"input": {"img_url": "x"}, "parameters": {"audio": "true"}}}, "audio"),
        ({"metadata": {"input": {"img_url": "x"}, "parameters": {"seed": -1}}}, "seed"),
        (
            {"metadata": {"input": {"img_url": "x"}, "parameters": {"shot_type": "Multi"}}},
            "shot_type",
        ),
    ],
)
def test_modelstream_bad_input_is_a_400_naming_the_param(sim, files, change, param):
    response = httpx.post(
        sim.url + "/v1/video/generations",
        json={**ms_body(files + "/ref.png"), **change},
        headers=MS_KEY,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"duration": 7}, "duration"),
        ({"resolution": "1080P"}, "resolution"),
        ({"audio_enabled": 0}, "audio_enabled"),
        ({"multi_shots": True, "enable_prompt_expansion": False}, "multi_shots"),
        ({"seed": "12"}, "seed"),
    ],
)
def test_apiframe_bad_input_is_a_400_naming_the_param(sim, files, change, param):
    response = httpx.post(
        sim.url + "/v2/videos/generate", json=af_body(files + "/ref.png", **change), headers=AF_KEY
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_body_that_is_not_json_is_a_400(sim):
    response = httpx.post(sim.url + "/v1/video/generations", content=b"{nope", headers={**MS_KEY})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_an_unknown_task_is_a_404_in_the_providers_shape(sim):
    response = httpx.get(sim.url + "/v2/jobs/nope", headers=AF_KEY)
    assert response.status_code == 404 and response.json()["error"]["code"] == "task_not_found"


# --- Tasks run to real MP4s ------------------------------------------------------------------


def test_a_modelstream_task_runs_to_a_real_mp4(sim, files):
    created = httpx.post(
        sim.url + "/v1/video/generations", json=ms_body(files + "/ref.png"), headers=MS_KEY
    ).json()
    assert set(created) == {"task_id", "status"} and created["status"] == "queued"

    answer = wait_for(
        f"{sim.url}/v1/video/generations/{created['task_id']}", MS_KEY, {"completed", "failed"}
    )

    assert answer["status"] == "completed" and answer["progress"] == 100, answer
    video = httpx.get(answer["url"])
    assert video.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        assert abs(container.duration / av.time_base - 2) < 0.2


def test_an_apiframe_job_reports_credit_cost_and_a_result_object(sim, files):
    created = httpx.post(
        sim.url + "/v2/videos/generate", json=af_body(files + "/ref.png"), headers=AF_KEY
    ).json()
    assert created["status"] == "QUEUED" and created["id"]

    answer = wait_for(f"{sim.url}/v2/jobs/{created['id']}", AF_KEY, {"COMPLETED", "FAILED"})

    assert answer["status"] == "COMPLETED" and answer["creditCost"] == 2
    assert answer["result"]["videoUrl"].endswith(".mp4")


def test_progress_rises_while_a_task_runs(sim, files):
    body = ms_body(files + "/ref.png", prompt="slow sim:run_seconds=1")
    created = httpx.post(sim.url + "/v1/video/generations", json=body, headers=MS_KEY).json()
    url = f"{sim.url}/v1/video/generations/{created['task_id']}"

    seen = []
    while not seen or seen[-1][0] != "completed":
        answer = httpx.get(url, headers=MS_KEY).json()
        seen.append((answer["status"], answer["progress"]))
        time.sleep(0.1)

    running = [progress for status, progress in seen if status == "in_progress"]
    assert len(set(running)) >= 3 and running == sorted(running)


def test_a_repeated_idempotency_key_returns_the_same_task_and_is_counted(sim, files):
    headers = {**MS_KEY, "Idempotency-Key": "same-key"}
    first = httpx.post(
        sim.url + "/v1/video/generations", json=ms_body(files + "/ref.png"), headers=headers
    ).json()
    second = httpx.post(
        sim.url + "/v1/video/generations", json=ms_body(files + "/ref.png"), headers=headers
    ).json()
    other = httpx.post(
        sim.url + "/v1/video/generations",
        json=ms_body(files + "/ref.png"),
        headers={**MS_KEY, "Idempotency-Key": "another-key"},
    ).json()

    assert first["task_id"] == second["task_id"] != other["task_id"]
    stats = sim.stats()
    assert (stats["submits"], stats["duplicate_submits"], stats["tasks"]) == (3, 1, 2)


@pytest.mark.parametrize(
    ("path", "code"),
    [("/missing.png", "fetch_failed"), ("/not-an-image.png", "image_unsupported")],
)
def test_a_reference_that_cannot_be_fetched_or_read_fails_the_task_clearly(sim, files, path, code):
    created = httpx.post(
        sim.url + "/v1/video/generations", json=ms_body(files + path), headers=MS_KEY
    ).json()

    answer = wait_for(
        f"{sim.url}/v1/video/generations/{created['task_id']}", MS_KEY, {"completed", "failed"}
    )

    assert answer["status"] == "failed"
    assert answer["error"]["code"] == code and answer["error"]["message"]


def test_loopback_only_refuses_to_fetch_from_elsewhere(sim):
    created = httpx.post(
        sim.url + "/v1/video/generations", json=ms_body("http://10.1.2.3/ref.png"), headers=MS_KEY
    ).json()

    answer = wait_for(
        f"{sim.url}/v1/video/generations/{created['task_id']}", MS_KEY, {"completed", "failed"}
    )

    assert answer["error"]["code"] == "fetch_refused"


# --- Status vocabularies and answer shapes ---------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "words", "url_key"),
    [
        ("openai", {"completed"}, "url"),
        ("dashscope", {"succeeded"}, "url"),
        ("odd", {"completed"}, "url"),
    ],
)
def test_modelstream_status_vocabularies_are_chosen_per_request(
    sim, files, statuses, words, url_key
):
    body = ms_body(
        files + "/ref.png",
        prompt=f"x sim:statuses={statuses} sim:queue_seconds=0.5 sim:run_seconds=0.6",
    )
    created = httpx.post(sim.url + "/v1/video/generations", json=body, headers=MS_KEY).json()
    url = f"{sim.url}/v1/video/generations/{created['task_id']}"
    seen = set()
    deadline = time.monotonic() + 10
    while not seen & words and time.monotonic() < deadline:
        answer = httpx.get(url, headers=MS_KEY).json()
        seen.add(answer["status"])
        time.sleep(0.03)

    expected = {
        "openai": {"queued", "in_progress", "completed"},
        "dashscope": {"queued", "processing", "succeeded"},
        "odd": {"waiting_for_capacity", "rendering", "completed"},
    }[statuses]
    assert seen == expected
    assert url_key in answer


def test_the_video_url_key_and_apiframe_shapes_are_configurable(sim, files):
    body = ms_body(files + "/ref.png", prompt="sim:url_key=video_url")
    created = httpx.post(sim.url + "/v1/video/generations", json=body, headers=MS_KEY).json()
    answer = wait_for(f"{sim.url}/v1/video/generations/{created['task_id']}", MS_KEY, {"completed"})
    assert "video_url" in answer and "url" not in answer

    body = af_body(files + "/ref.png", prompt="sim:result_shape=string sim:statuses=lower")
    created = httpx.post(sim.url + "/v2/videos/generate", json=body, headers=AF_KEY).json()
    answer = wait_for(f"{sim.url}/v2/jobs/{created['id']}", AF_KEY, {"completed"})
    assert isinstance(answer["result"], str) and answer["result"].endswith(".mp4")

    body = af_body(files + "/ref.png", prompt="sim:fail=nsfw sim:error_shape=string")
    created = httpx.post(sim.url + "/v2/videos/generate", json=body, headers=AF_KEY).json()
    answer = wait_for(f"{sim.url}/v2/jobs/{created['id']}", AF_KEY, {"FAILED"})
    assert answer["error"] == "The provider could not generate this video (nsfw)."


def test_the_configured_vocabulary_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIMULATOR_MODELSTREAM_STATUSES", "dashscope")
    monkeypatch.setenv("SIMULATOR_APIFRAME_STATUSES", "lower")
    monkeypatch.setenv("SIMULATOR_FAULTS", "read.error=10%, latency=0.05")
    config = Config.from_env()
    assert (config.modelstream_statuses, config.apiframe_statuses) == ("dashscope", "lower")
    assert config.faults["latency"] == 0.05
    monkeypatch.setenv("SIMULATOR_APIFRAME_STATUSES", "openai")
    with pytest.raises(FaultError):
        Config.from_env()


# --- Configuration -------------------------------------------------------------------------


def test_fault_specs_parse_and_unknown_names_are_refused():
    faults = parse_faults("submit.error=2, read.rate_limit=25%, file.timeout=always stall=3 never")
    assert faults["submit.error"].kind == "count" and faults["submit.error"].value == 2
    assert faults["read.rate_limit"].kind == "rate" and faults["read.rate_limit"].value == 0.25
    assert faults["file.timeout"].kind == "always"
    assert faults["stall"] == 3 and faults["never"] is True
    for bad in ("nonsense=1", "submit.error=lots", "result=500", "retry_after=-1"):
        with pytest.raises(FaultError):
            parse_faults(bad)


def test_prompt_markers_are_read_and_strangers_ignored():
    found = faults_from_prompt("A cat. sim:fail sim:read.error=2, sim:stall=forever. sim:bogus=1")
    assert found == {
        "fail": "content_flagged",
        "read.error": found["read.error"],
        "stall": float("inf"),
    }
    assert found["read.error"].value == 2
    assert faults_from_prompt("no markers, nor email@sim:fail") == {}


def test_the_config_endpoint_sets_shows_and_resets_faults(sim):
    shown = sim.configure("read.error=3, latency=0.01").json()
    assert shown["faults"]["latency"] == 0.01 and shown["fast"] is True
    assert httpx.get(sim.url + "/_sim/config").json()["faults"]["read.error"]["value"] == 3

    refused = httpx.post(sim.url + "/_sim/config", json={"faults": "read.eror=3"})
    assert refused.status_code == 400 and "unknown fault" in refused.json()["error"]["message"]

    httpx.post(sim.url + "/_sim/reset")
    assert httpx.get(sim.url + "/_sim/config").json()["faults"] == {}


def test_a_bad_fault_in_the_environment_stops_the_simulator_with_a_clear_message():
    env = {**os.environ, "SIMULATOR_FAULTS": "read.error=lots"}
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "bad configuration" in result.stderr and "read.error" in result.stderr


# --- One write per response ------------------------------------------------------------------


def test_every_response_arrives_in_one_piece(sim):
    """Status line, headers and body in a single segment: no delayed-ACK stall."""
    with socket.create_connection(("127.0.0.1", int(sim.url.rsplit(":", 1)[1]))) as connection:
        connection.sendall(b"GET /_sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        first = connection.recv(65536)
    head, _, body = first.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    assert len(body) == length


def test_reads_are_fast_over_keep_alive(sim, files):
    created = httpx.post(
        sim.url + "/v1/video/generations", json=ms_body(files + "/ref.png"), headers=MS_KEY
    ).json()
    with httpx.Client(headers=MS_KEY) as client:
        url = f"{sim.url}/v1/video/generations/{created['task_id']}"
        client.get(url)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
    # A delayed-ACK stall would cost ~40 ms on every read, the quickest included.
    assert min(times) < 0.02


def test_a_submit_counts_as_received_on_arrival_and_as_a_submit_once_it_makes_a_task(sim, files):
    refused = httpx.post(sim.url + "/v1/video/generations", json=ms_body(files + "/ref.png"))
    assert refused.status_code == 401
    held = threading.Thread(
        target=httpx.post,
        args=(sim.url + "/v1/video/generations",),
        kwargs={
            "json": ms_body(files + "/ref.png", prompt="held sim:submit.latency=1"),
            "headers": MS_KEY,
            "timeout": 10,
        },
    )
    held.start()
    try:
        deadline = time.monotonic() + 5
        while sim.stats()["submits_received"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = sim.stats()
        assert (stats["submits_received"], stats["submits"]) == (2, 0)  # refused, held
    finally:
        held.join()
    stats = sim.stats()
    assert (stats["submits_received"], stats["submits"]) == (2, 1)
