"""The simulator's HTTP server: both providers' wire formats over one stdlib server.

Every response goes out in a single write with TCP_NODELAY set, so no request waits on a
delayed ACK. Tasks live in memory; renders run on a small thread pool.
"""

from __future__ import annotations

import json
import logging
import os
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

from .render import RenderRequest, render_video

logger = logging.getLogger("simulator")

MODELSTREAM_MODELS = {"wan2.6-i2v-flash"}
APIFRAME_MODELS = {"wan-2.6-flash"}
MAX_BODY = 1024 * 1024
FETCH_MAX_BYTES = 25 * 1024 * 1024


@dataclass
class Config:
    """How the simulator behaves; set from the environment and the command line."""

    fast: bool = False
    loopback_only: bool = False
    modelstream_vocabulary: str = "openai"  # or "dashscope"
    render_workers: int = 2
    queue_seconds: float = 0.3  # time a task stays queued before it starts
    public_base: str = ""  # how clients reach this server; set at start-up

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            fast=os.environ.get("SIMULATOR_FAST", "") in ("1", "true", "yes"),
            loopback_only=os.environ.get("SIMULATOR_LOOPBACK_ONLY", "") in ("1", "true", "yes"),
            modelstream_vocabulary=os.environ.get("SIMULATOR_MODELSTREAM_STATUSES", "openai"),
            render_workers=int(os.environ.get("SIMULATOR_RENDER_WORKERS", "2")),
            queue_seconds=float(os.environ.get("SIMULATOR_QUEUE_SECONDS", "0.3")),
        )


@dataclass
class Task:
    id: str
    provider: str
    body: dict
    status: str = "queued"  # queued | running | succeeded | failed (studio-neutral here)
    progress: int = 0
    error: str = ""
    error_code: str = ""
    video: bytes | None = None
    created: float = field(default_factory=time.monotonic)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str = "",
        kind: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status,
            message,
            param,
            code,
            kind,
        )


class Simulator:
    """The simulator's state: tasks, idempotency keys and counters."""

    def __init__(self, config: Config):
        self.config = config
        self.lock = threading.Lock()
        self.tasks: dict[str, Task] = {}
        self.idempotency: dict[tuple[str, str], str] = {}
        self.counters = {
            "submits": 0,
            "duplicate_submits": 0,
            "reads": 0,
            "renders": 0,
            "fetch_failures": 0,
        }
        self.pool = ThreadPoolExecutor(
            max_workers=config.render_workers, thread_name_prefix="render"
        )

    # -- submitting -------------------------------------------------------------------------

    def submit(self, provider: str, body: dict, idempotency_key: str | None) -> Task:
        with self.lock:
            self.counters["submits"] += 1
            if idempotency_key:
                existing = self.idempotency.get((provider, idempotency_key))
                if existing is not None:
                    self.counters["duplicate_submits"] += 1
                    return self.tasks[existing]
            task = Task(id=uuid.uuid4().hex[:16], provider=provider, body=body)
            self.tasks[task.id] = task
            if idempotency_key:
                self.idempotency[(provider, idempotency_key)] = task.id
        self.pool.submit(self._run, task)
        return task

    def _run(self, task: Task) -> None:
        try:
            time.sleep(self.config.queue_seconds)
            task.status = "running"
            params = task_render_params(task)
            image = self.fetch(params.pop("image_url"))
            audio_url = params.pop("audio_url", None)
            audio_bytes = self.fetch(audio_url) if audio_url else None
            if "sim:fail" in params.pop("prompt", ""):
                raise TaskFailure(
                    "The content was flagged by the provider's safety system.", "content_flagged"
                )

            def report(percent: int) -> None:
                task.progress = percent

            task.video = render_video(
                image,
                RenderRequest(audio_bytes=audio_bytes, fast=self.config.fast, **params),
                progress=report,
            )
            with self.lock:
                self.counters["renders"] += 1
            task.progress = 100
            task.status = "succeeded"
        except TaskFailure as failure:
            task.error, task.error_code, task.status = failure.message, failure.code, "failed"
        except Exception as error:  # the task fails clearly, whatever went wrong
            logger.exception("task %s failed", task.id)
            task.error = f"Rendering failed: {error}"
            task.error_code = "render_failed"
            task.status = "failed"

    def fetch(self, url: str) -> bytes:
        """Fetch a reference the way a provider would; failures fail the task clearly."""
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

    def stats(self) -> dict[str, Any]:
        with self.lock:
            by_status: dict[str, int] = {}
            for task in self.tasks.values():
                by_status[task.status] = by_status.get(task.status, 0) + 1
            return {**self.counters, "tasks": len(self.tasks), "by_status": by_status}

    def reset(self) -> None:
        with self.lock:
            self.tasks.clear()
            self.idempotency.clear()
            for key in self.counters:
                self.counters[key] = 0


