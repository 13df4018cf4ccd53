"""A batch in a real browser: four variations from the form, watched to the end on the batch
page, which renews all its cards with one request per tick."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, snap
from tests.factories import image_bytes, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_four_variations_from_the_form_watched_to_the_end(browse):
    page = browse(user=make_user(username="batcher", credits=100))
    picture = Path(tempfile.mkdtemp()) / "dunes.png"
    picture.write_bytes(image_bytes(size=(640, 360)))
    page.goto("/")
    page.set_input_files("#id_img_url", str(picture))
    page.wait_for_selector("#field-img_url .reference-chosen")
    page.fill("#id_prompt", "Dunes at dawn, wind lifting sand sim:run_seconds=2")
    page.locator("label.segment", has_text="720P").click()
    page.fill("#id_duration", "2")
    page.locator(".batch-controls summary").click()
    page.fill("#id_variations", "4")
    expect(page.get_by_test_id("batch-size")).to_have_text(
        "4 videos together, each priced on its own"
    )
    expect(page.locator("#live-price .price")).to_have_text("12 credits")
    assert page.get_by_role("button", name="Generate").count() == 1
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/batches/[0-9a-f-]{36}/$"))
    cards = page.locator("#batch-members .batch-card")
    expect(cards).to_have_count(4)
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    expect(page.get_by_test_id("batch-sums")).to_have_text("12 credits spent", timeout=60_000)
    assert not [url for url in polls if "/card/" in url]  # no card asks for itself
    assert [url for url in polls if "part=members" in url]  # the page asks for all of them
    expect(page.locator("#batch-members video.card-video")).to_have_count(4)
    snap(page, "batch-page")
    assert_accessible(page, "the batch page")
    assert page.errors == []
