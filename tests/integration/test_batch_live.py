"""A batch of 64 through the live stack: the web server, a real qcluster and the simulator in
its fast mode, half of the members failing by the simulator's faults. Every member reaches a
final state, each failed one is refunded exactly once, the ledger stays exact."""

from __future__ import annotations

import time

import pytest

from accounts.ledger import wallet_for_user
from accounts.models import LedgerEntry
from generations.batches import batch_create, batch_plan
from generations.catalog import catalog
from generations.models import Generation
from tests.conftest import assert_ledger_balanced
from tests.factories import GENERATION_DEFAULTS, make_reference, make_user
from tests.live_stack import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MODEL = "wan2.6-i2v-flash"


def _values(prompt: str) -> dict:
    return {**GENERATION_DEFAULTS[MODEL], "prompt": prompt, "duration": 2}


def test_a_batch_of_64_reaches_the_end_with_failed_members_refunded(live_stack, settings):
    if "cluster" not in live_stack.processes:
        live_stack.start_cluster("cluster")
    settings.STUDIO_PUBLIC_URL = live_stack.url
    owner = make_user(credits=1000)
    reference = make_reference(owner)
    model = catalog()[MODEL]
    values = _values("Dunes at dawn sim:run_seconds=0.2\nDunes at dusk sim:fail=content_flagged")
    plan = batch_plan(model=model, values=values, variations=16, prompt_lines=True, sweep=["audio"])
    assert plan.size == 64
    started = time.monotonic()
    batch = batch_create(user=owner, model=model, plan=plan, references={"img_url": reference})
    charged = 1000 - wallet_for_user(user=owner).balance
    assert charged == sum(g.cost for g in batch.members.all())

    def all_final():
        rows = list(Generation.objects.filter(batch=batch))
        return rows if rows and all(g.is_final for g in rows) else None

    done = wait_until(all_final, timeout=150, interval=0.5, what="every member to end")
    took = time.monotonic() - started
    states = sorted(g.state for g in done)
    assert states.count("succeeded") == 32 and states.count("failed") == 32, states
    for generation in done:
        refunds = LedgerEntry.objects.filter(generation=generation, kind="refund").count()
        assert refunds == (1 if generation.state == "failed" else 0), generation.id
    refunded = sum(g.cost for g in done if g.state == "failed")
    assert wallet_for_user(user=owner).balance == 1000 - charged + refunded
    assert_ledger_balanced()
    print(f"64 members final in {took:.1f} s")


def test_two_batches_at_once_on_a_wallet_for_one_make_exactly_one(live_stack, settings):
    import threading

    from django.db import connection

    from accounts.ledger import ChargeRefused
    from generations.batches import batch_price
    from generations.models import Batch

    if "cluster" not in live_stack.processes:
        live_stack.start_cluster("cluster")
    settings.STUDIO_PUBLIC_URL = live_stack.url
    model = catalog()[MODEL]
    values = _values("Dunes sim:run_seconds=0.2")
    plan = batch_plan(model=model, values=values, variations=10)
    total = batch_price(model=model, plan=plan, files={"img_url": True})
    owner = make_user(credits=total + total // 2)  # enough for one of the two
    reference = make_reference(owner)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit():
        try:
            barrier.wait()
            batch_create(user=owner, model=model, plan=plan, references={"img_url": reference})
            outcomes.append("made")
        except ChargeRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["made", "refused"]
    batch = Batch.objects.get()
    assert batch.members.count() == 10 and Generation.objects.count() == 10
    assert wallet_for_user(user=owner).balance == total // 2
    assert_ledger_balanced()
    # The live cluster sends what was made: let it finish before the database is flushed.
    wait_until(
        lambda: all(g.is_final for g in Generation.objects.filter(batch=batch)) or None,
        timeout=120,
        interval=0.5,
        what="the batch's members to end",
    )
