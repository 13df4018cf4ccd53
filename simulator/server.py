"""The simulator's HTTP server: both providers' wire formats over one stdlib server.

Every response goes out in a single write with TCP_NODELAY set, so no request waits on a
delayed ACK (the deliberately slow download is the one exception, by design). Tasks live in
memory; renders run on a small thread pool; a task's status is worked out from the clock
when it is read, so waiting, stalling and never finishing cost no thread.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import io
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from .faults import (
    CALL_FAULTS,
    SCOPE_REQUEST,
    FaultError,
    Faults,
    Trigger,
    faults_from_prompt,
    parse_faults,
)
from .render import RenderRequest, render_video
from .wire import (
    DEFAULT_VOCABULARY,
    VALIDATORS,
    VOCABULARIES,
    ApiError,
    error_body,
    render_params,
    submit_answer,
    task_answer,
    vocabulary,
)

logger = logging.getLogger("simulator")

MAX_BODY = 1024 * 1024
FETCH_MAX_BYTES = 25 * 1024 * 1024
STALL_AT = 0.4  # a stall freezes progress at this fraction of the run
STALL_PROGRESS = 40
FAILURE_MESSAGES = {
    "content_flagged": "The content was flagged by the provider's safety system.",
    "image_unsupported": "The reference image could not be used for this model.",
    "internal_error": "The provider failed while generating the video.",
}
ACCOUNT_MESSAGES = {
    401: ("Incorrect API key provided.", "invalid_api_key", "authentication_error"),
    402: ("Your account is out of credit.", "insufficient_quota", "billing_error"),
    403: ("Your account may not use this model.", "permission_denied", "permission_error"),
}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Config:
    """How the simulator behaves; set from the environment and the command line."""

    fast: bool = False
    loopback_only: bool = False
    render_workers: int = 2
    queue_seconds: float = 0.3  # time a task stays queued before it runs
    run_seconds: float = 0.0  # the least time a task runs (0: as long as the render takes)
    modelstream_statuses: str = DEFAULT_VOCABULARY["modelstream"]
    apiframe_statuses: str = DEFAULT_VOCABULARY["apiframe"]
    faults: dict[str, Any] = field(default_factory=dict)  # the base set, parsed
    task_ttl: float = 6 * 3600.0  # tasks (and their videos) are forgotten after this long
    public_base: str = ""  # how clients reach this server; set at start-up

    @classmethod
    def from_env(cls) -> Config:
        """Read SIMULATOR_* variables; raises FaultError/ValueError naming a bad one."""
        config = cls(
            fast=_env_flag("SIMULATOR_FAST"),
            loopback_only=_env_flag("SIMULATOR_LOOPBACK_ONLY"),
            render_workers=int(os.environ.get("SIMULATOR_RENDER_WORKERS", "2")),
            queue_seconds=float(os.environ.get("SIMULATOR_QUEUE_SECONDS", "0.3")),
            run_seconds=float(os.environ.get("SIMULATOR_RUN_SECONDS", "0")),
            modelstream_statuses=os.environ.get("SIMULATOR_MODELSTREAM_STATUSES", "openai"),
            apiframe_statuses=os.environ.get("SIMULATOR_APIFRAME_STATUSES", "documented"),
            faults=parse_faults(os.environ.get("SIMULATOR_FAULTS", "")),
            task_ttl=float(os.environ.get("SIMULATOR_TASK_TTL", str(6 * 3600))),
        )
        for provider, name in (
            ("modelstream", config.modelstream_statuses),
            ("apiframe", config.apiframe_statuses),
        ):
            if name not in VOCABULARIES[provider]:
                raise FaultError(
                    f"SIMULATOR_{provider.upper()}_STATUSES: {name!r} is not one of "
                    f"{', '.join(VOCABULARIES[provider])}"
                )
        return config


@dataclass
class Task:
    id: str
    provider: str
    body: dict
    prompt_faults: dict[str, Any]
    queue_seconds: float
    run_seconds: float
    created: float = field(default_factory=time.monotonic)
    render_state: str = "waiting"  # waiting | working | done | failed
    render_progress: int = 0
    error: str = ""
    error_code: str = ""
    video: bytes | None = None
    # Apiframe callbacks: where to, which events, with what key (memory only), what was sent.
    webhook_url: str = ""
    webhook_events: tuple[str, ...] = ()
    webhook_key: str = field(default="", repr=False)
    webhook_last: tuple[str, int] | None = None
    webhook_done: bool = False


class TaskFailure(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


class _Hold(Exception):
    """Answer nothing: hold the connection, then close it (a timeout, as the client sees it)."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


