"""A newcomer's first video, in a real browser against the live stack (gunicorn, a real qcluster,
the simulator in fast mode): sign up, see the empty places and the sign-up credits, pick a model,
drop an image, change fields and watch the price and the request change, submit, watch the
progress bar move without shifting the page, and play the finished video.
"""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.conftest import drop_file, snap
from tests.factories import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-passphrase-42"
# The simulator reads markers in the prompt: this task runs for at least 6 s, so the progress
# bar has time to move (see docs/simulator.md).
PROMPT = "A paper boat drifting down a rainy street, the camera following low sim:run_seconds=6"


def _price(page) -> str:
    return page.locator("#live-price .price").inner_text()


def _wait_price(page, credits: int) -> None:
    expect(page.locator("#live-price .price")).to_have_text(
        re.compile(rf"^{credits} credits?$"), timeout=10_000
    )


def test_a_newcomer_signs_up_and_makes_a_first_video(browse, live_stack):
    page = browse()
    page.goto("/")
    # Signed out, the studio asks to sign in and offers an account.
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_role("link", name="Create an account").first.click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    starting = settings.STUDIO_SIGNUP_CREDITS
    expect(page.locator(".auth-perk")).to_contain_text(f"{starting} free credits")
    page.fill("#id_username", "newcomer")
    page.fill("#id_email", "newcomer@example.test")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    snap(page, "newcomer-01-sign-up")
    page.get_by_role("button", name="Create account").click()

    # Straight to the create page, greeted, with the sign-up credits ready to spend.
    expect(page).to_have_url(live_stack.url + "/")
    expect(page.locator(".messages")).to_contain_text(f"You have {starting} free credits")
    expect(page.get_by_test_id("price-wallet")).to_contain_text(f"{starting} available")

    # The empty places say what they are for and what to do.
    page.get_by_role("link", name="Gallery", exact=True).click()
    expect(page.get_by_role("heading", name="Nothing here yet")).to_be_visible()
    expect(page.locator(".gallery-filters")).to_have_count(0)  # nothing to filter yet
    snap(page, "newcomer-02-empty-gallery")
    page.get_by_role("link", name="Teams", exact=True).click()
    expect(page.get_by_role("heading", name="You are not in a team yet")).to_be_visible()
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_test_id("balance")).to_have_text(str(starting))
    expect(page.locator("table")).to_contain_text("Sign-up credits")
    snap(page, "newcomer-03-account")
    page.get_by_role("link", name="Gallery", exact=True).click()
    page.get_by_role("link", name="Make your first video").click()
    expect(page).to_have_url(live_stack.url + "/")

    # Pick a model: the other one's form is swapped in place, then back to the first.
    page.get_by_role("radio", name=re.compile("Wan 2.6 Flash")).check(force=True)
    expect(page.locator("#model-form")).to_have_attribute("data-model", "wan-2.6-flash")
    page.get_by_role("radio", name=re.compile("Wan2.6-I2V-Flash")).check(force=True)
    expect(page.locator("#model-form")).to_have_attribute("data-model", "wan2.6-i2v-flash")

    # Drop an image on the drop zone: it is checked and shown at once.
    zone = "#field-img_url [data-dropzone]"
    drop_file(page, zone, name="boat.png", mime="image/png", data=image_bytes(size=(640, 360)))
    expect(page.locator("#field-img_url .reference-chosen")).to_be_visible()
    expect(page.locator("#field-img_url .reference-facts")).to_contain_text("640×360 px")
    expect(page.locator("#announcer")).to_contain_text("Uploaded and checked")

    # Fields change the price and the request, live.
    page.fill("#id_prompt", PROMPT)
    _wait_price(page, 4)  # 1080P, 5 s step, with audio
    page.locator("label.segment", has_text="720P").click()
    _wait_price(page, 3)
    page.locator("label[for=id_audio]").click()
    _wait_price(page, 2)  # silent
    page.fill("#id_duration", "2")
    page.locator(".api-request summary").click()
    body = page.locator("#api-request-body")
    expect(body).to_contain_text('"duration": 2')
    expect(body).to_contain_text('"resolution": "720P"')
    expect(body).to_contain_text('"audio": false')
    _wait_price(page, 2)  # 2 s costs the 5 s step
    expect(page.locator("#live-price .price-detail")).to_contain_text(
        "720p · 2 s is priced as 5 s · silent"
    )
    snap(page, "newcomer-04-create-filled")

    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))

    # Progress: sample the bar and the page's layout shifts until the video is there.
    page.evaluate(
        """() => {
            window.__shift = 0;
            window.__moved = [];
            const name = node => !node ? "?" : node.id ? "#" + node.id
                : (node.className && node.className.baseVal === undefined ? "." + node.className
                   : node.nodeName);
            new PerformanceObserver(list => list.getEntries().forEach(entry => {
                if (entry.hadRecentInput) return;
                window.__shift += entry.value;
                window.__moved.push(entry.value.toFixed(4) + " " +
                    entry.sources.map(source => name(source.node)).join(", "));
            })).observe({type: "layout-shift"});
        }"""
    )
    seen: list[int] = []
    shift_while_working = 0.0
    deadline = time.monotonic() + 60
    state = ""
    while time.monotonic() < deadline:
        sample = page.evaluate(
            """() => {
                const status = document.querySelector("#generation-status");
                const bar = status && status.querySelector("progress");
                return {state: status ? status.dataset.state : "",
                        progress: bar ? Number(bar.value) : null, shift: window.__shift};
            }"""
        )
        state = sample["state"]
        if state in ("succeeded", "failed", "expired"):
            break
        shift_while_working = sample["shift"]
        if sample["progress"] is not None and (not seen or seen[-1] != sample["progress"]):
            seen.append(sample["progress"])
            if len(seen) == 2:
                snap(page, "newcomer-05-progress")
        page.wait_for_timeout(150)
    assert state == "succeeded", f"the generation ended {state or 'nowhere'}"
    moving = [value for value in seen if 0 < value < 100]
    assert len(set(moving)) >= 2 and moving == sorted(moving), f"progress seen: {seen}"
    moved = page.evaluate("window.__moved")
    assert shift_while_working < 0.01, f"the page shifted while working: {moved}"
    expect(page.locator("#announcer")).to_have_text("Your video is ready.")

    # The finished video loads, plays, and lasts as long as asked.
    video = page.locator("video.player")
    page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle())
    duration = video.evaluate("v => v.duration")
    assert abs(duration - 2) < 0.3, f"the video lasts {duration} s, 2 s were asked"
    video.click()  # a person's click: plays (autoplay rules need one)
    page.wait_for_function("v => !v.paused && v.currentTime > 0.2", arg=video.element_handle())
    video.evaluate("v => { v.pause(); v.currentTime = 0.5; }")
    page.wait_for_function("v => v.readyState >= 2 && !v.seeking", arg=video.element_handle())
    snap(page, "newcomer-06-video")

    # Paid for: the account shows what is left.
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_test_id("balance")).to_have_text(str(starting - 2))
    page.get_by_role("link", name="Gallery", exact=True).click()
    expect(page.locator("[data-card]")).to_have_count(1)
    assert page.errors == []
