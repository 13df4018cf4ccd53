"""The Django admin for generations: generations themselves (try again, refund by hand) and the
switch per catalog model, with each provider's health."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

from accounts.ledger import ChargeRefused

from .catalog import catalog
from .models import Generation, GenerationEvent, ModelAvailability
from .providers.health import account_problem_last, breaker_state
from .services import (
    ModelUnavailable,
    RefundRefused,
    generation_refund_by_admin,
    generation_try_again,
    model_availability_set,
    model_availability_sync,
)


class GenerationEventInline(admin.TabularInline):
    model = GenerationEvent
    extra = 0
    can_delete = False
    fields = ("at", "from_state", "to_state", "detail", "provider_status")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RefundForm(forms.Form):
    reason = forms.CharField(max_length=250, help_text="Kept in the ledger with your name.")


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "short_id",
        "owner",
        "team",
        "model_key",
        "state",
        "cost",
        "provider_cost",
        "error_kind",
    )
    list_filter = (
        "state",
        "model_key",
        "provider",
        ("team", admin.RelatedOnlyFieldListFilter),
        "error_kind",
        "created_at",
    )
    date_hierarchy = "created_at"
    search_fields = ("=id", "owner__username", "prompt", "provider_task_id")
    list_select_related = ("owner", "team")
    show_full_result_count = False
    inlines = [GenerationEventInline]
    actions = ["try_again", "refund_by_hand"]
    readonly_fields = [f.name for f in Generation._meta.fields]
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "id",
                    "owner",
                    "team",
                    "model_key",
                    "provider",
                    "state",
                    "progress",
                    "cost",
                    "provider_cost",
                )
            },
        ),
        (
            "Request",
            {
                "fields": (
                    "prompt",
                    "negative_prompt",
                    "resolution",
                    "duration",
                    "with_audio",
                    "seed",
                    "params",
                    "request_body",
                    "reference",
                    "audio_reference",
                )
            },
        ),
        (
            "Provider",
            {
                "fields": (
                    "provider_task_id",
                    "provider_status",
                    "rewritten_prompt",
                    "result_url",
                    "error_kind",
                    "error_code",
                    "error_param",
                    "error_message",
                    "admin_detail",
                )
            },
        ),
        (
            "Result",
            {
                "fields": (
                    "video",
                    "poster",
                    "video_bytes",
                    "video_duration",
                    "video_width",
                    "video_height",
                    "video_fps",
                    "video_has_audio",
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "submitted_at",
                    "provider_done_at",
                    "finished_at",
                    "deadline_at",
                    "next_poll_at",
                    "poll_count",
                    "retry_of",
                    "deleted_at",
                )
            },
        ),
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="id")
    def short_id(self, generation: Generation) -> str:
        return format_html("<code>{}</code>", str(generation.id)[:8])

    def has_adjust_credits_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("accounts.adjust_credits")

    @admin.action(
        description="Try again (a new linked generation, charged normally)",
        permissions=["change"],
    )
    def try_again(self, request, queryset):
        for generation in queryset:
            try:
                new = generation_try_again(generation=generation, by=request.user)
            except (ChargeRefused, ModelUnavailable) as error:
                self.message_user(
                    request, f"{generation.id}: not tried again — {error}", messages.ERROR
                )
            except KeyError:
                self.message_user(
                    request,
                    f"{generation.id}: its model is no longer in the catalog.",
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, f"{generation.id}: tried again as {new.id}.", messages.SUCCESS
                )

    @admin.action(
        description="Refund by hand (at most once per generation)",
        permissions=["adjust_credits"],
    )
    def refund_by_hand(self, request, queryset):
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for generation in queryset:
                try:
                    entry = generation_refund_by_admin(
                        generation=generation,
                        admin=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                except RefundRefused as error:
                    self.message_user(request, f"{generation.id}: {error}", messages.ERROR)
                    continue
                if entry is None:
                    self.message_user(
                        request,
                        f"{generation.id}: already refunded (or nothing was charged).",
                        messages.WARNING,
                    )
                else:
                    self.message_user(
                        request,
                        f"{generation.id}: refunded {entry.amount} credits.",
                        messages.SUCCESS,
                    )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Refund generations by hand",
            "form": form,
            "queryset": queryset,
            "action": request.POST.get("action"),
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/generations/refund.html", context)


class ModelAvailabilityForm(forms.ModelForm):
    key = forms.ChoiceField(choices=())

    class Meta:
        model = ModelAvailability
        fields = ["key", "enabled", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        key_field = self.fields["key"]
        assert isinstance(key_field, forms.ChoiceField)
        key_field.choices = [(key, f"{m.name} ({key})") for key, m in catalog().items()]


@admin.register(ModelAvailability)
class ModelAvailabilityAdmin(admin.ModelAdmin):
    form = ModelAvailabilityForm
    list_display = ("key", "model_name", "provider", "enabled", "note", "provider_health")
    list_editable = ("enabled", "note")
    list_filter = ("enabled",)
    actions = ["switch_on", "switch_off"]
    ordering = ("key",)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # Every catalog model gets its switch, so there is always one to flip.
        model_availability_sync()
        return super().changelist_view(request, extra_context)

    def get_readonly_fields(self, request, obj=None):
        return ("key",) if obj is not None else ()

    @admin.display(description="Model")
    def model_name(self, row: ModelAvailability) -> str:
        model = catalog().get(row.key)
        return model.name if model else "(no longer in the catalog)"

    @admin.display(description="Provider")
    def provider(self, row: ModelAvailability) -> str:
        model = catalog().get(row.key)
        return model.provider_name if model else "—"

    @admin.display(description="Provider health")
    def provider_health(self, row: ModelAvailability) -> str:
        """The circuit breaker and the last account problem (never the key itself)."""
        model = catalog().get(row.key)
        if model is None:
            return "—"
        state = breaker_state(provider=model.provider)
        parts = []
        if state.is_open():
            parts.append(f"Paused for {round(state.seconds_left())} s more: {state.last_error}")
        elif state.is_half_open():
            parts.append(f"Trying again after a pause: {state.last_error}")
        elif state.failures:
            parts.append(f"{state.failures} recent failure(s): {state.last_error}")
        else:
            parts.append("Answering")
        problem = account_problem_last(provider=model.provider)
        if problem:
            when = datetime.fromtimestamp(problem["at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
            parts.append(f"Last account problem ({when}): {problem['message']}")
        return " · ".join(parts)

    @admin.action(description="Switch the selected models on", permissions=["change"])
    def switch_on(self, request: HttpRequest, queryset) -> None:
        count = model_availability_set(keys=queryset.values_list("key", flat=True), enabled=True)
        self.message_user(request, f"{count} model(s) switched on.", messages.SUCCESS)

    @admin.action(description="Switch the selected models off", permissions=["change"])
    def switch_off(self, request: HttpRequest, queryset) -> None:
        count = model_availability_set(keys=queryset.values_list("key", flat=True), enabled=False)
        self.message_user(request, f"{count} model(s) switched off.", messages.SUCCESS)
