"""Batches: variations, one video per prompt line, a sweep over one or two fields; sizes and
products, all or nothing, the total price, refunds per member, the batch page and its filter."""

from __future__ import annotations

import re

import pytest

from accounts.ledger import wallet_for_user
from accounts.models import LedgerEntry
from generations.batches import BatchRefused, batch_plan
from generations.catalog import catalog
from generations.models import Batch, Generation
from generations.services import generation_transition
from tests.conftest import assert_ledger_balanced
from tests.factories import image_upload, make_user

pytestmark = pytest.mark.django_db

MODELSTREAM = "wan2.6-i2v-flash"


def _form(**extra):
    return {
        "model": MODELSTREAM,
        "current_model": MODELSTREAM,
        "img_url": image_upload(),
        "prompt": "Clouds rolling over hills",
        "resolution": "720P",
        "duration": "5",
        "prompt_extend": "on",
        "shot_type": "single",
        **extra,
    }


@pytest.mark.parametrize(
    ("variations", "lines", "sweep", "size"),
    [
        (1, False, [], 1),
        (4, False, [], 4),
        (1, True, ["resolution"], 4),  # two lines × two resolutions
        (2, True, ["resolution"], 8),
        (16, False, ["resolution", "audio"], 64),
    ],
)
def test_a_batch_is_the_product_of_its_axes(variations, lines, sweep, size):
    model = catalog()[MODELSTREAM]
    values = {"prompt": "A fox\nA hare", "resolution": "720P", "duration": 5, "seed": None}
    plan = batch_plan(
        model=model, values=values, variations=variations, prompt_lines=lines, sweep=sweep
    )
    assert plan.size == size
    assert len({tuple(sorted(place.items())) for _, place in plan.members}) == size


def test_more_than_sixty_four_or_a_bad_sweep_is_refused():
    model = catalog()[MODELSTREAM]
    values = {"prompt": "A fox\nA hare", "resolution": "720P", "duration": 5, "seed": None}
    with pytest.raises(BatchRefused, match="would make 128 videos"):
        batch_plan(
            model=model,
            values=values,
            variations=16,
            prompt_lines=True,
            sweep=["resolution", "audio"],
        )
    with pytest.raises(BatchRefused, match="cannot be swept"):
        batch_plan(model=model, values=values, sweep=["img_url"])
    with pytest.raises(BatchRefused, match="two different"):
        batch_plan(model=model, values=values, sweep=["audio", "audio"])


def test_variations_from_the_form_make_a_batch_charged_as_the_sum(signed_in, user):
    before = wallet_for_user(user=user).balance
    response = signed_in.post("/", _form(variations="4", seed="100"))
    batch = Batch.objects.get()
    assert response.status_code == 303 and response["Location"] == f"/batches/{batch.id}/"
    members = list(batch.members.order_by("created_at"))
    assert len(members) == 4 and sorted(m.seed for m in members) == [100, 101, 102, 103]
    total = sum(m.cost for m in members)
    assert wallet_for_user(user=user).balance == before - total
    assert LedgerEntry.objects.filter(generation__batch=batch, kind="charge").count() == 4
    assert_ledger_balanced()


def test_a_batch_over_the_limit_is_refused_beside_its_control_and_charges_nothing(signed_in, user):
    before = wallet_for_user(user=user).balance
    page = signed_in.post(
        "/",
        _form(variations="16", prompt="A\nB\nC", prompt_lines="on", sweep="resolution"),
    )
    html = page.content.decode()
    assert "This would make 96 videos; a batch makes at most 64." in html
    assert re.search(
        r'id="field-variations"[^>]*has-error|has-error"[^>]*id="field-variations"', html
    )
    assert 'value="16"' in html and "A\nB\nC" in html  # what was typed is kept
    assert wallet_for_user(user=user).balance == before
    assert not Generation.objects.exists()


