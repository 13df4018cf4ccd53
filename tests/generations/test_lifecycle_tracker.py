"""The tracker in this process: its lease and how a (re)started cluster takes over, the sweeps
for what dead workers left behind, reads applied as they come (in bulk when nothing changes),
and a slow answer that holds up nobody else."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from generations import tracker
from generations.models import Generation, TrackerLease
from generations.providers import ProviderTask, TaskStatus
from generations.services import (
    Reading,
    generation_apply_provider_task,
    generation_submit,
    generation_transition,
    generations_record_quiet_readings,
)
from tests.factories import make_user
from tests.generations.test_lifecycle import _create, providers, simulator  # noqa: F401

pytestmark = pytest.mark.django_db

HOST = socket.gethostname()[:40]


@pytest.fixture
def enqueued(monkeypatch):
    """What the code under test enqueued, instead of enqueueing it."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(tracker, "_enqueue_tracker", lambda: calls.append(("tracker", "")))
    monkeypatch.setattr(tracker, "_enqueue_submit", lambda i: calls.append(("submit", str(i))))
    monkeypatch.setattr(
        tracker, "enqueue_store", lambda i, mark=True: calls.append(("store", str(i)))
    )
    return calls


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        pid += 1


def _hold(holder: str, *, seconds: float = 10, requested_ago: float | None = None) -> None:
    now = timezone.now()
    requested = None if requested_ago is None else now - timedelta(seconds=requested_ago)
    TrackerLease.objects.update_or_create(
        name=tracker.LEASE_NAME,
        defaults={
            "holder": holder,
            "expires_at": now + timedelta(seconds=seconds),
            "requested_at": requested,
        },
    )


def _at_provider(**fields) -> Generation:
    generation = _create(make_user(credits=50))
    now = timezone.now()
    defaults = {
        "state": "running",
        "provider_task_id": "t-1",
        "submitted_at": now,
        "next_poll_at": now,
    }
    Generation.objects.filter(pk=generation.id).update(**{**defaults, **fields})
    return Generation.objects.get(pk=generation.id)


# --- The lease, and a cluster that starts after another was killed ------------------------


def test_a_new_cluster_starts_a_tracker_at_once_when_the_holder_died_with_its_cluster(enqueued):
    _create(make_user(credits=50))
    # Asked for a moment ago, by the cluster that was killed since.
    _hold(f"{HOST}:{_dead_pid()}:abcd", requested_ago=1)

    tracker.tracker_ensure_after_start()
    tracker.tracker_ensure_after_start()  # a sibling worker of the same cluster

    assert enqueued == [("tracker", "")]
    # That tracker takes the dead holder's lease at once instead of waiting it out.
    assert tracker.lease_acquire("next:1:x")


def test_a_new_cluster_leaves_a_live_tracker_on_this_machine_alone(enqueued):
    _create(make_user(credits=50))
    _hold(f"{HOST}:{os.getpid()}:abcd")

    tracker.tracker_ensure_after_start()

    assert enqueued == []
    assert not tracker.lease_acquire("next:1:x")


def test_a_new_cluster_with_nothing_in_flight_starts_no_tracker(enqueued):
    tracker.tracker_ensure_after_start()
    assert enqueued == []


def test_a_lease_held_elsewhere_is_waited_out_not_taken(enqueued):
    _create(make_user(credits=50))
    _hold(f"another-machine:{_dead_pid()}:abcd", seconds=0.6)

    assert not tracker.lease_acquire("next:1:x")
    assert tracker.tracker_ensure() is False  # a tracker runs (as far as anyone can tell)
    started = time.monotonic()
    assert tracker.lease_acquire("next:1:x", wait_seconds=5)
    assert 0.2 < time.monotonic() - started < 3


def test_a_submit_asks_for_a_tracker_only_when_none_runs_or_was_just_asked_for(enqueued):
    _create(make_user(credits=50))
    assert tracker.tracker_ensure() is True
    assert tracker.tracker_ensure() is False  # just asked for
    assert enqueued == [("tracker", "")]


# --- What dead workers leave behind ---------------------------------------------------------


