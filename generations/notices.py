"""Telling people that a generation of theirs finished while they were elsewhere in the studio.

Every page of a signed-in person carries two views of the same facts, their generations that
ended in the last NOTICE_WINDOW:

- toasts (templates/generations/notices.html, `aria-live="polite"`): each ending not seen yet
  shows once, at most TOASTS_SHOWN at a time, and leaves by itself after a few seconds (a CSS
  animation, paused while pointed at or focused; studio.js keeps the stack clear of the page's
  primary action). Showing a toast counts as seeing it, as does opening the generation's page;
  the seen ids are kept in the session.
- the header's "Notices" list, which keeps every recent ending, seen or not.

While they have unfinished generations the toast region asks again every few seconds (htmx
load polling, no script of ours) and the answer renews the header's list too; once nothing is
unfinished it stops asking.
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
TOASTS_SHOWN = 3


@dataclass(frozen=True)
class Notices:
    toasts: list[Generation] = field(default_factory=list)
    more: int = 0  # new endings beyond the toasts shown: in the header's list
    recent: list[Generation] = field(default_factory=list)  # the header's list
    keep_asking: bool = False
    exclude: str = ""  # the generation whose own page this is: it shows its end itself


def notices_seen(request: HttpRequest) -> list[str]:
    return list(request.session.get(SESSION_KEY, []))


def notices_mark_seen(request: HttpRequest, ids: Iterable[Any]) -> None:
    """Remember these generations as seen by this person (no toast for them any more)."""
    seen = notices_seen(request)
    new = [str(i) for i in ids if str(i) not in seen]
    if new:
        request.session[SESSION_KEY] = (seen + new)[-SEEN_KEPT:]


def notices_for(request: HttpRequest, *, exclude: str = "") -> Notices:
    """The notices for the person making this request (none when signed out). The endings it
    shows as toasts count as seen from now on."""
    if not request.user.is_authenticated:
        return Notices()
    recent, unfinished = generation_notices_for(viewer=request.user, exclude=exclude)
    seen = set(notices_seen(request))
    new = [g for g in recent if str(g.id) not in seen and str(g.id) != exclude]
    notices_mark_seen(request, [g.id for g in new])
    return Notices(
        toasts=new[:TOASTS_SHOWN],
        more=max(len(new) - TOASTS_SHOWN, 0),
        recent=recent,
        keep_asking=unfinished,
        exclude=exclude,
    )


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: `generation_notices`, worked out only if a page shows it."""

    def current() -> Notices:
        match = getattr(request, "resolver_match", None)
        exclude = ""
        if match and match.view_name == "generations:detail":
            exclude = str(match.kwargs.get("id", ""))
        return notices_for(request, exclude=exclude)

    return {"generation_notices": SimpleLazyObject(current)}
