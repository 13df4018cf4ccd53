"""Two qcluster processes on one database and broker: no duplicates, nothing lost on SIGTERM.

Runs on the session's live stack (web server, simulator, cluster `cluster`) with a second
cluster `cluster-b` started beside it. In CI the second pass runs it on PostgreSQL + Redis,
the production pairing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generations.models import Generation, TrackerLease
from generations.tracker import LEASE_NAME
from tests.factories import make_user
from tests.generations.test_lifecycle import _create
from tests.live_stack import ARTIFACTS, LiveStack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

USERS = 3
PER_USER = 4  # the default in-flight limit per person: all of them go out at once
CLUSTERS = ("cluster", "cluster-b")


def _cluster_running(stack: LiveStack, name: str) -> bool:
    process = stack.processes.get(name)
    return process is not None and process.poll() is None


@pytest.fixture(scope="module")
def two_clusters(live_stack):
    """The live stack with two clusters; afterwards it is left with its one cluster again."""
    if not _cluster_running(live_stack, "cluster"):
        live_stack.start_cluster("cluster")
    # The second cluster logs as production does, one JSON object per line.
    json_env = {**live_stack.env, "STUDIO_LOG_FORMAT": "json"}
    (ARTIFACTS / "live-cluster-b.log").unlink(missing_ok=True)  # no lines of an older run
    live_stack._start("cluster-b", [sys.executable, "manage.py", "qcluster"], env=json_env)
    wait_until(
        lambda: _clusters_reporting() >= 2, timeout=60, what="two clusters reporting to the broker"
    )
    yield live_stack
    extra = live_stack.processes.pop("cluster-b")
    extra.send_signal(signal.SIGTERM)
    try:
        extra.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(extra.pid, signal.SIGKILL)
        extra.wait()
    if not _cluster_running(live_stack, "cluster"):
        live_stack.start_cluster("cluster")


def _clusters_reporting() -> int:
    from django_q.status import Stat

    return sum(1 for stat in Stat.get_all() if str(stat.status) in ("Idle", "Working"))


def _batch(settings, stack: LiveStack, **values) -> list:
    settings.STUDIO_PUBLIC_URL = stack.url
    ids = []
    for _ in range(USERS):
        owner = make_user(credits=200)
        ids += [_create(owner, **values).id for _ in range(PER_USER)]
    return ids


def _wait_final(ids, timeout=150) -> list[Generation]:
    def all_final():
        rows = list(Generation.objects.filter(pk__in=ids))
        return rows if all(g.is_final for g in rows) else None

    return wait_until(all_final, timeout=timeout, interval=0.5, what="every generation to end")


def _processed(log: Path) -> set[str]:
    """Generation ids whose submit or store task this cluster's workers ran (django-q's log)."""
    text = log.read_text(errors="replace")
    return set(re.findall(r"processing (?:submit|store) ([0-9a-f-]{36})", text))


def test_two_clusters_share_a_batch_without_duplicates(two_clusters, settings):
    before = two_clusters.simulator_stats()
    ids = _batch(settings, two_clusters)

    done = _wait_final(ids)

    assert [g.state for g in done] == ["succeeded"] * len(ids), [
        (g.state, g.error_message) for g in done if g.state != "succeeded"
    ]
    after = two_clusters.simulator_stats()
    assert after["submits"] - before["submits"] == len(ids)  # each sent exactly once
    assert after["duplicate_submits"] == before["duplicate_submits"] == 0
    for generation in done:
        states = [e.to_state for e in generation.events.all()]
        assert states.count("submitting") == 1 and states[-1] == "succeeded"
    by_a = _processed(two_clusters.logs["cluster"]) & {str(i) for i in ids}
    by_b = _processed(two_clusters.logs["cluster-b"]) & {str(i) for i in ids}
    assert by_a and by_b, "both clusters must have done part of the work"

    # Every line cluster-b wrote is one JSON object, and each about a generation names it.
    batch = {str(i) for i in ids}
    entries = [json.loads(line) for line in two_clusters.logs["cluster-b"].read_text().splitlines()]
    about = [e for e in entries if any(i in e["message"] for i in batch)]
    assert about
    for entry in about:
        assert entry.get("generation_id") in entry["message"], entry
    assert not any("test-modelstream-key" in json.dumps(e) for e in entries)


def _cluster_of(pid: int, stack: LiveStack) -> str | None:
    """Which of the stack's clusters a worker process belongs to (walking up its parents)."""
    mains = {process.pid: name for name, process in stack.processes.items()}
    for _ in range(4):
        if pid in mains:
            return mains[pid]
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return None
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return None


def _holder() -> tuple[str, int] | None:
    lease = TrackerLease.objects.filter(name=LEASE_NAME).first()
    if lease is None or not lease.holder:
        return None
    return lease.holder, int(lease.holder.split(":")[1])


def test_sigterm_to_a_cluster_hands_the_tracker_over_and_loses_nothing(two_clusters, settings):
    before = two_clusters.simulator_stats()
    # Longer videos take longer to render, so the batch is still in flight at the SIGTERM.
    ids = _batch(settings, two_clusters, duration=5)

    # Wait until the batch is at the provider and a tracker follows it.
    wait_until(
        lambda: (
            Generation.objects.filter(pk__in=ids, state__in=["queued", "running"]).count()
            >= len(ids) // 2
        ),
        timeout=60,
        what="the batch at the provider",
    )
    holder, pid = wait_until(_holder, timeout=30, what="a tracker to hold the lease")
    stopping = _cluster_of(pid, two_clusters)
    assert stopping in CLUSTERS, (holder, pid)
    other = CLUSTERS[1] if stopping == CLUSTERS[0] else CLUSTERS[0]

    stopped_at = time.monotonic()
    os.kill(two_clusters.processes[stopping].pid, signal.SIGTERM)  # the cluster's main process

    def handed_over():
        current = _holder()
        if current and current[0] != holder and _cluster_of(current[1], two_clusters) == other:
            return time.monotonic() - stopped_at
        return None

    handover_seconds = wait_until(handed_over, timeout=15, interval=0.05, what="the handover")
    # One tick is 0.25 s plus the time to read every due task; allow for a busy shared machine.
    assert handover_seconds < 5, handover_seconds
    # The stopped cluster finished what it had in hand and left, long before its tracker's
    # run would have ended (STUDIO_TRACKER_RUN_SECONDS=20 in the live stack).
    assert two_clusters.processes[stopping].wait(timeout=20) == 0
    assert time.monotonic() - stopped_at < 15

    done = _wait_final(ids)
    assert [g.state for g in done] == ["succeeded"] * len(ids), [
        (g.state, g.error_kind, g.error_message) for g in done if g.state != "succeeded"
    ]
    after = two_clusters.simulator_stats()
    assert after["submits"] - before["submits"] == len(ids)
    assert after["duplicate_submits"] == 0
    print(f"tracker handed over {handover_seconds:.2f} s after SIGTERM")
