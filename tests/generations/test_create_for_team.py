"""Generating for a team from the create page: the picker, the wallet shown, the rate limit."""

import pytest

from accounts.ledger import credits_grant, wallet_for_team, wallet_for_user
from accounts.models import Membership, User
from accounts.services import team_create
from generations.models import Generation
from tests.factories import image_upload, make_user

pytestmark = pytest.mark.django_db


def _post(client, **extra):
    data = {
        "model": "wan2.6-i2v-flash",
        "img_url": image_upload(),
        "prompt": "Fireflies",
        "resolution": "720P",
        "duration": "5",
        "audio": "on",
        **extra,
    }
    return client.post("/", data)


@pytest.fixture
def member(client):
    person = make_user(username="ada", credits=10)
    team = team_create(name="Night Crew", creator=make_user(username="founder"))
    credits_grant(wallet=wallet_for_team(team=team), amount=30, actor=None, reason="t")
    Membership.objects.create(team=team, user=person)
    client.force_login(person)
    client.team = team
    client.person = person
    return client


def test_the_picker_offers_the_persons_teams_with_their_balances(member):
    html = member.get("/").content.decode()
    assert 'name="team"' in html
    assert "Your credits · 10 credits" in html and "Team Night Crew · 30 credits" in html
    assert "From your credits: 10 available" in html


def test_a_video_for_a_team_is_paid_by_the_team_and_the_next_visit_pays_personally(member):
    response = _post(member, team="night-crew")
    assert response.status_code == 303
    generation = Generation.objects.get()
    assert generation.team == member.team
    assert wallet_for_team(team=member.team).balance == 27
    assert wallet_for_user(user=member.person).balance == 10
    # One team video does not make the team pay for the next, personal one.
    assert User.objects.get(pk=member.person.pk).preferred_team is None
    html = member.get("/").content.decode()
    assert 'value="night-crew" selected' not in html
    assert "From your credits: 10 available" in html
    assert (
        '<span class="paying-wallet" data-testid="paying-wallet">from your credits</span>' in html
    )


def test_a_default_wallet_chosen_on_the_account_page_is_the_create_pages_choice(member):
    account = member.get("/account/").content.decode()
    assert "Pay for new videos from" in account
    response = member.post("/account/default-wallet/", {"team": "night-crew"})
    assert response.status_code == 302
    assert User.objects.get(pk=member.person.pk).preferred_team == member.team
    html = member.get("/").content.decode()
    assert 'value="night-crew" selected' in html
    assert "from team Night Crew</span>" in html
    # Another team than one's own is refused; back to personal works.
    team_create(name="Elsewhere", creator=make_user(username="stranger"))
    member.post("/account/default-wallet/", {"team": "elsewhere"})
    assert User.objects.get(pk=member.person.pk).preferred_team == member.team
    member.post("/account/default-wallet/", {"team": ""})
    assert User.objects.get(pk=member.person.pk).preferred_team is None


def test_too_few_credits_disable_generate_and_say_whom_to_ask(member):
    preview = {
        "model": "wan2.6-i2v-flash",
        "resolution": "1080P",
        "duration": "15",
        "audio": "on",
    }
    wallet = wallet_for_user(user=member.person)
    wallet.balance = 3
    wallet.save()
    html = member.post("/create/preview/", {**preview, "team": ""}).content.decode()
    assert 'data-submit disabled aria-describedby="shortfall-note"' in html
    assert "7 more credits needed. Ask an admin of the studio for credits." in html
    team_wallet = wallet_for_team(team=member.team)
    team_wallet.balance = 1
    team_wallet.save()
    html = member.post("/create/preview/", {**preview, "team": "night-crew"}).content.decode()
    assert "9 more credits needed. Ask the owners or admins of team Night Crew (founder)" in html
    html = member.post(
        "/create/preview/", {**preview, "team": "", "duration": "5", "resolution": "720P"}
    ).content.decode()
    assert "data-submit disabled" not in html and "more credits needed" not in html


def test_a_refused_charge_is_said_without_the_fields_need_attention_banner(member):
    wallet = wallet_for_user(user=member.person)
    wallet.balance = 0
    wallet.save()
    html = _post(member).content.decode()
    assert not Generation.objects.exists()
    assert "Some fields need attention" not in html
    assert "credits" in html


def test_a_team_the_person_left_is_refused_and_nothing_is_charged(member):
    Membership.objects.filter(user=member.person).delete()
    page = _post(member, team="night-crew")
    assert page.status_code == 200
    assert "not in that team" in page.content.decode()
    assert not Generation.objects.exists()


def test_the_live_price_says_how_many_credits_are_missing(member):
    preview = {
        "model": "wan2.6-i2v-flash",
        "resolution": "1080P",
        "duration": "15",
        "audio": "on",
        "team": "",
    }
    html = member.post("/create/preview/", preview).content.decode()
    assert "<strong>10</strong> credits" in html
    assert "From your credits: 10 available" in html and "more needed" not in html
    wallet = wallet_for_user(user=member.person)
    wallet.balance = 3
    wallet.save()
    html = member.post("/create/preview/", preview).content.decode()
    assert "From your credits: 3 available" in html and "7 more needed" in html
    html = member.post("/create/preview/", {**preview, "team": "night-crew"}).content.decode()
    assert "From team Night Crew: 30 available" in html and "more needed" not in html


def test_submits_are_rate_limited_per_person_and_the_form_keeps_everything(member, settings):
    settings.STUDIO_SUBMIT_RATE = "1/m"
    assert _post(member).status_code == 303
    page = _post(member, prompt="Second one, kept")
    assert page.status_code == 429
    html = page.content.decode()
    assert "starting videos very quickly" in html and "Second one, kept" in html
    assert Generation.objects.count() == 1
    settings.STUDIO_SUBMIT_RATE = "0"
    assert _post(member).status_code == 303


def test_uploads_are_rate_limited_per_person_and_the_form_keeps_what_was_typed(member, settings):
    settings.STUDIO_UPLOAD_RATE = "2/m"
    for _ in range(2):
        response = member.post(
            "/references/upload/",
            {"model": "wan2.6-i2v-flash", "field": "img_url", "img_url": image_upload()},
        )
        assert response.status_code == 200
    refused = member.post(
        "/references/upload/",
        {"model": "wan2.6-i2v-flash", "field": "img_url", "img_url": image_upload()},
    )
    assert refused.status_code == 429 and "uploading files very quickly" in refused.content.decode()
    page = _post(member, prompt="Kept while uploads wait")
    assert page.status_code == 429
    html = page.content.decode()
    assert "uploading files very quickly" in html and "Kept while uploads wait" in html
    assert not Generation.objects.exists()
