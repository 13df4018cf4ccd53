"""Writes: creating generations, moving them through their states, submitting them.

A generation's life: pending → submitting → queued → running → succeeded; failed or expired
from any state that is not final; cancelled only while pending. Every transition goes through
`generation_transition`, which checks it under a row lock, records it, and refunds the charge
(exactly once) when the generation ends without a video.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Field, OuterRef, ProtectedError, Q
from django.db.models.options import Options
from django.utils import timezone

from accounts.ledger import credits_charge, credits_refund, wallet_for_team, wallet_for_user
from accounts.models import LedgerEntry, Team, User
from studio.logs import generation_log_context

from .catalog import CatalogModel, catalog, catalog_get
from .forms import UploadCandidate
from .models import Batch, Favourite, Generation, GenerationEvent, ModelAvailability, Reference
from .pricing import price_quote
from .providers import (
    ErrorKind,
    ProviderError,
    ProviderTask,
    TaskStatus,
    catalog_field_for_param,
    provider_client,
)
from .providers.health import (
    account_problem_note,
    breaker_allows,
    breaker_record_failure,
    breaker_record_success,
)
from .selectors import catalog_model_available, generations_visible_to
from .sharing import generations_manageable_by
from .signed_links import signed_url
from .uploads import image_prepare, sha256_of
from .wire import provider_request_build

logger = logging.getLogger(__name__)
State = Generation.State

TRANSITIONS: dict[str, frozenset[str]] = {
    State.PENDING: frozenset({State.SUBMITTING, State.CANCELLED, State.FAILED, State.EXPIRED}),
    # Back to pending only when the request provably never left the studio.
    State.SUBMITTING: frozenset(
        {State.PENDING, State.QUEUED, State.RUNNING, State.FAILED, State.EXPIRED}
    ),
    State.QUEUED: frozenset({State.RUNNING, State.FAILED, State.EXPIRED}),
    State.RUNNING: frozenset({State.SUCCEEDED, State.FAILED, State.EXPIRED}),
}
REFUNDED_STATES = frozenset({State.FAILED, State.CANCELLED, State.EXPIRED})
# A pending generation is offered again this long after its last dispatch (see the tracker).
DISPATCH_RETRY_SECONDS = 5.0


MODEL_SWITCHED_OFF_MESSAGE = (
    "This model has been switched off by an admin; your credits were refunded. "
    "Choose another model."
)


class IllegalTransition(Exception):
    """A transition the state machine does not allow (final states are final)."""


class ModelUnavailable(Exception):
    """The model is switched off (or not in the catalog): no new generation may use it."""


# --- References ---------------------------------------------------------------------------


def reference_store(*, owner: User, upload: UploadCandidate) -> Reference:
    """Store a validated upload once per owner and content; identical files are reused.

    What is stored is what a provider will see: an image upright, without the metadata that
    locates or identifies people (`uploads.image_prepare`), named for its content.
    """
    digest = sha256_of(upload.file)
    existing = Reference.objects.filter(owner=owner, kind=upload.kind, sha256=digest).first()
    if existing is not None:
        return existing
    info = upload.info
    reference = Reference(
        owner=owner,
        kind=upload.kind,
        sha256=digest,
        content_type=info.content_type,
        size=info.size,
        original_name=upload.name[:255],
    )
    prepared = None
    if upload.kind == Reference.Kind.IMAGE:
        reference.width, reference.height = info.width, info.height  # type: ignore[union-attr]
        prepared = image_prepare(upload.file, info)  # type: ignore[arg-type]
    else:
        reference.duration = info.duration  # type: ignore[union-attr]
    content = File(prepared if prepared is not None else upload.file)
    reference.size = content.size
    reference.file.save(f"{digest}{info.extension}", content, save=False)
    if prepared is not None:
        prepared.close()
    upload.file.seek(0)
    try:
        with transaction.atomic():
            reference.save()
    except IntegrityError:
        reference.file.delete(save=False)
        again = Reference.objects.filter(owner=owner, kind=upload.kind, sha256=digest).first()
        if again is None:
            raise
        return again
    return reference


def references_store(*, owner: User, uploads: dict[str, UploadCandidate]) -> dict[str, Reference]:
    """Store every validated upload of a form, keyed by field name."""
    return {name: reference_store(owner=owner, upload=up) for name, up in uploads.items()}


def references_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Remove uploads that no generation ever used, once they are older than `older_than`.

    Returns how many were removed. A reference a generation points at is protected by its
    foreign key, so one picked for a generation while this runs is kept.
    """
    cutoff = timezone.now() - older_than
    used = Generation.objects.filter(
        Q(reference=OuterRef("pk")) | Q(audio_reference=OuterRef("pk"))
    )
    stale = Reference.objects.filter(created_at__lt=cutoff, last_used_at__isnull=True).exclude(
        Exists(used)
    )
    removed = 0
    for reference in stale.only("pk", "file").iterator():
        try:
            with transaction.atomic():
                deleted, _ = (
                    Reference.objects.filter(pk=reference.pk, last_used_at__isnull=True)
                    .exclude(Exists(used))
                    .delete()
                )
        except (ProtectedError, IntegrityError):
            continue
        if deleted:
            # After the row is gone for good: a file without a row is harmless, not the reverse.
            reference.file.delete(save=False)
            removed += 1
    if removed:
        logger.info("removed %d unused uploads", removed)
    return removed


