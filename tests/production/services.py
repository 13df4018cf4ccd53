"""Real servers the production tests use: a local S3-compatible server, PostgreSQL and Redis.

Outside CI a missing PostgreSQL or Redis skips the tests that need them; with CI=true it fails
them (`.ci/run` starts both on 127.0.0.1 and names them in STUDIO_TEST_POSTGRES_URL and
STUDIO_TEST_REDIS_URL). The S3 server is moto's server mode, a test requirement: started here
on 127.0.0.1 for the session, or taken from STUDIO_TEST_S3_ENDPOINT when set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.live_stack import ARTIFACTS, free_port, wait_until

IN_CI = os.environ.get("CI", "").lower() == "true"


def service_missing(what: str) -> None:
    """Fail in CI, skip elsewhere: a missing service must never pass quietly in CI."""
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: every service must be there)")
    pytest.skip(message)


@dataclass
class S3Server:
    endpoint: str
    access_key: str = "studio-test-key"
    secret_key: str = "studio-test-secret"
    region: str = "us-east-1"

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def new_bucket(self) -> str:
        name = f"studio-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def environment(self, bucket: str) -> dict[str, str]:
        """The variables that switch the studio's media to this server."""
        return {
            "STUDIO_MEDIA_STORAGE": "s3",
            "STUDIO_S3_BUCKET": bucket,
            "STUDIO_S3_ENDPOINT_URL": self.endpoint,
            "STUDIO_S3_REGION": self.region,
            "STUDIO_S3_ADDRESSING_STYLE": "path",
            "STUDIO_S3_ACCESS_KEY_ID": self.access_key,
            "STUDIO_S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def storages(self, bucket: str) -> dict:
        """STORAGES as the settings build them from `environment(bucket)`."""
        from django.conf import settings

        from studio.storage import OBJECT_LINK_SECONDS, S3_BACKEND

        return {
            **settings.STORAGES,
            "default": {
                "BACKEND": S3_BACKEND,
                "OPTIONS": {
                    "bucket_name": bucket,
                    "endpoint_url": self.endpoint,
                    "region_name": self.region,
                    "addressing_style": "path",
                    "access_key": self.access_key,
                    "secret_key": self.secret_key,
                    "default_acl": None,
                    "querystring_auth": True,
                    "querystring_expire": OBJECT_LINK_SECONDS,
                    "file_overwrite": False,
                    "signature_version": "s3v4",
                },
            },
        }


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
        return True
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def s3_server():
    given = os.environ.get("STUDIO_TEST_S3_ENDPOINT")
    if given:
        if not _answers(given):
            service_missing(f"the S3 server at {given}")
        yield S3Server(endpoint=given.rstrip("/"))
        return
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log = (ARTIFACTS / "moto-server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(endpoint), timeout=30, what="the S3 server (moto)")
        yield S3Server(endpoint=endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def _postgres_reachable(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_server_url():
    url = os.environ.get("STUDIO_TEST_POSTGRES_URL", "")
    if not url or not _postgres_reachable(url):
        service_missing("PostgreSQL (STUDIO_TEST_POSTGRES_URL)")
    return url


@pytest.fixture(scope="session")
def redis_server_url():
    import redis

    url = os.environ.get("STUDIO_TEST_REDIS_URL", "")
    try:
        ok = bool(url) and redis.Redis.from_url(url, socket_timeout=3).ping()
    except redis.RedisError:
        ok = False
    if not ok:
        service_missing("Redis (STUDIO_TEST_REDIS_URL)")
    return url


@pytest.fixture
def fresh_postgres_database(postgres_server_url):
    """A new, empty PostgreSQL database on the test server, dropped afterwards; yields its URL."""
    import psycopg
    from psycopg import sql

    name = f"studio_prod_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = postgres_server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
