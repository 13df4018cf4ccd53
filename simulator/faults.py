"""The simulator's faults and timing: one vocabulary, three places to set it.

- the environment: `SIMULATOR_FAULTS="read.error=10%, latency=0.05"` (the base, for a whole run);
- `POST /_sim/config` with `{"faults": "..."}` (replaces the runtime set until the next
  config or `POST /_sim/reset`; for tests and benchmarks);
- markers in a request's prompt, `sim:NAME` or `sim:NAME=VALUE` (this request only; the
  studio's own requests carry them, so a test can drive a fault through the real clients).

A prompt marker wins over the runtime set, which wins over the environment. docs/simulator.md
lists every name; `FAULTS` below is the authority.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ENDPOINTS = ("submit", "read", "file")
CALL_FAULTS = ("error", "rate_limit", "timeout", "malformed")

# Scope of a count ("the first N calls"): a prompt's fault counts that request's own calls
# (its submit attempts by Idempotency-Key, its reads and downloads by task); a configured fault
# counts every call since it was set.
SCOPE_REQUEST = "request"
SCOPE_GLOBAL = "global"


class FaultError(ValueError):
    """A fault name or value the simulator does not understand."""


@dataclass(frozen=True)
class Trigger:
    """When a call fault fires: the first N calls, every call, or each call with a chance."""

    kind: str  # "count" | "always" | "rate"
    value: float = 0.0

    def fires(self, nth: int, rng: random.Random) -> bool:
        """`nth` is the 1-based number of this call within the fault's scope."""
        if self.kind == "always":
            return True
        if self.kind == "count":
            return nth <= self.value
        return rng.random() < self.value


def _trigger(raw: str) -> Trigger:
    text = raw.strip().lower()
    if text in ("always", "all", "yes", "true", "on"):
        return Trigger("always")
    if text.endswith("%"):
        percent = float(text[:-1])
        if not 0 <= percent <= 100:
            raise FaultError(f"{raw!r}: a percentage must be within 0-100%")
        return Trigger("rate", percent / 100)
    count = int(text)
    if count < 0:
        raise FaultError(f"{raw!r}: a count cannot be negative")
    return Trigger("count", count)


def _seconds(raw: str) -> float:
    value = float(raw)
    if value < 0 or value != value:
        raise FaultError(f"{raw!r}: seconds cannot be negative")
    return value


def _seconds_or_forever(raw: str) -> float:
    """Seconds, or infinity for `forever` (also the bare marker)."""
    if raw.strip().lower() in ("", "forever", "always", "true", "yes", "on"):
        return float("inf")
    return _seconds(raw)


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise FaultError(f"{raw!r}: expected one of {', '.join(options)}")
        return value

    return parse


def _flag(raw: str) -> bool:
    return raw.strip().lower() in ("", "1", "true", "yes", "on", "always")


