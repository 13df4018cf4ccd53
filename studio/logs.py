"""Logging: one JSON object per line in production, the generation id on every line about one,
and no secret ever written out.

- `generation_log_context(id)` marks everything logged inside it (in this thread) as being
  about that generation; `GenerationContextFilter` (on the handler, so every logger's records
  pass through it) adds `generation_id` from, in order: an explicit `extra`, that context, or
  a generation named in the message (the lifecycle's task names `submit <id>`/`store <id>`,
  which django-q2 logs, and page paths `/generations/<id>/`, which gunicorn and Django log).
- `JsonFormatter` writes one object per line; `PlainFormatter` is the readable default. Both
  redact: the values of secret environment variables (keys, passwords, tokens), credentials in
  URLs, `Authorization`/`X-API-Key` values, and the token of signed file links.

This module must not import Django at import time: gunicorn's master loads it for its access log.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

_generation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "studio_generation_id", default=None
)

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Task names given by the lifecycle (`submit <id>`, `store <id>`) and the generation's pages.
_MENTION = re.compile(rf"(?:\b(?:submit|store) |/generations/)({_UUID})\b")


@contextlib.contextmanager
def generation_log_context(generation_id: object) -> Iterator[None]:
    """Everything logged inside this block (in this thread) is about `generation_id`."""
    token = _generation.set(str(generation_id) if generation_id else None)
    try:
        yield
    finally:
        _generation.reset(token)


def current_generation_id() -> str | None:
    return _generation.get()


class GenerationContextFilter(logging.Filter):
    """Gives each record about a generation a `generation_id` attribute."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "generation_id", None):
            record.__dict__["generation_id"] = str(record.__dict__["generation_id"])
            return True
        found = _generation.get()
        if not found:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string must not stop logging
                message = str(record.msg)
            match = _MENTION.search(message)
            if match is None and isinstance(record.args, dict):
                # gunicorn's access log keeps the request's parts in args.
                match = _MENTION.search(str(record.args.get("U", "")))
            found = match.group(1) if match else None
        if found:
            record.generation_id = found
        return True


# --- Redaction ----------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL)", re.IGNORECASE)
_URL_NAMES = ("DATABASE_URL", "REDIS_URL", "STUDIO_TEST_POSTGRES_URL", "STUDIO_TEST_REDIS_URL")
_PATTERNS = [
    # user:password@ in any URL
    (re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)", re.I), r"\g<head>***"),
    (re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\g<head>***"),
    (
        re.compile(
            r"(?P<head>['\"]?(?:x-api-key|authorization)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.I
        ),
        r"\g<head>***",
    ),
    # The token of a signed file link is a bearer credential for that file.
    (re.compile(r"(?P<head>/files/[a-z]+/)[^/\s]+(?=/)"), r"\g<head>***"),
]
_MIN_SECRET_LENGTH = 8


def _secret_values(environ: dict[str, str]) -> list[str]:
    values: set[str] = set()
    for name, value in environ.items():
        if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_LENGTH:
            values.add(value)
    for name in _URL_NAMES:
        password = urlsplit(environ.get(name, "")).password
        if password and len(password) >= _MIN_SECRET_LENGTH:
            values.update({password, unquote(password)})
    # Longest first, so a secret containing another is replaced whole.
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Removes secrets from text; the secret values are read from the environment once."""

    def __init__(self, environ: dict[str, str] | None = None):
        self.secrets = _secret_values(dict(os.environ if environ is None else environ))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


# --- Formatters ---------------------------------------------------------------------------

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_ACCESS_FIELDS = {
    "h": "remote",
    "m": "method",
    "U": "path",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "a": "user_agent",
    "f": "referer",
}


class _RedactingFormatter(logging.Formatter):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.redact = Redactor()


class PlainFormatter(_RedactingFormatter):
    """`time level logger [generation] message`, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        generation_id = getattr(record, "generation_id", None)
        if generation_id and generation_id not in text:
            text = f"{text} [generation {generation_id}]"
        return self.redact(text)


class JsonFormatter(_RedactingFormatter):
    """One JSON object per line: time, level, logger, message, generation_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            for atom, field in _ACCESS_FIELDS.items():
                value = record.args.get(atom)
                if value not in (None, "-"):
                    entry[field] = value
            if "status" in entry:
                with contextlib.suppress(TypeError, ValueError):
                    entry["status"] = int(entry["status"])
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return self.redact(json.dumps(entry, default=str, ensure_ascii=False))


# --- Configurations -----------------------------------------------------------------------


def logging_config(*, fmt: str = "plain", level: str = "INFO") -> dict[str, Any]:
    """Django's LOGGING for `fmt` = "plain" or "json"."""
    if fmt not in ("plain", "json"):
        raise ValueError(f"log format must be 'plain' or 'json', not {fmt!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"generation": {"()": "studio.logs.GenerationContextFilter"}},
        "formatters": {
            "plain": {"()": "studio.logs.PlainFormatter"},
            "json": {"()": "studio.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["generation"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # httpx logs every request URL at INFO; the studio logs what matters itself.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def gunicorn_logconfig(*, fmt: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error and access logs through the same formatter."""
    config = logging_config(fmt=fmt)
    handler = {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["generation"]}
    config["handlers"] = {"console": handler, "error_console": {**handler}}
    config["loggers"] = {
        "gunicorn.error": {"handlers": ["error_console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    }
    config["root"] = {"handlers": ["console"], "level": "INFO"}
    return config
