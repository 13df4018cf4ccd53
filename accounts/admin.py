from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from studio.http import AuthenticatedRequest

from .approvals import (
    MOVE_CREDITS,
    ApprovalRefused,
    credits_adjust_from_admin,
    grant_request_approve,
    grant_request_refuse,
)
from .forms import CreditAdjustmentForm
from .ledger import wallet_for_team, wallet_for_user
from .models import CreditGrantRequest, LedgerEntry, Membership, Team, User, Wallet


def _apply_adjustment(
    modeladmin, request: AuthenticatedRequest, form: CreditAdjustmentForm, wallets
) -> None:
    """Apply a valid grant or deduction to every wallet and say what happened."""
    amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
    done = credits_adjust_from_admin(
        wallets=wallets, amount=amount, actor=request.user, reason=reason
    )
    verb = "Granted" if amount > 0 else "Deducted"
    if done.changed:
        modeladmin.message_user(
            request,
            f"{verb} {abs(amount)} credits on {len(done.changed)} wallet(s): "
            + ", ".join(w.owner_label for w in done.changed),
            messages.SUCCESS,
        )
    if done.held:
        modeladmin.message_user(
            request,
            f"{amount} credits is above the approval threshold "
            f"({settings.STUDIO_CREDIT_APPROVAL_THRESHOLD}): waiting for another admin to "
            "approve, under Credit grant requests, for "
            + ", ".join(g.wallet.owner_label for g in done.held),
            messages.WARNING,
        )
    for wallet, error in done.refused:
        modeladmin.message_user(
            request, f"Not changed for {wallet.owner_label}: {error}", messages.ERROR
        )


def _adjust_credits(
    modeladmin, request: AuthenticatedRequest, queryset: QuerySet, wallets
) -> HttpResponse | None:
    """The shared admin action: ask for an amount and a reason, then apply it to every wallet."""
    form = CreditAdjustmentForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        _apply_adjustment(modeladmin, request, form, wallets)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Grant or deduct credits",
        "form": form,
        "queryset": queryset,
        "wallets": wallets,
        "action": request.POST.get("action"),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/accounts/adjust_credits.html", context)


class CreditsFromTheirPage(admin.ModelAdmin):
    """A grant or deduction from a person's or a team's own admin page: "Grant or deduct
    credits" beside History, then amount, reason, done. The same form, ledger call, permission
    (`accounts.adjust_credits`) and approval rule as the list's action."""

    change_form_template = "admin/accounts/change_form_with_credits.html"

    def wallet_of(self, obj):
        raise NotImplementedError

    def has_adjust_credits_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(MOVE_CREDITS)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"can_adjust_credits": self.has_adjust_credits_permission(request)}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_urls(self):
        opts = self.model._meta
        own = [
            path(
                "<path:object_id>/credits/",
                self.admin_site.admin_view(self.credits_view),
                name=f"{opts.app_label}_{opts.model_name}_credits",
            )
        ]
        return own + super().get_urls()

    def credits_view(self, request: AuthenticatedRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_adjust_credits_permission(request, obj):
            raise PermissionDenied
        opts = self.model._meta
        wallet = self.wallet_of(obj)
        form = CreditAdjustmentForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            _apply_adjustment(self, request, form, [wallet])
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Grant or deduct credits: {wallet.owner_label}",
            "form": form,
            "wallets": [wallet],
            "opts": opts,
            "original": obj,
        }
        return TemplateResponse(request, "admin/accounts/adjust_credits.html", context)


@admin.register(User)
class UserAdmin(CreditsFromTheirPage, BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "balance", "date_joined")
    actions = ["adjust_credits"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("wallet")

    @admin.display(description="Credits", ordering="wallet__balance")
    def balance(self, user: User) -> int:
        wallet = getattr(user, "wallet", None)
        return wallet.balance if wallet else 0

    @admin.action(description="Grant or deduct credits", permissions=["adjust_credits"])
    def adjust_credits(self, request, queryset):
        return _adjust_credits(self, request, queryset, [wallet_for_user(user=u) for u in queryset])

    def wallet_of(self, obj):
        return wallet_for_user(user=obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "monthly_credit_cap", "joined_at")
    readonly_fields = ("joined_at",)


@admin.register(Team)
class TeamAdmin(CreditsFromTheirPage, admin.ModelAdmin):
    list_display = ("name", "slug", "balance", "created_at")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")
    inlines = [MembershipInline]
    actions = ["adjust_credits"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("wallet")

    @admin.display(description="Credits", ordering="wallet__balance")
    def balance(self, team: Team) -> int:
        wallet = getattr(team, "wallet", None)
        return wallet.balance if wallet else 0

    @admin.action(description="Grant or deduct credits", permissions=["adjust_credits"])
    def adjust_credits(self, request, queryset):
        return _adjust_credits(self, request, queryset, [wallet_for_team(team=t) for t in queryset])

    def wallet_of(self, obj):
        return wallet_for_team(team=obj)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("__str__", "balance", "updated_at")
    readonly_fields = ("user", "team", "balance", "updated_at")
    search_fields = ("user__username", "team__name")
    list_select_related = ("user", "team")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class WalletKindFilter(admin.SimpleListFilter):
    title = "wallet of"
    parameter_name = "wallet_of"

    def lookups(self, request, model_admin):
        return [("user", "a person"), ("team", "a team")]

    def queryset(self, request, queryset):
        if self.value() == "user":
            return queryset.filter(wallet__user__isnull=False)
        if self.value() == "team":
            return queryset.filter(wallet__team__isnull=False)
        return queryset


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The ledger, read-only: entries are append-only and never edited or deleted."""

    list_display = ("created_at", "wallet", "kind", "amount", "actor", "reason", "generation")
    list_filter = (
        "kind",
        WalletKindFilter,
        ("wallet", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    date_hierarchy = "created_at"
    search_fields = ("wallet__user__username", "wallet__team__name", "reason", "=generation__id")
    list_select_related = ("wallet__user", "wallet__team", "actor", "generation")
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CreditGrantRequest)
class CreditGrantRequestAdmin(admin.ModelAdmin):
    """Grants above the approval threshold: who asked, who decided, when. Read-only; decided by
    the two actions, for staff who may move credits."""

    list_display = (
        "wallet",
        "amount",
        "reason",
        "state",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
    )
    list_filter = ("state",)
    list_select_related = ("wallet__user", "wallet__team", "requested_by", "decided_by")
    actions = ["approve", "refuse"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_adjust_credits_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(MOVE_CREDITS)

    def _decide(self, request, queryset, decide, done: str) -> None:
        for grant in queryset:
            try:
                decide(grant_id=grant.pk, by=request.user)
            except ApprovalRefused as error:
                self.message_user(request, f"{grant}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{grant.amount} credits for {grant.wallet.owner_label}: {done}.",
                    messages.SUCCESS,
                )

    @admin.action(description="Approve the selected grants", permissions=["adjust_credits"])
    def approve(self, request, queryset):
        self._decide(request, queryset, grant_request_approve, "approved and granted")

    @admin.action(description="Refuse the selected grants", permissions=["adjust_credits"])
    def refuse(self, request, queryset):
        self._decide(request, queryset, grant_request_refuse, "refused")
