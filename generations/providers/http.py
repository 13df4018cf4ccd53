"""One pooled HTTP client per process, and calls with retries, back-off and a deadline."""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings

from .base import ErrorKind, ProviderError, as_text

logger = logging.getLogger(__name__)

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=60, keepalive_expiry=30)
# The longest Retry-After the studio waits out inside one call; a longer one ends the call
# (the caller tries again later) instead of holding a worker.
RETRY_AFTER_CAP = 30.0
# Anything beyond a day is nonsense; treat it as a day so arithmetic stays sane.
RETRY_AFTER_MAX = 24 * 3600.0
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0

_client: httpx.Client | None = None
_client_lock = threading.Lock()


@dataclass(frozen=True)
class CallPolicy:
    """How hard one provider call tries before it gives up."""

    attempts: int
    deadline: float  # seconds for the whole call, waits and retries included
    # Whether a request that may have reached the provider (a timeout after sending) may be
    # sent again: yes for reads, never for a submit (it could start a second job).
    retry_uncertain: bool
    # Whether to wait out a 429's Retry-After inside the call (submits), or hand it back to
    # the caller at once (reads: the tracker simply reads that task later).
    wait_on_rate_limit: bool


SUBMIT = CallPolicy(attempts=4, deadline=60.0, retry_uncertain=False, wait_on_rate_limit=True)
READ = CallPolicy(attempts=3, deadline=20.0, retry_uncertain=True, wait_on_rate_limit=False)


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(
        connect=settings.STUDIO_PROVIDER_CONNECT_TIMEOUT,
        read=settings.STUDIO_PROVIDER_READ_TIMEOUT,
        write=settings.STUDIO_PROVIDER_READ_TIMEOUT,
        pool=10.0,
    )


def http_client() -> httpx.Client:
    """The process's shared client; safe to use from many threads."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(
                    timeout=_timeout(), limits=LIMITS, follow_redirects=False, trust_env=False
                )
    return _client


def http_client_reset() -> None:
    """Close the shared client (after changing its settings, or in tests)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def _forget_client_after_fork() -> None:
    # A forked worker must not share the parent's sockets; it builds its own client.
    global _client, _client_lock
    _client = None
    _client_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_client_after_fork)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header in either form (delay-seconds, or an HTTP date) as seconds from now.

    None when absent or unreadable; never negative; at most a day.
    """
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
    return max(0.0, min(seconds, RETRY_AFTER_MAX))


def backoff(attempt: int) -> float:
    """Exponential back-off with full jitter: uniform in [0, base·2^attempt], capped."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt)))


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    policy: CallPolicy,
    json_body: Any = None,
    redact: tuple[str, ...] = (),
    client: httpx.Client | None = None,
) -> httpx.Response:
    """Send one request, retrying what is safe to retry, and return the final response.

    Retried with back-off and jitter: connection errors (the request never left), 429 and 5xx
    (waiting out `Retry-After` when the answer has one and it is short). A timeout after the
    request was sent is retried only when the policy allows it; otherwise it raises LOST. Any
    other answer (2xx, 3xx, other 4xx) is returned as it is, with no retry. Raises
    ProviderError when the attempts or the deadline run out; its `retry_after` says when the
    provider asked to be called again.
    """
    client = client or http_client()
    base = client.timeout
    started = time.monotonic()
    content = None if json_body is None else json.dumps(json_body).encode()
    last_error: ProviderError | None = None

    def remaining() -> float:
        return policy.deadline - (time.monotonic() - started)

    for attempt in range(policy.attempts):
        left = remaining()
        if left <= 0:
            break
        try:
            response = client.request(
                method,
                url,
                headers=headers,
                content=content,
                timeout=httpx.Timeout(
                    connect=min(base.connect or 5.0, left),
                    read=min(base.read or 30.0, left),
                    write=min(base.write or 30.0, left),
                    pool=min(base.pool or 10.0, left),
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
            if not policy.retry_uncertain:
                raise uncertain from error
            last_error = uncertain
        else:
            if response.status_code != 429 and response.status_code < 500:
                return response
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if response.status_code == 429:
                last_error = ProviderError(
                    ErrorKind.UNAVAILABLE,
                    "The provider is rate limiting the studio.",
                    status=429,
                    retry_after=wait,
                    delivered=False,
                )
                if not policy.wait_on_rate_limit:
                    raise last_error
            else:
                last_error = error_from_response(
                    response, default_kind=ErrorKind.UNAVAILABLE, redact=redact
                )
                last_error.retry_after = wait
                # Assumed: a 5xx means the provider did not take the job (see docs/providers.md).
                last_error.delivered = False
            if wait is not None:
                if attempt + 1 >= policy.attempts or wait > RETRY_AFTER_CAP or wait >= remaining():
                    break  # the caller tries again later, when the provider asked
                time.sleep(wait)
                continue
        if attempt + 1 < policy.attempts:
            pause = backoff(attempt)
            if pause >= remaining():
                break
            time.sleep(pause)
    raise last_error or ProviderError(ErrorKind.UNAVAILABLE, "The provider call ran out of time.")


def response_json(response: httpx.Response) -> Any:
    """The response's JSON, or ProviderError(MALFORMED)."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, not text, or nested past any sense
        raise ProviderError(
            ErrorKind.MALFORMED,
            f"The provider answered HTTP {response.status_code} with a body that is not JSON.",
            status=response.status_code,
        ) from None


def error_from_response(
    response: httpx.Response,
    *,
    default_kind: ErrorKind = ErrorKind.REFUSED,
    redact: tuple[str, ...] = (),
) -> ProviderError:
    """Map an error answer (either provider's shape) to a ProviderError.

    `{error: {message, type, param, code}}` (ModelStream's documented shape), `{error: "..."}`
    and a top-level `message` are all read. Secrets in `redact` (the API key) are cut out of
    anything the provider echoed back.
    """
    status = response.status_code
    message, code, param = "", "", ""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        data = None
    error: Any = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = _text(error.get("message"))
        code = _text(error.get("code") or error.get("type"))
        param = _text(error.get("param"))
    elif isinstance(error, str):
        message = _text(error)
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
    return ProviderError(
        kind,
        redact_secrets(message, redact)[:1000],
        status=status,
        code=redact_secrets(code, redact)[:64],
        param=redact_secrets(param, redact)[:64],
    )


def redact_secrets(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret (and any long prefix of it a provider may echo) cut out."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
            # Providers often echo a truncated key ("sk-abc…"); cut a prefix of 8 or more too.
            if len(secret) > 8:
                text = text.replace(secret[:8], "[redacted]")
    return text


def header_value_check(value: str, name: str) -> str:
    """A credential as a header value; a control character would make httpx raise an error
    whose message repeats the value, so refuse it here without showing it."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ProviderError(
            ErrorKind.ACCOUNT,
            f"The {name} setting contains a control character (a stray newline?).",
            delivered=False,
        )
    return value


def _text(value: Any) -> str:
    return as_text(value, 4000)