def test_a_submit_lost_by_a_dead_worker_is_failed_refunded_and_never_sent_again(settings, enqueued):
    settings.STUDIO_SUBMIT_LOST_AFTER = 60
    generation = _create(make_user(credits=50))
    generation_transition(generation_id=generation.id, to="submitting", expect=["pending"])
    Generation.objects.filter(pk=generation.id).update(
        updated_at=timezone.now() - timedelta(seconds=30)
    )
    with ThreadPoolExecutor(1) as pool:
        tracker.tracker_tick(pool=pool)
    assert Generation.objects.get(pk=generation.id).state == "submitting"  # maybe still sending

    Generation.objects.filter(pk=generation.id).update(
        updated_at=timezone.now() - timedelta(seconds=61),
        deadline_at=timezone.now() - timedelta(seconds=1),  # not expired instead: lost
    )
    with ThreadPoolExecutor(1) as pool:
        tracker.tracker_tick(pool=pool)

    lost = Generation.objects.get(pk=generation.id)
    assert lost.state == "failed" and lost.error_kind == "lost"
    assert "Lost between the studio and the provider" in lost.error_message
    assert sorted(lost.owner.wallet.entries.values_list("kind", flat=True)) == [
        "charge",
        "grant",
        "refund",
    ]
    assert ("submit", str(lost.id)) not in enqueued


def test_a_result_whose_storing_worker_died_is_stored_again_once_its_claim_runs_out(enqueued):
    now = timezone.now()
    claimed = _at_provider(
        result_url="http://127.0.0.1:9/v.mp4",
        result_claimed_until=now + timedelta(seconds=10),
        dispatch_requested_at=None,  # the claim consumed the message
    )
    unclaimed = _at_provider(
        result_url="http://127.0.0.1:9/w.mp4", dispatch_requested_at=now - timedelta(seconds=5)
    )
    with ThreadPoolExecutor(1) as pool:
        tracker.tracker_tick(pool=pool)
    assert enqueued == []  # one is being stored, the other's message is on its way

    Generation.objects.filter(pk=claimed.id).update(
        result_claimed_until=now - timedelta(seconds=1)  # its worker stopped renewing it
    )
    Generation.objects.filter(pk=unclaimed.id).update(
        dispatch_requested_at=now - timedelta(seconds=tracker.STORE_REQUEUE_SECONDS + 1)
    )
    with ThreadPoolExecutor(1) as pool:
        tracker.tracker_tick(pool=pool)
    assert sorted(enqueued) == sorted([("store", str(claimed.id)), ("store", str(unclaimed.id))])


