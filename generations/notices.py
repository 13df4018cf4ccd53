"""Telling people that a generation of theirs finished while they were elsewhere in the studio.

Every page of a signed-in person carries a small region (templates/generations/notices.html,
`aria-live="polite"`): it lists their generations that ended in the last NOTICE_WINDOW and
that they have not seen since (opening a generation's page, or dismissing the notice, marks it
seen; the ids are kept in the session), each with a link. While they have unfinished
generations the region asks again every few seconds (htmx load polling, no script of ours);
once nothing is unfinished it stops asking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import Generation
from .selectors import generation_notices_for

SESSION_KEY = "generation_notices_seen"
SEEN_KEPT = 100  # the newest ids remembered as seen; older ones are past the window anyway


@dataclass(frozen=True)
class Notices:
    finished: list[Generation] = field(default_factory=list)
    keep_asking: bool = False
    exclude: str = ""  # the generation whose own page this is: it shows its end itself


def notices_seen(request: HttpRequest) -> list[str]:
    return list(request.session.get(SESSION_KEY, []))


def notices_mark_seen(request: HttpRequest, ids: Iterable[Any]) -> None:
    """Remember these generations as seen by this person (no notice for them any more)."""
    seen = notices_seen(request)
    new = [str(i) for i in ids if str(i) not in seen]
    if new:
        request.session[SESSION_KEY] = (seen + new)[-SEEN_KEPT:]


def notices_for(request: HttpRequest, *, exclude: str = "") -> Notices:
    """The notices for the person making this request (none when signed out)."""
    if not request.user.is_authenticated:
        return Notices()
    finished, unfinished = generation_notices_for(
        viewer=request.user, seen=notices_seen(request), exclude=exclude
    )
    return Notices(finished=finished, keep_asking=unfinished, exclude=exclude)


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: `generation_notices`, worked out only if a page shows it."""

    def current() -> Notices:
        match = getattr(request, "resolver_match", None)
        exclude = ""
        if match and match.view_name == "generations:detail":
            exclude = str(match.kwargs.get("id", ""))
        return notices_for(request, exclude=exclude)

    return {"generation_notices": SimpleLazyObject(current)}
