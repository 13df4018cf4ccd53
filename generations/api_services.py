"""The API's writes: a JSON request becomes a generation through the same form and services
as the create page (validation, uploads, credits, teams), with Idempotency-Key support."""

from __future__ import annotations

import posixpath
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.ledger import (
    ChargeRefused,
    InsufficientCredits,
    MonthlyCapExceeded,
    wallet_for_team,
    wallet_for_user,
)
from accounts.models import ApiToken, Membership, Team, User
from studio.ratelimit import rate_limit_hit, rate_parse

from .api_requests import ApiError, api_form_input, body_sha256, dropped_values_refused
from .api_webhooks import webhook_events_parse, webhook_url_check
from .catalog import CatalogField, CatalogModel, catalog
from .fetcher import FetchError, GuardedFetcher
from .forms import generation_form_class
from .models import ApiIdempotencyKey, ApiWebhook, Generation
from .pricing import PriceError, price_quote
from .selectors import catalog_model_available
from .services import ModelUnavailable, generation_create, references_store

IDEMPOTENCY_WINDOW = timedelta(hours=24)
FETCH_SECONDS = 30
CONTENT_TYPES = {
    "image": ("image/", "application/octet-stream", "binary/octet-stream"),
    "audio": ("audio/", "application/octet-stream", "binary/octet-stream"),
}


def _fetch(url: str, field: CatalogField, fetcher: GuardedFetcher) -> TemporaryUploadedFile:
    name = posixpath.basename(urlsplit(url).path)[:100] or f"{field.name}.bin"
    upload = TemporaryUploadedFile(
        name=name, content_type="application/octet-stream", size=0, charset=None
    )
    try:
        result = fetcher.fetch(
            url,
            upload,
            max_bytes=field.max_bytes or 0,
            total_seconds=FETCH_SECONDS,
            content_types=CONTENT_TYPES[field.type],
        )
    except FetchError as error:
        upload.close()
        raise ApiError(
            400, f"{field.name}: {error.message}", param=field.name, code="invalid_file_url"
        ) from None
    upload.size = result.size
    upload.content_type = result.content_type
    upload.seek(0)
    return upload


def _insufficient(price: int, wallet_label: str | None, balance: int) -> ApiError:
    return ApiError(
        402,
        f"This request costs {price} credits but {wallet_label or 'your wallet'} holds {balance}.",
        code="insufficient_credits",
        type="insufficient_quota",
    )


def _credits_precheck(*, user: User, team: Team | None, form, form_input) -> None:
    """Refuse (402) a request its wallet cannot pay before any of its files is fetched. The
    charge itself still happens, atomically, when the generation is created."""
    model = form.catalog_model
    values = form.loose_values()
    for spec in model.fields:
        if spec.is_file:
            values[spec.name] = spec.name in form_input.urls or bool(form_input.data.get(spec.name))
    try:
        quote = price_quote(model=model, values=values)
    except PriceError:
        return  # the form explains the bad value once the files are in
    wallet = wallet_for_team(team=team) if team is not None else wallet_for_user(user=user)
    if wallet.balance < quote.credits:
        raise _insufficient(
            quote.credits, f"team {team.name}" if team else "your wallet", wallet.balance
        )


def _fetches_count_as_uploads(*, user: User, count: int) -> None:
    """Each file the API fetches counts toward the person's upload rate (STUDIO_UPLOAD_RATE)."""
    rate = rate_parse(settings.STUDIO_UPLOAD_RATE)
    wait = None
    for _ in range(count):
        wait = rate_limit_hit(key=f"upload:{user.pk}", rate=rate) or wait
    if wait is not None:
        raise ApiError(
            429,
            "Too many files fetched and uploaded; wait and try again.",
            code="rate_limited",
            type="rate_limit_error",
            headers={"Retry-After": str(int(wait + 0.999))},
        )


def _webhook_asked(body: dict, fetcher: GuardedFetcher | None) -> tuple[str, list[str]] | None:
    """The webhook URL and events the request asks for, checked now (400 naming the field)."""
    if body.get("webhook") is None:
        if body.get("webhook_events") is not None:
            raise ApiError(
                400,
                "webhook_events needs a webhook URL to send them to.",
                param="webhook_events",
                code="invalid_value",
            )
        return None
    try:
        url = webhook_url_check(body["webhook"], fetcher)
    except ValueError as error:
        raise ApiError(400, f"webhook: {error}", param="webhook", code="invalid_value") from None
    try:
        events = webhook_events_parse(body.get("webhook_events"))
    except ValueError as error:
        raise ApiError(
            400, f"webhook_events: {error}", param="webhook_events", code="invalid_value"
        ) from None
    return url, events


