"""Following every in-flight generation until it ends, with one tracker at a time.

django-q2 has no delayed tasks and its scheduler wakes only about every 30 s, so one task per
poll cannot be timely. Instead one tracker task runs for a bounded time (well under the
cluster's timeout). Several times a second it sends a read for every generation whose next
read is due and that is not being read already, to a pool of threads sharing the pooled
client, and applies the answers as they come in; so a slow answer never holds up the others,
and no generation waits for a whole sweep to end before its next read. Between those it
sends waiting generations whose slot has freed, expires overdue ones, resolves lost submits
and hands finished results to the storing task. A lease in the database keeps two trackers
from overlapping; while anything is in flight the tracker enqueues its successor before it
lets the lease go.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
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
# A live tracker renews its lease every tick and every LEASE_RENEW_SECONDS within a long one, so
# a dead tracker's lease runs out (and a successor takes over) within LEASE_SECONDS.
LEASE_SECONDS = 10
LEASE_RENEW_SECONDS = 2.0
TICK_SECONDS = 0.25
CONNECTION_RECYCLE_SECONDS = 30
STORE_GRACE = timedelta(minutes=15)
MAX_POLL_ERRORS = 5
# A storing task that was enqueued but never claimed its row (its message was lost with a
# killed worker, or never delivered) is enqueued again after this long.
STORE_REQUEUE_SECONDS = 60


# --- The lease ----------------------------------------------------------------------------


def _lease_row() -> None:
    TrackerLease.objects.get_or_create(name=LEASE_NAME)


def _this_host() -> str:
    return socket.gethostname()[:40]


def _holder_gone(holder: str) -> bool:
    """Whether `holder` was a tracker on this machine whose process no longer exists (its worker
    was killed): its lease need not be waited out. A holder elsewhere, or a process that
    exists, may be alive. (Were two machines to share a host name, the worst case is two
    trackers for a moment: the older one finds its lease taken at its next renewal and stops,
    and everything they do is under row locks.)"""
    host, _, rest = holder.partition(":")
    pid = rest.split(":", 1)[0]
    if host != _this_host() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    try:
        # A killed process can linger for a moment as a zombie until it is reaped.
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[:1] in (["Z"], ["X"])


def _lease_free(now) -> Q:
    """The lease is free: nobody holds it, its holder let it run out, or its holder is gone."""
    free = Q(expires_at__isnull=True) | Q(expires_at__lt=now)
    holder = TrackerLease.objects.filter(name=LEASE_NAME).values_list("holder", flat=True).first()
    if holder and _holder_gone(holder):
        free |= Q(holder=holder)
    return free


def lease_acquire(holder: str, *, wait_seconds: float = 0.0) -> bool:
    """Take the lease if it is free or has run out; wait up to `wait_seconds` for it."""
    _lease_row()
    give_up = time.monotonic() + wait_seconds
    while True:
        now = timezone.now()
        taken = (
            TrackerLease.objects.filter(name=LEASE_NAME)
            .filter(_lease_free(now) | Q(holder=holder))
            .update(holder=holder, expires_at=now + timedelta(seconds=LEASE_SECONDS))
        )
        if taken:
            return True
        if time.monotonic() >= give_up or stop_requested():
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


def tracker_ensure(*, after_start: bool = False) -> bool:
    """Start a tracker unless one runs or was just asked for. Returns whether it enqueued one.

    `after_start`: called by the workers of a cluster that just started, the first of them
    acting for all. A request made shortly before may have died with a killed cluster, so
    earlier requests do not count; and a lease held on another machine is no reason not to
    start one, since its holder may be dead: the tracker started here waits for the lease to
    run out, and gives up if its holder renews it.
    """
    _lease_row()
    now = timezone.now()
    lease = TrackerLease.objects.filter(name=LEASE_NAME)
    if after_start:
        if not cache.add(f"studio:tracker:started:{_this_host()}:{os.getppid()}", 1, 600):
            return False  # a sibling worker of this cluster did it
        held = lease.filter(expires_at__gte=now).values_list("holder", flat=True).first()
        if held and held.startswith(f"{_this_host()}:") and not _holder_gone(held):
            return False  # a live tracker on this machine
    else:
        lease = lease.filter(_lease_free(now)).filter(
            Q(requested_at__isnull=True) | Q(requested_at__lt=now - timedelta(seconds=15))
        )
    claimed = lease.update(requested_at=now)
    if claimed:
        _enqueue_tracker()
    return bool(claimed)


def tracker_ensure_after_start(sender: object = None, **kwargs: object) -> None:
    """django-q2 `post_spawn`: a worker of a (re)started cluster makes sure that whatever a
    killed cluster left in flight is tracked again at once, not at the next schedule."""
    try:
        if Generation.objects.exclude(state__in=Generation.FINAL_STATES).exists():
            tracker_ensure(after_start=True)
    except Exception:  # never stop a worker from starting
        logger.exception("could not ensure a tracker after the worker started")


def _enqueue_tracker() -> None:
    from django_q.tasks import async_task

    async_task("generations.tasks.tracker_run_task", task_name="tracker")


def enqueue_store(generation_id: uuid.UUID | str, *, mark: bool = True) -> None:
    """Enqueue the task that stores a finished generation's video. `mark=False` when the
    caller already dated the request (`dispatch_requested_at`) in its own transaction."""
    from django_q.tasks import async_task

    if mark:
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
    # Long enough for the lease of a tracker that died to run out; a live holder renews it.
    if not lease_acquire(holder, wait_seconds=LEASE_SECONDS + 2.0):
        return "another tracker holds the lease"
    run_seconds = settings.STUDIO_TRACKER_RUN_SECONDS if run_seconds is None else run_seconds
    stop = time.monotonic() + run_seconds
    reason = "time is up"
    pool = ThreadPoolExecutor(
        max_workers=settings.STUDIO_TRACKER_CONCURRENCY, thread_name_prefix="tracker"
    )
    reads = _Reads(pool)
    recycled = time.monotonic()
    try:
        while time.monotonic() < stop:
            if time.monotonic() - recycled > CONNECTION_RECYCLE_SECONDS:
                close_old_connections()  # a long task lets Django renew its connection
                recycled = time.monotonic()
            # Graceful shutdown: this worker's cluster is stopping (SIGTERM), so hand over now
            # (the successor is enqueued below) and let another cluster track from its next tick.
            if stop_requested():
                reason = "the worker is stopping"
                break
            if not lease_renew(holder):
                reason = "lost the lease"
                break
            now = timezone.now()
            _housekeeping(now)
            reads.send_due(now)
            # Apply answers as they come in until the next look at what is due.
            reads.apply(seconds=TICK_SECONDS)
            if not reads.out and not work_remaining():
                reason = "nothing in flight"
                break
        # Answers already on their way are applied, not thrown away (each read has its own
        # deadline; this bounds the wait all the same).
        reads.finish(holder=holder, give_up_at=time.monotonic() + 30)
        if reason != "lost the lease" and work_remaining():
            # Hand over before letting go, so tracking never pauses while work remains.
            TrackerLease.objects.filter(name=LEASE_NAME).update(requested_at=timezone.now())
            _enqueue_tracker()
    finally:
        pool.shutdown(wait=True)
        lease_release(holder)
    logger.info(
        "tracker run ended (%s): %d reads, longest from due to applied %.2f s",
        reason,
        reads.count,
        reads.longest_lag,
    )
    return reason


def tracker_tick(
    *, pool: ThreadPoolExecutor, stop_at: float | None = None, holder: str | None = None
) -> int:
    """One full pass: everything that needs attention, and every due task read and applied
    before it returns. Returns how many tasks it read.

    `holder` is the lease this pass runs under: it is renewed while the pass waits for reads.
    """
    now = timezone.now()
    _housekeeping(now)
    reads = _Reads(pool)
    sent = reads.send_due(now)
    give_up = None if stop_at is None else max(stop_at, time.monotonic()) + 30
    reads.finish(holder=holder, give_up_at=give_up)
    return sent


def _housekeeping(now) -> None:
    _expire_overdue(now)
    _resolve_lost_submits(now)
    _dispatch_waiting(now)
    _enqueue_results(now)


def _expire_overdue(now) -> None:
    from .services import generation_expire

    # A generation being submitted is left to the lost-submit sweep: its worker may be
    # waiting for the provider's answer right now.
    overdue = Generation.objects.filter(deadline_at__lt=now).exclude(
        state__in=(*Generation.FINAL_STATES, State.SUBMITTING)
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
    """Results whose storing task died (its claim ran out), was lost, or whose retry is due.

    A storing task clears `dispatch_requested_at` when it claims the row, so a claim that ran
    out (a killed worker stops renewing it) is enqueued again at once; a message that was
    never claimed is enqueued again after STORE_REQUEUE_SECONDS.
    """
    ready = (
        Generation.objects.filter(state=State.RUNNING)
        .exclude(result_url="")
        .filter(Q(result_claimed_until__isnull=True) | Q(result_claimed_until__lt=now))
        .filter(
            Q(dispatch_requested_at__isnull=True)
            | Q(dispatch_requested_at__lt=now - timedelta(seconds=STORE_REQUEUE_SECONDS))
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


# Quiet reads are written together once this many have come in, and before `apply` returns
# (so a task is never sent again before its next read time is written).
QUIET_BATCH = 200
DUE_COLUMNS = (
    "id",
    "provider",
    "provider_task_id",
    "state",
    "progress",
    "poll_count",
    "provider_cost",
    "has_rewritten",
    "submitted_at",
    "created_at",
    "next_poll_at",
)


class _Reads:
    """Reads of due tasks on the pool, applied as they come in; no task is read twice at once.

    Most answers say "still working, at N %": those are written in bulk, one transaction per
    batch (`generations_record_quiet_readings`). Anything else (started, finished, failed, an
    error) goes through the services one by one.
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        # Each read hands its row and outcome over as it finishes.
        self.finished: queue.SimpleQueue[tuple[tuple, ProviderTask | ProviderError]] = (
            queue.SimpleQueue()
        )
        self.out: set[uuid.UUID] = set()
        self.count = 0
        self.longest_lag = 0.0

    def send_due(self, now) -> int:
        """Send a read for every due task not being read already; returns how many."""
        due = (
            Generation.objects.filter(
                state__in=(State.QUEUED, State.RUNNING), result_url="", next_poll_at__lte=now
            )
            .exclude(provider_task_id="")
            .annotate(has_rewritten=~Q(rewritten_prompt=""))
            .order_by("next_poll_at")
            .values_list(*DUE_COLUMNS)[:5000]
        )
        sent = 0
        for row in due:
            if row[0] in self.out:
                continue
            self.out.add(row[0])
            self.pool.submit(self._read, row)
            sent += 1
        self.count += sent
        return sent

    def _read(self, row: tuple) -> None:
        self.finished.put((row, _read(row[0], row[1], row[2])))

    def apply(self, *, seconds: float) -> int:
        """Apply the answers that come in within `seconds`; returns how many it applied."""
        from .services import Reading, generation_apply_provider_task

        applied = 0
        quiet: list[Reading] = []
        if not self.out:
            time.sleep(seconds)
            return 0
        until = time.monotonic() + seconds
        while self.out:
            # Back to the caller in time, however fast answers come: it renews the lease.
            left = until - time.monotonic()
            if left <= 0:
                break
            try:
                row, outcome = self.finished.get(timeout=left)
            except queue.Empty:
                break
            self.out.discard(row[0])
            applied += 1
            generation_id = row[0]
            if row[10] is not None:
                lag = (timezone.now() - row[10]).total_seconds()
                self.longest_lag = max(self.longest_lag, lag)
            with generation_log_context(generation_id):
                try:
                    if isinstance(outcome, ProviderError):
                        _poll_failed(generation_id, outcome)
                        continue
                    reading = Reading(
                        generation_id=generation_id,
                        state=row[3],
                        task=outcome,
                        since=row[8] or row[9],
                        progress=row[4],
                        poll_count=row[5],
                        provider_cost=row[6],
                        has_rewritten_prompt=row[7],
                    )
                    if reading.is_quiet:
                        quiet.append(reading)
                    else:
                        generation_apply_provider_task(generation_id=generation_id, task=outcome)
                except Exception:
                    logger.exception("applying the state of %s failed", generation_id)
            if len(quiet) >= QUIET_BATCH:
                _record_quiet(quiet)
                quiet = []
        _record_quiet(quiet)
        return applied

    def finish(self, *, holder: str | None, give_up_at: float | None) -> None:
        """Apply every answer still to come (renewing the lease meanwhile), or give up."""
        while self.out:
            if give_up_at is not None and time.monotonic() > give_up_at:
                logger.warning("gave up waiting for %d reads", len(self.out))
                break
            if holder:
                lease_renew(holder)
            self.apply(seconds=LEASE_RENEW_SECONDS)


def _record_quiet(readings: list) -> None:
    from .services import generations_record_quiet_readings

    if not readings:
        return
    try:
        generations_record_quiet_readings(readings=readings)
    except Exception:
        logger.exception("recording %d reads failed", len(readings))


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
