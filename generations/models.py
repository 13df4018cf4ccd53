"""Generations, their recorded transitions, the reference files they use, and the tracker lease."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


def _reference_path(instance: Reference, filename: str) -> str:
    return (
        f"references/{instance.owner_id}/{instance.sha256[:2]}/{instance.sha256}{_suffix(filename)}"
    )


def _result_path(instance: Generation, filename: str) -> str:
    return f"results/{instance.created_at:%Y/%m}/{instance.id}{_suffix(filename)}"


def _suffix(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot != -1 else ""


class Reference(models.Model):
    """An uploaded reference image or audio track, stored once per owner and content hash."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        AUDIO = "audio", "Audio"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="references"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=_reference_path, max_length=300)
    content_type = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds, for audio.")
    original_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "kind", "sha256"], name="reference_once_per_owner_and_content"
            ),
        ]
        indexes = [models.Index(fields=["owner", "kind", "-created_at"], name="reference_recent")]

    def __str__(self) -> str:
        return self.original_name or f"{self.kind} {self.sha256[:12]}"


class Generation(models.Model):
    """One request to make a video: what was asked, where it is, and what came back."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SUBMITTING = "submitting", "Submitting"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    FINAL_STATES = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED, State.EXPIRED})
    AT_PROVIDER_STATES = frozenset({State.SUBMITTING, State.QUEUED, State.RUNNING})

    class ErrorKind(models.TextChoices):
        REFUSED = "refused", "Refused by the provider"
        ACCOUNT = "account", "Provider account problem"
        PROVIDER = "provider", "Failed at the provider"
        UNAVAILABLE = "unavailable", "Provider unavailable"
        LOST = "lost", "Lost between the studio and the provider"
        DOWNLOAD = "download", "Result could not be stored"
        EXPIRED = "expired", "Took too long"
        CANCELLED = "cancelled", "Cancelled"
        ADMIN = "admin", "Ended by an admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
    )
    model_key = models.CharField(max_length=64, db_index=True)
    provider = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)

    # What was asked: clean values by schema field name (files as reference ids) and the
    # exact provider request built from them.
    params = models.JSONField(default=dict)
    request_body = models.JSONField(default=dict)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    resolution = models.CharField(max_length=16, blank=True, help_text="Lower case, e.g. 720p.")
    duration = models.PositiveSmallIntegerField(null=True, blank=True)
    with_audio = models.BooleanField(default=False)
    seed = models.BigIntegerField(null=True, blank=True)
    reference = models.ForeignKey(
        Reference, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    audio_reference = models.ForeignKey(
        Reference, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cost = models.PositiveIntegerField(default=0, help_text="Credits charged.")
    provider_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)

    # Where it is at the provider.
    provider_task_id = models.CharField(max_length=128, blank=True, db_index=True)
    provider_status = models.CharField(max_length=64, blank=True)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    rewritten_prompt = models.TextField(blank=True)
    error_kind = models.CharField(max_length=16, choices=ErrorKind.choices, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_param = models.CharField(max_length=64, blank=True)
    admin_detail = models.TextField(
        blank=True, help_text="For admins only: what the provider said about the studio's account."
    )

    # The result: the provider's URL (short-lived) and the studio's own copy.
    result_url = models.TextField(blank=True)
    result_attempts = models.PositiveSmallIntegerField(default=0)
    result_claimed_until = models.DateTimeField(null=True, blank=True)
    video = models.FileField(upload_to=_result_path, blank=True, max_length=300)
    poster = models.FileField(upload_to=_result_path, blank=True, max_length=300)
    video_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    video_duration = models.FloatField(null=True, blank=True)
    video_width = models.PositiveIntegerField(null=True, blank=True)
    video_height = models.PositiveIntegerField(null=True, blank=True)
    video_fps = models.FloatField(null=True, blank=True)
    video_has_audio = models.BooleanField(null=True, blank=True)

    # Timing and tracking.
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    provider_done_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    poll_errors = models.PositiveSmallIntegerField(default=0)
    dispatch_requested_at = models.DateTimeField(null=True, blank=True)

    share_token = models.CharField(
        max_length=43,
        null=True,
        blank=True,
        unique=True,
        help_text="Set while its owner shares it publicly at /s/<token>/.",
    )
    shared_at = models.DateTimeField(null=True, blank=True)

    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    batch = models.ForeignKey(
        "Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    # Where this member sits on its batch's axes: {"prompt": 1, "variation": 0, "<field>": value}.
    batch_place = models.JSONField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="generation_owner_recent"),
            models.Index(fields=["state", "next_poll_at"], name="generation_due"),
            models.Index(fields=["owner", "state", "created_at"], name="generation_owner_state"),
            # The galleries page through live generations newest first (keyset). Partial, so
            # skipping deleted rows never reads the table: a search scans many index entries.
            models.Index(
                fields=["owner", "-created_at", "-id"],
                condition=Q(deleted_at__isnull=True),
                name="generation_gallery",
            ),
            models.Index(
                fields=["team", "-created_at", "-id"],
                condition=Q(deleted_at__isnull=True),
                name="generation_team_gallery",
            ),
            # A person's notices: what is unfinished, and what ended in the last half hour.
            models.Index(
                fields=["owner", "state", "finished_at"],
                condition=Q(deleted_at__isnull=True),
                name="generation_owner_ended",
            ),
            # The purge of soft-deleted generations looks only at the few deleted rows.
            models.Index(
                fields=["deleted_at"],
                condition=Q(deleted_at__isnull=False),
                name="generation_deleted",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__isnull=True) | Q(progress__lte=100),
                name="generation_progress_is_percent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_key} {self.id} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES

    # Why a generation ended without a video, in a few words for its gallery card (the
    # generation page shows the whole message).
    FAILURE_SUMMARIES: dict[str, str] = {
        ErrorKind.REFUSED: "The provider refused the request",
        ErrorKind.ACCOUNT: "The studio's provider account had a problem",
        ErrorKind.PROVIDER: "The provider could not make it",
        ErrorKind.UNAVAILABLE: "The provider was unavailable",
        ErrorKind.LOST: "Lost on its way to the provider",
        ErrorKind.DOWNLOAD: "The video could not be stored",
        ErrorKind.EXPIRED: "Took too long",
        ErrorKind.CANCELLED: "Cancelled",
        ErrorKind.ADMIN: "Ended by an admin",
    }

    @property
    def failure_summary(self) -> str:
        """A few words on why it ended without a video ("" for one that succeeded or runs)."""
        if not self.is_final or self.state == self.State.SUCCEEDED:
            return ""
        if self.state == self.State.CANCELLED:
            return ""  # the state says it all, and it was the person's own doing
        if self.state == self.State.EXPIRED and not self.error_kind:
            return "Took too long"
        summary = self.FAILURE_SUMMARIES.get(self.error_kind, "Ended without a video")
        if self.error_kind == self.ErrorKind.REFUSED and self.error_param:
            summary += f" ({self.error_param.replace('_', ' ')})"
        return summary

    @property
    def is_storing(self) -> bool:
        """The provider has finished and the studio is copying the video."""
        return self.state == self.State.RUNNING and bool(self.result_url)


class Batch(models.Model):
    """Several generations made by one submit: variations, several prompts, a sweep over one or
    two fields, combined as a product; charged together, all or nothing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches"
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    model_key = models.CharField(max_length=64)
    # The axes in order, each {"name": ..., "label": ..., "values": [...]}.
    axes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch {self.id} of {self.model_key}"


