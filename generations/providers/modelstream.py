"""ModelStream: `POST /v1/video/generations` with Bearer auth, and reading a task back.

The submit call and its error object are as ModelStream's document shows them. Reading a
task at `GET /v1/video/generations/{task_id}` is an assumption (see docs/providers.md), so its
answer is parsed defensively: both status vocabularies, `url` or `video_url`, and anything
unexpected becomes UNKNOWN rather than an exception.
"""

from __future__ import annotations

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
    "queued": TaskStatus.QUEUED,
    "pending": TaskStatus.QUEUED,
    "submitted": TaskStatus.QUEUED,
    "in_progress": TaskStatus.RUNNING,
    "processing": TaskStatus.RUNNING,
    "running": TaskStatus.RUNNING,
    "completed": TaskStatus.SUCCEEDED,
    "succeeded": TaskStatus.SUCCEEDED,
    "success": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "failure": TaskStatus.FAILED,
    "error": TaskStatus.FAILED,
    "cancelled": TaskStatus.FAILED,
    "canceled": TaskStatus.FAILED,
    "expired": TaskStatus.FAILED,
}


class ModelStreamClient:
    name = "modelstream"

    def __init__(self, *, base_url: str, api_key: str, client: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client = client

    def __repr__(self) -> str:  # never show the key
        return f"ModelStreamClient({self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        key = header_value_check(self._api_key, "MODELSTREAM_API_KEY")
        return {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def submit(self, *, body: dict[str, Any], idempotency_key: str) -> ProviderTask:
        response = send(
            "POST",
            f"{self.base_url}/v1/video/generations",
            headers={**self._headers(), "Idempotency-Key": idempotency_key},
            json_body=body,
            policy=SUBMIT,
            redact=(self._api_key,),
            client=self._client,
        )
        if response.status_code >= 400:
            raise error_from_response(response, redact=(self._api_key,))
        data = response_json(response)
        task = parse_task(data)
        if not task.task_id:
            raise ProviderError(
                ErrorKind.MALFORMED,
                "The provider accepted the job but did not say its task id.",
                status=response.status_code,
            )
        return task

    def read(self, *, task_id: str) -> ProviderTask:
        response = send(
            "GET",
            f"{self.base_url}/v1/video/generations/{quote(task_id, safe='')}",
            headers=self._headers(),
            policy=READ,
            redact=(self._api_key,),
            client=self._client,
        )
        if response.status_code >= 400:
            raise error_from_response(response, redact=(self._api_key,))
        task = parse_task(response_json(response))
        return task if task.task_id else replace(task, task_id=task_id)


def parse_task(data: Any) -> ProviderTask:
    """A task answer in any of the shapes seen in the wild; never raises."""
    if not isinstance(data, dict):
        return ProviderTask(task_id="", status=TaskStatus.UNKNOWN, raw_status="")
    inner, output = data.get("data"), data.get("output")
    merged = {
        **(output if isinstance(output, dict) else {}),
        **(inner if isinstance(inner, dict) else {}),
        **data,
    }
    raw_status = as_text(merged.get("status") or merged.get("task_status"), 64)
    status = STATUSES.get(raw_status.strip().lower(), TaskStatus.UNKNOWN)
    video_url = as_url(merged.get("url")) or as_url(merged.get("video_url"))
    error_code, error_message = "", ""
    error = merged.get("error")
    if isinstance(error, dict):
        error_message = as_text(error.get("message"))
        error_code = as_text(error.get("code") or error.get("type"), 64)
    elif isinstance(error, str):
        error_message = as_text(error)
    if not error_message and status is TaskStatus.FAILED:
        error_message = as_text(merged.get("message"))
        error_code = error_code or as_text(merged.get("code"), 64)
    rewritten = merged.get("actual_prompt") or merged.get("revised_prompt")
    return ProviderTask(
        task_id=as_text(merged.get("task_id") or merged.get("id"), 128),
        status=status,
        raw_status=raw_status,
        progress=as_progress(merged.get("progress")),
        video_url=video_url,
        error_code=error_code,
        error_message=error_message,
        rewritten_prompt=as_text(rewritten) if isinstance(rewritten, str) else "",
        provider_cost=as_decimal(merged.get("cost")),
    )
