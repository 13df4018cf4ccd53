"""The studio's API at /v1/: ModelStream-compatible, bearer tokens, JSON errors. No session, no CSRF."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from accounts.services import api_token_authenticate
from studio.http import ApiRequest, StudioRequest
from studio.ratelimit import rate_limit_hit, rate_parse

from .api_requests import ApiError
from .api_services import api_generation_submit
from .models import Generation
from .openapi import model_description, openapi_document
from .selectors import catalog_models_available, generation_get_for_viewer
from .services import IllegalTransition, generation_cancel
from .signed_links import LIFETIMES, signed_url

MAX_BODY = 256 * 1024
MAX_DEPTH = 16
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
STATUS = {
    "pending": "queued",
    "submitting": "queued",
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
}


def _error(error: ApiError) -> JsonResponse:
    response = JsonResponse(error.as_dict(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def api_endpoint(methods: list[str]) -> Callable:
    """Bearer-token auth, method check and JSON errors for an API view."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @login_not_required
        @functools.wraps(view)
        def wrapper(request: ApiRequest, *args, **kwargs) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ApiError(
                        405, f"{request.method} is not allowed here.", code="method_not_allowed"
                    )
                header = request.headers.get("Authorization", "")
                raw = header[7:].strip() if header[:7].lower() == "bearer " else ""
                token = api_token_authenticate(raw=raw)
                if token is None:
                    raise ApiError(
                        401,
                        "Missing or invalid API token: send Authorization: Bearer <token>.",
                        code="invalid_api_key",
                        type="authentication_error",
                    )
                request.api_token = token
                request.api_user = token.user
                return view(request, *args, **kwargs)
            except ApiError as error:
                return _error(error)
            except Http404:
                return _error(
                    ApiError(404, "No such resource.", code="not_found", type="not_found_error")
                )

        return wrapper

    return decorate


def task_object(generation: Generation) -> dict:
    """A generation as the API shows it."""
    status = STATUS[generation.state]
    data: dict = {
        "task_id": str(generation.id),
        "object": "video.generation",
        "status": status,
        "model": generation.model_key,
        "progress": 100 if status == "completed" else int(generation.progress or 0),
        "created_at": int(generation.created_at.timestamp()),
        "completed_at": int(generation.finished_at.timestamp()) if generation.finished_at else None,
        "cost": generation.cost,
        "seed": generation.seed,
        "team": generation.team.slug if generation.team is not None else None,
    }
    if status == "completed" and generation.video:
        data["url"] = signed_url(
            kind="result", object_id=str(generation.id), filename=f"{generation.id}.mp4"
        )
        data["expires_at"] = int(datetime.now().timestamp() + LIFETIMES["result"].total_seconds())
        data["duration"] = generation.video_duration
        data["width"] = generation.video_width
        data["height"] = generation.video_height
    if status in ("failed", "cancelled", "expired"):
        data["error"] = {
            "message": generation.error_message or "It ended without a video.",
            "type": generation.error_kind or status,
            "param": generation.error_param or None,
            "code": generation.error_code or None,
        }
    return data


def _body(request: ApiRequest) -> object:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    # Judged by its declared length first, so a large body is refused before it is read.
    if declared > MAX_BODY or len(request.body) > MAX_BODY:
        raise ApiError(413, "The request body is too large.", code="body_too_large")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, RecursionError):  # not JSON or UTF-8, absurd numbers or nesting
        raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
    problem = _body_problem(body)
    if problem:
        raise ApiError(400, problem, code="invalid_json")
    return body