class GenerationEvent(models.Model):
    """One recorded transition of a generation, for its timeline."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    detail = models.TextField(blank=True)
    provider_status = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"


class Favourite(models.Model):
    """One person's mark on a generation they can see: favourites are per viewer."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "generation"], name="favourite_once_per_person"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ★ {self.generation_id}"


class TrackerLease(models.Model):
    """Keeps two trackers from overlapping; a dead tracker's lease simply runs out."""

    name = models.CharField(max_length=32, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"


class ApiIdempotencyKey(models.Model):
    """An API caller's Idempotency-Key: the same key and body within 24 h return the same task."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    body_sha256 = models.CharField(max_length=64)
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.generation_id}"


class ModelAvailability(models.Model):
    """An admin's switch for one catalog model: a model switched off is not offered, and new
    generations for it are refused. A catalog model without a row is on."""

    key = models.CharField(max_length=64, unique=True, help_text="The catalog model's key.")
    enabled = models.BooleanField(
        default=True, help_text="Off: not offered on the create page or the API; refused."
    )
    note = models.CharField(
        max_length=200, blank=True, help_text="Why it is off; seen by admins only."
    )
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = "model availability"
        verbose_name_plural = "model availability"

    def __str__(self) -> str:
        return f"{self.key} ({'on' if self.enabled else 'off'})"


class ApiWebhook(models.Model):
    """Where to tell an API client that its generation ended: asked for in the request
    (`webhook`, `webhook_events`), signed with the secret of the token that made it."""

    EVENTS = (
        "generation.succeeded",
        "generation.failed",
        "generation.cancelled",
        "generation.expired",
    )

    generation = models.OneToOneField(
        Generation, on_delete=models.CASCADE, related_name="api_webhook"
    )
    token = models.ForeignKey(
        "accounts.ApiToken", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"webhook of {self.generation_id} to {self.url}"


class WebhookDelivery(models.Model):
    """One event for one webhook: sent, and retried with growing gaps for up to a day."""

    class State(models.TextChoices):
        PENDING = "pending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    id = models.CharField(primary_key=True, max_length=40)  # the `webhook-id` header
    webhook = models.ForeignKey(ApiWebhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_answer = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="webhook_delivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.id} ({self.state})"
