"""A generation's whole life as its maker sees it, for both models, on the live stack: the form
is posted, the page shows it progressing (asking again while it is unfinished), it ends with
the stored video, and elsewhere in the studio a notice says it is ready."""

from __future__ import annotations

import re
import time

import pytest

from accounts.models import LedgerEntry
from generations.models import Generation
from tests.factories import PASSWORD, image_bytes, make_user
from tests.integration.lifecycle import visible_text

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FORMS = {
    "wan2.6-i2v-flash": ("img_url", {"resolution": "720P", "duration": "2"}),
    "wan-2.6-flash": ("image", {"resolution": "720p", "duration": "5"}),
}


@pytest.mark.parametrize("model_key", list(FORMS))
def test_a_person_follows_a_generation_to_its_video_and_hears_of_it_elsewhere(
    live_stack, model_key
):
    image_field, fields = FORMS[model_key]
    person = make_user(credits=100)
    client = live_stack.login(person.username, PASSWORD)
    before = live_stack.simulator_stats()
    page = client.get(f"/?model={model_key}")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    posted = client.post(
        "/",
        data={
            "csrfmiddlewaretoken": token,
            "model": model_key,
            "prompt": "A paper boat drifting down a rain gutter sim:run_seconds=2",
            **fields,
        },
        files={image_field: ("ref.png", image_bytes(size=(480, 270)), "image/png")},
        headers={"Referer": f"{live_stack.url}/"},
    )
    assert posted.status_code == 303, posted.text[:1000]
    url = posted.headers["Location"]
    generation_id = url.rstrip("/").rsplit("/", 1)[-1]

    # Its page shows it progressing, and asks again (htmx) while it is unfinished.
    status = client.get(url, headers={"HX-Request": "true"}).text
    assert 'class="progress-block"' in status and "elapsed" in visible_text(status)
    assert 'hx-trigger="load delay:1s"' in status

    # The person goes elsewhere; the notices region there asks until the news comes.
    elsewhere = client.get("/account/").text
    assert 'hx-get="/generations/notices/"' in elsewhere
    deadline = time.monotonic() + 60
    while "Your video is ready:" not in (notice := client.get("/generations/notices/").text):
        assert 'hx-trigger="load delay:5s"' in notice  # still asking while unfinished
        assert time.monotonic() < deadline, "no notice came"
        time.sleep(0.5)
    assert f'href="/generations/{generation_id}/"' in notice
    assert "hx-trigger" not in notice  # nothing else unfinished: it stops asking

    generation = Generation.objects.get(pk=generation_id)
    assert generation.state == "succeeded", (generation.state, generation.error_message)
    page = client.get(url).text
    assert f'src="/generations/{generation_id}/video/"' in page
    assert "progress-block" not in page and 'hx-trigger="load' not in page
    video = client.get(f"/generations/{generation_id}/video/")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    # Seen now: no toast any more, only its line in the header's Notices list.
    account = client.get("/account/").text
    assert "data-toast>" not in account
    assert f'href="/generations/{generation_id}/"' in account[: account.index("</header>")]

    assert list(
        LedgerEntry.objects.filter(generation_id=generation_id).values_list("kind", flat=True)
    ) == ["charge"]
    after = live_stack.simulator_stats()
    assert after["submits"] - before["submits"] == 1
    assert after["duplicate_submits"] == before["duplicate_submits"]
