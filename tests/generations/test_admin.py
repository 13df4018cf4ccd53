"""Generations in the admin: filters, try again, and refunds by hand (at most once)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.ledger import credits_charge, wallet_for_user
from accounts.models import LedgerEntry
from generations.models import Generation
from tests.conftest import assert_ledger_balanced
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = make_user(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.admin = admin
    return client


def _charged(user, state="failed", cost=3):
    generation = Generation.objects.create(
        owner=user,
        model_key="wan2.6-i2v-flash",
        provider="modelstream",
        prompt="p",
        state=state,
        params={
            "prompt": "p",
            "resolution": "720P",
            "duration": 5,
            "prompt_extend": True,
            "shot_type": "single",
            "audio": False,
            "watermark": False,
            "seed": 3,
        },
        deadline_at=timezone.now() + timedelta(hours=1),
        cost=cost,
    )
    credits_charge(
        wallet=wallet_for_user(user=user), amount=cost, actor=user, generation=generation
    )
    return generation


def test_generations_are_filterable_by_state_model_provider_and_team(admin_client):
    ada = make_user(username="ada", credits=20)
    _charged(ada)
    for query in (
        "state__exact=failed",
        "model_key__exact=wan2.6-i2v-flash",
        "provider__exact=modelstream",
        "q=ada",
    ):
        page = admin_client.get(f"/admin/generations/generation/?{query}")
        assert page.status_code == 200 and "ada" in page.content.decode(), query


def test_a_refund_by_hand_happens_at_most_once(admin_client):
    ada = make_user(username="ada", credits=20)
    generation = _charged(ada, state="expired")
    url = "/admin/generations/generation/"
    form = admin_client.post(
        url, {"action": "refund_by_hand", "_selected_action": [str(generation.id)]}
    )
    assert b"Refund generations by hand" in form.content
    for _ in range(2):
        admin_client.post(
            url,
            {
                "action": "refund_by_hand",
                "_selected_action": [str(generation.id)],
                "apply": "1",
                "reason": "Bad result",
            },
        )
    refunds = LedgerEntry.objects.filter(generation=generation, kind="refund")
    assert refunds.count() == 1
    assert refunds.get().actor == admin_client.admin and "Bad result" in refunds.get().reason
    assert wallet_for_user(user=ada).balance == 20
    assert_ledger_balanced()


def test_try_again_makes_a_new_linked_generation_charged_normally(admin_client, settings):
    ada = make_user(username="ada", credits=20)
    from generations.forms import UploadCandidate
    from generations.services import reference_store
    from generations.uploads import image_inspect
    from tests.factories import image_upload

    upload = image_upload()
    reference = reference_store(
        owner=ada, upload=UploadCandidate(upload, image_inspect(upload), "image")
    )
    generation = _charged(ada)
    Generation.objects.filter(pk=generation.pk).update(reference=reference)
    generation.params = {**generation.params, "img_url": str(reference.id)}
    Generation.objects.filter(pk=generation.pk).update(params=generation.params)
    admin_client.post(
        "/admin/generations/generation/",
        {"action": "try_again", "_selected_action": [str(generation.id)]},
    )
    retry = Generation.objects.get(retry_of=generation)
    assert retry.state == "pending" and retry.owner == ada and retry.seed == 3
    assert retry.reference == reference
    assert LedgerEntry.objects.get(generation=retry, kind="charge").amount == -2
    assert wallet_for_user(user=ada).balance == 20 - 3 - 2
    assert_ledger_balanced()


def test_the_admin_home_links_to_generations_lost_between_studio_and_provider(admin_client):
    owner = make_user(credits=10)
    lost = _charged(owner)
    Generation.objects.filter(pk=lost.id).update(error_kind="lost")
    other = _charged(owner)
    Generation.objects.filter(pk=other.id).update(error_kind="provider")

    home = admin_client.get("/admin/").content.decode()
    link = "/admin/generations/generation/?error_kind__exact=lost"
    assert link in home and "Lost between the studio and the provider" in home

    listed = admin_client.get(link).content.decode()
    assert f"{lost.id}/change/" in listed and f"{other.id}/change/" not in listed


def test_a_refund_by_hand_is_only_for_a_generation_that_ended_without_a_video(admin_client):
    ada = make_user(username="ada", credits=20)
    for state in ("succeeded", "running"):
        generation = _charged(ada, state=state)
        page = admin_client.post(
            "/admin/generations/generation/",
            {
                "action": "refund_by_hand",
                "_selected_action": [str(generation.id)],
                "apply": "1",
                "reason": "Did not like it",
            },
            follow=True,
        )
        assert "only a generation that ended without a video" in page.content.decode()
        assert not LedgerEntry.objects.filter(generation=generation, kind="refund").exists()
    assert wallet_for_user(user=ada).balance == 20 - 3 - 3
    assert_ledger_balanced()