def _status(*allowed: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value not in allowed:
            raise FaultError(f"{raw!r}: expected one of {', '.join(map(str, allowed))}")
        return value

    return parse


def _code(raw: str) -> str:
    value = raw.strip() or "content_flagged"
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
        raise FaultError(f"{raw!r}: a failure code is letters, digits, _ . -")
    return value


def _param(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,63}", value):
        raise FaultError(f"{raw!r}: not a parameter name")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise FaultError(f"{raw!r}: must be above 0")
    return value


# name -> (parser, what it does). Call faults per endpoint are added below.
FAULTS: dict[str, tuple[Callable[[str], Any], str]] = {
    "latency": (_seconds, "seconds added before every API answer (submit, read)"),
    "error_status": (_status(500, 502, 503, 504), "the status of an injected error (500)"),
    "retry_after": (_seconds, "the Retry-After of an injected 429, in seconds (1)"),
    "retry_after_form": (_choice("seconds", "date"), "Retry-After as seconds or an HTTP date"),
    "timeout_seconds": (_seconds, "how long a timed-out call holds the connection (60)"),
    "queue_seconds": (_seconds, "how long a task stays queued"),
    "run_seconds": (_seconds, "the least time a task runs; progress rises over it"),
    "stall": (_seconds_or_forever, "progress freezes at 40% for N seconds, or forever"),
    "never": (_flag, "the task stays queued forever"),
    "fail": (_code, "the task fails with a provider message (code content_flagged)"),
    "result": (_choice("404", "html", "garbage", "slow"), "what the result URL serves"),
    "result_rate": (_positive_int, "bytes per second of a slow result download (50000)"),
    "reject": (_param, "the submit is refused with a 400 naming this parameter"),
    "account": (_status(401, 402, 403), "the submit answers this account error"),
    "statuses": (
        _choice("openai", "dashscope", "documented", "lower", "odd"),
        "the status vocabulary of the answers",
    ),
    "url_key": (_choice("url", "video_url"), "ModelStream: where the video URL is"),
    "result_shape": (_choice("object", "string"), "Apiframe: `result` as {videoUrl} or a URL"),
    "error_shape": (_choice("object", "string"), "Apiframe: `error` as an object or a string"),
    "webhook": (_choice("on", "off", "bad_signature"), "Apiframe: callbacks sent, or not"),
}
for _endpoint in ENDPOINTS:
    FAULTS[f"{_endpoint}.latency"] = (_seconds, f"seconds added before every {_endpoint} answer")
    FAULTS[f"{_endpoint}.error"] = (_trigger, f"{_endpoint} answers a 5xx (error_status)")
    FAULTS[f"{_endpoint}.rate_limit"] = (_trigger, f"{_endpoint} answers 429 with Retry-After")
    FAULTS[f"{_endpoint}.timeout"] = (_trigger, f"{_endpoint} never answers (timeout_seconds)")
    FAULTS[f"{_endpoint}.malformed"] = (_trigger, f"{_endpoint} answers 200 with broken JSON")


def parse_one(name: str, raw: str) -> Any:
    name = name.strip().lower()
    if name not in FAULTS:
        raise FaultError(f"unknown fault {name!r}")
    try:
        return FAULTS[name][0](raw)
    except FaultError as error:
        raise FaultError(f"{name}: {error}") from None
    except ValueError:
        raise FaultError(f"{name}: {raw!r} is not a valid value") from None


def parse_faults(spec: str | dict[str, Any] | None) -> dict[str, Any]:
    """`"a=1, b"` or `{"a": 1, "b": true}` as parsed faults; FaultError for anything unknown."""
    if not spec:
        return {}
    items: Iterable[tuple[str, str]]
    if isinstance(spec, dict):
        items = [(str(k), "" if v is True else str(v)) for k, v in spec.items()]
    else:
        items = [
            (token.split("=", 1) + [""])[:2]  # type: ignore[misc]
            for token in re.split(r"[\s,]+", spec.strip())
            if token
        ]
    return {name.strip().lower(): parse_one(name, value) for name, value in items}


_MARKER = re.compile(r"(?<!\S)sim:([a-z_.]+)(?:=([^\s,;]+))?", re.IGNORECASE)


def faults_from_prompt(prompt: str) -> dict[str, Any]:
    """The `sim:` markers of a prompt; markers it does not understand are ignored (a prompt
    may mention "sim:" for other reasons), so a typo shows as a fault that did not happen."""
    found: dict[str, Any] = {}
    for match in _MARKER.finditer(prompt or ""):
        name, raw = match.group(1).lower(), (match.group(2) or "").rstrip(".!?)")
        try:
            found[name] = parse_one(name, raw)
        except FaultError:
            continue
    return found


@dataclass(frozen=True)
class Faults:
    """The faults in force for one request: values with the scope each came from."""

    values: dict[str, tuple[Any, str]]

    @classmethod
    def merge(cls, *, configured: dict[str, Any], prompt: dict[str, Any]) -> Faults:
        values = {name: (value, SCOPE_GLOBAL) for name, value in configured.items()}
        values.update({name: (value, SCOPE_REQUEST) for name, value in prompt.items()})
        return cls(values)

    def get(self, name: str, default: Any = None) -> Any:
        item = self.values.get(name)
        return default if item is None else item[0]

    def scope(self, name: str) -> str:
        item = self.values.get(name)
        return SCOPE_GLOBAL if item is None else item[1]

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def latency(self, endpoint: str) -> float:
        """Seconds to wait before answering; plain `latency` covers the API calls only."""
        fallback = self.get("latency", 0.0) if endpoint != "file" else 0.0
        return float(self.get(f"{endpoint}.latency", fallback) or 0.0)