def _body_problem(value: object) -> str | None:
    """What no request to this API can hold, though JSON allows it: objects nested past any
    sense (deeper than MAX_DEPTH; they would only exhaust the stack of whatever reads them
    next), NUL characters or lone surrogate escapes (`\\ud800`) in text (no database stores
    them, no field means them). Iterative, so the depth is not a problem here."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"The request body is nested more than {MAX_DEPTH} levels deep."
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return (
                    "The request body holds a NUL character or a lone surrogate escape "
                    "(\\ud800-\\udfff), which no field accepts."
                )
        elif isinstance(item, dict):
            pending.extend((key, depth + 1) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return None


def _submit_rate_check(request: ApiRequest) -> None:
    """One submit (a single request or a whole batch) against the person's API submit rate,
    across all their tokens: more tokens do not buy a higher rate."""
    retry_after = rate_limit_hit(
        key=f"api-user:{request.api_user.pk}",
        rate=rate_parse(settings.STUDIO_API_SUBMIT_RATE),
    )
    if retry_after is not None:
        raise ApiError(
            429,
            "Too many submits from your tokens; wait and try again.",
            code="rate_limited",
            type="rate_limit_error",
            headers={"Retry-After": str(int(retry_after + 0.999))},
        )


@api_endpoint(["GET", "POST"])
def generations(request: ApiRequest) -> HttpResponse:
    if request.method == "GET":
        return _list(request)
    _submit_rate_check(request)
    generation, _ = api_generation_submit(
        user=request.api_user,
        body=_body(request),
        idempotency_key=request.headers.get("Idempotency-Key"),
        token=request.api_token,
    )
    return JsonResponse({"task_id": str(generation.id), "status": STATUS[generation.state]})


def _cursor_encode(generation: Generation) -> str:
    raw = f"{generation.created_at.isoformat()}|{generation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(text: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        stamp, key = raw.split("|", 1)
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("a cursor's time carries its zone")
        return when, uuid.UUID(key)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise ApiError(
            400, "That cursor is not valid.", param="after", code="invalid_cursor"
        ) from None


def _list(request: ApiRequest) -> HttpResponse:
    from django.db.models import Q

    try:
        limit = int(request.GET.get("limit", "20"))
    except ValueError:
        raise ApiError(
            400, "limit must be an integer from 1 to 100.", param="limit", code="invalid_value"
        ) from None
    if not 1 <= limit <= 100:
        raise ApiError(
            400, "limit must be an integer from 1 to 100.", param="limit", code="invalid_value"
        )
    queryset = (
        Generation.objects.filter(owner=request.api_user, deleted_at__isnull=True)
        .select_related("team")
        .order_by("-created_at", "-id")
    )
    if request.GET.get("after"):
        stamp, key = _cursor_decode(request.GET["after"])
        queryset = queryset.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, id__lt=key))
    page = list(queryset[: limit + 1])
    next_url = None
    if len(page) > limit:
        page = page[:limit]
        next_url = request.build_absolute_uri(
            f"{reverse('api:generations')}?limit={limit}&after={_cursor_encode(page[-1])}"
        )
    return JsonResponse(
        {"object": "list", "data": [task_object(g) for g in page], "next": next_url}
    )


def _task_id(text: str) -> uuid.UUID:
    """A task id from the path; a malformed one is the caller's mistake (400), not a 404."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(
            400,
            "A task_id is a UUID, as the submit answered it.",
            param="task_id",
            code="invalid_value",
        ) from None


@api_endpoint(["GET"])
def generation(request: ApiRequest, task_id: str) -> HttpResponse:
    key = _task_id(task_id)
    return JsonResponse(task_object(generation_get_for_viewer(viewer=request.api_user, id=key)))


@api_endpoint(["POST"])
def generation_cancel_view(request: ApiRequest, task_id: str) -> HttpResponse:
    generation = generation_get_for_viewer(viewer=request.api_user, id=_task_id(task_id))
    if generation.owner_id != request.api_user.pk:
        raise Http404("No such generation.")
    try:
        generation = generation_cancel(generation=generation, by=request.api_user)
    except IllegalTransition:
        raise ApiError(
            409,
            "It has already been sent to the provider, so it runs to its end.",
            code="not_cancellable",
        ) from None
    return JsonResponse(task_object(generation))


@api_endpoint(["GET"])
def models(request: ApiRequest) -> HttpResponse:
    return JsonResponse(
        {
            "object": "list",
            "data": [model_description(m) for m in catalog_models_available().values()],
        }
    )


@api_endpoint(["GET"])
def model(request: ApiRequest, key: str) -> HttpResponse:
    found = catalog_models_available().get(key)
    if found is None:  # not in the catalog, or switched off by an admin
        raise Http404("No such model.")
    return JsonResponse(model_description(found))


@csrf_exempt
@login_not_required
def openapi(request: StudioRequest) -> HttpResponse:
    """The OpenAPI document (public: it holds no secrets)."""
    return JsonResponse(openapi_document(server_url=settings.STUDIO_PUBLIC_URL))


@api_endpoint(["POST"])
def batches(request: ApiRequest) -> HttpResponse:
    """A batch: one submit for the submit rate, made and charged all or nothing."""
    from .api_batches import api_batch_submit

    _submit_rate_check(request)
    batch, made, price = api_batch_submit(
        user=request.api_user, body=_body(request), token=request.api_token
    )
    return JsonResponse(
        {
            "id": str(batch.id),
            "object": "batch",
            "task_ids": [str(generation.id) for generation in made],
            "price": price,
        }
    )


@api_endpoint(["GET"])
def batch(request: ApiRequest, batch_id: str) -> HttpResponse:
    """Every task of a batch, as GET /v1/video/generations/<id> shows each."""
    from .batches import batch_get_for_viewer

    try:
        key = uuid.UUID(batch_id)
    except ValueError:
        raise ApiError(
            400, "A batch id is a UUID.", param="batch_id", code="invalid_value"
        ) from None
    found, members = batch_get_for_viewer(viewer=request.api_user, id=key)
    return JsonResponse(
        {
            "id": str(found.id),
            "object": "batch",
            "model": found.model_key,
            "axes": found.axes,
            "price": sum(member.cost for member in members),
            "tasks": [task_object(member) for member in members],
        }
    )
