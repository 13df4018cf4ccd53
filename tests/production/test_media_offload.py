"""Behind the proxy, media views check permission and hand the bytes to the proxy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from generations.models import Generation
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(db):
    owner = make_user()
    name = default_storage.save("results/2025/01/clip with space.mp4", ContentFile(b"\0" * 64))
    generation = Generation.objects.create(
        owner=owner,
        model_key="wan2.6-i2v-flash",
        provider="modelstream",
        prompt="a clip",
        state=Generation.State.SUCCEEDED,
        deadline_at=timezone.now() + timedelta(hours=1),
        video=name,
    )
    return generation


def test_the_owner_gets_an_x_accel_redirect_and_no_bytes(client, settings, finished):
    settings.STUDIO_MEDIA_ACCEL_PREFIX = "/protected-media/"
    client.force_login(finished.owner)
    response = client.get(f"/generations/{finished.id}/video/?download=1")
    assert response.status_code == 200
    assert response.content == b""
    assert (
        response["X-Accel-Redirect"] == "/protected-media/results/2025/01/clip%20with%20space.mp4"
    )
    assert response["Content-Type"] == "video/mp4"
    assert response["Cache-Control"].startswith("private")
    assert "attachment" in response["Content-Disposition"]


def test_anyone_else_gets_a_404_and_no_redirect(client, settings, finished):
    settings.STUDIO_MEDIA_ACCEL_PREFIX = "/protected-media/"
    client.force_login(make_user())
    response = client.get(f"/generations/{finished.id}/video/")
    assert response.status_code == 404
    assert "X-Accel-Redirect" not in response


def test_without_a_proxy_django_streams_the_bytes(client, finished):
    client.force_login(finished.owner)
    response = client.get(f"/generations/{finished.id}/video/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\0" * 64
