"""Reads about people: wallets they can spend from and their recent ledger."""

from __future__ import annotations

from django.db.models import Case, Count, Q, Sum, When
from django.http import Http404
from django.utils import timezone

from .models import Invitation, LedgerEntry, Membership, Team, User, Wallet


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
        assert wallet.team_id is not None  # filtered on team_id above
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


# --- Teams --------------------------------------------------------------------------------


def teams_for_user(*, user: User) -> list[Membership]:
    """The person's memberships, with their team, its wallet and its member count."""
    return list(
        Membership.objects.filter(user=user)
        .select_related("team", "team__wallet")
        .annotate(member_count=Count("team__memberships"))
        .order_by("team__name")
    )


def team_get_for_member(*, user: User, slug: str) -> tuple[Team, Membership]:
    """The team and the person's membership; Http404 for anyone who is not a member."""
    membership = (
        Membership.objects.filter(user=user, team__slug=slug).select_related("team").first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such team.")
    return membership.team, membership


def team_members(*, team: Team) -> list[Membership]:
    order = Case(
        When(role=Membership.Role.OWNER, then=0),
        When(role=Membership.Role.ADMIN, then=1),
        default=2,
    )
    return list(
        Membership.objects.filter(team=team)
        .select_related("user")
        .order_by(order, "user__username")
    )


def team_invitations_open(*, team: Team) -> list[Invitation]:
    return list(
        Invitation.objects.filter(
            team=team, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).select_related("invited_user", "created_by")
    )


def invitations_for_user(*, user: User) -> list[Invitation]:
    return list(
        Invitation.objects.filter(
            invited_user=user,
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).select_related("team", "created_by")
    )


def invitation_get_for_user(*, user: User, id: int) -> Invitation:
    invitation = Invitation.objects.filter(pk=id, invited_user=user).select_related("team").first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def invitation_get_for_manager(*, user: User, team: Team, id: int) -> Invitation:
    invitation = Invitation.objects.filter(pk=id, team=team).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def storage_used_by_user(*, user: User) -> int:
    """Bytes of the person's stored videos and of their reference files."""
    from generations.models import Generation, Reference

    videos = Generation.objects.filter(owner=user, deleted_at__isnull=True).aggregate(
        total=Sum("video_bytes")
    )["total"]
    references = Reference.objects.filter(owner=user).aggregate(total=Sum("size"))["total"]
    return (videos or 0) + (references or 0)


def storage_used_by_team(*, team: Team) -> int:
    from generations.models import Generation

    total = Generation.objects.filter(team=team, deleted_at__isnull=True).aggregate(
        total=Sum("video_bytes")
    )["total"]
    return total or 0


def api_tokens_for_user(*, user: User) -> list:
    from .models import ApiToken

    return list(ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at"))


def api_token_get_for_owner(*, user: User, id: int):
    from .models import ApiToken

    token = ApiToken.objects.filter(user=user, pk=id).first()
    if token is None:
        raise Http404("No such token.")
    return token
