import pytest
from django.db import IntegrityError, transaction

from accounts.ledger import (
    InsufficientCredits,
    credits_adjust,
    credits_grant,
    wallet_for_user,
)
from accounts.models import LedgerEntry, Wallet
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _balance_matches_ledger(wallet: Wallet) -> bool:
    wallet.refresh_from_db()
    return wallet.balance == sum(e.amount for e in LedgerEntry.objects.filter(wallet=wallet))


def test_grants_and_adjustments_keep_the_balance_equal_to_the_ledger():
    wallet = wallet_for_user(user=make_user())
    credits_grant(wallet=wallet, amount=12, actor=None, reason="welcome")
    credits_adjust(wallet=wallet, amount=-5, actor=None, reason="correction")
    assert _balance_matches_ledger(wallet)
    assert wallet.balance == 7


def test_an_adjustment_never_takes_the_balance_below_zero():
    wallet = wallet_for_user(user=make_user())
    credits_grant(wallet=wallet, amount=3, actor=None, reason="x")
    with pytest.raises(InsufficientCredits) as excinfo:
        credits_adjust(wallet=wallet, amount=-4, actor=None, reason="too much")
    assert excinfo.value.shortfall == 1
    assert "cannot deduct 4 credits" in str(excinfo.value)
    assert _balance_matches_ledger(wallet)


def test_the_database_refuses_a_negative_balance():
    wallet = wallet_for_user(user=make_user())
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=-1)
