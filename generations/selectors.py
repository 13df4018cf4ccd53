"""Reads: every view, fragment, media URL and API route reaches generations through these."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User

from .catalog import PROVIDER_NAMES, CatalogModel, catalog
from .models import Generation, ModelAvailability, Reference
from .providers.health import providers_paused as breakers_paused


def generations_visible_to(*, viewer: User) -> QuerySet[Generation]:
    """Generations the viewer may see: their own, and their teams' (not deleted)."""
    if not viewer.is_authenticated:
        return Generation.objects.none()
    team_ids = viewer.memberships.values("team_id")
    return Generation.objects.filter(
        Q(owner=viewer) | Q(team_id__in=team_ids), deleted_at__isnull=True
    )


def generation_get_for_viewer(*, viewer: User, id: Any) -> Generation:
    """The generation `id` if the viewer may see it; Http404 for anything else."""
    try:
        key = uuid.UUID(str(id))
    except ValueError:
        raise Http404("No such generation.") from None
    generation = (
        generations_visible_to(viewer=viewer)
        .select_related("owner", "team", "reference", "audio_reference")
        .filter(pk=key)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def generation_list_for_gallery(*, viewer: User, limit: int = 24) -> list[Generation]:
    """The viewer's own generations, newest first."""
    return list(
        Generation.objects.filter(owner=viewer, deleted_at__isnull=True)
        .select_related("team")
        .order_by("-created_at", "-id")[:limit]
    )


def generation_list_for_team(*, viewer: User, team, limit: int = 48) -> list[Generation]:
    """A team's generations (for a member), newest first, with who made each."""
    return list(
        generations_visible_to(viewer=viewer)
        .filter(team=team)
        .select_related("owner")
        .order_by("-created_at", "-id")[:limit]
    )


def reference_get_for_owner(*, owner: User, id: Any, kind: str | None = None) -> Reference | None:
    """A stored reference of this owner, or None."""
    try:
        key = uuid.UUID(str(id))
    except ValueError:
        return None
    queryset = Reference.objects.filter(owner=owner, pk=key)
    if kind:
        queryset = queryset.filter(kind=kind)
    return queryset.first()


def references_recent(*, owner: User, kind: str, limit: int = 12) -> list[Reference]:
    return list(Reference.objects.filter(owner=owner, kind=kind).order_by("-created_at")[:limit])


def generations_in_flight_count(*, owner_id: int) -> int:
    return Generation.objects.filter(
        owner_id=owner_id, state__in=Generation.AT_PROVIDER_STATES
    ).count()


# --- Which models are offered, and which providers are paused -----------------------------


def catalog_models_available() -> dict[str, CatalogModel]:
    """The catalog without the models an admin switched off, in picker order.

    The create page, creation itself and the API offer and accept only these.
    """
    switched_off = set(
        ModelAvailability.objects.filter(enabled=False).values_list("key", flat=True)
    )
    return {key: model for key, model in catalog().items() if key not in switched_off}


def catalog_model_available(*, key: str) -> bool:
    """Whether `key` is in the catalog and not switched off."""
    if key not in catalog():
        return False
    return not ModelAvailability.objects.filter(key=key, enabled=False).exists()


def providers_paused() -> list[dict[str, Any]]:
    """Providers whose circuit breaker holds new work back: [{provider, name, seconds_left}]."""
    providers = sorted({model.provider for model in catalog().values()})
    return [
        {
            "provider": state.provider,
            "name": PROVIDER_NAMES.get(state.provider, state.provider),
            "seconds_left": round(state.seconds_left()),
        }
        for state in breakers_paused(providers=providers)
    ]
