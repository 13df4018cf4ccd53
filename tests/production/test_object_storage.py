"""Media on an S3-compatible server (moto on 127.0.0.1), through Django's storage API only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from generations.models import Generation
from tests.factories import make_user
from tests.generations.test_lifecycle import _create, _track_until_final, providers, simulator  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bucket_settings(settings, s3_server):
    bucket = s3_server.new_bucket()
    settings.STORAGES = s3_server.storages(bucket)
    return bucket


def test_the_environment_switches_media_to_the_bucket_and_refuses_a_missing_bucket(s3_server):
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "from django.core.files.storage import default_storage as s;"
        "print(json.dumps({'class': type(s._wrapped if hasattr(s, '_wrapped') else s).__name__,"
        " 'options': settings.STORAGES['default'].get('OPTIONS', {})}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "studio.settings.base", "SECRET_KEY": "x" * 50}
    env.update(s3_server.environment("media-bucket"))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["options"]["bucket_name"] == "media-bucket"
    assert config["options"]["querystring_expire"] == 300
    assert config["options"]["default_acl"] is None

    env.pop("STUDIO_S3_BUCKET")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "STUDIO_S3_BUCKET" in result.stderr


def test_files_are_written_read_and_deleted_in_the_bucket(bucket_settings, s3_server):
    name = default_storage.save("results/2025/01/example.txt", ContentFile(b"hello bucket"))
    objects = s3_server.client().list_objects_v2(Bucket=bucket_settings)
    assert [item["Key"] for item in objects["Contents"]] == [name]
    assert default_storage.size(name) == len(b"hello bucket")
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == b"hello bucket"
    # A name in use gets a new one, as on disk: nothing is overwritten.
    other = default_storage.save("results/2025/01/example.txt", ContentFile(b"second"))
    assert other != name
    default_storage.delete(name)
    default_storage.delete(other)
    assert s3_server.client().list_objects_v2(Bucket=bucket_settings)["KeyCount"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_generation_is_made_and_served_from_the_bucket(
    bucket_settings,
    s3_server,
    providers,  # noqa: F811
    client,
):
    """Reference in, video and poster out, all in the bucket; pages get 5-minute links."""
    owner = make_user(credits=50)
    generation = _create(owner)
    from generations.services import generation_submit

    # The simulator fetches the reference through the studio's signed link, which sends it on
    # to a presigned link into the bucket.
    generation_submit(generation_id=generation.id)
    done = _track_until_final(generation.id)
    assert done.state == Generation.State.SUCCEEDED, done.error_message
    keys = {
        item["Key"]
        for item in s3_server.client().list_objects_v2(Bucket=bucket_settings)["Contents"]
    }
    assert {done.video.name, done.poster.name, done.reference.file.name} <= keys

    client.force_login(owner)
    response = client.get(f"/generations/{done.id}/video/?download=1")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    link = response["Location"]
    assert link.startswith(s3_server.endpoint + "/")
    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert "attachment" in query["response-content-disposition"][0]
    fetched = httpx.get(link, timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "video/mp4"
    assert fetched.content[4:8] == b"ftyp"
    assert len(fetched.content) == done.video_bytes

    poster = client.get(f"/generations/{done.id}/poster/")
    assert poster.status_code == 302
    assert httpx.get(poster["Location"], timeout=10).content[:2] == b"\xff\xd8"

    # Without the permission check passing there is no link at all.
    client.force_login(make_user())
    assert client.get(f"/generations/{done.id}/video/").status_code == 404


def test_the_bucket_is_private_without_a_presigned_link(bucket_settings, s3_server):
    name = default_storage.save("references/1/ab/secret.png", ContentFile(b"private bytes"))
    bare = f"{s3_server.endpoint}/{bucket_settings}/{name}"
    assert httpx.get(bare, timeout=10).status_code == 403
    assert httpx.get(default_storage.url(name), timeout=10).content == b"private bytes"
