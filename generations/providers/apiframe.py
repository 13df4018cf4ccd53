"""Apiframe: `POST /v2/videos/generate` with `X-API-Key` and the `wanParams` object.

The submit body is as Apiframe's document shows it. The answer's job id field, reading a job
at `GET /v2/jobs/{id}` and its fields are assumptions (see docs/providers.md), parsed
defensively: `result` as a URL or an object with `videoUrl`, `error` as a string or an object.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from .base import (
    ErrorKind,
    ProviderError,
    ProviderTask,
    TaskStatus,
    as_decimal,
    as_progress,
    as_text,
    as_url,
)
from .http import READ, SUBMIT, error_from_response, header_value_check, response_json, send

STATUSES = {
    "QUEUED": TaskStatus.QUEUED,
    "PENDING": TaskStatus.QUEUED,
    "STARTING": TaskStatus.QUEUED,
    "PROCESSING": TaskStatus.RUNNING,
    "RUNNING": TaskStatus.RUNNING,
    "IN_PROGRESS": TaskStatus.RUNNING,
    "COMPLETED": TaskStatus.SUCCEEDED,
    "SUCCEEDED": TaskStatus.SUCCEEDED,
    "FAILED": TaskStatus.FAILED,
    "ERROR": TaskStatus.FAILED,
    "CANCELLED": TaskStatus.FAILED,
    "CANCELED": TaskStatus.FAILED,
}
WEBHOOK_EVENTS = ["progress", "completed", "failed"]
SIGNATURE_HEADER = "X-Webhook-Signature"


class ApiframeClient:
    name = "apiframe"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        webhook_url: str | None = None,
        client: httpx.Client | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.webhook_url = webhook_url
        self._client = client

    def __repr__(self) -> str:  # never show the key
        return f"ApiframeClient({self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        return {
            "X-API-Key": header_value_check(self._api_key, "APIFRAME_API_KEY"),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def submit(self, *, body: dict[str, Any], idempotency_key: str) -> ProviderTask:
        if self.webhook_url:
            body = {**body, "webhookUrl": self.webhook_url, "webhookEvents": WEBHOOK_EVENTS}
        response = send(
            "POST",
            f"{self.base_url}/v2/videos/generate",
            headers={**self._headers(), "Idempotency-Key": idempotency_key},
            json_body=body,
            policy=SUBMIT,
            redact=(self._api_key,),
            client=self._client,
        )
        if response.status_code >= 400:
            raise error_from_response(response, redact=(self._api_key,))
        task = parse_job(response_json(response))
        if not task.task_id:
            raise ProviderError(
                ErrorKind.MALFORMED,
                "The provider accepted the job but did not say its id.",
                status=response.status_code,
            )
        return task

    def read(self, *, task_id: str) -> ProviderTask:
        response = send(
            "GET",
            f"{self.base_url}/v2/jobs/{quote(task_id, safe='')}",
            headers=self._headers(),
            policy=READ,
            redact=(self._api_key,),
            client=self._client,
        )
        if response.status_code >= 400:
            raise error_from_response(response, redact=(self._api_key,))
        task = parse_job(response_json(response))
        return task if task.task_id else replace(task, task_id=task_id)


def parse_job(data: Any) -> ProviderTask:
    """A job answer (from a read or a webhook) in the studio's terms; never raises."""
    if not isinstance(data, dict):
        return ProviderTask(task_id="", status=TaskStatus.UNKNOWN)
    inner = data.get("data")
    merged = {**(inner if isinstance(inner, dict) else {}), **data}
    raw_status = as_text(merged.get("status"), 64)
    status = STATUSES.get(raw_status.strip().upper(), TaskStatus.UNKNOWN)
    result = merged.get("result")
    video_url = as_url(result)
    if isinstance(result, dict):
        video_url = next(
            (url for key in ("videoUrl", "video_url", "url") if (url := as_url(result.get(key)))),
            None,
        )
    error_code, error_message = "", ""
    error = merged.get("error")
    if isinstance(error, dict):
        error_message = as_text(error.get("message"))
        error_code = as_text(error.get("code"), 64)
    elif isinstance(error, str):
        error_message = as_text(error)
    rewritten = ""
    if isinstance(result, dict) and isinstance(result.get("prompt"), str):
        rewritten = as_text(result["prompt"], 4000)
    return ProviderTask(
        task_id=as_text(merged.get("id") or merged.get("jobId") or merged.get("job_id"), 128),
        status=status,
        raw_status=raw_status,
        progress=as_progress(merged.get("progress")),
        video_url=video_url,
        error_code=error_code,
        error_message=error_message,
        rewritten_prompt=rewritten,
        provider_cost=as_decimal(merged.get("creditCost")),
    )


# --- Webhooks -------------------------------------------------------------------------------


def _webhook_keys(api_key: str) -> tuple[bytes, ...]:
    """The HMAC key is "the SHA-256 of the API key". Whether that means the 32-byte digest or
    its 64-character hex spelling is not documented, so both are accepted (an assumption, see
    docs/providers.md); either one needs the API key."""
    digest = hashlib.sha256(api_key.encode())
    return (digest.digest(), digest.hexdigest().encode())


def webhook_signature(*, api_key: str, body: bytes) -> str:
    """The signature Apiframe sends for `body`: hex HMAC-SHA256 keyed with SHA-256(api key)."""
    return hmac.new(_webhook_keys(api_key)[0], body, hashlib.sha256).hexdigest()


def webhook_signature_valid(*, api_key: str, body: bytes, header: str | None) -> bool:
    """Whether `header` signs exactly `body` with this API key, compared in constant time.

    Accepts the hex digest, optionally prefixed `sha256=` (GitHub's spelling), in any case.
    """
    if not api_key or not header:
        return False
    candidate = header.strip()
    if candidate.lower().startswith("sha256="):
        candidate = candidate[len("sha256=") :]
    candidate_bytes = candidate.lower().encode("ascii", "replace")
    valid = False
    for key in _webhook_keys(api_key):
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        # Both keys are always checked, so the time taken says nothing about which matched.
        valid |= hmac.compare_digest(expected, candidate_bytes)
    return valid
