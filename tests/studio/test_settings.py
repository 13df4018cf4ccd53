"""Settings read from the environment, checked in a fresh interpreter each time."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _settings(env: dict, module: str = "studio.settings.base") -> subprocess.CompletedProcess:
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "db = settings.DATABASES['default'];"
        "print(json.dumps({'engine': db['ENGINE'], 'options': db.get('OPTIONS', {}),"
        " 'cache': settings.CACHES['default']['BACKEND'], 'q': settings.Q_CLUSTER}))"
    )
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": module, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_outside_debug():
    result = _settings({})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_every_sqlite_database_gets_wal_a_busy_timeout_and_immediate_transactions(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    result = _settings({"SECRET_KEY": "x" * 50, "DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["options"]["transaction_mode"] == "IMMEDIATE"
    assert config["options"]["timeout"] >= 5
    assert "journal_mode=WAL" in config["options"]["init_command"]
    assert "busy_timeout" in config["options"]["init_command"]


def test_the_embedded_default_uses_the_database_cache_and_the_orm_broker():
    config = json.loads(_settings({"SECRET_KEY": "x" * 50}).stdout)
    assert config["cache"].endswith("DatabaseCache")
    assert config["q"]["orm"] == "default" and "redis" not in config["q"]
    assert config["q"]["timeout"] < config["q"]["retry"]


def test_redis_url_switches_the_cache_and_the_broker():
    config = json.loads(
        _settings({"SECRET_KEY": "x" * 50, "REDIS_URL": "redis://127.0.0.1:6390/0"}).stdout
    )
    assert config["cache"].endswith("RedisCache")
    assert config["q"]["redis"] == "redis://127.0.0.1:6390/0" and "orm" not in config["q"]


def test_the_running_sqlite_connection_is_in_wal_mode(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
