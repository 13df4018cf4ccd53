from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import LedgerEntry, Membership, Team, User, Wallet


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "balance", "date_joined")

    @admin.display(description="Credits")
    def balance(self, user: User) -> int | None:
        wallet = getattr(user, "wallet", None)
        return wallet.balance if wallet else None


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("__str__", "balance", "updated_at")
    readonly_fields = ("user", "team", "balance", "updated_at")
    search_fields = ("user__username", "team__name")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "wallet", "kind", "amount", "actor", "reason", "generation")
    list_filter = ("kind", "created_at")
    search_fields = ("wallet__user__username", "wallet__team__name", "reason")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
