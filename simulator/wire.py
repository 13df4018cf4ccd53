"""Each provider's wire format as the simulator speaks it: validation, answers, error bodies.

ModelStream's submit, its body and its error object are as its document shows; Apiframe's
submit and `wanParams` likewise. Reading tasks, the status words and Apiframe's error body are
the assumptions docs/providers.md lists. Status vocabularies are configurable, so the studio
is exercised against every spelling it claims to read.
"""

from __future__ import annotations

from typing import Any

MODELSTREAM_MODELS = {"wan2.6-i2v-flash"}
APIFRAME_MODELS = {"wan-2.6-flash"}

# Studio-neutral task states -> each provider's words, per vocabulary.
VOCABULARIES: dict[str, dict[str, dict[str, str]]] = {
    "modelstream": {
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
        # Words the studio has never seen while the task waits or runs: it must keep polling.
        "odd": {
            "queued": "waiting_for_capacity",
            "running": "rendering",
            "succeeded": "completed",
            "failed": "failed",
        },
    },
    "apiframe": {
        "documented": {
            "queued": "QUEUED",
            "running": "PROCESSING",
            "succeeded": "COMPLETED",
            "failed": "FAILED",
        },
        "lower": {
            "queued": "queued",
            "running": "processing",
            "succeeded": "completed",
            "failed": "failed",
        },
        "odd": {
            "queued": "WAITING_FOR_CAPACITY",
            "running": "RENDERING",
            "succeeded": "COMPLETED",
            "failed": "FAILED",
        },
    },
}
DEFAULT_VOCABULARY = {"modelstream": "openai", "apiframe": "documented"}

