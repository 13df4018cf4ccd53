"""Structured logs: one JSON object per line, the generation id on lines about one, no secrets."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid

from studio.logs import GenerationContextFilter, JsonFormatter, Redactor, generation_log_context
from tests.production.test_production_settings import ROOT, production_env


def _format(record: logging.LogRecord, formatter: logging.Formatter | None = None) -> dict:
    GenerationContextFilter().filter(record)
    return json.loads((formatter or JsonFormatter()).format(record))


def _record(msg: str, *args, name: str = "generations.tracker", **extra) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_lines_inside_a_generation_context_carry_its_id():
    generation_id = uuid.uuid4()
    with generation_log_context(generation_id):
        entry = _format(_record("reading the task failed: %s", "timeout"))
    assert entry["generation_id"] == str(generation_id)
    assert entry["message"] == "reading the task failed: timeout"
    assert entry["level"] == "INFO" and entry["logger"] == "generations.tracker"
    assert "generation_id" not in _format(_record("outside any generation"))


def test_an_explicit_id_wins_and_task_names_and_page_paths_are_recognised():
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    with generation_log_context(other):
        assert _format(_record("moved", generation_id=mine))["generation_id"] == mine
    queued = _record("Process-1 processing submit %s 'generations.tasks.x'", mine, name="django-q")
    assert _format(queued)["generation_id"] == mine
    access = _record("%(h)s", name="gunicorn.access")
    access.args = {"h": "127.0.0.1", "m": "GET", "U": f"/generations/{mine}/video/", "s": "200"}
    entry = _format(access)
    assert entry["generation_id"] == mine
    assert entry["path"] == f"/generations/{mine}/video/" and entry["status"] == 200


def test_secrets_never_reach_the_log():
    environ = {
        "MODELSTREAM_API_KEY": "ms-secret-0123456789",
        "SECRET_KEY": "django-secret-abcdefghijklmnop",
        "DATABASE_URL": "postgres://studio:db-pass-xyz@db.internal:5432/studio",
        "PORT": "8000",
    }
    redact = Redactor(environ)
    text = redact(
        "sent with key ms-secret-0123456789 and SECRET django-secret-abcdefghijklmnop; "
        "Authorization: Bearer tok-abcdef123; headers {'X-API-Key': 'af-other-key-999'}; "
        "connecting to postgres://studio:db-pass-xyz@db.internal:5432/studio; "
        "GET /files/reference/eyJhbGciOi.signature-part/image.png; port 8000"
    )
    for secret in (
        "ms-secret-0123456789",
        "django-secret-abcdefghijklmnop",
        "tok-abcdef123",
        "af-other-key-999",
        "db-pass-xyz",
        "eyJhbGciOi.signature-part",
    ):
        assert secret not in text
    assert "port 8000" in text  # what is not secret stays readable
    assert "/files/reference/***/image.png" in text


def test_production_logs_are_json_lines_with_ids_and_without_keys():
    generation_id = str(uuid.uuid4())
    code = f"""
import logging, django
django.setup()
from studio.logs import generation_log_context
log = logging.getLogger("generations.services")
with generation_log_context({generation_id!r}):
    log.warning("submit of %s not delivered: %s", {generation_id!r}, "refused")
    try:
        raise RuntimeError("provider said no to key ms-live-key-0123456789")
    except RuntimeError:
        log.exception("submit crashed")
logging.getLogger("django-q").info("Process-1 processing store {generation_id} 'x'")
logging.getLogger("accounts").info("nothing about a generation")
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(entries) == 4
    about = [e for e in entries if e["logger"] != "accounts"]
    assert all(e["generation_id"] == generation_id for e in about)
    assert "generation_id" not in entries[-1]
    assert "RuntimeError" in entries[1]["exception"]
    assert "ms-live-key-0123456789" not in result.stderr
