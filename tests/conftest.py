"""Fixtures shared by the whole suite, and the live stack the integration and browser tests use."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.http_fixtures import file_server  # noqa: F401  (a fixture)
from tests.live_stack import live_stack  # noqa: F401  (a session fixture)

pytest_plugins: list[str] = []

LAST = ("integration", "browser")


def pytest_collection_modifyitems(config, items):
    """Unit tests first, then the tests that need the live stack (started once, on demand)."""

    def rank(item) -> int:
        for index, marker in enumerate(LAST, start=1):
            if item.get_closest_marker(marker):
                return index
        return 0

    items.sort(key=rank)


def assert_ledger_balanced() -> None:
    """Every wallet's balance equals the sum of its ledger entries."""
    from django.db.models import Sum

    from accounts.models import Wallet

    for wallet in Wallet.objects.annotate(total=Sum("entries__amount")):
        assert wallet.balance == (wallet.total or 0), (
            f"{wallet}: {wallet.balance} != {wallet.total}"
        )
        assert wallet.balance >= 0


@pytest.fixture
def ledger_balanced(db):
    """Use in a module (autouse there) to check the ledger invariant after each test."""
    yield
    assert_ledger_balanced()


@pytest.fixture
def user(db):
    return make_user(username="maker", credits=100)


@pytest.fixture
def other_user(db):
    return make_user(username="stranger", credits=100)


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client
