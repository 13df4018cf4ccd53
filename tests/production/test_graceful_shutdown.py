"""Stopping workers: the tracker hands over at once, and a busy worker finishes its task."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from generations.models import Generation, TrackerLease
from generations.tracker import LEASE_NAME, tracker_run
from studio import worker_shutdown
from tests.factories import make_user
from tests.live_stack import ARTIFACTS, ROOT, free_port, stack_environment, wait_until
from tests.processes import alive, descendants


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


@pytest.mark.django_db(transaction=True)
def test_a_group_sigterm_lets_a_busy_worker_finish_its_task_and_leaves_no_worker_behind(
    tmp_path,
):
    """SIGTERM to the whole process group (honcho, systemd's default): the task in hand ends."""
    env = stack_environment(free_port(), free_port())
    env["STUDIO_Q_WORKERS"] = "2"
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "shutdown-cluster.log").open("wb") as log:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        async_task("tests.production.slow_task.slow_marker", str(tmp_path), 3.0)
        wait_until(lambda: (tmp_path / "started").exists(), timeout=60, what="the task to start")
        processes = descendants(cluster.pid)
        os.killpg(cluster.pid, signal.SIGTERM)

        # The busy worker finishes its task although the signal reached it ...
        wait_until(lambda: (tmp_path / "finished").exists(), timeout=15, what="the task to end")
        # ... and then no worker process is left behind.
        wait_until(
            lambda: not any(alive(pid) for pid in processes),
            timeout=15,
            what="every worker process to exit",
        )
    finally:
        # django-q2's own main process may hang after a group SIGTERM (docs/deploy.md).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)