CREDIT_COSTS = {
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


class ApiError(Exception):
    """An error answer, rendered in the provider's own shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str = "",
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind
        self.headers = headers or {}


def error_body(provider: str, error: ApiError, *, shape: str = "object") -> dict[str, Any]:
    """ModelStream: `{error: {message, type, param, code}}` (its document). Apiframe (assumed):
    `{error: {message, code, param}}`, or with `error_shape=string` `{error: "...", code, param}`."""
    if provider == "apiframe":
        if shape == "string":
            return {"error": error.message, "code": error.code or error.kind, "param": error.param}
        return {
            "error": {
                "message": error.message,
                "code": error.code or error.kind,
                "param": error.param,
            }
        }
    return {
        "error": {
            "message": error.message,
            "type": error.kind,
            "param": error.param,
            "code": error.code or None,
        }
    }


def vocabulary(provider: str, name: str | None) -> dict[str, str]:
    table = VOCABULARIES[provider]
    return table.get(name or "", table[DEFAULT_VOCABULARY[provider]])


# --- Validation of each provider's request body -------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(message: str, param: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def validate_modelstream(body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_body")
    if body.get("model") not in MODELSTREAM_MODELS:
        raise _invalid(f"Unknown model {body.get('model')!r}.", "model", "model_not_found")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("prompt is required.", "prompt", "missing_required_parameter")
    if "duration" in body and not (_is_int(body["duration"]) and 2 <= body["duration"] <= 15):
        raise _invalid("duration must be an integer in [2, 15].", "duration")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise _invalid("metadata is required.", "metadata", "missing_required_parameter")
    inputs = metadata.get("input", {})
    params = metadata.get("parameters", {})
    if not isinstance(inputs, dict) or not isinstance(params, dict):
        raise _invalid("metadata.input and metadata.parameters must be objects.", "metadata")
    if not isinstance(inputs.get("img_url"), str) or not inputs["img_url"]:
        raise _invalid("img_url is required.", "img_url", "missing_required_parameter")
    for name in ("audio_url", "negative_prompt"):
        if name in inputs and not isinstance(inputs[name], str):
            raise _invalid(f"{name} must be a string.", name, "invalid_type")
    if len(inputs.get("negative_prompt", "")) > 500:
        raise _invalid("negative_prompt is longer than 500 characters.", "negative_prompt")
    if "resolution" in params and params["resolution"] not in ("720P", "1080P"):
        raise _invalid("resolution must be 720P or 1080P.", "resolution")
    if "shot_type" in params and params["shot_type"] not in ("single", "multi"):
        raise _invalid("shot_type must be single or multi.", "shot_type")
    for name in ("prompt_extend", "audio", "watermark"):
        if name in params and not isinstance(params[name], bool):
            raise _invalid(f"{name} must be a boolean.", name, "invalid_type")
    if "seed" in params and not (_is_int(params["seed"]) and 0 <= params["seed"] <= 2147483647):
        raise _invalid("seed must be an integer in [0, 2147483647].", "seed")


def validate_apiframe(body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_body")
    if body.get("model") not in APIFRAME_MODELS:
        raise _invalid(f"Unknown model {body.get('model')!r}.", "model", "model_not_found")
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        raise _invalid("prompt is required.", "prompt", "missing_required_parameter")
    wan = body.get("wanParams")
    if not isinstance(wan, dict):
        raise _invalid("wanParams is required.", "wanParams", "missing_required_parameter")
    if not isinstance(wan.get("image"), str) or not wan["image"]:
        raise _invalid("wanParams.image is required.", "image", "missing_required_parameter")
    if "duration" in wan and (not _is_int(wan["duration"]) or wan["duration"] not in (5, 10, 15)):
        raise _invalid("duration must be 5, 10 or 15.", "duration")
    if "resolution" in wan and wan["resolution"] not in ("720p", "1080p"):
        raise _invalid('resolution must be "720p" or "1080p".', "resolution")
    for name in ("audio_enabled", "enable_prompt_expansion", "multi_shots"):
        if name in wan and not isinstance(wan[name], bool):
            raise _invalid(f"{name} must be a boolean.", name, "invalid_type")
    if wan.get("multi_shots") and not wan.get("enable_prompt_expansion"):
        raise _invalid("multi_shots requires enable_prompt_expansion: true.", "multi_shots")
    for name in ("negative_prompt", "audio"):
        if name in wan and not isinstance(wan[name], str):
            raise _invalid(f"{name} must be a string.", name, "invalid_type")
    if "seed" in wan and not _is_int(wan["seed"]):
        raise _invalid("seed must be an integer.", "seed", "invalid_type")
    if "webhookUrl" in body and not isinstance(body["webhookUrl"], str):
        raise _invalid("webhookUrl must be a string.", "webhookUrl", "invalid_type")


VALIDATORS = {"modelstream": validate_modelstream, "apiframe": validate_apiframe}


def render_params(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    """What to render, read from the provider-specific body a task was created with."""
    if provider == "modelstream":
        inputs = body.get("metadata", {}).get("input", {})
        params = body.get("metadata", {}).get("parameters", {})
        # shot_type is "effective only when Prompt Extend is on" (default on).
        multi = params.get("prompt_extend", True) and params.get("shot_type") == "multi"
        return {
            "image_url": inputs["img_url"],
            "audio_url": inputs.get("audio_url"),
            "duration": int(body.get("duration", 5)),
            "short_side": 720 if str(params.get("resolution", "1080P")).upper() == "720P" else 1080,
            "seed": int(params.get("seed", 0)),
            "multi_shot": bool(multi),
            "audio": bool(params.get("audio", True)),
            "watermark": bool(params.get("watermark", False)),
        }
    wan = body.get("wanParams", {})
    audio_enabled = bool(wan.get("audio_enabled", True))
    return {
        "image_url": wan["image"],
        # "Set to false for silent video output": no track at all, even with a file.
        "audio_url": wan.get("audio") if audio_enabled else None,
        "duration": int(wan.get("duration", 5)),
        "short_side": 1080 if str(wan.get("resolution", "720p")).lower() == "1080p" else 720,
        "seed": int(wan.get("seed", 0)),
        "multi_shot": bool(wan.get("enable_prompt_expansion") and wan.get("multi_shots")),
        "audio": audio_enabled,
        "watermark": False,
    }


def credit_cost(wan: dict[str, Any]) -> int:
    key = (
        str(wan.get("resolution", "720p")),
        int(wan.get("duration", 5)),
        bool(wan.get("audio_enabled", True)),
    )
    return CREDIT_COSTS.get(key, 0)


def submit_answer(provider: str, task_id: str, words: dict[str, str]) -> dict[str, Any]:
    if provider == "apiframe":
        return {"id": task_id, "status": words["queued"]}
    return {"task_id": task_id, "status": words["queued"]}


def task_answer(
    provider: str,
    *,
    task_id: str,
    body: dict[str, Any],
    state: str,
    progress: int,
    words: dict[str, str],
    video_url: str,
    error_message: str,
    error_code: str,
    url_key: str = "url",
    result_shape: str = "object",
    error_shape: str = "object",
) -> dict[str, Any]:
    """A task read (and an Apiframe callback body) in the provider's shape."""
    if provider == "apiframe":
        answer: dict[str, Any] = {
            "id": task_id,
            "status": words[state],
            "progress": progress,
            "model": body.get("model"),
            "creditCost": credit_cost(body.get("wanParams", {})),
        }
        if state == "succeeded":
            answer["result"] = video_url if result_shape == "string" else {"videoUrl": video_url}
        if state == "failed":
            answer["error"] = (
                error_message
                if error_shape == "string"
                else {"message": error_message, "code": error_code}
            )
        return answer
    answer = {"task_id": task_id, "status": words[state], "progress": progress}
    if state == "succeeded":
        answer[url_key] = video_url
    if state == "failed":
        answer["error"] = {
            "message": error_message,
            "type": "task_failed",
            "param": None,
            "code": error_code,
        }
    return answer
