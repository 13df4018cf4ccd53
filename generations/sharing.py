"""Sharing a generation: with one team, and publicly through a revocable share link."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from accounts.models import Membership, Team, User

from .models import Generation


class SharingRefused(Exception):
    """A sharing action the person may not take; the message says why."""


def generation_can_manage(*, viewer: User, generation: Generation) -> bool:
    """The maker, or an owner or admin of the generation's team, may unshare or delete it."""
    if generation.owner_id == viewer.pk:
        return True
    if generation.team_id is None:
        return False
    return Membership.objects.filter(
        team_id=generation.team_id,
        user=viewer,
        role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
    ).exists()


def generations_manageable_by(*, viewer: User) -> Q:
    """The same rule as `generation_can_manage`, as a filter over many generations."""
    return Q(owner=viewer) | Q(
        team__memberships__user=viewer,
        team__memberships__role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
    )


@transaction.atomic
def generation_share_to_team(*, generation: Generation, team: Team, by: User) -> Generation:
    """File a generation in one team's gallery (it belongs to at most one team)."""
    if generation.owner_id != by.pk:
        raise SharingRefused("Only the person who made it can share it with a team.")
    if not Membership.objects.filter(team=team, user=by).exists():
        raise SharingRefused(f"You are not a member of {team.name}.")
    Generation.objects.filter(pk=generation.pk).update(team=team, updated_at=timezone.now())
    generation.team = team
    return generation


@transaction.atomic
def generations_share_to_team(*, ids: Iterable[Any], team: Team, by: User) -> list[uuid.UUID]:
    """`generation_share_to_team` for several at once (the gallery's selection): the person's own
    generations among `ids` move to `team`; the others are left alone. Returns those shared."""
    if not Membership.objects.filter(team=team, user=by).exists():
        raise SharingRefused(f"You are not a member of {team.name}.")
    keys = []
    for value in ids:
        try:
            keys.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    shared = list(
        Generation.objects.filter(owner=by, pk__in=keys, deleted_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    # updated_at moves too: gallery cards are cached by it, and they show the team.
    Generation.objects.filter(pk__in=shared).update(team=team, updated_at=timezone.now())
    return shared


@transaction.atomic
def generation_unshare_from_team(*, generation: Generation, by: User) -> Generation:
    """Take a generation out of its team's gallery; it stays its maker's."""
    if generation.team_id is None:
        return generation
    if not generation_can_manage(viewer=by, generation=generation):
        raise SharingRefused("Only its maker and the team's owners and admins can unshare it.")
    Generation.objects.filter(pk=generation.pk).update(team=None, updated_at=timezone.now())
    generation.team = None
    return generation


def generation_share_link_enable(*, generation: Generation, by: User) -> Generation:
    """Turn on the public share page of a finished generation (its owner only)."""
    if generation.owner_id != by.pk:
        raise SharingRefused("Only the person who made it can share it publicly.")
    if generation.state != Generation.State.SUCCEEDED:
        raise SharingRefused("Only a finished video can be shared.")
    if not generation.share_token:
        generation.share_token = secrets.token_urlsafe(32)
        generation.shared_at = timezone.now()
        Generation.objects.filter(pk=generation.pk, share_token__isnull=True).update(
            share_token=generation.share_token, shared_at=generation.shared_at
        )
        generation.refresh_from_db(fields=["share_token", "shared_at"])
    return generation


def generation_share_link_disable(*, generation: Generation, by: User) -> Generation:
    """Revoke the public share page at once; the old link answers 404 from now on."""
    if generation.owner_id != by.pk:
        raise SharingRefused("Only the person who made it can stop sharing it.")
    Generation.objects.filter(pk=generation.pk).update(share_token=None, shared_at=None)
    generation.share_token = None
    generation.shared_at = None
    return generation


def generation_get_shared(*, token: str) -> Generation:
    """The generation a public share link names; Http404 once revoked, deleted or unfinished."""
    if not token:
        raise Http404("No such video.")
    generation = Generation.objects.filter(
        share_token=token, state=Generation.State.SUCCEEDED, deleted_at__isnull=True
    ).first()
    if generation is None:
        raise Http404("No such video.")
    return generation


def generations_shared_by(*, user: User) -> list[Generation]:
    return list(
        Generation.objects.filter(
            owner=user, share_token__isnull=False, deleted_at__isnull=True
        ).order_by("-shared_at")
    )
