"""Previous and next on a generation page, within the gallery view it was opened from.

Every gallery page remembers its view in the session (which gallery, which filters, which
order); the generation page then offers the cards on either side of it in that view, as the
gallery shows them. A generation that is not in the remembered view gets no neighbours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.http import QueryDict

from accounts.models import Team, User

from .gallery import GalleryFilters, gallery_options, gallery_query_parse
from .models import Generation
from .selectors import _favourite_of, _filtered, _gallery_scope, teams_for_viewer

SESSION_KEY = "studio:gallery-view"


@dataclass(frozen=True)
class GalleryView:
    url: str  # the gallery's address with its filters, to go back to
    base_url: str
    query: str
    team_id: int | None


@dataclass(frozen=True)
class Neighbours:
    back_url: str
    previous: uuid.UUID | None
    next: uuid.UUID | None


def gallery_view_remember(request: Any, *, base_url: str, filters: GalleryFilters, team) -> None:
    """Called by every gallery page: this is the view its cards open from."""
    view = {
        "base_url": base_url,
        "query": filters.query_string(),
        "team_id": team.pk if team is not None else None,
    }
    # Written only when it changes: a session write is a database write on every page view.
    if request.session.get(SESSION_KEY) != view:
        request.session[SESSION_KEY] = view


def _remembered(request: Any) -> GalleryView | None:
    raw = request.session.get(SESSION_KEY)
    if not isinstance(raw, dict) or not str(raw.get("base_url", "")).startswith("/"):
        return None
    query = str(raw.get("query", ""))
    base_url = str(raw["base_url"])
    team_id = raw.get("team_id")
    return GalleryView(
        url=f"{base_url}?{query}" if query else base_url,
        base_url=base_url,
        query=query,
        team_id=team_id if isinstance(team_id, int) else None,
    )


def _neighbour(queryset, generation: Generation, *, sort: str, forward: bool) -> uuid.UUID | None:
    """The card just after (`forward`) or just before `generation` in the gallery's order."""
    created, key = generation.created_at, generation.id
    later = Q(created_at__gt=created) | Q(created_at=created, id__gt=key)
    earlier = Q(created_at__lt=created) | Q(created_at=created, id__lt=key)
    newest_first: tuple[str, ...] = ("-created_at", "-id")
    oldest_first: tuple[str, ...] = ("created_at", "id")
    condition: Q
    order: tuple[str, ...]
    if sort == "oldest":
        condition, order = (later, oldest_first) if forward else (earlier, newest_first)
    elif sort == "favourites":
        # Favourites first, each group newest first.
        favourite = bool(getattr(generation, "is_favourite", False))
        if forward:
            condition = Q(is_favourite=favourite) & earlier
            if favourite:
                condition |= Q(is_favourite=False)
            order = ("-is_favourite", *newest_first)
        else:
            condition = Q(is_favourite=favourite) & later
            if not favourite:
                condition |= Q(is_favourite=True)
            order = ("is_favourite", *oldest_first)
    else:
        condition, order = (earlier, newest_first) if forward else (later, oldest_first)
    return queryset.filter(condition).order_by(*order).values_list("id", flat=True).first()


def generation_neighbours(
    request: Any, *, viewer: User, generation: Generation
) -> Neighbours | None:
    """Previous and next in the gallery view the person last looked at, if it holds this one."""
    view = _remembered(request)
    if view is None:
        return None
    team = None
    if view.team_id is not None:
        team = Team.objects.filter(pk=view.team_id).first()
        if team is None:
            return None
    options = gallery_options(teams=teams_for_viewer(viewer=viewer))
    query = gallery_query_parse(QueryDict(view.query), options=options)
    filters = query.filters
    scope = _gallery_scope(viewer=viewer, team=team)
    queryset = _filtered(scope.annotate(is_favourite=_favourite_of(viewer)), filters)
    here = queryset.filter(pk=generation.pk).first()
    if here is None:
        return None
    return Neighbours(
        back_url=view.url,
        previous=_neighbour(queryset, here, sort=filters.sort, forward=False),
        next=_neighbour(queryset, here, sort=filters.sort, forward=True),
    )
