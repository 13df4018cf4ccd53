"""The studio's own types for talking to providers, whatever their wire format."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProviderTask:
    """What a provider said about one task, in the studio's terms."""

    task_id: str
    status: TaskStatus
    raw_status: str = ""
    progress: int | None = None
    video_url: str | None = None
    error_code: str = ""
    error_message: str = ""
    rewritten_prompt: str = ""
    provider_cost: Decimal | None = None


class ErrorKind(StrEnum):
    REFUSED = "refused"  # a 4xx about the request itself: final, shown on the field it names
    ACCOUNT = "account"  # 401/402/403: the studio's provider account needs an admin
    UNAVAILABLE = "unavailable"  # connection errors, 429 or 5xx that outlasted the retries
    LOST = "lost"  # the request may have reached the provider but the answer did not come back
    MALFORMED = "malformed"  # the provider answered something the studio cannot read


_ACCOUNT_MESSAGES = {
    401: "The provider rejected the studio's API key.",
    402: "The studio's account at the provider is out of credit.",
    403: "The provider refused the studio's account access to this model.",
}


class ProviderError(Exception):
    """A provider call that did not succeed, with what the provider said about it."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        param: str = "",
        retry_after: float | None = None,
        delivered: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.retry_after = retry_after
        # False only when the request certainly never reached the provider.
        self.delivered = delivered

    @property
    def counts_against_provider(self) -> bool:
        """Whether this failure says the provider is in trouble (for its circuit breaker):
        connection errors, 5xx and timeouts do; a 429 (it is alive and pacing the studio), a
        refusal, an account problem or an unreadable answer do not."""
        if self.kind is ErrorKind.LOST:
            return True
        return self.kind is ErrorKind.UNAVAILABLE and self.status != 429

    @property
    def admin_message(self) -> str:
        """What an admin needs to know (never the API key itself)."""
        if self.kind is ErrorKind.ACCOUNT and self.status in _ACCOUNT_MESSAGES:
            return f"{_ACCOUNT_MESSAGES[self.status]} ({self.message})"
        return self.message

    @property
    def person_message(self) -> str:
        """What the person who asked for the video is told."""
        if self.kind is ErrorKind.ACCOUNT:
            return (
                "The studio could not use this provider right now. Your credits were refunded; "
                "an admin has been told."
            )
        if self.kind is ErrorKind.UNAVAILABLE:
            return "The provider is not answering right now."
        if self.kind is ErrorKind.LOST:
            return "The provider did not answer in time, so the studio cannot know the outcome."
        if self.kind is ErrorKind.MALFORMED:
            return "The provider answered something the studio could not read."
        return self.message

    def __repr__(self) -> str:
        return f"ProviderError({self.kind}, status={self.status}, code={self.code!r})"


class ProviderClient(Protocol):
    """The two calls every provider client offers."""

    name: str

    def submit(self, *, body: dict[str, Any], idempotency_key: str) -> ProviderTask: ...

    def read(self, *, task_id: str) -> ProviderTask: ...


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def as_text(value: Any, limit: int = 2000) -> str:
    """Any JSON value as a bounded string a database can store ('' for null).

    A JSON string can carry NUL (`\\u0000`, refused by PostgreSQL) and lone surrogates
    (`\\ud800`, which no database encodes): NUL is dropped, a surrogate becomes U+FFFD.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = str(value)
        except (ValueError, RecursionError):  # an integer too long to print, or deep nesting
            return ""
    text = value[:limit]
    if _UNSTORABLE.search(text):
        text = _UNSTORABLE.sub(lambda match: "" if match.group() == "\x00" else "\ufffd", text)
    return text


def as_url(value: Any) -> str | None:
    """A string that may be a URL (storable, bounded), or None; the fetcher judges the rest."""
    if not isinstance(value, str):
        return None
    return as_text(value, 8000).strip() or None


def as_progress(value: Any) -> int | None:
    """A progress value as 0-100, accepting 0-1 fractions and numeric strings."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number):  # NaN, or 1e999 read as infinity
        return None
    if 0 < number <= 1 and not float(number).is_integer():
        number *= 100
    return max(0, min(100, int(number)))


def as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None
    if not number.is_finite() or abs(number) >= Decimal("1e8"):
        return None
    return number