def reference_link(reference: Reference) -> str:
    """The absolute, signed link (24 h) a provider fetches this reference from."""
    extension = reference.file.name.rsplit(".", 1)[-1] if "." in reference.file.name else "bin"
    return signed_url(
        kind="reference", object_id=str(reference.id), filename=f"{reference.kind}.{extension}"
    )


# --- Creation -----------------------------------------------------------------------------


def _draw_seed(model: CatalogModel, values: dict[str, Any]) -> dict[str, Any]:
    seed_field = model.field_for_role("seed")
    if seed_field is not None and values.get(seed_field.name) in (None, ""):
        low = int(seed_field.min or 0)
        high = int(seed_field.max if seed_field.max is not None else 2**31 - 1)
        values = {**values, seed_field.name: low + secrets.randbelow(high - low + 1)}
    return values


def _role_value(model: CatalogModel, values: dict[str, Any], role: str) -> Any:
    spec = model.field_for_role(role)
    return None if spec is None else values.get(spec.name)


def generation_request_body(*, generation: Generation, model: CatalogModel) -> dict[str, Any]:
    """The provider request for a generation, with freshly signed links to its references."""
    links: dict[str, str] = {}
    for spec in model.fields:
        if spec.is_file and generation.params.get(spec.name):
            reference = generation.reference if spec.type == "image" else generation.audio_reference
            if reference is not None:
                links[spec.name] = reference_link(reference)
    return provider_request_build(model=model, values=generation.params, file_links=links)


def generation_create(
    *,
    user: User,
    model: CatalogModel,
    values: dict[str, Any],
    references: dict[str, Reference],
    team: Team | None = None,
    retry_of: Generation | None = None,
    batch: Batch | None = None,
    batch_place: dict[str, Any] | None = None,
) -> Generation:
    """Charge the wallet and create a pending generation in one transaction; submit on commit.

    Raises accounts.ledger.ChargeRefused (and creates nothing) when the wallet cannot pay or a
    team member's monthly cap would be exceeded, and ModelUnavailable when an admin has
    switched the model off.
    """
    if not catalog_model_available(key=model.key):
        raise ModelUnavailable(f"{model.name} is switched off right now; choose another model.")
    values = _draw_seed(model, values)
    image_spec = model.field_for_role("reference_image")
    audio_spec = model.field_for_role("reference_audio")
    reference = references.get(image_spec.name) if image_spec else None
    audio = references.get(audio_spec.name) if audio_spec else None
    params = {**values, **{name: str(ref.id) for name, ref in references.items()}}
    quote = price_quote(model=model, values=params)
    duration = _role_value(model, values, "duration")
    now = timezone.now()
    generation = Generation(
        id=uuid.uuid4(),
        owner=user,
        team=team,
        model_key=model.key,
        provider=model.provider,
        params=params,
        prompt=_role_value(model, values, "prompt") or "",
        negative_prompt=_role_value(model, values, "negative_prompt") or "",
        resolution=quote.resolution,
        duration=int(duration) if duration is not None else None,
        with_audio=quote.with_audio,
        seed=_role_value(model, values, "seed"),
        reference=reference,
        audio_reference=audio,
        cost=quote.credits,
        deadline_at=now + timedelta(seconds=settings.STUDIO_GENERATION_DEADLINE),
        retry_of=retry_of,
        batch=batch,
        batch_place=batch_place,
    )
    generation.request_body = generation_request_body(generation=generation, model=model)
    with transaction.atomic():
        wallet = wallet_for_team(team=team) if team else wallet_for_user(user=user)
        generation.save(force_insert=True)
        credits_charge(
            wallet=wallet,
            amount=quote.credits,
            actor=user,
            generation=generation,
            reason=f"{model.name}, {quote.variant}",
        )
        GenerationEvent.objects.create(
            generation=generation,
            from_state="",
            to_state=State.PENDING,
            detail=f"Created; charged {quote.credits} credits.",
        )
        used = [ref.pk for ref in references.values()]
        if used:
            Reference.objects.filter(pk__in=used).update(last_used_at=now)
        transaction.on_commit(lambda: _enqueue_submit(generation.id))
    return generation


