"""Provider callbacks: Apiframe's webhooks, a fast path beside the tracker's polling.

Only when `APIFRAME_WEBHOOKS` is on. A callback counts only with a valid
`X-Webhook-Signature` (HMAC-SHA256 of the raw body, keyed with the SHA-256 of the API key),
checked in constant time before the body is even parsed; it then updates the generation
exactly as a poll would. Polling continues regardless, so a lost or refused callback only
costs time.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from studio.http import StudioRequest

from .models import Generation
from .providers.apiframe import SIGNATURE_HEADER, parse_job, webhook_signature_valid
from .services import generation_apply_provider_task

logger = logging.getLogger(__name__)

# A body already applied is answered without applying it again (a provider's retry, or
# someone replaying a captured callback); kept for as long as a reference link lives.
_SEEN_KEY = "studio:webhook:apiframe:{digest}"
_SEEN_SECONDS = 24 * 3600


@login_not_required
@csrf_exempt
@require_POST
def apiframe_webhook(request: StudioRequest) -> JsonResponse:
    """Apply one signed Apiframe job callback; 404 while webhooks are off."""
    if not settings.APIFRAME_WEBHOOKS:
        return JsonResponse({"error": "Webhooks are not enabled."}, status=404)
    body = request.body
    if not webhook_signature_valid(
        api_key=settings.APIFRAME_API_KEY, body=body, header=request.headers.get(SIGNATURE_HEADER)
    ):
        # Nothing about the expected value goes back or into the log.
        logger.warning("apiframe webhook with a missing or wrong signature refused")
        return JsonResponse({"error": "Invalid signature."}, status=401)
    digest = hashlib.sha256(body).hexdigest()
    if cache.get(_SEEN_KEY.format(digest=digest)):
        return JsonResponse({"ok": True, "applied": False, "reason": "already applied"})
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly nested
        return JsonResponse({"error": "The body is not JSON."}, status=400)
    task = parse_job(data)
    if not task.task_id:
        return JsonResponse({"error": "The callback names no job."}, status=400)
    generation_id = (
        Generation.objects.filter(provider="apiframe", provider_task_id=task.task_id)
        .values_list("id", flat=True)
        .first()
    )
    if generation_id is None:
        # Unknown here (or not stored yet: a callback can beat the submit's commit). The
        # tracker's polling will find the job's state anyway.
        return JsonResponse({"ok": True, "applied": False, "reason": "unknown job"})
    generation_apply_provider_task(generation_id=generation_id, task=task, source="webhook")
    cache.set(_SEEN_KEY.format(digest=digest), 1, _SEEN_SECONDS)
    return JsonResponse({"ok": True, "applied": True})
