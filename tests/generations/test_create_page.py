"""The create page, through the HTTP layer: picking a model, the schema's widgets, the live price
and request preview, uploads as soon as they are chosen, and submitting (with and without
JavaScript)."""

from __future__ import annotations

import json
import re
from html import unescape as html_unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import LedgerEntry
from generations.models import Generation, Reference
from tests.factories import image_upload, make_user, wav_bytes

pytestmark = pytest.mark.django_db

MODELSTREAM = "wan2.6-i2v-flash"
APIFRAME = "wan-2.6-flash"


def field_block(html: str, name: str) -> str:
    """The HTML of one field's block on the page."""
    start = html.index(f'id="field-{name}"')
    end = html.find('<div class="field ', start + 1)
    return html[start : end if end != -1 else len(html)]


def upload_reference(client, *, model=MODELSTREAM, field="img_url", upload=None):
    response = client.post(
        "/references/upload/",
        {"model": model, "field": field, field: upload or image_upload()},
    )
    return response


# --- The page and its widgets ----------------------------------------------------------------


def test_the_page_needs_a_signed_in_person(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post("/create/preview/", {"model": MODELSTREAM}).status_code == 302


def test_the_create_page_offers_both_models_and_the_schema_fields(signed_in):
    html = signed_in.get("/").content.decode()
    assert re.search(r'name="model" value="wan2.6-i2v-flash"[^>]*checked', html)
    assert 'name="model" value="wan-2.6-flash"' in html
    for name in (
        "img_url",
        "prompt",
        "audio_url",
        "negative_prompt",
        "resolution",
        "duration",
        "prompt_extend",
        "shot_type",
        "audio",
        "watermark",
        "seed",
    ):
        assert f'name="{name}"' in html, name
    assert 'name="current_model" value="wan2.6-i2v-flash"' in html


def test_model_query_parameter_preselects_the_model(signed_in):
    html = signed_in.get("/?model=wan-2.6-flash").content.decode()
    assert re.search(r'value="wan-2.6-flash"[^>]*checked', html)
    assert 'name="enable_prompt_expansion"' in html and 'name="img_url"' not in html
    # An unknown key shows the default model.
    html = signed_in.get("/?model=nope").content.decode()
    assert 'name="current_model" value="wan2.6-i2v-flash"' in html


def test_defaults_are_prefilled(signed_in):
    html = signed_in.get("/").content.decode()
    assert re.search(r'value="1080P"[^>]*checked', field_block(html, "resolution"))
    assert re.search(r'name="duration" value="5"', html)
    assert re.search(r'name="prompt_extend"[^>]*checked', html)
    assert re.search(r'value="single"[^>]*checked', field_block(html, "shot_type"))
    assert re.search(r'name="audio"[^>]*checked', html)
    assert not re.search(r'name="watermark"[^>]*checked', html)

    html = signed_in.get("/?model=wan-2.6-flash").content.decode()
    assert re.search(r'value="720p"[^>]*checked', field_block(html, "resolution"))
    assert re.search(r'value="5"[^>]*checked', field_block(html, "duration"))
    assert re.search(r'name="audio_enabled"[^>]*checked', html)
    assert not re.search(r'name="enable_prompt_expansion"[^>]*checked', html)


def test_widgets_follow_the_schema(signed_in):
    html = signed_in.get("/").content.decode()
    duration = field_block(html, "duration")
    assert re.search(r'type="number"', duration)
    assert 'min="2"' in duration and 'max="15"' in duration and 'step="1"' in duration
    seed = field_block(html, "seed")
    assert 'min="0"' in seed and 'max="2147483647"' in seed
    assert 'data-seed-random="id_seed"' in seed and "Random" in seed
    assert 'placeholder="Leave blank for random"' in seed
    shot_type = field_block(html, "shot_type")
    assert (
        "<span>One continuous shot</span>" in shot_type
        and "<span>Several shots</span>" in shot_type
    )
    assert 'data-condition-field="prompt_extend" data-condition-equals="true"' in shot_type
    assert "Only while “Improve my prompt” is on." in shot_type
    prompt = field_block(html, "prompt")
    assert "<textarea" in prompt and 'data-counter-for="id_prompt" data-limit="1500"' in prompt
    assert 'placeholder="e.g., A high-fashion model walking in a neon corridor..."' in prompt
    assert 'role="switch"' in field_block(html, "watermark")
    image = field_block(html, "img_url")
    assert 'type="file"' in image and "up to 20 MB" in image and "data-dropzone" in image
    # Help under every field.
    assert "How long the video runs. Longer videos cost more." in duration
    assert "Leave it empty for a new one each time." in seed


def test_the_page_has_no_inline_script_or_event_handler(signed_in):
    html = signed_in.get("/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "hx-on" not in html and "js:" not in html


# --- Switching models --------------------------------------------------------------------------


def test_switching_models_swaps_the_form_and_carries_values_by_role(signed_in):
    reference_id = re.search(
        r'name="img_url" value="([0-9a-f-]{36})"', upload_reference(signed_in).content.decode()
    ).group(1)
    response = signed_in.post(
        "/create/form/",
        {
            "model": APIFRAME,
            "current_model": MODELSTREAM,
            "img_url": reference_id,
            "prompt": "Waves at dusk",
            "resolution": "720P",
            "duration": "12",
            "audio": "",  # unticked: absent
            "prompt_extend": "on",
            "shot_type": "multi",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div id="model-form"')
    assert 'name="current_model" value="wan-2.6-flash"' in html
    assert "Waves at dusk" in html
    assert re.search(r'value="720p"[^>]*checked', field_block(html, "resolution"))
    assert re.search(r'value="10"[^>]*checked', field_block(html, "duration"))
    assert "your 12 s is now 10 s, the nearest" in field_block(html, "duration")
    assert not re.search(r'name="audio_enabled"[^>]*checked', html)
    assert re.search(r'name="enable_prompt_expansion"[^>]*checked', html)
    assert re.search(r'name="multi_shots"[^>]*checked', html)
    assert re.search(rf'name="image" value="{reference_id}"[^>]*checked', html)
    # The price shown is the swapped form's: 720p, 10 s, silent.
    assert "720p · 10 s · silent" in html


def test_switching_back_restores_the_typed_length_and_drops_the_note(signed_in):
    there = signed_in.post(
        "/create/form/",
        {"model": APIFRAME, "current_model": MODELSTREAM, "duration": "12", "watermark": "on"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    remembered = dict(re.findall(r'<input type="hidden" name="(typed_\w+)" value="([^"]*)"', there))
    assert set(remembered) == {"typed_duration", "typed_watermark"}
    back = signed_in.post(
        "/create/form/",
        {
            "model": MODELSTREAM,
            "current_model": APIFRAME,
            "duration": "10",
            **{name: html_unescape(value) for name, value in remembered.items()},
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert re.search(r'name="duration" value="12"', back)
    assert re.search(r'name="watermark"[^>]*checked', back)
    assert "the nearest" not in back and 'name="typed_' not in back


def test_switching_without_javascript_keeps_what_was_typed_and_submits_nothing(signed_in):
    page = signed_in.post(
        "/",
        {
            "model": APIFRAME,
            "current_model": MODELSTREAM,
            "action": "switch",
            "img_url": image_upload(),
            "prompt": "Carried over",
        },
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="current_model" value="wan-2.6-flash"' in html
    assert "Carried over" in html
    reference = Reference.objects.get()
    assert re.search(rf'name="image" value="{reference.id}"[^>]*checked', html)
    assert not Generation.objects.exists()


# --- The live price and the API request -------------------------------------------------------


def test_the_live_price_follows_the_form(signed_in):
    response = signed_in.post(
        "/create/preview/",
        {"model": MODELSTREAM, "resolution": "720P", "duration": "7", "audio": "on"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert (
        "<strong>5</strong> credits" in html and "720p · 7 s is priced as 10 s · with audio" in html
    )
    html = signed_in.post(
        "/create/preview/", {"model": APIFRAME, "resolution": "1080p", "duration": "15"}
    ).content.decode()
    assert "<strong>7</strong> credits" in html and "silent" in html


def test_an_uploaded_audio_file_that_wins_over_the_switch_says_so_on_both(signed_in):
    wav = SimpleUploadedFile("voice.wav", wav_bytes(seconds=4), content_type="audio/wav")
    assert upload_reference(signed_in, field="audio_url", upload=wav).status_code == 200
    audio = Reference.objects.get(kind="audio")
    silent = {"model": MODELSTREAM, "resolution": "720P", "duration": "5"}  # the switch off
    html = signed_in.post("/create/preview/", silent).content.decode()
    assert "720p · 5 s · silent" in html and "your audio file gives" not in html
    html = signed_in.post(
        "/create/preview/", {**silent, "audio_url": str(audio.id)}
    ).content.decode()
    assert "720p · 5 s · with audio (your audio file)" in html
    assert "On: your audio file gives the video its sound." in html  # beside the switch (oob)


def test_an_invalid_duration_shows_no_price(signed_in):
    html = signed_in.post(
        "/create/preview/", {"model": MODELSTREAM, "duration": "99"}
    ).content.decode()
    assert "— credits" in html


def test_the_api_request_shows_the_body_and_a_curl_with_the_key_masked(signed_in, settings):
    settings.MODELSTREAM_API_KEY = "sk-live-0123456789abcdef"
    settings.MODELSTREAM_API_BASE = "https://api.modelstream.ai"
    response = signed_in.post(
        "/create/preview/",
        {
            "model": MODELSTREAM,
            "prompt": "It's raining",
            "resolution": "720P",
            "duration": "6",
            "prompt_extend": "",
            "shot_type": "multi",
            "seed": "77",
        },
    )
    html = response.content.decode()
    assert "0123456789abcdef" not in html
    assert "Authorization: Bearer sk-********" in html
    assert 'id="api-request-body" class="api-request-body" hx-swap-oob="true"' in html
    body = re.search(
        r"<pre class=\"code\" id=\"api-request-json\" data-copy-source>(.*?)</pre>", html, re.S
    ).group(1)
    import html as html_module

    assert json.loads(html_module.unescape(body)) == {
        "model": "wan2.6-i2v-flash",
        "prompt": "It's raining",
        "duration": 6,
        "metadata": {
            "parameters": {
                "resolution": "720P",
                "prompt_extend": False,
                "audio": False,
                "watermark": False,
                "seed": 77,
            }
        },
    }
    assert "curl -X POST &quot;https://api.modelstream.ai/v1/video/generations&quot;" in html
    assert "It&#x27;\\&#x27;&#x27;s raining" in html  # the quote survives the shell


def test_the_api_request_shows_a_reference_as_a_signed_link(signed_in, settings):
    settings.APIFRAME_API_KEY = "afk_0123456789abcdef"
    reference = Reference.objects.get(
        pk=re.search(
            r'name="image" value="([0-9a-f-]{36})"',
            upload_reference(signed_in, model=APIFRAME, field="image").content.decode(),
        ).group(1)
    )
    html = signed_in.post(
        "/create/preview/", {"model": APIFRAME, "image": str(reference.id), "prompt": "x"}
    ).content.decode()
    assert "X-API-Key: afk_********" in html
    assert "/files/reference/&lt;signed-token&gt;/image.png" in html
    assert "signed link that lasts 24 hours" in html
    assert "the studio draws one when you submit" in html


# --- Uploading as soon as a file is chosen --------------------------------------------------


def test_an_uploaded_image_comes_back_as_its_field_with_size_and_dimensions(signed_in, user):
    response = upload_reference(signed_in, upload=image_upload(name="beach.png", size=(640, 360)))
    html = response.content.decode()
    reference = Reference.objects.get()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div class="field field-image')
    assert re.search(rf'name="img_url" value="{reference.id}"[^>]*checked', html)
    assert "beach.png" in html and "640×360 px" in html
    assert f"/references/{reference.id}/" in html
    assert reference.owner == user
    # The same file again is the same stored reference.
    upload_reference(signed_in, upload=image_upload(name="again.png", size=(640, 360)))
    assert Reference.objects.count() == 1


def test_an_uploaded_audio_track_comes_back_with_a_player_and_its_duration(signed_in):
    upload = SimpleUploadedFile("voice.wav", wav_bytes(seconds=4.5))
    response = upload_reference(signed_in, field="audio_url", upload=upload)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<audio controls" in html and "4.5 s" in html


def test_a_refused_upload_comes_back_with_the_fields_error(signed_in):
    upload = SimpleUploadedFile("x.png", b"GIF89a not really")
    response = upload_reference(signed_in, upload=upload)
    assert response.status_code == 400
    assert "This file is a GIF image" in response.content.decode()
    assert not Reference.objects.exists()


@pytest.mark.parametrize("field", ["prompt", "nope", "audio"])
def test_an_upload_to_a_field_that_takes_no_file_is_not_found(signed_in, field):
    # "audio" is a switch on ModelStream: the name alone never makes it a file field.
    assert upload_reference(signed_in, field=field).status_code == 404


def test_previous_uploads_can_be_picked_again(signed_in):
    upload_reference(signed_in, upload=image_upload(name="first.png", color=(1, 2, 3)))
    upload_reference(signed_in, upload=image_upload(name="second.png", color=(4, 5, 6)))
    html = signed_in.get("/").content.decode()
    picker = field_block(html, "img_url")
    for reference in Reference.objects.all():
        assert f'name="img_url" value="{reference.id}"' in picker
    assert "first.png" in picker and "second.png" in picker
    # Only the owner's: another person sees none of them.
    other = Client()
    other.force_login(make_user(username="someone"))
    assert "first.png" not in other.get("/").content.decode()


# --- Submitting --------------------------------------------------------------------------------


def test_a_valid_submit_charges_and_creates_a_pending_generation(signed_in, user):
    response = signed_in.post(
        "/",
        {
            "model": MODELSTREAM,
            "current_model": MODELSTREAM,
            "img_url": image_upload(),
            "prompt": "Clouds rolling over hills",
            "resolution": "720P",
            "duration": "7",
            "prompt_extend": "on",
            "shot_type": "multi",
            "audio": "on",
        },
    )
    generation = Generation.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/generations/{generation.id}/"
    assert generation.state == "pending"
    assert generation.cost == 5  # 720p, 7 s costs the 10 s step, with audio
    assert generation.seed is not None and 0 <= generation.seed <= 2147483647
    parameters = generation.request_body["metadata"]["parameters"]
    assert parameters["seed"] == generation.seed
    assert parameters["shot_type"] == "multi"
    assert generation.request_body["metadata"]["input"]["img_url"].startswith("http")
    charge = LedgerEntry.objects.get(generation=generation)
    assert (charge.kind, charge.amount) == ("charge", -5)
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 95


def test_an_htmx_submit_is_redirected_by_htmx(signed_in):
    response = signed_in.post(
        "/",
        {"model": APIFRAME, "image": image_upload(), "prompt": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Redirect"] == f"/generations/{Generation.objects.get().id}/"


def test_an_invalid_submit_shows_every_error_beside_its_field_and_keeps_everything(signed_in):
    page = signed_in.post(
        "/",
        {
            "model": MODELSTREAM,
            "current_model": MODELSTREAM,
            "img_url": image_upload(),
            "audio_url": SimpleUploadedFile("v.wav", wav_bytes(seconds=1)),
            "prompt": "Keep this prompt",
            "negative_prompt": "keep this too",
            "duration": "16",
            "resolution": "720P",
            "seed": "-4",
            "watermark": "on",
        },
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "Choose a value from 2 to 15 s." in field_block(html, "duration")
    assert "Choose a value from 0 to 2147483647." in field_block(html, "seed")
    assert "The audio lasts 1.0 s" in field_block(html, "audio_url")
    assert "Keep this prompt" in html and "keep this too" in html
    assert re.search(r'value="720P"[^>]*checked', field_block(html, "resolution"))
    assert re.search(r'name="watermark"[^>]*checked', html)
    # The valid upload was kept: stored once and carried as a reference.
    reference = Reference.objects.get()
    assert re.search(rf'name="img_url" value="{reference.id}"[^>]*checked', html)
    assert not Generation.objects.exists()


def test_a_kept_reference_is_used_when_the_form_is_sent_again(signed_in):
    signed_in.post("/", {"model": MODELSTREAM, "img_url": image_upload(), "prompt": ""})
    reference = Reference.objects.get()
    response = signed_in.post(
        "/", {"model": MODELSTREAM, "img_url": str(reference.id), "prompt": "Now complete"}
    )
    assert response.status_code == 303
    generation = Generation.objects.get()
    assert generation.reference == reference
    assert reference.original_name in field_block(signed_in.get("/").content.decode(), "img_url")


def test_someone_elses_reference_cannot_be_used(signed_in, other_user):
    other = Client()
    other.force_login(other_user)
    upload_reference(other)
    theirs = Reference.objects.get(owner=other_user)
    page = signed_in.post("/", {"model": MODELSTREAM, "img_url": str(theirs.id), "prompt": "x"})
    assert page.status_code == 200
    assert "not available any more" in page.content.decode()
    assert not Generation.objects.exists()
    assert signed_in.get(f"/references/{theirs.id}/").status_code == 404


def test_a_file_that_is_not_an_image_is_refused_by_its_content(signed_in):
    fake = SimpleUploadedFile("photo.png", b"%PDF-1.7 not an image", content_type="image/png")
    page = signed_in.post("/", {"model": MODELSTREAM, "img_url": fake, "prompt": "x"})
    assert "This file is a PDF document" in page.content.decode()


def test_not_enough_credits_refuses_before_anything_is_sent(client):
    poor = make_user(username="poor", credits=2)
    client.force_login(poor)
    page = client.post(
        "/",
        {
            "model": MODELSTREAM,
            "img_url": image_upload(),
            "prompt": "x",
            "resolution": "1080P",
            "duration": "5",
            "audio": "on",
        },
    )
    assert page.status_code == 200
    assert "costs 4 credits" in page.content.decode() and "2 more needed" in page.content.decode()
    assert not Generation.objects.exists()
    poor.wallet.refresh_from_db()
    assert poor.wallet.balance == 2


def test_each_fields_help_is_tied_to_its_input(signed_in):
    html = signed_in.get("/").content.decode()
    for name in ("prompt", "duration", "seed", "img_url"):
        block = field_block(html, name)
        assert f'aria-describedby="id_{name}_helptext"' in block
        assert f'id="id_{name}_helptext"' in block
    assert 'aria-describedby="id_resolution_helptext"' in field_block(html, "resolution")


# --- Words for people ------------------------------------------------------------------------

LABELS_AND_HELP = re.compile(
    r'<(?:label|legend)[^>]*>(.*?)</(?:label|legend)>|<p class="(?:help|condition-hint)"[^>]*>(.*?)</p>',
    re.S,
)


def _people_words(html: str) -> list[str]:
    words = []
    for label, help_text in LABELS_AND_HELP.findall(html):
        text = re.sub(r"<[^>]+>", " ", label or help_text)
        words.append(" ".join(text.split()))
    return [text for text in words if text]


@pytest.mark.parametrize("model", [MODELSTREAM, APIFRAME])
def test_labels_and_help_speak_to_people_not_to_the_api(signed_in, model):
    from generations.catalog import catalog

    parameter_names = {f.name for m in catalog().values() for f in m.fields if "_" in f.name}
    html = signed_in.get("/", {"model": model}).content.decode()
    form = html[html.index('<div id="model-form"') :]
    texts = _people_words(form)
    assert len(texts) > 15
    for text in texts:
        lowered = text.lower()
        assert not re.search(r"\b(true|false)\b", lowered), text
        assert not any(name in lowered for name in parameter_names), text
    # The provider's own description stays in the request preview and the API reference.
    reference = signed_in.get("/api/").content.decode()
    assert "Set to false for silent video output" in reference


def test_shared_fields_come_in_the_same_order_and_show_values_alike(signed_in):
    def order(model):
        html = signed_in.get("/", {"model": model}).content.decode()
        return re.findall(r'data-field="([a-z_]+)"', html)

    from generations.catalog import catalog

    def roles(model):
        fields = {f.name: f.role for f in catalog()[model].fields}
        return [fields[name] for name in order(model)]

    shared = set(roles(MODELSTREAM)) & set(roles(APIFRAME))
    assert [r for r in roles(MODELSTREAM) if r in shared] == [
        r for r in roles(APIFRAME) if r in shared
    ]
    for model in (MODELSTREAM, APIFRAME):
        resolution = field_block(
            signed_in.get("/", {"model": model}).content.decode(), "resolution"
        )
        shown = re.findall(r"<span>(\d+p)</span>", resolution)
        assert shown == ["720p", "1080p"], model