def _enqueue_submit(generation_id: uuid.UUID) -> None:
    from django_q.tasks import async_task

    async_task(
        "generations.tasks.generation_submit_task",
        str(generation_id),
        task_name=f"submit {generation_id}",
    )


# --- Transitions --------------------------------------------------------------------------


def generation_transition(
    *,
    generation_id: uuid.UUID | str,
    to: str,
    detail: str = "",
    provider_status: str = "",
    expect: Iterable[str] | None = None,
    **fields: Any,
) -> Generation:
    """Move a generation to `to` under a row lock, record it, and refund when it ends unpaid.

    `expect` restricts the states it may leave; a transition the state machine does not allow
    (final states are final) raises IllegalTransition and changes nothing. `provider_status`
    is the provider's own word for the task, kept on the row and on the recorded event.
    """
    with transaction.atomic():
        generation = Generation.objects.select_for_update(no_key=True).get(pk=generation_id)
        _transition_locked(
            generation,
            to=to,
            detail=detail,
            provider_status=provider_status,
            expect=expect,
            **fields,
        )
    return generation


def _transition_locked(
    generation: Generation,
    *,
    to: str,
    detail: str = "",
    provider_status: str = "",
    expect: Iterable[str] | None = None,
    **fields: Any,
) -> None:
    """`generation_transition` for a row this transaction has locked already."""
    current = generation.state
    if expect is not None and current not in set(expect):
        raise IllegalTransition(f"{generation.id} is {current}, not one of {list(expect)}")
    if to not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"{generation.id}: {current} → {to} is not allowed")
    now = timezone.now()
    generation.state = to
    changed = {"state", "updated_at", *fields}
    for name, value in fields.items():
        setattr(generation, name, value)
    if provider_status:
        generation.provider_status = provider_status[:64]
        changed.add("provider_status")
    if to in Generation.FINAL_STATES:
        generation.finished_at = now
        generation.next_poll_at = None
        changed |= {"finished_at", "next_poll_at"}
        if to == State.SUCCEEDED:
            generation.progress = 100
            changed.add("progress")
    # Only what this transition changes: a column another writer owns stays as it is.
    generation.save(update_fields=sorted(changed))
    GenerationEvent.objects.create(
        generation=generation,
        from_state=current,
        to_state=to,
        detail=detail[:2000],
        provider_status=provider_status[:64],
    )
    if to in REFUNDED_STATES:
        credits_refund(generation=generation, reason=f"Refund: {detail}"[:300])
    if to in Generation.FINAL_STATES:
        from .api_webhooks import webhook_queue

        webhook_queue(generation)
    logger.info(
        "generation %s: %s -> %s %s",
        generation.id,
        current,
        to,
        detail[:200],
        extra={"generation_id": str(generation.id)},
    )


def generation_fail(
    *,
    generation_id: uuid.UUID | str,
    kind: str,
    message: str,
    code: str = "",
    param: str = "",
    provider_status: str = "",
    admin_detail: str = "",
) -> Generation:
    """End a generation as failed (refunded), saying why."""
    return generation_transition(
        generation_id=generation_id,
        to=State.FAILED,
        detail=message,
        provider_status=provider_status,
        error_kind=kind,
        error_message=message[:4000],
        error_code=code[:64],
        error_param=param[:64],
        admin_detail=admin_detail,
    )


def generation_cancel(*, generation: Generation, by: User) -> Generation:
    """Cancel a generation that has not been sent yet (neither provider documents a cancel)."""
    return generation_transition(
        generation_id=generation.id,
        to=State.CANCELLED,
        expect=[State.PENDING],
        detail=f"Cancelled by {by.get_username()} before it was sent.",
        error_kind=Generation.ErrorKind.CANCELLED,
        error_message="Cancelled before it was sent.",
    )


