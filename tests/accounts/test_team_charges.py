"""Generating for a team pays from the team's wallet, within each member's monthly cap."""

import pytest

from accounts.ledger import (
    MonthlyCapExceeded,
    NotATeamMember,
    credits_charge,
    credits_grant,
    credits_member_spent_this_month,
    wallet_for_team,
)
from accounts.models import Membership, Team
from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.services import generation_create, reference_store
from generations.uploads import image_inspect
from tests.conftest import assert_ledger_balanced
from tests.factories import image_upload, make_user

pytestmark = pytest.mark.django_db

VALUES = {
    "prompt": "p",
    "resolution": "720P",
    "duration": 5,
    "prompt_extend": True,
    "shot_type": "single",
    "audio": False,
    "watermark": False,
    "seed": 1,
}  # 2 credits


def _team(credits: int = 20) -> Team:
    team = Team.objects.create(name="Night Crew", slug="night-crew")
    credits_grant(wallet=wallet_for_team(team=team), amount=credits, actor=None, reason="t")
    return team


def _create(user, team):
    upload = image_upload()
    reference = reference_store(
        owner=user, upload=UploadCandidate(upload, image_inspect(upload), "image")
    )
    return generation_create(
        user=user,
        model=catalog_get("wan2.6-i2v-flash"),
        values=VALUES,
        references={"img_url": reference},
        team=team,
    )


def test_a_team_generation_is_paid_from_the_team_wallet():
    team = _team(20)
    member = make_user(credits=5)
    Membership.objects.create(team=team, user=member)
    generation = _create(member, team)
    team.wallet.refresh_from_db()
    member.wallet.refresh_from_db()
    assert team.wallet.balance == 18 and member.wallet.balance == 5
    assert generation.team == team
    assert_ledger_balanced()


def test_someone_outside_the_team_cannot_spend_its_credits():
    team = _team(20)
    outsider = make_user(credits=5)
    with pytest.raises(NotATeamMember):
        _create(outsider, team)
    team.wallet.refresh_from_db()
    assert team.wallet.balance == 20


def test_the_monthly_cap_refuses_a_charge_that_would_pass_it():
    team = _team(20)
    member = make_user()
    Membership.objects.create(team=team, user=member, monthly_credit_cap=5)
    _create(member, team)
    _create(member, team)
    assert credits_member_spent_this_month(team=team, user=member) == 4
    with pytest.raises(MonthlyCapExceeded) as excinfo:
        _create(member, team)
    assert "monthly cap for Night Crew is 5" in str(excinfo.value)
    assert "1 left" in str(excinfo.value)
    team.wallet.refresh_from_db()
    assert team.wallet.balance == 16
    assert_ledger_balanced()


def test_refunds_give_back_room_under_the_cap():
    from generations.services import generation_fail

    team = _team(20)
    member = make_user()
    Membership.objects.create(team=team, user=member, monthly_credit_cap=4)
    first = _create(member, team)
    _create(member, team)
    generation_fail(generation_id=first.id, kind="provider", message="x")
    assert credits_member_spent_this_month(team=team, user=member) == 2
    _create(member, team)  # fits again


def test_caps_do_not_apply_to_personal_wallets():
    member = make_user(credits=10)
    upload = image_upload()
    reference = reference_store(
        owner=member, upload=UploadCandidate(upload, image_inspect(upload), "image")
    )
    generation_create(
        user=member,
        model=catalog_get("wan2.6-i2v-flash"),
        values=VALUES,
        references={"img_url": reference},
    )
    member.wallet.refresh_from_db()
    assert member.wallet.balance == 8


def test_a_charge_never_goes_below_zero_on_a_team_wallet():
    team = _team(1)
    member = make_user()
    Membership.objects.create(team=team, user=member)
    from accounts.ledger import InsufficientCredits

    with pytest.raises(InsufficientCredits) as excinfo:
        _create(member, team)
    assert "Team Night Crew holds 1" in str(excinfo.value)


def test_credits_charge_rejects_negative_prices():
    team = _team(1)
    with pytest.raises(ValueError):
        credits_charge(wallet=team.wallet, amount=-1, actor=None, generation=None)


def test_the_account_page_shows_every_wallet_the_person_can_spend_from(client):
    team = _team(20)
    member = make_user(username="ada", credits=7)
    Membership.objects.create(team=team, user=member, monthly_credit_cap=10)
    generation = _create(member, team)
    client.force_login(member)
    html = client.get("/account/").content.decode()
    assert 'data-testid="balance">7<' in html
    assert 'data-testid="balance-team-night-crew">18<' in html
    assert "your cap 10 a month, 2 used" in html
    assert f'href="/generations/{generation.id}/"' in html
