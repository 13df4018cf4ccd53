"""`/healthz`: the database, the job queue and the storage, as JSON without secrets."""

from __future__ import annotations

import time
import uuid

from django.contrib.auth.decorators import login_not_required
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# A cluster that has not reported for this long is considered gone.
HEARTBEAT_STALE_SECONDS = 60


def _database() -> dict:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {
        "ok": True,
        "vendor": connection.vendor,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _queue() -> dict:
    from django_q.brokers import get_broker
    from django_q.models import OrmQ
    from django_q.status import Stat

    broker = get_broker()
    now = timezone.now()
    result: dict = {"broker": type(broker).__name__.lower()}
    result["queued"] = broker.queue_size()
    oldest_age = None
    if result["broker"] == "orm":
        oldest = (
            OrmQ.objects.filter(lock__lte=now)
            .order_by("lock")
            .values_list("lock", flat=True)
            .first()
        )
        if oldest is not None:
            oldest_age = round((now - oldest).total_seconds(), 1)
    elif result["broker"] == "redis":
        oldest_age = _redis_oldest_age(broker, now)
    result["oldest_queued_seconds"] = oldest_age
    stats = Stat.get_all(broker=broker)
    beats = [stat.timestamp for stat in stats if getattr(stat, "timestamp", None)]
    heartbeat_age = round((now - max(beats)).total_seconds(), 1) if beats else None
    result["clusters"] = len(stats)
    result["workers"] = sum(len(getattr(stat, "workers", []) or []) for stat in stats)
    result["heartbeat_seconds"] = heartbeat_age
    result["ok"] = heartbeat_age is not None and heartbeat_age < HEARTBEAT_STALE_SECONDS
    if not result["ok"]:
        result["error"] = "no worker has reported recently"
    return result


def _redis_oldest_age(broker, now) -> float | None:
    """Age of the task at the head of the Redis list (django-q2 stamps `started` on enqueue)."""
    from django_q.signing import SignedPackage

    pack = broker.connection.lindex(broker.list_key, 0)
    if pack is None:
        return None
    started = SignedPackage.loads(pack).get("started")
    return round((now - started).total_seconds(), 1) if started else None


def _storage() -> dict:
    name = default_storage.save(f"healthz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name, "rb") as handle:
            ok = handle.read() == b"ok"
    finally:
        default_storage.delete(name)
    return {
        "ok": ok,
        "backend": type(getattr(default_storage, "_wrapped", default_storage)).__name__,
    }


# In-flight generations whose next status read is this late are not being followed.
OVERDUE_STALE_SECONDS = 300


def _generations() -> dict:
    from generations.selectors import generations_health

    result: dict = {**generations_health()}
    result["ok"] = result["overdue_seconds"] < OVERDUE_STALE_SECONDS
    if not result["ok"]:
        result["error"] = "generations in flight are not being followed"
    return result


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in (
        ("database", _database),
        ("queue", _queue),
        ("storage", _storage),
        ("generations", _generations),
    ):
        try:
            checks[name] = check()
        except Exception as error:  # a failing part must be reported, not crash the check
            checks[name] = {"ok": False, "error": type(error).__name__}
    healthy = all(part.get("ok") for part in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
