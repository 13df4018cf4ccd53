"""The production settings: refuse a bad configuration, pass `check --deploy`, send the security
headers, and collect hashed, compressed static files. Each check runs in a fresh interpreter
with `studio.settings.production`, as a deployment would."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STRIPPED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "STUDIO_PUBLIC_URL",
)


def production_env(**overrides: str) -> dict[str, str]:
    """A complete production environment; nothing is contacted by the checks below."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED and not k.startswith("STUDIO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "studio.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": "postgres://studio:pw-not-used@127.0.0.1:1/studio",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "ALLOWED_HOSTS": "studio.example.test,testserver",
            "STUDIO_PUBLIC_URL": "https://studio.example.test",
            "MODELSTREAM_API_KEY": "ms-live-key-0123456789",
            "APIFRAME_API_KEY": "af-live-key-0123456789",
        }
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], env)


def test_check_deploy_reports_nothing_with_a_real_secret():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be a random value"),
        ({"SECRET_KEY": "django-insecure-" + "a1b2c3" * 10}, "SECRET_KEY must be a random value"),
        ({"DATABASE_URL": ""}, "DATABASE_URL must name the PostgreSQL database"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "DATABASE_URL must be a PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL must name the Redis server"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must list"),
        ({"STUDIO_PUBLIC_URL": "http://studio.example.test"}, "must be an https:// address"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
    ],
)
def test_production_refuses_to_start_without_what_it_needs(overrides, complaint):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode != 0
    assert complaint in result.stderr
    assert "refuse to start" in result.stderr


def test_every_problem_is_named_at_once():
    result = manage("check", env=production_env(DATABASE_URL="", REDIS_URL="", ALLOWED_HOSTS=""))
    assert result.returncode != 0
    for name in ("DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
        assert name in result.stderr


# A request through the whole middleware stack, as the proxy forwards it (TLS ended there).
# Pages that need no database row: the login page and a static file.
REQUEST = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="studio.example.test")
out = {}
for path in ("/accounts/login/", "/"):
    r = client.get(path)
    out[path] = {"status": r.status_code, "headers": dict(r.headers),
                 "cookies": {k: dict(v) | {"value": "-"} for k, v in r.cookies.items()},
                 "body": r.content.decode()[:20000]}
plain = Client(HTTP_HOST="studio.example.test").get("/accounts/login/")
out["plain"] = {"status": plain.status_code, "location": plain.headers.get("Location")}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    static_root = tmp_path_factory.mktemp("static")
    env = production_env(STATIC_ROOT=str(static_root))
    result = manage("collectstatic", "--noinput", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return static_root, env


def test_collectstatic_writes_hashed_and_compressed_files(collected):
    static_root, _ = collected
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/studio.css"]
    assert hashed != "css/studio.css" and hashed.startswith("css/studio.")
    assert (static_root / hashed).exists()
    assert (static_root / (hashed + ".gz")).exists()
    assert (static_root / (hashed + ".br")).exists()


def test_pages_carry_the_security_headers_and_hashed_static_links(collected):
    _, env = collected
    result = run([sys.executable, "-c", REQUEST], env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    login = out["/accounts/login/"]
    assert login["status"] == 200
    headers = {k.lower(): v for k, v in login["headers"].items()}
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert "includeSubDomains" in headers["strict-transport-security"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    policy = {
        part.split()[0]: part.split()[1:]
        for part in headers["content-security-policy"].split(";")
        if part.strip()
    }
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no nonce, no other origin
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert login["cookies"]["csrftoken"]["secure"] is True
    # Static links point at the hashed names whitenoise serves forever.
    assert "/static/css/studio." in login["body"] and '/static/css/studio.css"' not in login["body"]
    # Pages need a session: the create page sends a stranger to log in, over https.
    assert out["/"]["status"] == 302
    # Plain http is redirected to https.
    assert out["plain"]["status"] == 301
    assert out["plain"]["location"].startswith("https://studio.example.test/")


def test_object_storage_media_origin_is_allowed_by_the_policy():
    code = "import django; django.setup(); from django.conf import settings; import json; print(json.dumps(settings.CONTENT_SECURITY_POLICY))"
    env = production_env(
        STUDIO_MEDIA_STORAGE="s3",
        STUDIO_S3_BUCKET="studio-media",
        STUDIO_S3_ENDPOINT_URL="https://objects.example.test",
    )
    result = run([sys.executable, "-c", code], env)
    assert result.returncode == 0, result.stderr
    directives = json.loads(result.stdout)["DIRECTIVES"]
    assert "https://objects.example.test" in directives["media-src"]
    assert "https://objects.example.test" in directives["img-src"]
    assert directives["script-src"] == ["'self'"]