class Simulator:
    """The simulator's state: tasks, idempotency keys, faults in force and counters."""

    def __init__(self, config: Config):
        self.config = config
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.tasks: dict[str, Task] = {}
        self.idempotency: dict[tuple[str, str], str] = {}
        self.runtime_faults: dict[str, Any] = dict(config.faults)
        self.fault_calls: dict[tuple, int] = {}
        self.rng = random.Random()
        self.counters: dict[str, Any] = {}
        self._reset_counters()
        self.pool = ThreadPoolExecutor(
            max_workers=config.render_workers, thread_name_prefix="render"
        )
        self.deliveries = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook")
        self.pump = threading.Thread(target=self._pump_webhooks, name="webhooks", daemon=True)
        self.pump.start()

    def _reset_counters(self) -> None:
        self.counters = {
            # Submits that arrived (before any latency or fault), and those that made a task.
            "submits_received": 0,
            "submits": 0,
            "duplicate_submits": 0,
            "reads": 0,
            "downloads": 0,
            "renders": 0,
            "fetch_failures": 0,
            "webhooks_sent": 0,
            "webhooks_failed": 0,
            "faults": {},
        }

    def close(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.deliveries.shutdown(wait=False, cancel_futures=True)

    # -- faults -----------------------------------------------------------------------------

    def faults_for(self, prompt_faults: dict[str, Any]) -> Faults:
        with self.lock:
            configured = dict(self.runtime_faults)
        return Faults.merge(configured=configured, prompt=prompt_faults)

    def configure(self, spec: Any) -> dict[str, Any]:
        """Replace the runtime faults (on top of the environment's); FaultError if unknown."""
        parsed = parse_faults(spec)
        with self.lock:
            self.runtime_faults = {**self.config.faults, **parsed}
            self.fault_calls = {k: v for k, v in self.fault_calls.items() if k[2] != "*"}
            return dict(self.runtime_faults)

    def call_fault(self, endpoint: str, faults: Faults, request_id: str) -> str | None:
        """Which call fault (if any) this call of `endpoint` gets, counting it."""
        for name in CALL_FAULTS:
            key = f"{endpoint}.{name}"
            trigger = faults.get(key)
            if not isinstance(trigger, Trigger):
                continue
            scope = request_id if faults.scope(key) == SCOPE_REQUEST else "*"
            with self.lock:
                counter = (endpoint, name, scope)
                self.fault_calls[counter] = nth = self.fault_calls.get(counter, 0) + 1
                fired = trigger.fires(nth, self.rng)
                if fired:
                    tally = self.counters["faults"]
                    tally[key] = tally.get(key, 0) + 1
            if fired:
                return name
        return None

    def note_received(self) -> None:
        with self.lock:
            self.counters["submits_received"] += 1

    def note_fault(self, name: str) -> None:
        with self.lock:
            tally = self.counters["faults"]
            tally[name] = tally.get(name, 0) + 1

    # -- tasks ------------------------------------------------------------------------------

    def submit(
        self,
        provider: str,
        body: dict,
        faults: Faults,
        prompt_faults: dict[str, Any],
        idempotency_key: str | None,
        api_key: str,
    ) -> Task:
        with self.lock:
            self.counters["submits"] += 1
            if self.counters["submits"] % 100 == 0:
                self._forget_old_tasks()
            if idempotency_key:
                existing = self.idempotency.get((provider, idempotency_key))
                if existing is not None:
                    self.counters["duplicate_submits"] += 1
                    return self.tasks[existing]
            task = Task(
                id=uuid.uuid4().hex[:16],
                provider=provider,
                body=body,
                prompt_faults=prompt_faults,
                queue_seconds=float(faults.get("queue_seconds", self.config.queue_seconds)),
                run_seconds=float(faults.get("run_seconds", self.config.run_seconds)),
            )
            if provider == "apiframe" and body.get("webhookUrl"):
                events = body.get("webhookEvents") or ["progress", "completed", "failed"]
                task.webhook_url = str(body["webhookUrl"])
                task.webhook_events = tuple(str(event) for event in events)
                task.webhook_key = api_key
            self.tasks[task.id] = task
            if idempotency_key:
                self.idempotency[(provider, idempotency_key)] = task.id
        if faults.get("never") or faults.get("stall") == float("inf"):
            task.render_state = "working"  # it will never get anywhere: spare the CPU
        else:
            self.pool.submit(self._render, task, faults)
        return task

    def _forget_old_tasks(self) -> None:
        """Drop tasks past their time to live (under the lock): memory stays bounded, and a
        forgotten task's result URL answers 404, as an expired provider URL does."""
        cutoff = time.monotonic() - self.config.task_ttl
        old = {task_id for task_id, task in self.tasks.items() if task.created < cutoff}
        for task_id in old:
            del self.tasks[task_id]
        self.idempotency = {k: v for k, v in self.idempotency.items() if v not in old}

    def _render(self, task: Task, faults: Faults) -> None:
        task.render_state = "working"
        try:
            params = render_params(task.provider, task.body)
            image = self.fetch(params.pop("image_url"))
            try:
                with Image.open(io.BytesIO(image)) as probe:
                    probe.verify()
            except Exception:
                raise TaskFailure(
                    "The reference image could not be read.", "image_unsupported"
                ) from None
            audio_url = params.pop("audio_url", None)
            audio_bytes = self.fetch(audio_url) if audio_url else None
            if "fail" in faults:
                code = faults.get("fail")
                message = FAILURE_MESSAGES.get(
                    code, f"The provider could not generate this video ({code})."
                )
                raise TaskFailure(message, code)

            def report(percent: int) -> None:
                task.render_progress = percent

            task.video = render_video(
                image,
                RenderRequest(audio_bytes=audio_bytes, fast=self.config.fast, **params),
                progress=report,
            )
            with self.lock:
                self.counters["renders"] += 1
            task.render_progress = 100
            task.render_state = "done"
        except TaskFailure as failure:
            task.error, task.error_code = failure.message, failure.code
            task.render_state = "failed"
        except Exception as error:  # the task fails clearly, whatever went wrong
            logger.exception("task %s failed", task.id)
            task.error = f"Rendering failed: {error}"
            task.error_code = "render_failed"
            task.render_state = "failed"

    def view(self, task: Task, now: float | None = None) -> tuple[str, int]:
        """The task's studio-neutral state and progress at `now`, from the clock and render."""
        now = time.monotonic() if now is None else now
        faults = self.faults_for(task.prompt_faults)
        if faults.get("never"):
            return "queued", 0
        run = now - task.created - task.queue_seconds
        if run < 0:
            return "queued", 0
        stall = faults.get("stall")
        if stall is not None:
            stall_at = task.run_seconds * STALL_AT
            if run >= stall_at:
                if run < stall_at + stall:
                    return "running", STALL_PROGRESS
                run -= stall
        if task.render_state == "failed":
            return "failed", task.render_progress
        timed = 100 if task.run_seconds <= 0 else min(100, int(100 * run / task.run_seconds))
        if task.render_state == "done" and timed >= 100:
            return "succeeded", 100
        return "running", min(99, task.render_progress, timed)

    def fetch(self, url: str) -> bytes:
        """Fetch a reference the way a provider would; failures fail the task clearly."""
        self._check_url(url)
        try:
            with urllib.request.urlopen(url, timeout=20) as response:
                data = response.read(FETCH_MAX_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as error:
            with self.lock:
                self.counters["fetch_failures"] += 1
            raise TaskFailure(f"Could not download the file: {error}", "fetch_failed") from None
        if len(data) > FETCH_MAX_BYTES:
            raise TaskFailure("The file is too large.", "file_too_large")
        return data

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TaskFailure(f"The file URL {url!r} is not an http(s) URL.", "invalid_url")
        if self.config.loopback_only:
            try:
                loopback = ip_address(parts.hostname).is_loopback
            except ValueError:
                loopback = parts.hostname == "localhost"
            if not loopback:
                raise TaskFailure("The file URL is outside this machine.", "fetch_refused")

    def words(self, provider: str, faults: Faults) -> dict[str, str]:
        """The status vocabulary in force: a `statuses` fault this provider knows, or the
        configured one."""
        name = faults.get("statuses")
        if name not in VOCABULARIES[provider]:
            name = (
                self.config.modelstream_statuses
                if provider == "modelstream"
                else self.config.apiframe_statuses
            )
        return vocabulary(provider, name)

    def answer(self, task: Task) -> dict[str, Any]:
        """The task as the provider's read answers it."""
        faults = self.faults_for(task.prompt_faults)
        state, progress = self.view(task)
        return task_answer(
            task.provider,
            task_id=task.id,
            body=task.body,
            state=state,
            progress=progress,
            words=self.words(task.provider, faults),
            video_url=f"{self.config.public_base}/files/{task.id}.mp4",
            error_message=task.error,
            error_code=task.error_code,
            url_key=faults.get("url_key", "url"),
            result_shape=faults.get("result_shape", "object"),
            error_shape=faults.get("error_shape", "object"),
        )

    # -- webhooks ---------------------------------------------------------------------------

    def _pump_webhooks(self) -> None:
        """Send Apiframe callbacks as tasks move: progress steps, then completed or failed."""
        while not self.stopping.wait(0.1):
            with self.lock:
                pending = [t for t in self.tasks.values() if t.webhook_url and not t.webhook_done]
            for task in pending:
                try:
                    self._webhook_step(task)
                except Exception:  # a callback problem never stops the pump
                    logger.exception("webhook for %s failed", task.id)

    def _webhook_step(self, task: Task) -> None:
        faults = self.faults_for(task.prompt_faults)
        if faults.get("webhook") == "off":
            task.webhook_done = True
            return
        state, progress = self.view(task)
        event = None
        if state in ("succeeded", "failed"):
            event = "completed" if state == "succeeded" else "failed"
            task.webhook_done = True
        elif "progress" in task.webhook_events and state == "running":
            last = task.webhook_last
            if last is None or last[0] != state or progress - last[1] >= 10:
                event = "progress"
        if event is None or event not in task.webhook_events:
            return
        task.webhook_last = (state, progress)
        payload = {"event": event, **self.answer(task)}
        body = json.dumps(payload).encode()
        key = task.webhook_key
        if faults.get("webhook") == "bad_signature":
            key = "not-" + key
        signature = hmac.new(hashlib.sha256(key.encode()).digest(), body, hashlib.sha256)
        self.deliveries.submit(self._deliver, task.webhook_url, body, signature.hexdigest())

    def _deliver(self, url: str, body: bytes, signature: str) -> None:
        try:
            self._check_url(url)
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "X-Webhook-Signature": signature},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            counter = "webhooks_sent"
        except (TaskFailure, urllib.error.URLError, OSError, ValueError) as error:
            logger.info("webhook to %s not delivered: %s", url, error)
            counter = "webhooks_failed"
        with self.lock:
            self.counters[counter] += 1

    # -- counters ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        with self.lock:
            tasks = list(self.tasks.values())
            counters = {**self.counters, "faults": dict(self.counters["faults"])}
        by_status: dict[str, int] = {}
        for task in tasks:
            state = self.view(task, now)[0]
            by_status[state] = by_status.get(state, 0) + 1
        return {
            **counters,
            "tasks": len(tasks),
            "by_status": by_status,
            "mode": "fast" if self.config.fast else "full",
        }

    def reset(self) -> None:
        """Forget every task and counter, and go back to the environment's faults."""
        with self.lock:
            self.tasks.clear()
            self.idempotency.clear()
            self.fault_calls.clear()
            self.runtime_faults = dict(self.config.faults)
            self._reset_counters()


# --- HTTP ----------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server: SimulatorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "StudioSimulator/1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    @property
    def sim(self) -> Simulator:
        return self.server.simulator

    # One write per response: status line, headers and body together.
    def send_all(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        all_headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        if self.close_connection:
            all_headers["Connection"] = "close"
        lines += [f"{name}: {value}" for name, value in all_headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send_all(status, json.dumps(data).encode(), "application/json", headers)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True  # the rest of the body is never read
            raise ApiError(413, "The request body is too large.", code="body_too_large")
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path
        provider = "apiframe" if path.startswith("/v2/") else "modelstream"
        self.error_shape = "object"  # Apiframe's error body; a request's faults may change it
        try:
            # Always consume a POST body, so a kept-alive connection stays in step.
            raw = self.read_body() if self.command == "POST" else b""
            if method == "POST" and path == "/v1/video/generations":
                self._submit("modelstream", raw)
            elif method == "GET" and path.startswith("/v1/video/generations/"):
                self._read_task("modelstream", path.rsplit("/", 1)[-1])
            elif method == "POST" and path == "/v2/videos/generate":
                self._submit("apiframe", raw)
            elif method == "GET" and path.startswith("/v2/jobs/"):
                self._read_task("apiframe", path.rsplit("/", 1)[-1])
            elif method == "GET" and path.startswith("/files/") and path.endswith(".mp4"):
                self._file(path[len("/files/") : -len(".mp4")])
            elif path == "/_sim/stats" and method == "GET":
                self.send_json(200, self.sim.stats())
            elif path == "/_sim/reset" and method == "POST":
                self.sim.reset()
                self.send_json(200, {"ok": True})
            elif path == "/_sim/config":
                self._config(method, raw)
            elif method == "GET" and path == "/healthz":
                self.send_json(
                    200, {"ok": True, "mode": "fast" if self.sim.config.fast else "full"}
                )
            else:
                raise ApiError(404, f"No route for {method} {path}.", code="not_found")
        except ApiError as error:
            body = error_body(provider, error, shape=self.error_shape)
            self.send_json(error.status, body, error.headers)
        except _Hold as hold:
            self.sim.stopping.wait(hold.seconds)
            self.close_connection = True  # close without a word
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- the provider endpoints -------------------------------------------------------------

    def _auth(self, provider: str) -> str:
        """The key from the provider's own header; 401 in its shape when missing."""
        if provider == "modelstream":
            header = self.headers.get("Authorization", "")
            key = header[7:].strip() if header.startswith("Bearer ") else ""
            if not key:
                raise ApiError(
                    401,
                    "Missing or invalid API key: send Authorization: Bearer <key>.",
                    code="invalid_api_key",
                    kind="authentication_error",
                )
            return key
        key = self.headers.get("X-API-Key", "").strip()
        if not key:
            raise ApiError(
                401,
                "Missing API key: send X-API-Key.",
                code="unauthorized",
                kind="authentication_error",
            )
        return key

    def _call_faults(self, endpoint: str, faults: Faults, request_id: str) -> str | None:
        """Wait the latency, then apply a timeout, 429 or 5xx; return 'malformed' or 'timeout'
        (which the caller turns into its own answer) or None."""
        latency = faults.latency(endpoint)
        if latency:
            self.sim.stopping.wait(latency)
        fault = self.sim.call_fault(endpoint, faults, request_id)
        if fault == "rate_limit":
            seconds = float(faults.get("retry_after", 1.0))
            if faults.get("retry_after_form", "seconds") == "date":
                value = email.utils.formatdate(time.time() + seconds, usegmt=True)
            else:
                value = str(int(seconds)) if seconds.is_integer() else str(seconds)
            raise ApiError(
                429,
                "Rate limit reached; slow down.",
                code="rate_limit_exceeded",
                kind="rate_limit_error",
                headers={"Retry-After": value},
            )
        if fault == "error":
            status = int(faults.get("error_status", 500))
            raise ApiError(
                status,
                "The upstream service is temporarily unavailable.",
                code="upstream_error",
                kind="server_error",
            )
        return fault

    def _submit(self, provider: str, raw: bytes) -> None:
        self.sim.note_received()
        api_key = self._auth(provider)
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(
                400, "The request body is not valid JSON.", code="invalid_json"
            ) from None
        prompt_faults = faults_from_prompt(body.get("prompt", "") if isinstance(body, dict) else "")
        faults = self.sim.faults_for(prompt_faults)
        self.error_shape = faults.get("error_shape", "object")
        idempotency_key = self.headers.get("Idempotency-Key") or ""
        # A prompt's "first N submits" count the attempts of one request: its retries.
        request_id = idempotency_key or hashlib.sha256(raw).hexdigest()
        fault = self._call_faults("submit", faults, request_id)
        VALIDATORS[provider](body)
        if "account" in faults:
            status = int(faults.get("account"))
            message, code, kind = ACCOUNT_MESSAGES[status]
            self.sim.note_fault("account")
            raise ApiError(status, message, code=code, kind=kind)
        if "reject" in faults:
            param = faults.get("reject")
            self.sim.note_fault("reject")
            raise ApiError(
                400, f"{param} is not accepted for this model.", param=param, code="invalid_value"
            )
        task = self.sim.submit(
            provider, body, faults, prompt_faults, idempotency_key or None, api_key
        )
        if fault == "timeout":
            # The job exists, but the answer never comes: the studio cannot know its id.
            raise _Hold(float(faults.get("timeout_seconds", 60.0)))
        answer = submit_answer(provider, task.id, self.sim.words(provider, faults))
        if fault == "malformed":
            self.send_all(200, json.dumps(answer).encode()[:-7], "application/json")
            return
        self.send_json(200, answer)

    def _task(self, task_id: str, provider: str) -> Task:
        with self.sim.lock:
            self.sim.counters["reads"] += 1
            task = self.sim.tasks.get(task_id)
        if task is None or task.provider != provider:
            raise ApiError(404, f"No task {task_id}.", code="task_not_found")
        return task

    def _read_task(self, provider: str, task_id: str) -> None:
        self._auth(provider)
        task = self._task(task_id, provider)
        faults = self.sim.faults_for(task.prompt_faults)
        self.error_shape = faults.get("error_shape", "object")
        fault = self._call_faults("read", faults, task.id)
        if fault == "timeout":
            raise _Hold(float(faults.get("timeout_seconds", 60.0)))
        body = json.dumps(self.sim.answer(task)).encode()
        if fault == "malformed":
            body = body[: max(1, len(body) // 2)]
        self.send_all(200, body, "application/json")

    def _file(self, task_id: str) -> None:
        with self.sim.lock:
            task = self.sim.tasks.get(task_id)
            self.sim.counters["downloads"] += 1
        if task is None:
            self.send_all(404, b"not found", "text/plain")
            return
        faults = self.sim.faults_for(task.prompt_faults)
        try:
            fault = self._call_faults("file", faults, task.id)
        except ApiError as error:
            self.send_all(error.status, error.message.encode(), "text/plain", error.headers)
            return
        if fault == "timeout":
            raise _Hold(float(faults.get("timeout_seconds", 60.0)))
        if task.video is None or self.sim.view(task)[0] != "succeeded":
            self.send_all(404, b"not found", "text/plain")
            return
        result = faults.get("result")
        if result == "404":
            self.sim.note_fault("result=404")
            self.send_all(404, b"<html><body>Not Found</body></html>", "text/html")
        elif result == "html":
            self.sim.note_fault("result=html")
            page = b"<!doctype html><html><body><h1>Your video is ready</h1></body></html>"
            self.send_all(200, page, "text/html; charset=utf-8")
        elif result == "garbage" or fault == "malformed":
            self.sim.note_fault("result=garbage")
            noise = random.Random(task.id).randbytes(64 * 1024)
            self.send_all(200, noise, "video/mp4")
        elif result == "slow":
            self.sim.note_fault("result=slow")
            self._send_slowly(task.video, int(faults.get("result_rate", 50_000)))
        else:
            self.send_all(200, task.video, "video/mp4")

    def _send_slowly(self, data: bytes, rate: int) -> None:
        """A very slow download: the headers, then the body in small timed pieces."""
        head = f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {len(data)}\r\n\r\n"
        self.wfile.write(head.encode("latin-1"))
        if self.command == "HEAD":
            return
        piece = max(1, rate // 10)
        started = time.monotonic()
        for offset in range(0, len(data), piece):
            self.wfile.write(data[offset : offset + piece])
            sent = min(offset + piece, len(data))
            delay = started + sent / rate - time.monotonic()
            if delay > 0 and self.sim.stopping.wait(delay):
                self.close_connection = True
                return

    def _config(self, method: str, raw: bytes) -> None:
        """GET: the runtime faults. POST {"faults": "..."}: replace them (400 if unknown)."""
        if method == "POST":
            try:
                data = json.loads(raw or b"{}")
                spec = data.get("faults") if isinstance(data, dict) else None
                self.sim.configure(spec or {})
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                raise ApiError(400, 'Send {"faults": "name=value, ..."}.') from None
            except FaultError as error:
                raise ApiError(400, str(error), param="faults") from None
        with self.sim.lock:
            current = {
                name: (
                    "forever"
                    if value == float("inf")
                    else value.__dict__
                    if isinstance(value, Trigger)
                    else value
                )
                for name, value in self.sim.runtime_faults.items()
            }
        self.send_json(200, {"faults": current, "fast": self.sim.config.fast})


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], simulator: Simulator):
        self.simulator = simulator
        super().__init__(address, Handler)

    def shutdown(self) -> None:
        # Let held and slow responses end at once, then stop serving.
        self.simulator.close()
        super().shutdown()
        self.server_close()


def serve(host: str, port: int, config: Config) -> SimulatorHTTPServer:
    """Start serving on a background thread and return the server (port 0 picks a free one)."""
    simulator = Simulator(config)
    server = SimulatorHTTPServer((host, port), simulator)
    bound_port = server.server_address[1]
    config.public_base = config.public_base or f"http://{host}:{bound_port}"
    # A short poll interval so shutdown() returns at once (tests start and stop many).
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulator", daemon=True
    )
    thread.start()
    return server