class TaskFailure(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


def task_render_params(task: Task) -> dict[str, Any]:
    """What to render, read from the provider-specific body the task was created with."""
    body = task.body
    if task.provider == "modelstream":
        inputs = body.get("metadata", {}).get("input", {})
        params = body.get("metadata", {}).get("parameters", {})
        multi = params.get("prompt_extend", True) and params.get("shot_type") == "multi"
        return {
            "image_url": inputs["img_url"],
            "audio_url": inputs.get("audio_url"),
            "prompt": body.get("prompt", ""),
            "duration": int(body.get("duration", 5)),
            "short_side": 720 if str(params.get("resolution", "1080P")).upper() == "720P" else 1080,
            "seed": int(params.get("seed", 0)),
            "multi_shot": bool(multi),
            "audio": bool(params.get("audio", True)),
            "watermark": bool(params.get("watermark", False)),
        }
    wan = body.get("wanParams", {})
    return {
        "image_url": wan["image"],
        "audio_url": wan.get("audio") if wan.get("audio_enabled", True) else None,
        "prompt": body.get("prompt", ""),
        "duration": int(wan.get("duration", 5)),
        "short_side": 1080 if str(wan.get("resolution", "720p")).lower() == "1080p" else 720,
        "seed": int(wan.get("seed", 0)),
        "multi_shot": bool(wan.get("enable_prompt_expansion") and wan.get("multi_shots")),
        "audio": bool(wan.get("audio_enabled", True)),
        "watermark": False,
    }


# --- Validation of each provider's request body -------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_modelstream(body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    if body.get("model") not in MODELSTREAM_MODELS:
        raise ApiError(
            400, f"Unknown model {body.get('model')!r}.", param="model", code="model_not_found"
        )
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(
            400, "prompt is required.", param="prompt", code="missing_required_parameter"
        )
    if "duration" in body and not (_is_int(body["duration"]) and 2 <= body["duration"] <= 15):
        raise ApiError(
            400, "duration must be an integer in [2, 15].", param="duration", code="invalid_value"
        )
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise ApiError(
            400, "metadata is required.", param="metadata", code="missing_required_parameter"
        )
    inputs = metadata.get("input") or {}
    params = metadata.get("parameters") or {}
    if not isinstance(inputs, dict) or not isinstance(params, dict):
        raise ApiError(
            400, "metadata.input and metadata.parameters must be objects.", param="metadata"
        )
    if not isinstance(inputs.get("img_url"), str) or not inputs["img_url"]:
        raise ApiError(
            400, "img_url is required.", param="img_url", code="missing_required_parameter"
        )
    for name in ("audio_url", "negative_prompt"):
        if name in inputs and not isinstance(inputs[name], str):
            raise ApiError(400, f"{name} must be a string.", param=name, code="invalid_type")
    if len(inputs.get("negative_prompt", "")) > 500:
        raise ApiError(
            400,
            "negative_prompt is longer than 500 characters.",
            param="negative_prompt",
            code="invalid_value",
        )
    if "resolution" in params and params["resolution"] not in ("720P", "1080P"):
        raise ApiError(
            400, "resolution must be 720P or 1080P.", param="resolution", code="invalid_value"
        )
    if "shot_type" in params and params["shot_type"] not in ("single", "multi"):
        raise ApiError(
            400, "shot_type must be single or multi.", param="shot_type", code="invalid_value"
        )
    for name in ("prompt_extend", "audio", "watermark"):
        if name in params and not isinstance(params[name], bool):
            raise ApiError(400, f"{name} must be a boolean.", param=name, code="invalid_type")
    if "seed" in params and not (_is_int(params["seed"]) and 0 <= params["seed"] <= 2147483647):
        raise ApiError(
            400, "seed must be an integer in [0, 2147483647].", param="seed", code="invalid_value"
        )


def validate_apiframe(body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    if body.get("model") not in APIFRAME_MODELS:
        raise ApiError(
            400, f"Unknown model {body.get('model')!r}.", param="model", code="model_not_found"
        )
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        raise ApiError(
            400, "prompt is required.", param="prompt", code="missing_required_parameter"
        )
    wan = body.get("wanParams")
    if not isinstance(wan, dict):
        raise ApiError(
            400, "wanParams is required.", param="wanParams", code="missing_required_parameter"
        )
    if not isinstance(wan.get("image"), str) or not wan["image"]:
        raise ApiError(
            400, "wanParams.image is required.", param="image", code="missing_required_parameter"
        )
    if "duration" in wan and wan["duration"] not in (5, 10, 15):
        raise ApiError(400, "duration must be 5, 10 or 15.", param="duration", code="invalid_value")
    if "resolution" in wan and wan["resolution"] not in ("720p", "1080p"):
        raise ApiError(
            400, 'resolution must be "720p" or "1080p".', param="resolution", code="invalid_value"
        )
    for name in ("audio_enabled", "enable_prompt_expansion", "multi_shots"):
        if name in wan and not isinstance(wan[name], bool):
            raise ApiError(400, f"{name} must be a boolean.", param=name, code="invalid_type")
    if wan.get("multi_shots") and not wan.get("enable_prompt_expansion"):
        raise ApiError(
            400,
            "multi_shots requires enable_prompt_expansion: true.",
            param="multi_shots",
            code="invalid_value",
        )
    for name in ("negative_prompt", "audio"):
        if name in wan and not isinstance(wan[name], str):
            raise ApiError(400, f"{name} must be a string.", param=name, code="invalid_type")
    if "seed" in wan and not _is_int(wan["seed"]):
        raise ApiError(400, "seed must be an integer.", param="seed", code="invalid_type")


# --- Each provider's answers ---------------------------------------------------------------

_MS_VOCABULARIES = {
    "openai": {
        "queued": "queued",
        "running": "in_progress",
        "succeeded": "completed",
        "failed": "failed",
    },
    "dashscope": {
        "queued": "queued",
        "running": "processing",
        "succeeded": "succeeded",
        "failed": "failed",
    },
}
_AF_STATUSES = {
    "queued": "QUEUED",
    "running": "PROCESSING",
    "succeeded": "COMPLETED",
    "failed": "FAILED",
}


def modelstream_task(sim: Simulator, task: Task) -> dict[str, Any]:
    vocabulary = _MS_VOCABULARIES.get(sim.config.modelstream_vocabulary, _MS_VOCABULARIES["openai"])
    answer: dict[str, Any] = {
        "task_id": task.id,
        "status": vocabulary[task.status],
        "progress": task.progress,
    }
    if task.status == "succeeded":
        key = "url" if sim.config.modelstream_vocabulary == "openai" else "video_url"
        answer[key] = f"{sim.config.public_base}/files/{task.id}.mp4"
    if task.status == "failed":
        answer["error"] = {
            "message": task.error,
            "type": "task_failed",
            "param": None,
            "code": task.error_code,
        }
    return answer


def apiframe_job(sim: Simulator, task: Task) -> dict[str, Any]:
    wan = task.body.get("wanParams", {})
    answer: dict[str, Any] = {
        "id": task.id,
        "status": _AF_STATUSES[task.status],
        "progress": task.progress,
        "model": task.body.get("model"),
        "creditCost": apiframe_credit_cost(wan),
    }
    if task.status == "succeeded":
        answer["result"] = {"videoUrl": f"{sim.config.public_base}/files/{task.id}.mp4"}
    if task.status == "failed":
        answer["error"] = {"message": task.error, "code": task.error_code}
    return answer


def apiframe_credit_cost(wan: dict) -> int:
    table = {
        ("720p", 5, True): 3,
        ("720p", 10, True): 5,
        ("720p", 15, True): 7,
        ("1080p", 5, True): 4,
        ("1080p", 10, True): 7,
        ("1080p", 15, True): 10,
        ("720p", 5, False): 2,
        ("720p", 10, False): 3,
        ("720p", 15, False): 5,
        ("1080p", 5, False): 3,
        ("1080p", 10, False): 5,
        ("1080p", 15, False): 7,
    }
    key = (
        str(wan.get("resolution", "720p")),
        int(wan.get("duration", 5)),
        bool(wan.get("audio_enabled", True)),
    )
    return table.get(key, 0)


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
        lines += [f"{name}: {value}" for name, value in all_headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send_all(status, json.dumps(data).encode(), "application/json", headers)

    def send_error_object(self, provider: str, error: ApiError) -> None:
        if provider == "apiframe":
            payload: dict[str, Any] = {
                "error": {
                    "message": error.message,
                    "code": error.code or error.kind,
                    "param": error.param,
                }
            }
        else:
            payload = {
                "error": {
                    "message": error.message,
                    "type": error.kind,
                    "param": error.param,
                    "code": error.code or None,
                }
            }
        self.send_json(error.status, payload)

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(413, "The request body is too large.")
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(
                400, "The request body is not valid JSON.", code="invalid_json"
            ) from None

    def _auth(self, provider: str) -> None:
        if provider == "modelstream":
            header = self.headers.get("Authorization", "")
            if not header.startswith("Bearer ") or not header[7:].strip():
                raise ApiError(
                    401,
                    "Missing or invalid API key: send Authorization: Bearer <key>.",
                    code="invalid_api_key",
                    kind="authentication_error",
                )
        else:
            if not self.headers.get("X-API-Key", "").strip():
                raise ApiError(
                    401,
                    "Missing API key: send X-API-Key.",
                    code="unauthorized",
                    kind="authentication_error",
                )

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        sim = self.server.simulator
        path = urlsplit(self.path).path
        provider = "apiframe" if path.startswith("/v2/") else "modelstream"
        try:
            if method == "POST" and path == "/v1/video/generations":
                self._auth("modelstream")
                body = self.read_json()
                validate_modelstream(body)
                task = sim.submit("modelstream", body, self.headers.get("Idempotency-Key"))
                self.send_json(200, {"task_id": task.id, "status": "queued"})
            elif method == "GET" and path.startswith("/v1/video/generations/"):
                self._auth("modelstream")
                task = self._task(path.rsplit("/", 1)[-1], "modelstream")
                self.send_json(200, modelstream_task(sim, task))
            elif method == "POST" and path == "/v2/videos/generate":
                self._auth("apiframe")
                body = self.read_json()
                validate_apiframe(body)
                task = sim.submit("apiframe", body, self.headers.get("Idempotency-Key"))
                self.send_json(200, {"id": task.id, "status": "QUEUED"})
            elif method == "GET" and path.startswith("/v2/jobs/"):
                self._auth("apiframe")
                task = self._task(path.rsplit("/", 1)[-1], "apiframe")
                self.send_json(200, apiframe_job(sim, task))
            elif method == "GET" and path.startswith("/files/") and path.endswith(".mp4"):
                task = sim.tasks.get(path[len("/files/") : -len(".mp4")])
                if task is None or task.video is None:
                    self.send_all(404, b"not found", "text/plain")
                else:
                    self.send_all(200, task.video, "video/mp4")
            elif method == "GET" and path == "/_sim/stats":
                self.send_json(200, sim.stats())
            elif method == "POST" and path == "/_sim/reset":
                sim.reset()
                self.send_json(200, {"ok": True})
            elif method == "GET" and path == "/healthz":
                self.send_json(200, {"ok": True})
            else:
                raise ApiError(404, f"No route for {method} {path}.", code="not_found")
        except ApiError as error:
            self.send_error_object(provider, error)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _task(self, task_id: str, provider: str) -> Task:
        sim = self.server.simulator
        with sim.lock:
            sim.counters["reads"] += 1
            task = sim.tasks.get(task_id)
        if task is None or task.provider != provider:
            raise ApiError(404, f"No task {task_id}.", code="task_not_found")
        return task


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], simulator: Simulator):
        self.simulator = simulator
        super().__init__(address, Handler)


def serve(host: str, port: int, config: Config) -> SimulatorHTTPServer:
    """Start serving on a background thread and return the server (port 0 picks a free one)."""
    simulator = Simulator(config)
    server = SimulatorHTTPServer((host, port), simulator)
    bound_port = server.server_address[1]
    config.public_base = config.public_base or f"http://{host}:{bound_port}"
    thread = threading.Thread(target=server.serve_forever, name="simulator", daemon=True)
    thread.start()
    return server