def generation_try_again(*, generation: Generation, by: User | None = None) -> Generation:
    """A new generation with the same model, parameters (seed included) and references,
    linked to `generation` and charged normally to the same wallet."""
    model = catalog_get(generation.model_key)
    file_fields = {spec.name: spec for spec in model.fields if spec.is_file}
    values = {k: v for k, v in generation.params.items() if k not in file_fields}
    references: dict[str, Reference] = {}
    for name, spec in file_fields.items():
        reference = generation.reference if spec.type == "image" else generation.audio_reference
        if generation.params.get(name) and reference is not None:
            references[name] = reference
    return generation_create(
        user=generation.owner,
        model=model,
        values=values,
        references=references,
        team=generation.team,
        retry_of=generation,
    )


class RefundRefused(Exception):
    """A refund by hand that may not happen; the message says why."""


def generation_refund_by_admin(
    *, generation: Generation, admin: User, reason: str
) -> LedgerEntry | None:
    """Refund a generation that ended without a video, by hand; still at most once per
    generation (None if it was before). Anything else is a credit grant with a reason."""
    if not reason.strip():
        raise ValueError("A reason is required.")
    if (
        not generation.is_final
        or generation.state == Generation.State.SUCCEEDED
        or bool(generation.video)
    ):
        raise RefundRefused(
            "only a generation that ended without a video is refunded by hand; "
            "for anything else, grant credits with a reason."
        )
    return credits_refund(generation=generation, reason=f"Refunded by hand: {reason}", actor=admin)


# --- Submitting ---------------------------------------------------------------------------


def _next_pending_for_owner(owner_id: int, *, skip_providers: set[str]) -> Generation | None:
    """Under the owner's lock: the oldest pending generation, if a slot at the provider is free."""
    User.objects.select_for_update(no_key=True).filter(pk=owner_id).first()
    limit = settings.STUDIO_MAX_IN_FLIGHT_PER_USER
    if limit:
        in_flight = Generation.objects.filter(
            owner_id=owner_id, state__in=Generation.AT_PROVIDER_STATES
        ).count()
        if in_flight >= limit:
            return None
    return (
        Generation.objects.select_for_update(no_key=True)
        .filter(owner_id=owner_id, state=State.PENDING)
        .exclude(provider__in=skip_providers)
        # One the provider asked to wait (a long Retry-After) is not sent before that time,
        # however often the owner's other generations ask for a submit.
        .exclude(dispatch_requested_at__gt=timezone.now())
        .order_by("created_at", "id")
        .first()
    )


def _submit_decision(candidate: Generation) -> tuple[str, CatalogModel | None]:
    """What to do with a pending generation now: send, hold, expire, or fail it (and why)."""
    if candidate.deadline_at <= timezone.now():
        return "expire", None
    try:
        model = catalog_get(candidate.model_key)
    except KeyError:
        return "missing", None
    if not catalog_model_available(key=model.key):
        return "switched-off", model
    # A paused provider (its circuit breaker is open): the generation waits, deadline running.
    if not breaker_allows(provider=model.provider):
        return "hold", model
    return "send", model


def generation_submit(*, generation_id: uuid.UUID | str) -> Generation | None:
    """Send pending generations of this generation's owner, oldest first, while slots are free.

    Idempotent: only a pending generation is ever sent, and it leaves `pending` in a committed
    transaction before the request goes out, so a second run finds nothing to send. A
    generation whose provider is paused by its circuit breaker (or did not take the request)
    stays pending and the tracker offers it again; one whose model an admin switched off is
    failed and refunded.
    """
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None:
        return None
    owner_id = generation.owner_id
    sent: Generation | None = None
    held: set[str] = set()  # providers that cannot take work right now
    while True:
        with transaction.atomic():
            candidate = _next_pending_for_owner(owner_id, skip_providers=held)
            if candidate is None:
                break
            action, model = _submit_decision(candidate)
            if action == "send":
                assert model is not None
                body = generation_request_body(generation=candidate, model=model)
                candidate = generation_transition(
                    generation_id=candidate.id,
                    to=State.SUBMITTING,
                    expect=[State.PENDING],
                    detail="Sending to the provider.",
                    request_body=body,
                    dispatch_requested_at=None,
                )
            elif action == "hold":
                Generation.objects.filter(pk=candidate.id).update(
                    dispatch_requested_at=timezone.now()
                )
        if action == "expire":
            generation_expire(generation_id=candidate.id)
        elif action == "missing":
            generation_fail(
                generation_id=candidate.id,
                kind=Generation.ErrorKind.ADMIN,
                message=f"The model {candidate.model_key} is no longer in the catalog.",
            )
        elif action == "switched-off":
            generation_fail(
                generation_id=candidate.id,
                kind=Generation.ErrorKind.ADMIN,
                message=MODEL_SWITCHED_OFF_MESSAGE,
            )
        elif action == "hold":
            held.add(candidate.provider)
            _tracker_ensure_later()
        else:
            assert model is not None
            with generation_log_context(candidate.id):  # it may not be the one the task named
                sent = _submit_one(candidate, model)
            if sent is None or sent.state == State.PENDING:
                held.add(candidate.provider)  # not reachable: its other generations wait too
    return sent


