"""The generation page: what it shows, and its actions (favourite, use again, try again, delete)."""

from __future__ import annotations

import json
import re

import pytest

from accounts.models import LedgerEntry
from generations.models import Favourite, Generation, GenerationEvent
from tests.factories import make_generation, make_team, make_user

pytestmark = pytest.mark.django_db


def page_of(client, generation) -> str:
    response = client.get(f"/generations/{generation.id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_finished_generation_has_a_seekable_player_with_its_source_in_the_page(signed_in, user):
    generation = make_generation(owner=user)
    html = page_of(signed_in, generation)
    video = re.search(r"<video [^>]*>.*?</video>", html, re.S).group(0)
    assert "controls" in video and 'preload="metadata"' in video
    assert f'poster="/generations/{generation.id}/poster/"' in video
    assert f'<source src="/generations/{generation.id}/video/" type="video/mp4">' in video
    assert f'href="/generations/{generation.id}/video/?download=1" download' in html


def test_the_page_shows_the_request_as_sent_the_task_cost_and_timeline(signed_in, user):
    generation = make_generation(
        owner=user,
        prompt="Waves on a rocky shore",
        negative_prompt="people, boats",
        duration=7,
        shot_type="multi",
        seed=4242,
    )
    Generation.objects.filter(pk=generation.pk).update(
        rewritten_prompt="Powerful waves crash on a rocky shoreline at sunset"
    )
    html = page_of(signed_in, generation)
    assert "Waves on a rocky shore" in html and "people, boats" in html
    assert "Powerful waves crash on a rocky shoreline at sunset" in html
    assert 'data-parameter="seed">4242<' in html
    assert 'data-parameter="duration">7 s<' in html or 'data-parameter="duration">7<' in html
    assert 'data-parameter="shot_type">' in html and "Multi" in html
    assert 'data-parameter="resolution">720P<' in html
    assert f"<code>{generation.provider_task_id}</code>" in html
    assert f"{generation.cost} credit" in html
    for state in ("pending", "submitting", "queued", "running", "succeeded"):
        assert f"<strong>{state}</strong>" in html
    assert html.count("<time datetime=") >= 5
    # The request as sent, with the signed reference link left out.
    sent = re.search(r'<pre class="code">(.*?)</pre>', html, re.S).group(1)
    body = json.loads(sent.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">"))
    assert body["metadata"]["parameters"]["seed"] == 4242
    assert body["metadata"]["input"]["img_url"] == "<signed link to the reference image>"
    assert "/files/" not in sent


def test_parameters_that_were_not_sent_say_so(signed_in, user):
    generation = make_generation(owner=user, prompt_extend=False, shot_type="multi")
    html = page_of(signed_in, generation)
    shot = re.search(r'data-parameter="shot_type">(.*?)</dd>', html).group(1)
    assert "not sent" in shot


def test_a_failed_generation_says_why_and_offers_to_try_again(signed_in, user):
    generation = make_generation(owner=user, state="failed")
    html = page_of(signed_in, generation)
    assert "duration is too long" in html and "refunded" in html
    assert f'action="/generations/{generation.id}/retry/"' in html
    assert "InvalidParameter" in html


