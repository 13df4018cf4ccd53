"""The create page in a real browser (Debian's chromium, headless) against the live stack: the
parts only JavaScript and htmx make work — the counter, dependent fields, the seed button, an
upload on choice, the live price, the model swap and the API request panel; what a mistake
looks like; and the keyboard's way through the drop zone and the model picker.

Screenshots go to test-artifacts/screenshots/ (docs/create-*.png are copies of two of them).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import drop_file, snap
from tests.factories import image_bytes, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPT = "A lighthouse beam sweeping over a calm sea at dusk, the camera slowly rising"


def test_the_create_page_works_as_a_person_uses_it(browse):
    page = browse(user=make_user(username="browser-maker", credits=50))
    picture = Path(tempfile.mkdtemp()) / "lighthouse.png"
    picture.write_bytes(image_bytes(size=(640, 360)))
    page.goto("/")

    # The counter counts code points, as the server does (an emoji is one, not two).
    page.fill("#id_negative_prompt", "🎬🎬🎬 blur")
    assert page.inner_text("[data-counter-for=id_negative_prompt]") == "8 / 500 characters"
    page.fill("#id_negative_prompt", "")
    page.fill("#id_prompt", PROMPT)
    assert page.inner_text("[data-counter-for=id_prompt]") == f"{len(PROMPT)} / 1500 characters"

    # Shot type depends on Prompt Extend: disabled, with its hint, while it is off.
    assert page.is_enabled("#id_shot_type_1")
    page.click("label[for=id_prompt_extend]")
    assert page.is_disabled("#id_shot_type_1")
    assert page.is_visible("#field-shot_type .condition-hint")
    page.click("label[for=id_prompt_extend]")
    page.check("#id_shot_type_1", force=True)

    # The seed's button draws from the field's range.
    page.click("[data-seed-random=id_seed]")
    assert 0 <= int(page.input_value("#id_seed")) <= 2147483647

    # A chosen file is uploaded and validated at once; the form then carries its reference.
    page.set_input_files("#id_img_url", str(picture))
    page.wait_for_selector("#field-img_url .reference-chosen")
    assert "640×360 px" in page.inner_text("#field-img_url .reference-facts")
    assert page.input_value("#id_img_url") == ""
    assert page.is_checked("#field-img_url input[type=radio][name=img_url]")

    # The price follows the form: 12 s costs the 15 s step, 1080P with audio.
    page.fill("#id_duration", "12")
    page.wait_for_function("document.querySelector('#live-price').innerText.includes('10 credits')")
    page.click(".api-request summary")
    page.wait_for_function(
        "document.querySelector('#api-request-body').innerText.includes('\"duration\": 12')"
    )
    body = page.inner_text("#api-request-body")
    assert '"shot_type": "multi"' in body and "img_url" in body and "Bearer" in body
    snap(page, "create-modelstream")

    # Another model: the form is swapped in place and keeps what was entered, by role. Apiframe
    # has no 12 s: the nearest length is chosen and the field says so.
    page.check('input[name=model][value="wan-2.6-flash"]', force=True)
    page.wait_for_selector('#model-form[data-model="wan-2.6-flash"]')
    assert page.input_value("#id_prompt") == PROMPT
    assert page.is_checked('input[name=duration][value="10"]')
    expect(page.locator("#field-duration .switch-note")).to_contain_text(
        "your 12 s is now 10 s, the nearest"
    )
    assert page.is_checked("#id_enable_prompt_expansion")
    assert page.is_checked("#id_multi_shots")
    assert "640×360 px" in page.inner_text("#field-image .reference-facts")
    page.wait_for_function("document.querySelector('#live-price').innerText.includes('7 credits')")
    page.locator("#field-duration").scroll_into_view_if_needed()
    snap(page, "create-switch-note", full_page=False)

    # Back to ModelStream: the 12 s typed there comes back, without a note.
    page.check('input[name=model][value="wan2.6-i2v-flash"]', force=True)
    page.wait_for_selector('#model-form[data-model="wan2.6-i2v-flash"]')
    assert page.input_value("#id_duration") == "12"
    expect(page.locator(".switch-note")).to_have_count(0)

    # Picking a length by hand on Apiframe replaces the note and is what travels from then on.
    page.check('input[name=model][value="wan-2.6-flash"]', force=True)
    page.wait_for_selector('#model-form[data-model="wan-2.6-flash"]')
    page.check('input[name=duration][value="15"]', force=True)
    expect(page.locator("#field-duration .switch-note")).to_have_count(0)
    page.wait_for_function("document.querySelector('#live-price').innerText.includes('10 credits')")
    page.click(".api-request summary")
    assert "wanParams" in page.inner_text("#api-request-body")
    snap(page, "create-apiframe")

    page.click("[data-submit]")
    page.wait_for_url(re.compile(r".*/generations/[0-9a-f-]{36}/$"))
    assert page.errors == []


def test_a_bad_upload_and_an_out_of_range_value_say_what_to_do_and_keep_the_rest(browse):
    page = browse(user=make_user(username="careless", credits=50))
    page.goto("/")
    page.fill("#id_prompt", PROMPT)
    page.fill("#id_negative_prompt", "blur, text")
    page.locator("label.segment", has_text="720P").click()
    zone = "#field-img_url [data-dropzone]"
    error = page.locator("#field-img_url .field-error")

    # Not a picture at all: checked by the studio, which says what it takes.
    drop_file(page, zone, name="notes.png", mime="image/png", data=b"a shopping list\n" * 40)
    expect(error).to_contain_text("This file is not a JPEG, PNG, BMP or WEBP image.")
    expect(page.locator("#announcer")).to_contain_text("not a JPEG, PNG, BMP or WEBP image")
    # Far too big: refused in the browser before anything is sent.
    drop_file(page, zone, name="huge.png", mime="image/png", size=21 * 1024 * 1024)
    expect(error).to_contain_text("the limit is 20 MB. Choose a smaller file.")
    snap(page, "create-bad-upload")
    # What was entered is untouched.
    assert page.input_value("#id_prompt") == PROMPT
    assert page.input_value("#id_negative_prompt") == "blur, text"
    assert page.is_checked('input[name=resolution][value="720P"]')

    # A good picture, then a duration out of range: no price for it, and the server marks it.
    drop_file(page, zone, name="sea.png", mime="image/png", data=image_bytes(size=(640, 360)))
    expect(page.locator("#field-img_url .reference-chosen")).to_be_visible()
    page.fill("#id_duration", "99")
    expect(page.locator("#live-price .price")).to_have_text("— credits")
    page.locator("[data-submit]").click()
    duration_error = page.locator("#field-duration .field-error")
    expect(duration_error).to_contain_text("15")
    expect(page.locator(".form-error .error-links")).to_contain_text("Length")
    snap(page, "create-out-of-range")
    # Everything else came back as it was: text, choices and the uploaded picture.
    assert page.input_value("#id_prompt") == PROMPT
    assert page.input_value("#id_negative_prompt") == "blur, text"
    assert page.input_value("#id_duration") == "99"
    assert page.is_checked('input[name=resolution][value="720P"]')
    expect(page.locator("#field-img_url .reference-facts")).to_contain_text("sea.png")

    # The error summary links to the field; fixing it is enough to start the video.
    page.locator(".error-links a", has_text="Length").click()
    page.fill("#id_duration", "3")
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    expect(page.locator("video.player")).to_be_attached(timeout=30_000)
    assert [e for e in page.errors if "status of 400" not in e] == []


def test_the_drop_zone_and_the_model_picker_work_from_the_keyboard(browse):
    page = browse(user=make_user(username="keyboard-only", credits=50))
    picture = Path(tempfile.mkdtemp()) / "harbour.png"
    picture.write_bytes(image_bytes(size=(640, 360)))
    page.goto("/")

    # The model picker is a radio group: arrow keys move through it and swap the form.
    page.focus('input[name=model][value="wan2.6-i2v-flash"]')
    page.keyboard.press("ArrowDown")
    expect(page.locator("#model-form")).to_have_attribute("data-model", "wan-2.6-flash")
    assert page.evaluate("document.activeElement.value") == "wan-2.6-flash"
    page.wait_for_load_state("networkidle")  # the swap's price and preview are in

    # Tab goes on to the drop zone's file input, with a visible focus ring around the zone.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_image"
    zone = page.locator("#field-image [data-dropzone]")
    assert zone.evaluate("z => getComputedStyle(z).outlineStyle") == "solid"
    snap(page, "create-keyboard-focus", full_page=False)
    # Space opens the chooser; the chosen file is uploaded and checked at once.
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(" ")
    chooser.value.set_files(str(picture))
    expect(page.locator("#field-image .reference-facts")).to_contain_text("640×360 px")
    assert page.errors == []


def test_the_wallet_range_marks_and_shortfall_speak_plainly(browse):
    from accounts.ledger import credits_grant, wallet_for_team
    from accounts.models import Membership
    from tests.factories import make_team

    person = make_user(username="browser-payer", credits=3)
    team = make_team(slug="payers", credits=0)
    Membership.objects.create(team=team, user=person)
    credits_grant(wallet=wallet_for_team(team=team), amount=500, actor=None, reason="test")
    page = browse(user=person)
    page.goto("/")

    # Personal by default, named beside Generate; choosing the team names the team.
    expect(page.locator("[data-testid=paying-wallet]")).to_have_text("from your credits")
    # Too few credits of one's own: Generate is off and says how many are missing, and whom to ask.
    expect(page.locator("[data-submit]")).to_be_disabled()
    expect(page.locator("#shortfall-note")).to_contain_text("Ask an admin of the studio")
    page.select_option("#id_team", "payers")
    expect(page.locator("[data-testid=paying-wallet]")).to_have_text("from team Payers")
    expect(page.locator("[data-submit]")).to_be_enabled()

    # A new visit pays personally again.
    page.goto("/")
    expect(page.locator("#id_team")).to_have_value("")

    # Labels and help speak to people: no parameter names, no true or false, on either model.
    for model in ("wan2.6-i2v-flash", "wan-2.6-flash"):
        page.locator(f"input[name=model][value='{model}']").check()
        expect(page.locator("#model-form")).to_have_attribute("data-model", model)
        texts = page.evaluate(
            "[...document.querySelectorAll('#model-form label, #model-form legend,"
            " #model-form .help, #model-form .condition-hint')].map(e => e.innerText)"
        )
        assert len(texts) > 15
        for text in texts:
            assert "_" not in text and not re.search(r"\b(true|false)\b", text.lower()), text
    page.locator("input[name=model][value='wan2.6-i2v-flash']").check()
    expect(page.locator("#model-form")).to_have_attribute("data-model", "wan2.6-i2v-flash")
    page.wait_for_load_state("networkidle")

    # An out-of-range duration is marked as it is typed, in the words the server would use.
    page.fill("#id_duration", "16")
    expect(page.locator("#field-duration .field-error")).to_have_text(
        "Choose a value from 2 to 15 s."
    )
    expect(page.locator("#live-price")).to_contain_text("Fix the marked", timeout=10_000)
    page.fill("#id_duration", "12")
    expect(page.locator("#field-duration .field-error")).to_have_count(0)
    expect(page.locator(".form-error[role=alert]")).to_have_count(0)
    assert page.errors == []


PASTE = """
async (b64) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], "pasted.png", {type: "image/png"}));
  document.querySelector("#id_prompt").dispatchEvent(
    new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
}
"""


def test_paste_a_picture_submit_with_the_keyboard_and_step_with_the_arrows(browse):
    import base64

    from tests.factories import make_generation

    person = make_user(username="keyboard-maker", credits=50)
    older = make_generation(owner=person, state="succeeded", prompt="An older take")
    newer = make_generation(owner=person, state="succeeded", prompt="A newer take")
    page = browse(user=person)
    page.goto("/")
    page.fill("#id_prompt", PROMPT)
    # A pasted picture goes into the reference box and is uploaded and checked at once.
    page.evaluate(PASTE, base64.b64encode(image_bytes(size=(640, 360))).decode())
    expect(page.locator("#field-img_url .reference-facts")).to_contain_text("640×360 px")
    # Ctrl+Enter in the prompt submits the form, as Generate would.
    expect(page.locator("#field-img_url input[type=radio][name=img_url]:checked")).to_have_count(1)
    expect(page.locator("[data-submit]")).to_be_enabled()  # the upload is in
    page.focus("#id_prompt")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    # On a generation page opened from the gallery the arrow keys step through it.
    page.goto("/gallery/")
    page.goto(f"/generations/{newer.id}/")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/generations/{older.id}/")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/generations/{newer.id}/")
    assert page.errors == []