def _tracker_ensure_later() -> None:
    """Make sure a tracker runs to offer waiting generations again (after any commit)."""
    from .tracker import tracker_ensure

    transaction.on_commit(tracker_ensure)


def _submit_one(generation: Generation, model: CatalogModel) -> Generation:
    client = provider_client(model.provider)
    try:
        task = client.submit(body=generation.request_body, idempotency_key=str(generation.id))
    except ProviderError as error:
        breaker_record_failure(provider=model.provider, error=error)
        return _submit_failed(generation, error, model)
    except Exception:
        logger.exception("submit of %s crashed", generation.id)
        return generation_fail(
            generation_id=generation.id,
            kind=Generation.ErrorKind.LOST,
            message="The studio could not finish sending this job to the provider.",
        )
    breaker_record_success(provider=model.provider)
    to = State.RUNNING if task.status is TaskStatus.RUNNING else State.QUEUED
    now = timezone.now()
    try:
        # The task id is stored in the same transaction that leaves `submitting`.
        generation = generation_transition(
            generation_id=generation.id,
            to=to,
            expect=[State.SUBMITTING],
            detail=f"Accepted by the provider as task {task.task_id}.",
            provider_status=task.raw_status,
            provider_task_id=task.task_id,
            submitted_at=now,
            next_poll_at=now + timedelta(seconds=0.5),
        )
    except IllegalTransition:
        # The answer came after the lost-submit sweep gave up on it (failed and refunded):
        # the provider's job runs unfollowed, and the person was told.
        logger.error(
            "provider task %s for %s arrived after it was marked lost", task.task_id, generation.id
        )
        return Generation.objects.get(pk=generation.id)
    from .tracker import tracker_ensure

    transaction.on_commit(tracker_ensure)
    return generation


def _submit_failed(generation: Generation, error: ProviderError, model: CatalogModel) -> Generation:
    if error.kind is ErrorKind.UNAVAILABLE and not error.delivered:
        # Never reached the provider (connection refused, 429, 5xx): safe to send again later.
        logger.warning("submit of %s not delivered: %s", generation.id, error.message)
        # The tracker offers it again a few seconds after its last dispatch; dating that
        # dispatch later makes it wait for the provider's Retry-After instead.
        wait = timedelta(seconds=max(0.0, (error.retry_after or 0.0) - DISPATCH_RETRY_SECONDS))
        pending = generation_transition(
            generation_id=generation.id,
            to=State.PENDING,
            expect=[State.SUBMITTING],
            detail=f"Not delivered ({error.message}); it will be sent again.",
            dispatch_requested_at=timezone.now() + wait,
        )
        _tracker_ensure_later()
        return pending
    admin_detail = ""
    if error.kind is ErrorKind.ACCOUNT:
        # The admin needs the details; the person gets a neutral message (error.person_message).
        admin_detail = error.admin_message
        logger.error("provider account problem (%s): %s", generation.provider, admin_detail)
        account_problem_note(provider=generation.provider, message=admin_detail)
    kind = {
        ErrorKind.REFUSED: Generation.ErrorKind.REFUSED,
        ErrorKind.ACCOUNT: Generation.ErrorKind.ACCOUNT,
        ErrorKind.LOST: Generation.ErrorKind.LOST,
        ErrorKind.MALFORMED: Generation.ErrorKind.LOST,
        ErrorKind.UNAVAILABLE: Generation.ErrorKind.UNAVAILABLE,
    }[error.kind]
    message = error.person_message
    param = ""
    if error.kind is ErrorKind.REFUSED:
        message = f"The provider refused this request: {error.message}"
        # The form field the refusal names, so "fix and try again" can show it there.
        param = catalog_field_for_param(model, error.param) or error.param
    return generation_fail(
        generation_id=generation.id,
        kind=kind,
        message=message,
        code=error.code,
        param=param,
        admin_detail=admin_detail,
    )


