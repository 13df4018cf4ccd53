"""One pooled HTTP client per process, and calls with retries, back-off and a deadline."""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from .base import ErrorKind, ProviderError

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=60, keepalive_expiry=30)
RETRY_AFTER_CAP = 30.0

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """The process's shared client; safe to use from many threads."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(
                    timeout=TIMEOUT, limits=LIMITS, follow_redirects=False, trust_env=False
                )
    return _client


def http_client_reset() -> None:
    """Close the shared client (after a fork, or in tests)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header in either form (seconds, or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, RETRY_AFTER_CAP))


def backoff(attempt: int, *, base: float = 0.25, cap: float = 8.0) -> float:
    """Exponential back-off with full jitter."""
    return random.uniform(0, min(cap, base * (2**attempt)))


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json_body: Any = None,
    attempts: int = 4,
    deadline: float = 60.0,
    retry_uncertain: bool = False,
    wait_on_rate_limit: bool = True,
    client: httpx.Client | None = None,
) -> httpx.Response:
    """Send one request, retrying what is safe to retry, and return the final response.

    Connection errors (the request never left), 429 (honouring Retry-After) and 5xx are
    retried with back-off; any other answer is returned as it is. A timeout after the request
    was sent is retried only when `retry_uncertain` (reads); for a submit it raises LOST, since
    sending it again could start a second job. Raises ProviderError when retries run out.
    """
    client = client or http_client()
    started = time.monotonic()
    last_error: ProviderError | None = None
    for attempt in range(attempts):
        remaining = deadline - (time.monotonic() - started)
        if remaining <= 0:
            break
        try:
            response = client.request(
                method,
                url,
                headers=headers,
                content=None if json_body is None else json.dumps(json_body).encode(),
                timeout=httpx.Timeout(
                    connect=min(TIMEOUT.connect or 5.0, remaining),
                    read=min(TIMEOUT.read or 30.0, remaining),
                    write=min(TIMEOUT.write or 30.0, remaining),
                    pool=min(TIMEOUT.pool or 10.0, remaining),
                ),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            last_error = ProviderError(
                ErrorKind.UNAVAILABLE,
                f"Could not connect to the provider ({type(error).__name__}).",
                delivered=False,
            )
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as error:
            uncertain = ProviderError(
                ErrorKind.LOST,
                f"The provider did not answer ({type(error).__name__}).",
                delivered=True,
            )
            if not retry_uncertain:
                raise uncertain from error
            last_error = uncertain
        else:
            if response.status_code == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                last_error = ProviderError(
                    ErrorKind.UNAVAILABLE,
                    "The provider is rate limiting the studio.",
                    status=429,
                    retry_after=wait,
                    delivered=False,
                )
                if not wait_on_rate_limit:
                    raise last_error
                pause = wait if wait is not None else backoff(attempt)
                if attempt + 1 < attempts and pause < deadline - (time.monotonic() - started):
                    time.sleep(pause)
                    continue
                break
            if response.status_code >= 500:
                last_error = error_from_response(response, default_kind=ErrorKind.UNAVAILABLE)
                last_error.delivered = False
            else:
                return response
        if attempt + 1 < attempts:
            pause = backoff(attempt)
            if pause >= deadline - (time.monotonic() - started):
                break
            time.sleep(pause)
    raise last_error or ProviderError(ErrorKind.UNAVAILABLE, "The provider call ran out of time.")


def response_json(response: httpx.Response) -> Any:
    """The response's JSON, or ProviderError(MALFORMED)."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise ProviderError(
            ErrorKind.MALFORMED,
            f"The provider answered HTTP {response.status_code} with a body that is not JSON.",
            status=response.status_code,
        ) from None


def error_from_response(
    response: httpx.Response, *, default_kind: ErrorKind = ErrorKind.REFUSED
) -> ProviderError:
    """Map an error answer (either provider's shape) to a ProviderError."""
    status = response.status_code
    message, code, param = "", "", ""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        data = None
    error: Any = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = _text(error.get("message"))
        code = _text(error.get("code") or error.get("type"))
        param = _text(error.get("param"))
    elif isinstance(error, str):
        message = error
    if isinstance(data, dict):
        message = message or _text(data.get("message") or data.get("detail"))
        code = code or _text(data.get("code"))
        param = param or _text(data.get("param"))
    if not message:
        message = f"The provider answered HTTP {status}."
    kind = default_kind
    if status in (401, 402, 403):
        kind = ErrorKind.ACCOUNT
    elif status >= 500:
        kind = ErrorKind.UNAVAILABLE
    return ProviderError(kind, message[:1000], status=status, code=code[:64], param=param[:64])


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
