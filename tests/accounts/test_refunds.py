"""Exactly one refund per generation, whatever retries or races happen."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.ledger import credits_charge, credits_refund, wallet_for_user
from accounts.models import LedgerEntry
from generations.models import Generation
from generations.services import IllegalTransition, generation_expire, generation_fail
from tests.conftest import assert_ledger_balanced
from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def _charged_generation(user, cost=4, state="running"):
    generation = Generation.objects.create(
        owner=user,
        model_key="wan2.6-i2v-flash",
        provider="modelstream",
        prompt="p",
        state=state,
        deadline_at=timezone.now() + timedelta(hours=1),
        cost=cost,
    )
    credits_charge(
        wallet=wallet_for_user(user=user), amount=cost, actor=user, generation=generation
    )
    return generation


def _in_thread(function):
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except IllegalTransition:
            return "illegal"
        finally:
            connection.close()

    return run


def test_repeated_failures_and_direct_refunds_refund_once():
    user = make_user(credits=10)
    generation = _charged_generation(user)
    generation_fail(generation_id=generation.id, kind="provider", message="first")
    with pytest.raises(IllegalTransition):
        generation_fail(generation_id=generation.id, kind="provider", message="again")
    assert generation_expire(generation_id=generation.id) is None
    assert credits_refund(generation=generation, reason="retry of the refund") is None
    assert LedgerEntry.objects.filter(generation=generation, kind="refund").count() == 1
    assert wallet_for_user(user=user).balance == 10
    assert_ledger_balanced()


def test_racing_failures_and_refunds_from_many_threads_refund_once():
    user = make_user(credits=40)
    generations = [_charged_generation(user) for _ in range(5)]
    jobs = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for generation in generations:
            jobs.append(
                pool.submit(
                    _in_thread(generation_fail),
                    generation_id=generation.id,
                    kind="provider",
                    message="a",
                )
            )
            jobs.append(pool.submit(_in_thread(generation_expire), generation_id=generation.id))
            jobs.append(
                pool.submit(_in_thread(credits_refund), generation=generation, reason="race")
            )
            jobs.append(
                pool.submit(_in_thread(credits_refund), generation=generation, reason="race")
            )
        for job in jobs:
            job.result()
    for generation in generations:
        assert LedgerEntry.objects.filter(generation=generation, kind="refund").count() == 1
    assert wallet_for_user(user=user).balance == 40
    assert_ledger_balanced()
