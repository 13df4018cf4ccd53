"""Following every in-flight generation until it ends, with one tracker at a time.

django-q2 has no delayed tasks and its scheduler wakes only about every 30 s, so one task per
poll cannot be timely. Instead one tracker task loops for a bounded time (well under the
cluster's timeout): each tick it reads every due generation concurrently over the pooled
client, applies what it learned, sends waiting generations whose slot has freed, expires
overdue ones, resolves lost submits and hands finished results to the storing task. A lease in
the database keeps two trackers from overlapping; while anything is in flight the tracker
enqueues its successor before it lets the lease go.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F, Q
from django.utils import timezone

from studio.logs import generation_log_context
from studio.worker_shutdown import stop_requested

from .catalog import catalog
from .models import Generation, TrackerLease
from .providers import ErrorKind, ProviderError, ProviderTask, provider_client
from .providers.health import breaker_record_failure, breaker_record_success, providers_paused

logger = logging.getLogger(__name__)
State = Generation.State

LEASE_NAME = "tracker"
LEASE_SECONDS = 20
TICK_SECONDS = 0.25
STORE_GRACE = timedelta(minutes=15)
MAX_POLL_ERRORS = 5


# --- The lease ----------------------------------------------------------------------------


def _lease_row() -> None:
    TrackerLease.objects.get_or_create(name=LEASE_NAME)


def lease_acquire(holder: str, *, wait_seconds: float = 0.0) -> bool:
    """Take the lease if it is free or has run out; wait up to `wait_seconds` for it."""
    _lease_row()
    give_up = time.monotonic() + wait_seconds
    while True:
        now = timezone.now()
        taken = (
            TrackerLease.objects.filter(name=LEASE_NAME)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder))
            .update(holder=holder, expires_at=now + timedelta(seconds=LEASE_SECONDS))
        )
        if taken:
            return True
        if time.monotonic() >= give_up:
            return False
        time.sleep(0.2)


def lease_renew(holder: str) -> bool:
    now = timezone.now()
    return bool(
        TrackerLease.objects.filter(name=LEASE_NAME, holder=holder).update(
            expires_at=now + timedelta(seconds=LEASE_SECONDS)
        )
    )


def lease_release(holder: str) -> None:
    TrackerLease.objects.filter(name=LEASE_NAME, holder=holder).update(
        holder="", expires_at=None, requested_at=None
    )


def tracker_ensure() -> bool:
    """Start a tracker unless one runs or was just asked for. Returns whether it enqueued one."""
    _lease_row()
    now = timezone.now()
    claimed = (
        TrackerLease.objects.filter(name=LEASE_NAME)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now))
        .filter(Q(requested_at__isnull=True) | Q(requested_at__lt=now - timedelta(seconds=15)))
        .update(requested_at=now)
    )
    if claimed:
        _enqueue_tracker()
    return bool(claimed)


def _enqueue_tracker() -> None:
    from django_q.tasks import async_task

    async_task("generations.tasks.tracker_run_task", task_name="tracker")


def enqueue_store(generation_id: uuid.UUID | str) -> None:
    from django_q.tasks import async_task

    Generation.objects.filter(pk=generation_id).update(dispatch_requested_at=timezone.now())
    async_task(
        "generations.tasks.generation_store_result_task",
        str(generation_id),
        task_name=f"store {generation_id}",
    )


def _enqueue_submit(generation_id: uuid.UUID | str) -> None:
    from django_q.tasks import async_task

    async_task(
        "generations.tasks.generation_submit_task",
        str(generation_id),
        task_name=f"submit {generation_id}",
    )


# --- The loop -----------------------------------------------------------------------------


def work_remaining() -> bool:
    """Whether anything is at the provider, being stored, or waiting to be sent (a pending
    generation may be waiting for a paused provider or a free slot: the tracker offers it
    again and expires it at its deadline)."""
    return Generation.objects.filter(
        state__in=(*Generation.AT_PROVIDER_STATES, State.PENDING)
    ).exists()


def tracker_run(*, run_seconds: float | None = None) -> str:
    """Track for up to `run_seconds`; returns why it stopped."""
    # host:pid:nonce (≤ 64 chars) tells an operator, and the shutdown test, which worker holds it.
    holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not lease_acquire(holder, wait_seconds=5.0):
        return "another tracker holds the lease"
    run_seconds = settings.STUDIO_TRACKER_RUN_SECONDS if run_seconds is None else run_seconds
    stop = time.monotonic() + run_seconds
    reason = "time is up"
    pool = ThreadPoolExecutor(
        max_workers=settings.STUDIO_TRACKER_CONCURRENCY, thread_name_prefix="tracker"
    )
    try:
        while time.monotonic() < stop:
            # Graceful shutdown: this worker's cluster is stopping (SIGTERM), so hand over now
            # (the successor is enqueued below) and let another cluster track from its next tick.
            if stop_requested():
                reason = "the worker is stopping"
                break
            if not lease_renew(holder):
                reason = "lost the lease"
                break
            tracker_tick(pool=pool, stop_at=stop)
            if not work_remaining():
                reason = "nothing in flight"
                break
            time.sleep(TICK_SECONDS)
        if reason != "lost the lease" and work_remaining():
            # Hand over before letting go, so tracking never pauses while work remains.
            TrackerLease.objects.filter(name=LEASE_NAME).update(requested_at=timezone.now())
            _enqueue_tracker()
    finally:
        pool.shutdown(wait=True)
        lease_release(holder)
    return reason


def tracker_tick(*, pool: ThreadPoolExecutor, stop_at: float | None = None) -> int:
    """One pass over everything that needs attention; returns how many tasks it read."""
    now = timezone.now()
    _expire_overdue(now)
    _resolve_lost_submits(now)
    _dispatch_waiting(now)
    _enqueue_results(now)
    return _poll_due(now, pool, stop_at)


def _expire_overdue(now) -> None:
    from .services import generation_expire

    overdue = Generation.objects.filter(deadline_at__lt=now).exclude(
        state__in=Generation.FINAL_STATES
    )
    # A video being copied may finish after the deadline, within a grace period.
    overdue = overdue.filter(Q(result_url="") | Q(deadline_at__lt=now - STORE_GRACE))
    for generation_id in overdue.values_list("id", flat=True)[:500]:
        generation_expire(generation_id=generation_id)


def _resolve_lost_submits(now) -> None:
    from .services import generation_mark_lost

    lost_before = now - timedelta(seconds=settings.STUDIO_SUBMIT_LOST_AFTER)
    stuck = Generation.objects.filter(state=State.SUBMITTING, updated_at__lt=lost_before)
    for generation_id in stuck.values_list("id", flat=True)[:500]:
        generation_mark_lost(generation_id=generation_id)


def _dispatch_waiting(now) -> None:
    """Ask for a submit for owners whose waiting generations may now have a free slot."""
    from .services import DISPATCH_RETRY_SECONDS

    retry_before = now - timedelta(seconds=DISPATCH_RETRY_SECONDS)
    # Nothing goes to a provider whose circuit breaker is open; once its pause is over, the
    # submit lets one trial through.
    providers = sorted({model.provider for model in catalog().values()})
    paused = [state.provider for state in providers_paused(providers=providers) if state.is_open()]
    waiting = (
        Generation.objects.filter(state=State.PENDING)
        .exclude(provider__in=paused)
        .filter(Q(dispatch_requested_at__isnull=True) | Q(dispatch_requested_at__lt=retry_before))
        .order_by("owner_id", "created_at")
    )
    limit = settings.STUDIO_MAX_IN_FLIGHT_PER_USER
    seen: set[int] = set()
    for generation_id, owner_id in waiting.values_list("id", "owner_id")[:2000]:
        if owner_id in seen:
            continue
        seen.add(owner_id)
        if limit:
            busy = Generation.objects.filter(
                owner_id=owner_id, state__in=Generation.AT_PROVIDER_STATES
            ).count()
            if busy >= limit:
                continue
        Generation.objects.filter(pk=generation_id).update(dispatch_requested_at=now)
        _enqueue_submit(generation_id)


def _enqueue_results(now) -> None:
    """Results whose storing task was lost, or whose retry is due."""
    ready = (
        Generation.objects.filter(state=State.RUNNING)
        .exclude(result_url="")
        .filter(Q(result_claimed_until__isnull=True) | Q(result_claimed_until__lt=now))
        .filter(
            Q(dispatch_requested_at__isnull=True)
            | Q(dispatch_requested_at__lt=now - timedelta(seconds=60))
        )
    )
    for generation_id in ready.values_list("id", flat=True)[:500]:
        enqueue_store(generation_id)


def _read(generation_id, provider: str, task_id: str) -> ProviderTask | ProviderError:
    try:
        with generation_log_context(generation_id):
            task = provider_client(provider).read(task_id=task_id)
        breaker_record_success(provider=provider)
        return task
    except ProviderError as error:
        breaker_record_failure(provider=provider, error=error)
        return error
    except Exception as error:  # a parsing bug must never stop the tracker
        logger.exception(
            "reading task %s failed", task_id, extra={"generation_id": str(generation_id)}
        )
        return ProviderError(ErrorKind.MALFORMED, f"Reading the task failed ({error!r}).")
    finally:
        connection.close()


def _poll_due(now, pool: ThreadPoolExecutor, stop_at: float | None) -> int:
    from .services import generation_apply_provider_task

    due = list(
        Generation.objects.filter(
            state__in=(State.QUEUED, State.RUNNING), result_url="", next_poll_at__lte=now
        )
        .exclude(provider_task_id="")
        .order_by("next_poll_at")
        .values_list("id", "provider", "provider_task_id")[:5000]
    )
    if not due:
        return 0
    futures: dict[Future, tuple] = {}
    for row in due:
        futures[pool.submit(_read, row[0], row[1], row[2])] = row
    pending = set(futures)
    while pending:
        timeout = None if stop_at is None else max(1.0, stop_at - time.monotonic() + 30)
        done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:
            break
        for future in done:
            generation_id = futures[future][0]
            outcome = future.result()
            with generation_log_context(generation_id):
                try:
                    if isinstance(outcome, ProviderError):
                        _poll_failed(generation_id, outcome)
                    else:
                        generation_apply_provider_task(generation_id=generation_id, task=outcome)
                except Exception:
                    logger.exception("applying the state of %s failed", generation_id)
    close_old_connections()
    return len(due)


def _poll_failed(generation_id, error: ProviderError) -> None:
    """A read that did not work: try again later; give up only on a task the provider denies."""
    from .services import generation_fail

    now = timezone.now()
    delay = (
        error.retry_after if error.retry_after is not None else settings.STUDIO_POLL_MAX_INTERVAL
    )
    Generation.objects.filter(pk=generation_id).update(
        next_poll_at=now + timedelta(seconds=max(delay, 0.5)), poll_errors=F("poll_errors") + 1
    )
    errors = Generation.objects.values_list("poll_errors", flat=True).get(pk=generation_id)
    if error.kind is ErrorKind.REFUSED and errors >= MAX_POLL_ERRORS:
        generation_fail(
            generation_id=generation_id,
            kind=Generation.ErrorKind.PROVIDER,
            message=f"The provider no longer answers for this task: {error.message}",
            code=error.code,
        )
    elif error.kind is ErrorKind.MALFORMED and errors >= MAX_POLL_ERRORS:
        # One garbled answer is retried; a provider that keeps answering garbage for this
        # task will not recover it before the deadline.
        generation_fail(
            generation_id=generation_id,
            kind=Generation.ErrorKind.PROVIDER,
            message="The provider keeps answering something the studio cannot read.",
        )
    elif error.kind is ErrorKind.ACCOUNT:
        logger.error("reading %s: provider account problem: %s", generation_id, error.admin_message)
    else:
        logger.info("reading %s failed: %s", generation_id, error.message)