def generation_expire(*, generation_id: uuid.UUID | str) -> Generation | None:
    """End a generation that ran past its deadline (refunded)."""
    try:
        return generation_transition(
            generation_id=generation_id,
            to=State.EXPIRED,
            detail="It did not finish before its deadline.",
            error_kind=Generation.ErrorKind.EXPIRED,
            error_message="It took too long and was stopped; your credits were refunded.",
        )
    except IllegalTransition:
        return None


def generation_mark_lost(*, generation_id: uuid.UUID | str) -> Generation | None:
    """A submit that never finished (its worker died): fail and refund, never send it again."""
    try:
        return generation_transition(
            generation_id=generation_id,
            to=State.FAILED,
            expect=[State.SUBMITTING],
            detail="Lost between the studio and the provider.",
            error_kind=Generation.ErrorKind.LOST,
            error_message=(
                "Lost between the studio and the provider: the studio cannot tell whether the "
                "provider received it, so it was not sent again. Your credits were refunded."
            ),
        )
    except IllegalTransition:
        return None


# --- Following a task ---------------------------------------------------------------------


MIN_POLL_INTERVAL = 0.5


def poll_interval(*, age_seconds: float, progress: int | None = None) -> float:
    """Seconds until the next read: short at first, backing off as the job ages, capped at
    STUDIO_POLL_MAX_INTERVAL.

    With the provider's progress, no later than when the job should be done at the pace it
    has kept so far (`age × (100 − p) / p`): a job at 95 % is read again soon, so a finished
    video shows up sooner without reading every job more often.
    """
    interval = min(settings.STUDIO_POLL_MAX_INTERVAL, max(MIN_POLL_INTERVAL, age_seconds * 0.1))
    if progress and 0 < progress < 100 and age_seconds > 0:
        expected_left = age_seconds * (100 - progress) / progress
        interval = min(interval, max(MIN_POLL_INTERVAL, expected_left))
    return interval


@dataclass(frozen=True)
class Reading:
    """One read of a generation's task, with what the tracker knew of the row before it."""

    generation_id: uuid.UUID
    state: str
    task: ProviderTask
    since: datetime  # when it was submitted: the back-off follows the job's age
    progress: int | None = None
    poll_count: int = 0
    provider_cost: Decimal | None = None
    has_rewritten_prompt: bool = False

    @property
    def is_quiet(self) -> bool:
        """Whether it changes nothing but the progress: no transition, no result, no failure,
        nothing new to keep (the common case, written in bulk)."""
        if self.task.rewritten_prompt and not self.has_rewritten_prompt:
            return False
        if self.task.status in (TaskStatus.QUEUED, TaskStatus.UNKNOWN):
            return True
        return self.task.status is TaskStatus.RUNNING and self.state == State.RUNNING


QUIET_FIELDS = ("provider_status", "progress", "provider_cost", "poll_count", "next_poll_at")


def _stored_field(meta: Options, name: str) -> tuple[Field, str]:
    """A concrete field of the model and its column."""
    field = meta.get_field(name)
    assert isinstance(field, Field) and field.column, name
    return field, field.column


def generations_record_quiet_readings(*, readings: list[Reading]) -> int:
    """Record reads that change nothing but progress (`Reading.is_quiet`) in one transaction:
    status word, progress (never backwards), cost, and each one's next read time.

    Only rows still followed are written (a generation that ended meanwhile keeps its end).
    One prepared UPDATE run for every row (`executemany`): a thousand reads cost one
    transaction, not a thousand, and no per-row ORM expressions. Anything else a read says goes
    through `generation_apply_provider_task`.
    """
    if not readings:
        return 0
    now = timezone.now()
    meta = Generation._meta
    fields = [_stored_field(meta, name) for name in QUIET_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for _, column in fields)
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {assignments}, {quote('poll_errors')} = 0 "
        f"WHERE {quote(meta.pk.column)} = %s AND {quote('state')} IN (%s, %s) "
        f"AND {quote('result_url')} = ''"
    )
    rows = []
    for reading in readings:
        task = reading.task
        age = (now - reading.since).total_seconds()
        progress = (
            reading.progress if task.progress is None else max(task.progress, reading.progress or 0)
        )
        interval = poll_interval(age_seconds=age, progress=task.progress)
        values = {
            "provider_status": task.raw_status[:64],
            "progress": progress,
            "provider_cost": (
                task.provider_cost if task.provider_cost is not None else reading.provider_cost
            ),
            "poll_count": reading.poll_count + 1,
            "next_poll_at": now + timedelta(seconds=interval),
        }
        params = [field.get_db_prep_save(values[field.name], connection) for field, _ in fields]
        params.append(meta.pk.get_db_prep_value(reading.generation_id, connection))
        rows.append([*params, State.QUEUED.value, State.RUNNING.value])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)


