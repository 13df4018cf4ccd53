"""Every fault the simulator offers does what docs/simulator.md says, seen over HTTP."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import http.server
import io
import json
import threading
import time

import av
import httpx
import pytest

from tests.simulator.conftest import AF_KEY, MS_KEY, af_body, ms_body, wait_for

SUBMIT = "/v1/video/generations"


def _submit(sim, files, prompt: str, key: str | None = None, **kwargs) -> httpx.Response:
    headers = {**MS_KEY, **({"Idempotency-Key": key} if key else {})}
    return httpx.post(
        sim.url + SUBMIT, json=ms_body(files + "/ref.png", prompt=prompt), headers=headers, **kwargs
    )


def _task_url(sim, response: httpx.Response) -> str:
    return f"{sim.url}{SUBMIT}/{response.json()['task_id']}"


# --- Call faults: latency, 5xx, 429, timeouts, malformed JSON -------------------------------


def test_latency_is_added_per_endpoint(sim, files):
    started = time.monotonic()
    created = _submit(sim, files, "x sim:read.latency=0.8")
    submit_took = time.monotonic() - started
    started = time.monotonic()
    httpx.get(_task_url(sim, created), headers=MS_KEY)
    read_took = time.monotonic() - started

    assert read_took >= 0.8 and submit_took < 0.6


def test_configured_latency_covers_every_api_call(sim, files):
    sim.configure("latency=0.3")
    started = time.monotonic()
    created = _submit(sim, files, "x")
    httpx.get(_task_url(sim, created), headers=MS_KEY)
    assert time.monotonic() - started >= 0.6


def test_the_first_n_submits_of_a_request_fail_with_the_chosen_5xx(sim, files):
    prompt = "x sim:submit.error=2 sim:error_status=503"
    answers = [_submit(sim, files, prompt, key="k1") for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json()["error"]["type"] == "server_error"
    assert _submit(sim, files, prompt, key="k2").status_code == 503  # another request, own count
    assert sim.stats()["faults"]["submit.error"] == 3


@pytest.mark.parametrize("form", ["seconds", "date"])
def test_a_429_carries_retry_after_in_either_form(sim, files, form):
    prompt = f"x sim:submit.rate_limit=1 sim:retry_after=3 sim:retry_after_form={form}"
    refused = _submit(sim, files, prompt, key="k")
    accepted = _submit(sim, files, prompt, key="k")

    assert refused.status_code == 429 and accepted.status_code == 200
    value = refused.headers["retry-after"]
    if form == "seconds":
        assert value == "3"
    else:
        when = email.utils.parsedate_to_datetime(value).timestamp()
        assert 1 <= when - time.time() <= 3.5


def test_a_timed_out_submit_never_answers_but_the_job_exists(sim, files):
    with pytest.raises(httpx.ReadTimeout):
        _submit(sim, files, "x sim:submit.timeout=1 sim:timeout_seconds=2", timeout=0.4)
    assert sim.stats()["tasks"] == 1


def test_a_timed_out_read_never_answers_then_the_next_one_does(sim, files):
    created = _submit(sim, files, "x sim:read.timeout=1 sim:timeout_seconds=2")
    url = _task_url(sim, created)

    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, headers=MS_KEY, timeout=0.4)
    assert httpx.get(url, headers=MS_KEY).status_code == 200


def test_malformed_json_answers(sim, files):
    created = _submit(sim, files, "x sim:read.malformed=1")
    url = _task_url(sim, created)
    garbled = httpx.get(url, headers=MS_KEY)

    assert garbled.status_code == 200 and garbled.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        garbled.json()
    assert httpx.get(url, headers=MS_KEY).json()["task_id"]

    broken_submit = _submit(sim, files, "y sim:submit.malformed=1")
    with pytest.raises(json.JSONDecodeError):
        broken_submit.json()
    assert sim.stats()["tasks"] == 2  # the job was made; only its answer was broken


def test_a_configured_error_rate_fails_about_that_share_of_calls(sim, files):
    created = _submit(sim, files, "x")
    sim.configure("read.error=50%")
    codes = [httpx.get(_task_url(sim, created), headers=MS_KEY).status_code for _ in range(60)]

    failed = codes.count(500)
    assert set(codes) == {200, 500} and 12 <= failed <= 48


def test_a_configured_count_is_shared_by_every_request(sim, files):
    sim.configure("submit.error=2")
    codes = [_submit(sim, files, f"x{i}", key=f"k{i}").status_code for i in range(3)]
    assert codes == [500, 500, 200]


# --- Refusals ----------------------------------------------------------------------------------


def test_reject_refuses_the_submit_naming_a_parameter(sim, files):
    refused = _submit(sim, files, "x sim:reject=negative_prompt")
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "negative_prompt"


@pytest.mark.parametrize("status", [401, 402, 403])
def test_account_answers_an_account_problem_in_each_shape(sim, files, status):
    ms = _submit(sim, files, f"x sim:account={status}")
    af = httpx.post(
        sim.url + "/v2/videos/generate",
        json=af_body(files + "/ref.png", prompt=f"x sim:account={status}"),
        headers=AF_KEY,
    )
    assert ms.status_code == af.status_code == status
    assert set(ms.json()["error"]) == {"message", "type", "param", "code"}
    assert set(af.json()["error"]) == {"message", "code", "param"}


# --- Task faults ---------------------------------------------------------------------------


def test_a_task_can_fail_with_a_provider_message(sim, files):
    answer = wait_for(_task_url(sim, _submit(sim, files, "x sim:fail")), MS_KEY, {"failed"})
    assert answer["error"]["code"] == "content_flagged"
    assert "safety system" in answer["error"]["message"]


def _statuses(url: str, headers: dict, seconds: float) -> list[tuple[str, int]]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers=headers).json()
        seen.append((answer["status"], answer.get("progress")))
        if answer["status"] in ("completed", "failed"):
            break
        time.sleep(0.05)
    return seen


def test_a_stall_freezes_progress_for_a_while_then_the_task_finishes(sim, files):
    url = _task_url(sim, _submit(sim, files, "x sim:run_seconds=1 sim:stall=1.2"))

    seen, frozen_at = [], []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not seen or seen[-1][0] != "completed"):
        answer = httpx.get(url, headers=MS_KEY).json()
        seen.append((answer["status"], answer["progress"]))
        if seen[-1] == ("in_progress", 40):
            frozen_at.append(time.monotonic())
        time.sleep(0.05)

    assert seen[-1] == ("completed", 100)
    assert frozen_at[-1] - frozen_at[0] >= 0.7  # held at 40 % for over a second


def test_a_task_can_stall_forever_or_never_start(sim, files):
    stalled = _task_url(sim, _submit(sim, files, "x sim:stall"))
    waiting = _task_url(sim, _submit(sim, files, "x sim:never"))

    time.sleep(0.6)

    stalled_seen = _statuses(stalled, MS_KEY, 0.3)
    assert {status for status, _ in stalled_seen} == {"in_progress"}
    assert len({progress for _, progress in stalled_seen}) == 1  # frozen
    assert set(_statuses(waiting, MS_KEY, 0.3)) == {("queued", 0)}
    assert sim.stats()["renders"] == 0  # neither costs a render


# --- Result faults -------------------------------------------------------------------------


def _result_url(sim, files, prompt: str) -> str:
    answer = wait_for(_task_url(sim, _submit(sim, files, prompt)), MS_KEY, {"completed"})
    return answer["url"]


def test_a_result_url_that_404s(sim, files):
    assert httpx.get(_result_url(sim, files, "x sim:result=404")).status_code == 404


def test_a_result_url_that_serves_a_web_page(sim, files):
    response = httpx.get(_result_url(sim, files, "x sim:result=html"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")


def test_a_result_url_that_serves_noise_labelled_as_video(sim, files):
    response = httpx.get(_result_url(sim, files, "x sim:result=garbage"))
    assert response.headers["content-type"] == "video/mp4"
    with pytest.raises(av.error.FFmpegError):
        av.open(io.BytesIO(response.content))


def test_a_very_slow_download_trickles_at_the_asked_rate(sim, files):
    url = _result_url(sim, files, "x sim:result=slow sim:result_rate=20000")
    started = time.monotonic()
    size = len(httpx.get(url, timeout=30).content)
    took = time.monotonic() - started

    assert size / 20000 * 0.9 <= took <= size / 20000 * 3 + 1


def test_a_result_is_404_until_the_task_is_done(sim, files):
    created = _submit(sim, files, "x sim:never")
    task_id = created.json()["task_id"]
    assert httpx.get(f"{sim.url}/files/{task_id}.mp4").status_code == 404


# --- Apiframe callbacks ----------------------------------------------------------------------


@pytest.fixture
def receiver():
    """A loopback endpoint recording what the simulator calls back with."""
    received: list[tuple[bytes, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers.get("X-Webhook-Signature", "")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _signature(body: bytes, key: str) -> str:
    return hmac.new(hashlib.sha256(key.encode()).digest(), body, hashlib.sha256).hexdigest()


def _job_with_webhook(sim, files, hook: str, prompt: str = "x sim:run_seconds=0.5") -> str:
    body = {**af_body(files + "/ref.png", prompt=prompt), "webhookUrl": hook}
    body["webhookEvents"] = ["progress", "completed", "failed"]
    return httpx.post(sim.url + "/v2/videos/generate", json=body, headers=AF_KEY).json()["id"]


def _wait_events(received, done: str, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [json.loads(body) for body, _ in received]
        if any(event["event"] == done for event in events):
            time.sleep(0.1)
            return events
        time.sleep(0.05)
    raise AssertionError(f"no {done} callback")


def test_apiframe_jobs_call_back_signed_with_the_key(sim, files, receiver):
    hook, received = receiver
    job = _job_with_webhook(sim, files, hook)

    events = _wait_events(received, "completed")

    assert {event["id"] for event in events} == {job}
    assert events[-1]["event"] == "completed" and events[-1]["status"] == "COMPLETED"
    assert "progress" in [event["event"] for event in events]
    for body, signature in received:
        assert signature == _signature(body, AF_KEY["X-API-Key"])


def test_apiframe_callbacks_can_be_badly_signed_or_left_out(sim, files, receiver):
    hook, received = receiver
    _job_with_webhook(sim, files, hook, prompt="x sim:webhook=bad_signature sim:fail")
    events = _wait_events(received, "failed")
    assert events[-1]["status"] == "FAILED"
    assert all(sig != _signature(body, AF_KEY["X-API-Key"]) for body, sig in received)

    received.clear()
    job = _job_with_webhook(sim, files, hook, prompt="x sim:webhook=off")
    wait_for(f"{sim.url}/v2/jobs/{job}", AF_KEY, {"COMPLETED"})
    time.sleep(0.3)
    assert received == []
