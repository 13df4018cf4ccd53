"""Reads about people: wallets they can spend from and their recent ledger."""

from __future__ import annotations

from django.db.models import Q

from .models import LedgerEntry, Membership, User, Wallet


def wallets_for_user(*, user: User) -> list[Wallet]:
    """The person's own wallet first, then those of their teams (each with the person's monthly
    cap and what they spent of it this month, as `cap` and `spent`)."""
    from .ledger import credits_member_spent_this_month, wallet_for_user

    own = [wallet_for_user(user=user)]
    memberships = {
        m.team_id: m for m in Membership.objects.filter(user=user).select_related("team")
    }
    teams = list(
        Wallet.objects.filter(team_id__in=list(memberships))
        .select_related("team")
        .order_by("team__name")
    )
    for wallet in teams:
        membership = memberships[wallet.team_id]
        wallet.cap = membership.monthly_credit_cap
        wallet.spent = (
            credits_member_spent_this_month(team=membership.team, user=user)
            if wallet.cap is not None
            else None
        )
    return own + teams


def ledger_recent_for_user(*, user: User, limit: int = 20) -> list[LedgerEntry]:
    """Entries of the person's own wallet, and team-wallet entries about their generations."""
    return list(
        LedgerEntry.objects.filter(
            Q(wallet__user=user) | Q(wallet__team__isnull=False, generation__owner=user)
        )
        .select_related("generation", "actor", "wallet__team")
        .order_by("-created_at", "-id")[:limit]
    )