def generation_apply_provider_task(
    *, generation_id: uuid.UUID | str, task: ProviderTask, source: str = "poll"
) -> Generation | None:
    """Record what the provider said about a generation's task, as a poll or a webhook.

    Under the row lock: status and progress; `queued` → `running` when the provider started
    (recorded with its own status word); on success the result URL, handed to the storing
    task (the generation is `succeeded` only once its video is stored); on failure `failed`,
    refunded, with the provider's message.
    """
    from .tracker import enqueue_store

    with transaction.atomic():
        try:
            # get(), not first(): no ORDER BY to build and run for one row, a thousand times.
            generation = Generation.objects.select_for_update(no_key=True).get(pk=generation_id)
        except Generation.DoesNotExist:
            return None
        if generation.state not in (State.QUEUED, State.RUNNING):
            return generation
        if generation.result_url:
            return generation  # the result is being stored already
        now = timezone.now()
        age = (now - (generation.submitted_at or generation.created_at)).total_seconds()
        interval = poll_interval(age_seconds=age, progress=task.progress)
        updates: dict[str, Any] = {
            "poll_count": generation.poll_count + 1,
            "poll_errors": 0,
            "next_poll_at": now + timedelta(seconds=interval),
        }
        if task.progress is not None:
            updates["progress"] = max(task.progress, generation.progress or 0)
        if task.rewritten_prompt:
            updates["rewritten_prompt"] = task.rewritten_prompt
        if task.provider_cost is not None:
            updates["provider_cost"] = task.provider_cost
        status = task.status
        message = task.error_message
        if status is TaskStatus.SUCCEEDED and not task.video_url:
            status = TaskStatus.FAILED
            message = "The provider reported success but gave no video."
        if status is TaskStatus.FAILED:
            message = message or "The provider reported that the job failed."
            _transition_locked(
                generation,
                to=State.FAILED,
                detail=message,
                provider_status=task.raw_status,
                error_kind=Generation.ErrorKind.PROVIDER,
                error_message=message[:4000],
                error_code=task.error_code[:64],
                error_param="",
                **updates,
            )
            return generation
        if status is TaskStatus.SUCCEEDED:
            # Not `succeeded` yet: only once the video is in the studio's storage.
            updates |= {"result_url": task.video_url, "provider_done_at": now, "progress": 100}
            # The storing task is enqueued right after this commits (see the tracker).
            updates |= {"next_poll_at": None, "dispatch_requested_at": now}
        if (
            status in (TaskStatus.RUNNING, TaskStatus.SUCCEEDED)
            and generation.state == State.QUEUED
        ):
            told = " (told by its callback)." if source == "webhook" else "."
            _transition_locked(
                generation,
                to=State.RUNNING,
                detail=f"The provider started working on it{told}",
                provider_status=task.raw_status,
                **updates,
            )
        else:
            updates["provider_status"] = task.raw_status[:64]
            for name, value in updates.items():
                setattr(generation, name, value)
            generation.save(update_fields=[*updates, "updated_at"])
    if status is TaskStatus.SUCCEEDED:
        enqueue_store(generation.id, mark=False)
    return generation


# --- Model availability (the admin's switch per catalog model) ----------------------------


def model_availability_sync() -> int:
    """Give every catalog model a switch (on) if it has none yet; returns how many were made."""
    existing = set(ModelAvailability.objects.values_list("key", flat=True))
    missing = [ModelAvailability(key=key) for key in catalog() if key not in existing]
    ModelAvailability.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def model_availability_set(*, keys: Iterable[str], enabled: bool) -> int:
    """Switch the catalog models `keys` on or off; returns how many switches changed."""
    model_availability_sync()
    changed = ModelAvailability.objects.filter(key__in=list(keys)).exclude(enabled=enabled)
    count = 0
    for row in changed:
        row.enabled = enabled
        row.save(update_fields=["enabled", "changed_at"])
        logger.info("model %s switched %s", row.key, "on" if enabled else "off")
        count += 1
    return count


# --- The gallery: favourites, deletion and its undo, sharing, trying again ----------------

RETRYABLE_STATES = frozenset({State.FAILED, State.EXPIRED, State.CANCELLED})


def _ids(ids: Iterable[Any]) -> list[uuid.UUID]:
    """The valid UUIDs among `ids` (anything else is ignored, like an id one may not see)."""
    keys = []
    for value in ids:
        try:
            keys.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return keys


