"""The whole path for real: a live server, a real qcluster, the simulator, real files."""

from __future__ import annotations

import re
import tempfile

import av
import pytest
from django.core.files.storage import default_storage

from accounts.models import LedgerEntry
from generations.models import Generation
from tests.factories import PASSWORD, image_bytes, make_user
from tests.live_stack import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _submit(client, fields: dict, image: bytes) -> str:
    page = client.get("/")
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/",
        data={"csrfmiddlewaretoken": token, **fields},
        files={
            "img_url" if fields["model"] == "wan2.6-i2v-flash" else "image": (
                "ref.png",
                image,
                "image/png",
            )
        },
        headers={"Referer": client.base_url.join("/").__str__()},
    )
    assert response.status_code == 303, response.text[:2000]
    match = re.match(r"^/generations/([0-9a-f-]{36})/$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def test_a_person_submits_an_image_and_prompt_and_gets_a_playable_video(live_stack):
    make_user(username="demo-e2e", credits=20)
    client = live_stack.login("demo-e2e", PASSWORD)
    before = live_stack.simulator_stats()

    generation_id = _submit(
        client,
        {
            "model": "wan2.6-i2v-flash",
            "prompt": "A lighthouse beam sweeping over a calm sea at dusk",
            "resolution": "720P",
            "duration": "3",
            "prompt_extend": "on",
            "shot_type": "single",
            "audio": "on",
        },
        image_bytes(size=(640, 360)),
    )

    page = client.get(f"/generations/{generation_id}/")
    assert page.status_code == 200
    assert "A lighthouse beam" in page.text

    def finished():
        generation = Generation.objects.get(pk=generation_id)
        return generation if generation.is_final else None

    generation = wait_until(finished, timeout=60, what="the generation to finish")
    assert generation.state == Generation.State.SUCCEEDED, (
        generation.error_message,
        generation.state,
    )

    # The request went to the simulator exactly once, over the ModelStream wire format.
    after = live_stack.simulator_stats()
    assert after["submits"] - before["submits"] == 1
    assert after["duplicate_submits"] == before["duplicate_submits"]
    assert generation.request_body["model"] == "wan2.6-i2v-flash"
    assert generation.request_body["duration"] == 3
    assert generation.request_body["metadata"]["parameters"]["resolution"] == "720P"
    assert generation.request_body["metadata"]["input"]["img_url"].startswith(
        live_stack.url + "/files/"
    )

    # The page and the gallery show it playing from the studio's own copy.
    page = client.get(f"/generations/{generation_id}/")
    assert f'src="/generations/{generation_id}/video/"' in page.text
    gallery = client.get("/gallery/")
    assert f"/generations/{generation_id}/video/" in gallery.text

    video = client.get(f"/generations/{generation_id}/video/")
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(video.content)
        handle.flush()
        with av.open(handle.name) as container:
            duration = container.duration / av.time_base
            frames = sum(1 for _ in container.decode(video=0))
    assert abs(duration - 3) < 0.2
    assert frames > 0
    assert default_storage.exists(generation.video.name)

    # Charged once, never refunded.
    kinds = list(
        LedgerEntry.objects.filter(generation_id=generation_id).values_list("kind", flat=True)
    )
    assert kinds == ["charge"]


def test_someone_else_gets_a_404_for_the_generation_and_its_video(live_stack):
    owner = make_user(username="owner-e2e", credits=20)
    make_user(username="other-e2e")
    client = live_stack.login("owner-e2e", PASSWORD)
    generation_id = _submit(
        client,
        {"model": "wan2.6-i2v-flash", "prompt": "Waves", "resolution": "720P", "duration": "2"},
        image_bytes(),
    )
    stranger = live_stack.login("other-e2e", PASSWORD)
    for path in (f"/generations/{generation_id}/", f"/generations/{generation_id}/video/"):
        assert stranger.get(path).status_code == 404
    wait_until(
        lambda: Generation.objects.get(pk=generation_id).is_final, timeout=60, what="the generation"
    )
    assert Generation.objects.get(pk=generation_id).owner == owner


def test_healthz_reports_database_queue_and_storage(live_stack):
    client = live_stack.client()
    response = wait_until(
        lambda: (r := client.get("/healthz")).status_code == 200 and r,
        timeout=30,
        what="a healthy /healthz",
    )
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is True
    assert body["checks"]["queue"]["heartbeat_seconds"] is not None
    assert body["checks"]["storage"]["ok"] is True
    text = response.text
    assert "test-modelstream-key" not in text and "SECRET" not in text.upper()
