"""The admin's switch per catalog model: a model switched off is not offered and is refused."""

from __future__ import annotations

import re

import pytest

from accounts.models import LedgerEntry
from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation, ModelAvailability
from generations.selectors import catalog_model_available, catalog_models_available
from generations.services import (
    ModelUnavailable,
    generation_create,
    generation_submit,
    model_availability_set,
    reference_store,
)
from generations.uploads import image_inspect
from tests.factories import image_upload, make_user
from tests.providers.conftest import browser_for

MS = "wan2.6-i2v-flash"
AF = "wan-2.6-flash"


def _reference(user):
    upload = image_upload()
    return reference_store(
        owner=user, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )


@pytest.mark.django_db
def test_every_model_is_on_until_an_admin_switches_it_off():
    assert list(catalog_models_available()) == [MS, AF]

    assert model_availability_set(keys=[AF], enabled=False) == 1

    assert list(catalog_models_available()) == [MS]
    assert not catalog_model_available(key=AF) and catalog_model_available(key=MS)
    assert not catalog_model_available(key="no-such-model")
    assert model_availability_set(keys=[AF], enabled=True) == 1
    assert list(catalog_models_available()) == [MS, AF]


@pytest.mark.django_db
def test_creating_a_generation_for_a_switched_off_model_is_refused_and_charges_nothing():
    user = make_user(credits=20)
    model_availability_set(keys=[MS], enabled=False)

    with pytest.raises(ModelUnavailable, match="switched off"):
        generation_create(
            user=user,
            model=catalog_get(MS),
            values={"prompt": "x", "resolution": "720P", "duration": 2, "seed": 1},
            references={"img_url": _reference(user)},
        )

    assert not Generation.objects.exists()
    assert not LedgerEntry.objects.filter(kind="charge").exists()


@pytest.mark.django_db
def test_a_waiting_generation_whose_model_is_switched_off_is_failed_and_refunded(settings):
    settings.STUDIO_PUBLIC_URL = "https://studio.example"
    settings.MODELSTREAM_API_BASE = "http://127.0.0.1:9"  # never reached
    user = make_user(credits=20)
    generation = generation_create(
        user=user,
        model=catalog_get(MS),
        values={"prompt": "x", "resolution": "720P", "duration": 2, "seed": 1},
        references={"img_url": _reference(user)},
    )
    model_availability_set(keys=[MS], enabled=False)

    generation_submit(generation_id=generation.id)

    generation.refresh_from_db()
    assert generation.state == "failed" and generation.error_kind == "admin"
    assert "switched off by an admin" in generation.error_message
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 20


@pytest.mark.django_db(transaction=True)
def test_an_admin_switches_a_model_off_in_the_admin_and_the_create_page_drops_it(live_server):
    admin = make_user(username="boss", is_staff=True, is_superuser=True)
    person = make_user(username="maker", credits=20)
    with browser_for(live_server, admin) as staff, browser_for(live_server, person) as browser:
        assert 'value="wan-2.6-flash"' in browser.get("/").text

        listing = staff.get("/admin/generations/modelavailability/")
        assert listing.status_code == 200
        assert MS in listing.text and AF in listing.text  # every catalog model has a switch
        assert "Answering" in listing.text  # each provider's health beside its models
        row = ModelAvailability.objects.get(key=AF)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', listing.text).group(1)
        done = staff.post(
            "/admin/generations/modelavailability/",
            data={
                "csrfmiddlewaretoken": csrf,
                "action": "switch_off",
                "_selected_action": str(row.pk),
                "index": "0",
            },
            headers={"Referer": live_server.url + "/admin/generations/modelavailability/"},
        )
        assert done.status_code == 302

        page = browser.get("/").text
        assert 'value="wan-2.6-flash"' not in page and 'value="wan2.6-i2v-flash"' in page
        # Asking for it by name falls back to a model that is on.
        assert 'name="enable_prompt_expansion"' not in browser.get("/?model=wan-2.6-flash").text

        # A form made before the switch is refused clearly, and nothing is charged.
        form_page = browser.get("/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.text).group(1)
        refused = browser.post(
            "/",
            data={"csrfmiddlewaretoken": csrf, "model": AF, "prompt": "x", "duration": "5"},
            files={"image": ("r.png", image_upload().read(), "image/png")},
            headers={"Referer": live_server.url + "/"},
        )
        assert refused.status_code == 200
        assert "switched off right now; choose another model" in refused.text
    assert not Generation.objects.exists()
    person.wallet.refresh_from_db()
    assert person.wallet.balance == 20


@pytest.mark.django_db
def test_with_every_model_off_the_create_page_says_so(signed_in):
    model_availability_set(keys=[MS, AF], enabled=False)

    response = signed_in.get("/")

    assert response.status_code == 200
    assert "No model is available right now" in response.content.decode()


@pytest.mark.django_db
def test_the_api_neither_lists_nor_accepts_a_switched_off_model():
    from django.test import Client

    from accounts.services import api_token_create

    user = make_user(credits=20)
    _, raw = api_token_create(user=user, name="script")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    model_availability_set(keys=[AF], enabled=False)

    listed = [item["id"] for item in api.get("/v1/models").json()["data"]]
    refused = api.post(
        "/v1/video/generations",
        data={"model": AF, "prompt": "x", "wanParams": {"image": "https://example.com/a.png"}},
        content_type="application/json",
    )

    assert AF not in listed and MS in listed
    assert api.get(f"/v1/models/{AF}").status_code == 404
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["param"], error["code"]) == ("model", "model_unavailable")
    assert "switched off" in error["message"]
    assert not Generation.objects.exists()