def favourites_set(*, viewer: User, ids: Iterable[Any], on: bool) -> int:
    """Mark (or unmark) as the viewer's favourites those of `ids` the viewer may see.

    Returns how many generations it applied to. Idempotent; the unique constraint keeps one
    mark per person and generation.
    """
    keys = _ids(ids)
    visible = list(
        generations_visible_to(viewer=viewer).filter(pk__in=keys).values_list("pk", flat=True)
    )
    if on:
        Favourite.objects.bulk_create(
            [Favourite(user=viewer, generation_id=key) for key in visible], ignore_conflicts=True
        )
    else:
        Favourite.objects.filter(user=viewer, generation_id__in=visible).delete()
    return len(visible)


def favourite_set(*, viewer: User, generation: Generation, on: bool) -> None:
    """Mark or unmark one generation (already checked visible) as the viewer's favourite."""
    favourites_set(viewer=viewer, ids=[generation.id], on=on)


@dataclass(frozen=True)
class BulkResult:
    done: list[uuid.UUID]
    skipped: int


def generations_delete(*, viewer: User, ids: Iterable[Any]) -> BulkResult:
    """Soft-delete the finished generations among `ids` that the viewer may manage (their own,
    and their teams' when they are an owner or admin of the team: `sharing.generation_can_manage`).

    They vanish from every page and media URL at once; their files stay until
    `generations_purge_deleted` runs after STUDIO_DELETE_UNDO_SECONDS, and until then
    `generations_restore` brings them back. Unfinished ones are skipped (cancel or wait).
    """
    keys = _ids(ids)
    now = timezone.now()
    with transaction.atomic():
        done = list(
            Generation.objects.filter(
                generations_manageable_by(viewer=viewer),
                pk__in=keys,
                deleted_at__isnull=True,
                state__in=Generation.FINAL_STATES,
            )
            .values_list("pk", flat=True)
            .distinct()
        )
        Generation.objects.filter(pk__in=done).update(deleted_at=now, updated_at=now)
    return BulkResult(done=done, skipped=len(set(keys)) - len(done))


def generations_restore(*, viewer: User, ids: Iterable[Any]) -> BulkResult:
    """Undo a deletion, by someone who may manage those generations, while their files are kept."""
    keys = _ids(ids)
    now = timezone.now()
    since = now - timedelta(seconds=settings.STUDIO_DELETE_UNDO_SECONDS)
    with transaction.atomic():
        done = list(
            Generation.objects.filter(
                generations_manageable_by(viewer=viewer), pk__in=keys, deleted_at__gt=since
            )
            .values_list("pk", flat=True)
            .distinct()
        )
        Generation.objects.filter(pk__in=done).update(deleted_at=None, updated_at=now)
    return BulkResult(done=done, skipped=len(set(keys)) - len(done))


def generation_retry(*, generation: Generation, by: User) -> Generation:
    """The person-facing "try again": only the maker, only for a generation that ended without a
    video. The new generation (`generation_try_again`) is linked by `retry_of` and charged like
    any other (ChargeRefused otherwise); IllegalTransition when this one may not be retried.
    """
    if generation.owner_id != by.pk:
        raise IllegalTransition("Only the person who made it can try it again.")
    if generation.state not in RETRYABLE_STATES:
        raise IllegalTransition(f"{generation.id} is {generation.state}; nothing to try again.")
    return generation_try_again(generation=generation, by=by)


def generations_purge_deleted(*, limit: int = 500) -> int:
    """Remove from storage the files of generations deleted longer ago than the undo window.

    The row stays (the ledger points at it); its file fields are emptied first, in the database,
    so a restore racing with this cannot bring back a generation without its files. A file that
    another generation still uses (seeded demo data shares files) is kept.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.STUDIO_DELETE_UNDO_SECONDS)
    candidates = list(
        Generation.objects.filter(deleted_at__lte=cutoff)
        .exclude(video="", poster="")
        .values_list("pk", "video", "poster")[:limit]
    )
    purged = 0
    for pk, video, poster in candidates:
        if not Generation.objects.filter(pk=pk, deleted_at__lte=cutoff).update(video="", poster=""):
            continue  # restored meanwhile
        purged += 1
        for name in (video, poster):
            if name and not Generation.objects.filter(Q(video=name) | Q(poster=name)).exists():
                try:
                    default_storage.delete(name)
                except OSError:
                    logger.warning("could not remove %s of deleted generation %s", name, pk)
    if purged:
        logger.info("removed the files of %s deleted generations", purged)
    return purged
