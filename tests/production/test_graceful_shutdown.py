"""A stopping worker's tracker hands over at once: lease released, successor enqueued."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker

from generations.models import Generation, TrackerLease
from generations.tracker import LEASE_NAME, tracker_run
from studio import worker_shutdown
from tests.factories import make_user


@pytest.fixture
def stop_requested():
    worker_shutdown._stop.set()
    yield
    worker_shutdown._stop.clear()


@pytest.mark.django_db(transaction=True)
def test_a_stop_request_hands_the_lease_and_the_work_to_a_successor(stop_requested):
    owner = make_user()
    Generation.objects.create(
        owner=owner,
        model_key="wan2.6-i2v-flash",
        provider="modelstream",
        prompt="in flight",
        state=Generation.State.QUEUED,
        provider_task_id="task-1",
        deadline_at=timezone.now() + timedelta(minutes=30),
        next_poll_at=timezone.now() + timedelta(minutes=5),
    )
    broker = get_broker()
    queued_before = broker.queue_size()
    started = time.monotonic()

    reason = tracker_run(run_seconds=30)

    assert reason == "the worker is stopping"
    assert time.monotonic() - started < 2  # not the 30 s it was given
    lease = TrackerLease.objects.get(name=LEASE_NAME)
    assert lease.holder == "" and lease.expires_at is None
    assert broker.queue_size() == queued_before + 1  # the successor is in the queue


def test_outside_a_worker_nothing_is_a_stop_request():
    assert worker_shutdown.stop_requested() is False
