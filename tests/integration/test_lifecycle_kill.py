"""A crashed worker loses nothing: the qcluster's whole process group is killed (SIGKILL) while
one generation is being submitted, one is running at the provider and one's video is being
downloaded; a new cluster starts, and every generation ends final, with no second job at the
provider and no video lost.

The one being submitted cannot be resolved (neither provider offers a lookup, and sending it
again could start a second job): it is failed and refunded as lost between the studio and the
provider, counted apart from real failures. The others carry on where they were.
"""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from generations.models import Generation
from tests.factories import make_user
from tests.integration.lifecycle import create, ledger_kinds, page, wait_final
from tests.live_stack import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# A submit that has not come back after 6 s was lost by a dead worker (the submit held by the
# simulator here takes 5 s, so a live one always comes back first).
KILL_ENV = {"STUDIO_SUBMIT_LOST_AFTER": "6", "STUDIO_POLL_MAX_INTERVAL": "1"}


def _state(generation_id) -> Generation:
    return Generation.objects.get(pk=generation_id)


def _held_submits(stack, before: dict) -> int:
    """Submits that reached the simulator since `before` and have not yet made a task."""
    now = stack.simulator_stats()
    received = now["submits_received"] - before["submits_received"]
    return received - (now["submits"] - before["submits"])


def test_sigkill_mid_submit_mid_run_and_mid_download_then_a_new_cluster(live_stack, settings):
    settings.STUDIO_PUBLIC_URL = live_stack.url
    with live_stack.cluster_with(**KILL_ENV):
        before = live_stack.simulator_stats()
        # At the provider for 12 s.
        running = create(make_user(credits=50), "wan2.6-i2v-flash", "running sim:run_seconds=12")
        # Ready at once; its video (about 21 kB) trickles out at 2.5 kB/s.
        downloading = create(
            make_user(credits=50),
            "wan2.6-i2v-flash",
            "downloading sim:result=slow sim:result_rate=2500",
        )
        wait_until(
            lambda: _state(downloading.id).result_claimed_until is not None,
            timeout=30,
            interval=0.1,
            what="the download to start",
        )
        assert _state(running.id).state in ("queued", "running")
        # The simulator holds this submit's answer for 5 s.
        submitting = create(
            make_user(credits=50), "wan-2.6-flash", "submitting sim:submit.latency=5"
        )
        # Under way means at the simulator, which holds it: not just marked as being sent.
        wait_until(
            lambda: (
                _state(submitting.id).state == "submitting"
                and _held_submits(live_stack, before) == 1
            ),
            timeout=15,
            interval=0.05,
            what="the submit to be under way",
        )
        assert _state(downloading.id).state == "running" and not _state(downloading.id).video
        assert _state(running.id).state in ("queued", "running")

        live_stack.kill_cluster()
        live_stack.start_cluster(env=KILL_ENV)

        done = wait_final([running.id, downloading.id, submitting.id], timeout=90)

    running, downloading, submitting = (done[str(g.id)] for g in (running, downloading, submitting))
    for generation in (running, downloading):
        assert generation.state == "succeeded", (generation.state, generation.error_message)
        assert default_storage.exists(generation.video.name)
        assert default_storage.size(generation.video.name) == generation.video_bytes > 0
        assert default_storage.exists(generation.poster.name)
        assert ledger_kinds(generation) == ["charge"]
    assert downloading.result_attempts == 2  # the killed download, then one that finished

    assert submitting.state == "failed" and submitting.error_kind == "lost"
    assert ledger_kinds(submitting) == ["charge", "refund"]
    assert "Lost between the studio and the provider" in page(submitting)[1]

    after = live_stack.simulator_stats()
    assert after["submits"] - before["submits"] == 3  # each sent once: no second job
    assert after["duplicate_submits"] == before["duplicate_submits"]
