"""Reads about people: wallets they can spend from and their recent ledger."""

from __future__ import annotations

from .models import LedgerEntry, User, Wallet


def wallets_for_user(*, user: User) -> list[Wallet]:
    """The person's own wallet first, then those of their teams."""
    own = list(Wallet.objects.filter(user=user))
    teams = list(
        Wallet.objects.filter(team__memberships__user=user)
        .select_related("team")
        .order_by("team__name")
    )
    return own + teams


def ledger_recent_for_user(*, user: User, limit: int = 20) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(wallet__user=user)
        .select_related("generation", "actor")
        .order_by("-created_at", "-id")[:limit]
    )
