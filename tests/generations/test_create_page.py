import re

import pytest

from accounts.models import LedgerEntry
from generations.models import Generation, Reference
from tests.factories import image_upload, make_user

pytestmark = pytest.mark.django_db


def test_the_create_page_offers_both_models_and_the_schema_fields(signed_in):
    html = signed_in.get("/").content.decode()
    assert 'name="model" value="wan2.6-i2v-flash"' in html
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


def test_model_query_parameter_preselects_the_model(signed_in):
    html = signed_in.get("/?model=wan-2.6-flash").content.decode()
    assert re.search(r'value="wan-2.6-flash" checked', html)
    assert 'name="enable_prompt_expansion"' in html and 'name="img_url"' not in html


def test_a_valid_submit_charges_and_creates_a_pending_generation(signed_in, user):
    response = signed_in.post(
        "/",
        {
            "model": "wan2.6-i2v-flash",
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
    assert response.status_code == 302
    assert response["Location"] == f"/generations/{generation.id}/"
    assert generation.state == "pending"
    assert generation.cost == 5  # 720p, 7 s costs the 10 s step, with audio
    assert generation.seed is not None and 0 <= generation.seed <= 2147483647
    assert generation.request_body["metadata"]["parameters"]["seed"] == generation.seed
    assert generation.request_body["metadata"]["parameters"]["shot_type"] == "multi"
    charge = LedgerEntry.objects.get(generation=generation)
    assert (charge.kind, charge.amount) == ("charge", -5)
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 95


def test_an_invalid_submit_shows_the_error_beside_its_field_and_keeps_everything(signed_in):
    page = signed_in.post(
        "/",
        {
            "model": "wan2.6-i2v-flash",
            "img_url": image_upload(),
            "prompt": "Keep this prompt",
            "negative_prompt": "keep this too",
            "duration": "16",
            "resolution": "720P",
        },
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="id_duration_error"' in html
    assert "less than or equal to 15" in html
    assert "Keep this prompt" in html and "keep this too" in html
    assert 'value="720P" checked' in html or 'value="720P"\n' in html or "checked" in html
    # The valid upload was kept: stored once and carried as a reference.
    reference = Reference.objects.get()
    assert f'name="img_url" value="{reference.id}"' in html
    assert not Generation.objects.exists()


def test_a_kept_reference_is_used_when_the_form_is_sent_again(signed_in):
    signed_in.post("/", {"model": "wan2.6-i2v-flash", "img_url": image_upload(), "prompt": ""})
    reference = Reference.objects.get()
    response = signed_in.post(
        "/", {"model": "wan2.6-i2v-flash", "img_url": str(reference.id), "prompt": "Now complete"}
    )
    assert response.status_code == 302
    assert Generation.objects.get().reference == reference


def test_someone_elses_reference_cannot_be_used(signed_in, other_user):
    other_client_reference = None
    from django.test import Client

    other = Client()
    other.force_login(other_user)
    other.post("/", {"model": "wan2.6-i2v-flash", "img_url": image_upload(), "prompt": ""})
    other_client_reference = Reference.objects.get(owner=other_user)
    page = signed_in.post(
        "/", {"model": "wan2.6-i2v-flash", "img_url": str(other_client_reference.id), "prompt": "x"}
    )
    assert page.status_code == 200
    assert "not available any more" in page.content.decode()
    assert not Generation.objects.exists()


def test_a_file_that_is_not_an_image_is_refused_by_its_content(signed_in):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("photo.png", b"%PDF-1.7 not an image", content_type="image/png")
    page = signed_in.post("/", {"model": "wan2.6-i2v-flash", "img_url": fake, "prompt": "x"})
    assert "not a JPEG, PNG, BMP or WEBP image" in page.content.decode()


def test_not_enough_credits_refuses_before_anything_is_sent(client):
    poor = make_user(username="poor", credits=2)
    client.force_login(poor)
    page = client.post(
        "/",
        {
            "model": "wan2.6-i2v-flash",
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