def test_with_too_few_credits_nothing_is_created_and_the_shortfall_is_said(client):
    poor = make_user(username="poor", credits=10)
    client.force_login(poor)
    page = client.post("/", _form(variations="8"))
    assert page.status_code == 200
    assert "more needed" in page.content.decode()
    assert not Generation.objects.exists() and not Batch.objects.exists()
    assert wallet_for_user(user=poor).balance == 10
    assert_ledger_balanced()


def test_each_member_that_fails_is_refunded_once_on_its_own(signed_in, user):
    signed_in.post("/", _form(variations="3"))
    batch = Batch.objects.get()
    failed, *others = list(batch.members.all())
    generation_transition(generation_id=failed.id, to="failed", detail="flagged")
    assert LedgerEntry.objects.filter(generation=failed, kind="refund").count() == 1
    for other in others:
        assert not LedgerEntry.objects.filter(generation=other, kind="refund").exists()
    page = signed_in.get(f"/batches/{batch.id}/").content.decode()
    assert f"{failed.cost} refunded" in page
    assert_ledger_balanced()


def test_the_batch_page_lays_two_axes_out_and_asks_once_per_tick(signed_in, user):
    signed_in.post(
        "/", _form(prompt="A fox in snow\nA hare in rain", prompt_lines="on", sweep="resolution")
    )
    batch = Batch.objects.get()
    html = signed_in.get(f"/batches/{batch.id}/").content.decode()
    assert 'class="batch-table"' in html
    assert "Resolution: 720p" in html and "Resolution: 1080p" in html
    assert "A fox in snow" in html and "A hare in rain" in html
    main = html[html.index("<main") : html.index("</main>")]
    assert main.count("hx-trigger=") == 1  # one poll for all its cards, not one per card
    part = signed_in.get(f"/batches/{batch.id}/?part=members", HTTP_HX_REQUEST="true")
    assert part.content.decode().lstrip().startswith('<div id="batch-members"')
    gallery = signed_in.get(f"/gallery/?batch={batch.id}").content.decode()
    assert gallery.count("data-card") == 4


def test_another_persons_batch_is_404(signed_in, user, client):
    signed_in.post("/", _form(variations="2"))
    batch = Batch.objects.get()
    stranger = make_user(username="stranger2")
    client.force_login(stranger)
    assert client.get(f"/batches/{batch.id}/").status_code == 404
    assert client.post(f"/batches/{batch.id}/cancel/").status_code == 404


def test_cancel_the_members_not_yet_sent(signed_in, user):
    before = wallet_for_user(user=user).balance
    signed_in.post("/", _form(variations="3"))
    batch = Batch.objects.get()
    sent = batch.members.first()
    generation_transition(generation_id=sent.id, to="submitting")
    signed_in.post(f"/batches/{batch.id}/cancel/")
    states = sorted(batch.members.values_list("state", flat=True))
    assert states == ["cancelled", "cancelled", "submitting"]
    assert wallet_for_user(user=user).balance == before - sent.cost
    assert_ledger_balanced()


def test_the_live_price_adds_the_batch_up(signed_in):
    html = signed_in.post(
        "/create/preview/",
        {"model": MODELSTREAM, "resolution": "720P", "duration": "5", "variations": "3"},
    ).content.decode()
    assert "3 videos together" in html and "<strong>6</strong> credits" in html  # 3 × 2


def test_the_batch_page_shares_all_its_members_to_a_team(signed_in, user):
    from accounts.services import team_create

    team = team_create(name="Night Crew", creator=user)
    signed_in.post("/", _form(variations="2"))
    batch = Batch.objects.get()
    page = signed_in.get(f"/batches/{batch.id}/").content.decode()
    assert '<option value="night-crew">Night Crew</option>' in page
    ids = [str(m.id) for m in batch.members.all()]
    signed_in.post(
        "/gallery/bulk/",
        {"action": "share", "team": "night-crew", "ids": ids, "next": f"/batches/{batch.id}/"},
    )
    assert set(batch.members.values_list("team_id", flat=True)) == {team.pk}
