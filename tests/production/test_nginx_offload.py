"""The nginx configuration of docs/deploy.md for real: media leaves through X-Accel-Redirect.

nginx (Debian's package; `.ci/run` installs it) runs on 127.0.0.1 in front of the studio, with
the same `location` blocks as the documented configuration minus TLS.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from generations.models import Generation
from tests.factories import make_user
from tests.live_stack import free_port, wait_until
from tests.production.services import service_missing

CONFIG = """
worker_processes 1;
daemon off;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ video/mp4 mp4; image/jpeg jpg; }}
    upstream studio_web {{ server {upstream}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 25m;
        location / {{
            proxy_pass http://studio_web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        location /protected-media/ {{
            internal;
            alias {media}/;
            add_header X-Content-Type-Options nosniff always;
        }}
    }}
}}
"""


@pytest.fixture
def nginx(live_server, settings, tmp_path):
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        service_missing("nginx")
    settings.STUDIO_MEDIA_ACCEL_PREFIX = "/protected-media/"
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        CONFIG.format(
            work=tmp_path,
            upstream=live_server.url.removeprefix("http://"),
            port=port,
            media=str(django_settings.MEDIA_ROOT).rstrip("/"),
        )
    )
    process = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def answers():
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read().decode()}")
        try:
            return httpx.get(url + "/healthz", timeout=2)
        except httpx.HTTPError:
            return None

    try:
        wait_until(answers, timeout=20, what="nginx")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_nginx_sends_the_media_after_the_studio_checked_permission(nginx, client):
    owner = make_user()
    data = bytes(range(256)) * 64
    name = default_storage.save("results/2025/01/take one.mp4", ContentFile(data))
    generation = Generation.objects.create(
        owner=owner,
        model_key="wan2.6-i2v-flash",
        provider="modelstream",
        prompt="a clip",
        state=Generation.State.SUCCEEDED,
        deadline_at=timezone.now() + timedelta(hours=1),
        video=name,
    )
    client.force_login(owner)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    path = f"/generations/{generation.id}/video/"

    whole = httpx.get(nginx + path, cookies=cookies, timeout=10)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["cache-control"].startswith("private")
    assert "x-accel-redirect" not in whole.headers

    part = httpx.get(nginx + path, cookies=cookies, headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206
    assert part.content == data[10:20]

    # The internal location cannot be asked for directly ...
    direct = httpx.get(f"{nginx}/protected-media/{name}", timeout=10)
    assert direct.status_code == 404
    # ... and someone else gets the studio's 404, not the file.
    client.force_login(make_user())
    stranger = httpx.get(
        nginx + path, cookies={"sessionid": client.cookies["sessionid"].value}, timeout=10
    )
    assert stranger.status_code == 404
    assert data[:64] not in stranger.content