def test_a_generation_being_submitted_is_not_expired_under_its_worker(enqueued):
    generation = _create(make_user(credits=50))
    generation_transition(generation_id=generation.id, to="submitting", expect=["pending"])
    Generation.objects.filter(pk=generation.id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    with ThreadPoolExecutor(1) as pool:
        tracker.tracker_tick(pool=pool)
    assert Generation.objects.get(pk=generation.id).state == "submitting"


def test_a_generation_told_to_wait_by_the_provider_is_not_sent_early_by_another_submit(
    settings, enqueued
):
    """A 429 with a long Retry-After: the person's next generation must not send it early."""
    settings.STUDIO_MAX_IN_FLIGHT_PER_USER = 0
    settings.MODELSTREAM_API_BASE = "http://127.0.0.1:9"  # never reached: nothing is sent
    person = make_user(credits=50)
    waiting = _create(person)
    Generation.objects.filter(pk=waiting.id).update(
        dispatch_requested_at=timezone.now() + timedelta(seconds=60)
    )
    generation_submit(generation_id=waiting.id)
    assert Generation.objects.get(pk=waiting.id).state == "pending"
    assert not Generation.objects.get(pk=waiting.id).events.filter(to_state="submitting")


# --- Reads ---------------------------------------------------------------------------------


def _reading(generation: Generation, status: TaskStatus, **task) -> Reading:
    return Reading(
        generation_id=generation.id,
        state=generation.state,
        task=ProviderTask(task_id="t-1", status=status, raw_status=str(status), **task),
        since=generation.submitted_at,
        progress=generation.progress,
        poll_count=generation.poll_count,
    )


def test_a_read_that_only_moves_progress_is_quiet_anything_else_is_not():
    running = Generation(state="running")
    queued = Generation(state="queued")
    for generation, status, quiet in [
        (running, TaskStatus.RUNNING, True),
        (running, TaskStatus.QUEUED, True),
        (running, TaskStatus.UNKNOWN, True),
        (queued, TaskStatus.QUEUED, True),
        (queued, TaskStatus.RUNNING, False),  # a transition
        (running, TaskStatus.SUCCEEDED, False),
        (running, TaskStatus.FAILED, False),
    ]:
        reading = Reading(
            generation_id=None,
            state=generation.state,
            task=ProviderTask(task_id="t", status=status),
            since=timezone.now(),
        )
        assert reading.is_quiet is quiet, (generation.state, status)
    rewritten = Reading(
        generation_id=None,
        state="running",
        task=ProviderTask(task_id="t", status=TaskStatus.RUNNING, rewritten_prompt="longer"),
        since=timezone.now(),
    )
    assert not rewritten.is_quiet  # something new to keep


def test_quiet_reads_are_written_together_progress_never_goes_back(settings):
    settings.STUDIO_POLL_MAX_INTERVAL = 3
    ahead = _at_provider(progress=60, poll_count=4)
    behind = _at_provider(progress=10, poll_count=0)
    ended = _at_provider(progress=30)
    readings = [
        _reading(ahead, TaskStatus.RUNNING, progress=40),  # a stale answer
        _reading(behind, TaskStatus.RUNNING, progress=50, provider_cost=Decimal("12.5")),
        _reading(ended, TaskStatus.RUNNING, progress=90),
    ]
    generation_transition(generation_id=ended.id, to="expired")  # meanwhile

    assert generations_record_quiet_readings(readings=readings) == 3

    ahead.refresh_from_db()
    behind.refresh_from_db()
    ended.refresh_from_db()
    assert (ahead.progress, ahead.poll_count) == (60, 5)
    assert (behind.progress, behind.provider_cost) == (50, Decimal("12.5"))
    assert behind.next_poll_at > timezone.now()
    assert behind.provider_status == "running"
    assert ended.state == "expired" and ended.progress == 30 and ended.next_poll_at is None


def test_the_provider_starting_a_task_is_recorded_with_its_own_status_word():
    generation = _at_provider(state="queued")
    task = ProviderTask(
        task_id="t-1", status=TaskStatus.RUNNING, raw_status="in_progress", progress=5
    )

    generation_apply_provider_task(generation_id=generation.id, task=task, source="webhook")

    event = Generation.objects.get(pk=generation.id).events.last()
    assert (event.from_state, event.to_state, event.provider_status) == (
        "queued",
        "running",
        "in_progress",
    )
    assert "callback" in event.detail


def test_a_transition_writes_only_what_it_changes():
    generation = _at_provider(state="queued")
    stale = Generation.objects.get(pk=generation.id)
    Generation.objects.filter(pk=generation.id).update(poll_count=7)  # another writer, meanwhile

    generation_transition(generation_id=stale.id, to="running", provider_status="processing")

    generation.refresh_from_db()
    assert generation.state == "running" and generation.poll_count == 7


# --- The loop ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.services
def test_a_slow_answer_holds_up_no_other_generation(providers, settings, monkeypatch):  # noqa: F811
    """One task's reads take 3 s; the others are read, finish and are handed to storing
    meanwhile, with no sweep waiting for the slow read."""
    settings.STUDIO_MAX_IN_FLIGHT_PER_USER = 0
    stored: list[str] = []
    monkeypatch.setattr(tracker, "enqueue_store", lambda i, mark=True: stored.append(str(i)))
    person = make_user(credits=100)
    slow = _create(person, prompt="slow sim:read.latency=3")
    quick = [_create(person, prompt=f"quick {n}") for n in range(3)]
    for generation in (slow, *quick):
        generation_submit(generation_id=generation.id)

    runner = threading.Thread(target=tracker.tracker_run, kwargs={"run_seconds": 6})
    started = time.monotonic()
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(stored) < len(quick):
            time.sleep(0.05)
        quick_done = time.monotonic() - started
    finally:
        runner.join()
    assert sorted(stored[: len(quick)]) == sorted(str(g.id) for g in quick)
    # Each quick one needs its queued → running → done reads (about 0.5 s apart); the slow
    # one's 3 s reads ran beside them.
    assert quick_done < 3.0, quick_done
    assert str(slow.id) not in stored[: len(quick)]


def test_reads_back_off_as_a_job_ages_and_come_sooner_when_its_progress_says_it_is_nearly_done(
    settings,
):
    from generations.services import poll_interval

    settings.STUDIO_POLL_MAX_INTERVAL = 3
    assert poll_interval(age_seconds=1) == 0.5
    assert poll_interval(age_seconds=10) == 1.0
    assert poll_interval(age_seconds=600) == 3.0  # the cap
    # 60 s in and half done: nothing to gain from reading sooner than the back-off says.
    assert poll_interval(age_seconds=60, progress=50) == 3.0
    # At this pace 98 % means about 1.2 s to go; 99.9 % would be read at the floor.
    assert poll_interval(age_seconds=60, progress=98) == pytest.approx(60 * 2 / 98)
    assert poll_interval(age_seconds=600, progress=99) == 3.0
    assert poll_interval(age_seconds=20, progress=99) == 0.5
    assert poll_interval(age_seconds=60, progress=100) == 3.0  # no estimate from "done"