def test_the_reference_image_is_shown_through_the_generation(signed_in, user):
    generation = make_generation(owner=user)
    html = page_of(signed_in, generation)
    assert f'src="/generations/{generation.id}/reference/"' in html
    response = signed_in.get(f"/generations/{generation.id}/reference/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_an_unfinished_page_polls_and_its_update_refreshes_actions_and_timeline(signed_in, user):
    generation = make_generation(owner=user, state="running")
    html = page_of(signed_in, generation)
    assert 'hx-trigger="load delay:1s"' in html
    update = signed_in.get(
        f"/generations/{generation.id}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="generation-status"
    ).content.decode()
    assert update.lstrip().startswith('<section id="generation-status"')
    assert 'id="generation-actions" class="generation-actions" hx-swap-oob="true"' in update
    assert 'id="generation-timeline" class="card" hx-swap-oob="true"' in update
    assert "<html" not in update


def test_favourite_is_per_viewer(client, user):
    teammate = make_user(username="mate")
    team = make_team(slug="crew", members=[user, teammate])
    generation = make_generation(owner=user, team=team)
    client.force_login(teammate)
    response = client.post(f"/generations/{generation.id}/favourite/", {"on": "1"})
    assert response.status_code == 302
    assert Favourite.objects.filter(user=teammate, generation=generation).exists()
    assert not Favourite.objects.filter(user=user).exists()
    client.force_login(user)
    assert 'aria-pressed="false"' in page_of(client, generation)


def test_favourite_with_htmx_answers_with_the_new_button(signed_in, user):
    generation = make_generation(owner=user)
    response = signed_in.post(
        f"/generations/{generation.id}/favourite/",
        {"on": "1", "form_id": "bulk-form"},
        HTTP_HX_REQUEST="true",
    )
    button = response.content.decode().strip()
    assert button.startswith('<button type="submit" class="favourite-button" form="bulk-form"')
    assert 'aria-pressed="true"' in button and 'value="0"' in button
    response = signed_in.post(
        f"/generations/{generation.id}/favourite/",
        {"on": "0", "form_id": "javascript:alert(1)"},
        HTTP_HX_REQUEST="true",
    )
    assert 'aria-pressed="false"' in response.content.decode()
    assert "javascript" not in response.content.decode()
    assert not Favourite.objects.exists()


def test_use_again_fills_the_create_page_with_model_parameters_and_reference(signed_in, user):
    generation = make_generation(
        owner=user,
        model_key="wan-2.6-flash",
        prompt="A lantern on a pier",
        negative_prompt="rain",
        resolution="1080p",
        duration=10,
        multi_shots=True,
        seed=77,
    )
    html = page_of(signed_in, generation)
    assert f'href="/?from={generation.id}"' in html
    create = signed_in.get(f"/?from={generation.id}").content.decode()
    assert re.search(r'name="model" value="wan-2.6-flash"[^>]*checked', create)
    assert "A lantern on a pier</textarea>" in create and "rain</textarea>" in create
    assert re.search(r'value="1080p"[^>]*checked', create)
    assert re.search(r'value="10"[^>]*checked', create)
    assert re.search(r'name="multi_shots"[^>]*checked', create)
    assert re.search(rf'name="image" value="{generation.reference_id}"[^>]*checked', create)
    seed = re.search(r'<input[^>]*name="seed"[^>]*>', create).group(0)
    assert 'value="77"' not in seed  # a new seed is drawn


def test_use_this_seed_keeps_the_seed(signed_in, user):
    generation = make_generation(owner=user, seed=31337)
    html = page_of(signed_in, generation)
    assert f'href="/?from={generation.id}&amp;seed=keep"' in html
    create = signed_in.get(f"/?from={generation.id}&seed=keep").content.decode()
    seed = re.search(r'<input[^>]*name="seed"[^>]*>', create).group(0)
    assert 'value="31337"' in seed


def test_use_again_with_someone_elses_id_is_not_found(signed_in, other_user):
    foreign = make_generation(owner=other_user)
    assert signed_in.get(f"/?from={foreign.id}").status_code == 404
    assert signed_in.get("/?from=not-a-uuid").status_code == 404


def test_use_again_of_a_teammates_generation_asks_for_the_reference_again(client, user):
    teammate = make_user(username="mate2")
    team = make_team(slug="crew2", members=[user, teammate])
    generation = make_generation(owner=user, team=team, prompt="Shared idea")
    client.force_login(teammate)
    create = client.get(f"/?from={generation.id}").content.decode()
    assert "Shared idea</textarea>" in create
    assert str(generation.reference_id) not in create


def test_try_again_makes_a_new_linked_generation_and_charges_it(signed_in, user):
    failed = make_generation(owner=user, state="failed", seed=5)
    user.wallet.refresh_from_db()
    before = user.wallet.balance
    response = signed_in.post(f"/generations/{failed.id}/retry/")
    retry = Generation.objects.get(retry_of=failed)
    assert response.status_code == 302 and response["Location"] == f"/generations/{retry.id}/"
    assert retry.state == "pending" and retry.params == failed.params and retry.seed == 5
    assert retry.reference_id == failed.reference_id
    user.wallet.refresh_from_db()
    assert user.wallet.balance == before - retry.cost
    assert LedgerEntry.objects.filter(generation=retry, kind="charge").exists()
    assert f'href="/generations/{failed.id}/"' in page_of(signed_in, retry)
    assert f'href="/generations/{retry.id}/"' in page_of(signed_in, failed)


def test_try_again_is_only_for_generations_that_ended_without_a_video(signed_in, user):
    done = make_generation(owner=user)
    response = signed_in.post(f"/generations/{done.id}/retry/", follow=True)
    assert "ended without a video can be tried again" in response.content.decode()
    assert not Generation.objects.filter(retry_of=done).exists()


def test_try_again_without_credits_says_so_and_creates_nothing(client):
    poor = make_user(username="poor-retry", credits=2)
    failed = make_generation(owner=poor, state="failed")  # refunded: 2 credits again
    poor.wallet.balance = 0
    poor.wallet.save()
    client.force_login(poor)
    response = client.post(f"/generations/{failed.id}/retry/", follow=True)
    assert "more needed" in response.content.decode()
    assert not Generation.objects.filter(retry_of=failed).exists()


def test_only_the_owner_may_try_again_or_delete(client, user):
    teammate = make_user(username="mate3", credits=50)
    team = make_team(slug="crew3", members=[user, teammate])
    failed = make_generation(owner=user, team=team, state="failed")
    client.force_login(teammate)
    html = page_of(client, failed)
    assert "/retry/" not in html and "/delete/" not in html
    assert client.post(f"/generations/{failed.id}/retry/").status_code == 404
    assert client.post(f"/generations/{failed.id}/delete/").status_code == 404
    failed.refresh_from_db()
    assert failed.deleted_at is None


def test_delete_from_the_page_goes_to_the_gallery_with_an_undo(signed_in, user):
    generation = make_generation(owner=user)
    response = signed_in.post(f"/generations/{generation.id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/gallery/"
    gallery = signed_in.get("/gallery/").content.decode()
    assert "Deleted 1 video." in gallery and "Undo" in gallery
    assert signed_in.get(f"/generations/{generation.id}/").status_code == 404


def test_a_generation_still_being_made_is_not_deleted(signed_in, user):
    running = make_generation(owner=user, state="running")
    response = signed_in.post(f"/generations/{running.id}/delete/", follow=True)
    assert "still being made" in response.content.decode()
    running.refresh_from_db()
    assert running.deleted_at is None
    assert GenerationEvent.objects.filter(generation=running).count() == 4


def test_a_team_admin_may_delete_a_members_generation_but_not_try_it_again(client, user):
    from accounts.models import Membership

    admin = make_user(username="team-admin", credits=50)
    team = make_team(slug="crew4", members=[user])
    Membership.objects.create(team=team, user=admin, role=Membership.Role.ADMIN)
    failed = make_generation(owner=user, team=team, state="failed")
    client.force_login(admin)
    html = page_of(client, failed)
    assert f'action="/generations/{failed.id}/delete/"' in html and "/retry/" not in html
    assert client.post(f"/generations/{failed.id}/retry/").status_code == 404
    response = client.post(f"/generations/{failed.id}/delete/")
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.deleted_at is not None
    client.post("/gallery/restore/", {"ids": [str(failed.id)]})
    failed.refresh_from_db()
    assert failed.deleted_at is None


def test_fix_and_try_again_opens_the_form_with_the_refusal_beside_its_field(signed_in, user):
    failed = make_generation(owner=user, state="failed", duration=12, seed=9)
    html = page_of(signed_in, failed)
    assert f'href="/?from={failed.id}&amp;seed=keep">Fix and try again' in html
    create = signed_in.get(f"/?from={failed.id}&seed=keep").content.decode()
    error = re.search(r'<p class="field-error" id="id_duration_error">([^<]*)</p>', create)
    assert error and "duration is too long" in error.group(1)
    assert re.search(r'<input[^>]*name="seed"[^>]*value="9"', create)
    # A generation that did not fail carries no error.
    done = make_generation(owner=user)
    assert "field-error" not in signed_in.get(f"/?from={done.id}").content.decode()
