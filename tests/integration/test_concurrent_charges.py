"""Twenty submits at once through gunicorn (2 workers × 4 threads) with credit for three."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts.ledger import wallet_for_user
from accounts.models import LedgerEntry
from generations.models import Generation
from tests.conftest import assert_ledger_balanced
from tests.factories import PASSWORD, image_bytes, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_twenty_simultaneous_submits_with_credit_for_three_accept_exactly_three(live_stack):
    person = make_user(username="racer", credits=6)  # 720p, 5 s, silent costs 2
    image = image_bytes(size=(320, 180))
    clients = [live_stack.login("racer", PASSWORD) for _ in range(20)]
    tokens = []
    for client in clients:
        page = client.get("/?model=wan-2.6-flash")
        tokens.append(re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1))

    def submit(index: int) -> int:
        response = clients[index].post(
            "/",
            data={
                "csrfmiddlewaretoken": tokens[index],
                "model": "wan-2.6-flash",
                "prompt": f"Race {index}",
                "duration": "5",
                "resolution": "720p",
            },
            files={"image": ("r.png", image, "image/png")},
            headers={"Referer": live_stack.url + "/"},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(submit, range(20)))

    assert statuses.count(303) == 3, statuses  # See Other: the new generation
    assert statuses.count(200) == 17  # the form again, saying the wallet cannot pay
    assert Generation.objects.filter(owner=person).count() == 3
    assert wallet_for_user(user=person).balance == 0
    assert LedgerEntry.objects.filter(wallet__user=person, kind="charge").count() == 3
    assert_ledger_balanced()
    for client in clients:
        client.close()