def _first_error(form) -> ApiError:
    for name, errors in form.errors.items():
        message = errors[0] if errors else "Invalid value."
        if name == "__all__":
            return ApiError(400, message, code="invalid_request")
        return ApiError(400, f"{name}: {message}", param=name, code="invalid_value")
    return ApiError(400, "The request is not valid.")


def _replay(user: User, key: str, digest: str) -> Generation | None:
    existing = (
        ApiIdempotencyKey.objects.filter(user=user, key=key).select_related("generation").first()
    )
    if existing is None:
        return None
    if existing.created_at < timezone.now() - IDEMPOTENCY_WINDOW:
        existing.delete()
        return None
    if existing.body_sha256 != digest:
        raise ApiError(
            422,
            "This Idempotency-Key was used with a different request body.",
            code="idempotency_key_reused",
        )
    return existing.generation


def _switched_off(model_key: str) -> ApiError:
    return ApiError(
        400,
        f"The model {model_key!r} is switched off right now; choose another model.",
        param="model",
        code="model_unavailable",
    )


def model_and_team(*, user: User, body: dict) -> tuple[CatalogModel, Team | None]:
    """The model a request names (available now) and the team it is for, or ApiError."""
    model_key = body.get("model")
    models = catalog()
    if not isinstance(model_key, str) or model_key not in models:
        raise ApiError(400, f"Unknown model {model_key!r}.", param="model", code="model_not_found")
    model = models[model_key]
    if not catalog_model_available(key=model_key):
        raise _switched_off(model_key)
    team: Team | None = None
    if body.get("team") is not None:
        slug = body["team"]
        membership = (
            Membership.objects.filter(user=user, team__slug=slug).select_related("team").first()
            if isinstance(slug, str)
            else None
        )
        if membership is None:
            raise ApiError(
                400, f"You are not in a team {slug!r}.", param="team", code="team_not_found"
            )
        team = membership.team
    return model, team


def api_generation_submit(
    *,
    user: User,
    body: Any,
    idempotency_key: str | None = None,
    fetcher: GuardedFetcher | None = None,
    token: ApiToken | None = None,
) -> tuple[Generation, bool]:
    """Validate, charge and create a generation from an API body; (generation, created)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    key = (idempotency_key or "").strip()[:200] or None
    digest = body_sha256(body)
    if key:
        replayed = _replay(user, key, digest)
        if replayed is not None:
            return replayed, False
    model, team = model_and_team(user=user, body=body)
    model_key = model.key
    form_input = api_form_input(model=model, body=body)
    webhook = _webhook_asked(body, fetcher)
    # What can be told without the files is told before any is fetched: a value the request
    # would drop, a wallet that cannot pay, the upload rate.
    early = generation_form_class(model)(form_input.data, owner=user)
    early.is_valid()
    dropped_values_refused(
        model=model, given=form_input.given, values=getattr(early, "cleaned_data", {})
    )
    if form_input.urls:
        _credits_precheck(user=user, team=team, form=early, form_input=form_input)
        _fetches_count_as_uploads(user=user, count=len(form_input.urls))
    fetcher = fetcher or GuardedFetcher()
    files = {name: _fetch(url, model.field(name), fetcher) for name, url in form_input.urls.items()}
    try:
        form = generation_form_class(model)(form_input.data, files, owner=user)
        valid = form.is_valid()
        form.references.update(references_store(owner=user, uploads=form.valid_uploads()))
        if not valid:
            raise _first_error(form)
        try:
            with transaction.atomic():
                generation = generation_create(
                    user=user,
                    model=model,
                    values=form.values(),
                    references=dict(form.references),
                    team=team,
                )
                if key:
                    ApiIdempotencyKey.objects.create(
                        user=user, key=key, body_sha256=digest, generation=generation
                    )
                if webhook is not None:
                    ApiWebhook.objects.create(
                        generation=generation, token=token, url=webhook[0], events=webhook[1]
                    )
        except IntegrityError:
            # The same key arrived twice at once: the other request created the generation.
            replayed = _replay(user, key, digest) if key else None
            if replayed is None:
                raise
            return replayed, False
        except InsufficientCredits as error:
            raise _insufficient(error.price, error.wallet_label, error.balance) from None
        except MonthlyCapExceeded as error:
            raise ApiError(
                402,
                str(error),
                param="team",
                code="monthly_cap_exceeded",
                type="insufficient_quota",
            ) from None
        except ChargeRefused as error:
            raise ApiError(400, str(error), param="team", code="team_not_found") from None
        except ModelUnavailable:
            raise _switched_off(model_key) from None
    finally:
        for upload in files.values():
            upload.close()
    return generation, True
