"""ModelStream's own curl example, verbatim but for the host, the token and the image URL,
against the live studio; the finished video is fetched from the task's `url`."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import av
import httpx
import pytest

from accounts.models import LedgerEntry
from accounts.services import api_token_create
from tests.factories import image_bytes, make_user
from tests.live_stack import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The document's example, byte for byte, with three placeholders for what may change.
CURL = """curl -X POST "HOST/v1/video/generations" \\
  -H "Authorization: Bearer TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
  "model": "wan2.6-i2v-flash",
  "prompt": "A high-fashion model walking gracefully in a neon-lit futuristic corridor, hair swaying naturally, eyes reflecting flickering lights, cinematic camera movement with a slight tilt, ultra-realistic textures and smooth motion.",
  "duration": 5,
  "metadata": {
    "input": {
      "negative_prompt": "blurry, low quality, distorted, deformed, watermark, ugly",
      "img_url": "IMAGE"
    },
    "parameters": {
      "resolution": "1080P",
      "prompt_extend": true,
      "shot_type": "single",
      "audio": true,
      "watermark": false
    }
  }
}'"""


def test_the_seed_curl_example_works_against_the_studio(live_stack, file_server):
    person = make_user(username="curler", credits=10)
    _, token = api_token_create(user=person, name="curl")
    image = file_server.add("/reference.png", image_bytes(size=(640, 360)), "image/png")
    command = CURL.replace("HOST", live_stack.url).replace("TOKEN", token).replace("IMAGE", image)
    if shutil.which("curl"):
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
        answer = json.loads(result.stdout)
    else:  # the same request, sent by httpx
        body = command.split("-d '", 1)[1].rsplit("'", 1)[0]
        answer = httpx.post(
            f"{live_stack.url}/v1/video/generations",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ).json()
    assert answer["status"] == "queued", answer
    task_id = answer["task_id"]

    api = httpx.Client(base_url=live_stack.url, headers={"Authorization": f"Bearer {token}"})

    def finished():
        task = api.get(f"/v1/video/generations/{task_id}").json()
        return task if task["status"] not in ("queued", "in_progress") else None

    task = wait_until(finished, timeout=90, what="the task to finish")
    assert task["status"] == "completed", task
    assert task["cost"] == 4 and isinstance(task["seed"], int)
    video = httpx.get(task["url"])  # no token: the signed link is the bearer
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        assert abs(container.duration / av.time_base - 5) < 0.2
    assert LedgerEntry.objects.filter(generation_id=task_id, kind="charge").count() == 1
    api.close()
