"""Public share pages (no account needed) and the owner's switch for them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from studio.http import AuthenticatedRequest, StudioRequest

from .selectors import generation_get_for_viewer
from .serving import stored_file_response
from .sharing import (
    SharingRefused,
    generation_get_shared,
    generation_share_link_disable,
    generation_share_link_enable,
)


@require_POST
def share_link(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """Turn the public share page on (`on=1`) or off; only the generation's owner may."""
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    if generation.owner_id != request.user.pk:
        raise Http404("No such generation.")
    try:
        if request.POST.get("on") == "1":
            generation_share_link_enable(generation=generation, by=request.user)
            messages.success(request, "Anyone with the link can now watch this video.")
        else:
            generation_share_link_disable(generation=generation, by=request.user)
            messages.success(request, "The share link is off; it no longer works.")
    except SharingRefused as error:
        messages.error(request, str(error))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("generations:detail", id=generation.id)


@require_POST
def share_team(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """File a generation in one of the person's teams (`team` = slug), or take it out (empty)."""
    from accounts.selectors import team_get_for_member

    from .sharing import generation_share_to_team, generation_unshare_from_team

    generation = generation_get_for_viewer(viewer=request.user, id=id)
    slug = request.POST.get("team", "")
    try:
        if slug:
            team, _ = team_get_for_member(user=request.user, slug=slug)
            generation_share_to_team(generation=generation, team=team, by=request.user)
            messages.success(request, f"Shared with {team.name}: it is in the team's gallery now.")
        else:
            generation_unshare_from_team(generation=generation, by=request.user)
            messages.success(request, "Taken out of the team's gallery; it is still yours.")
    except SharingRefused as error:
        messages.error(request, str(error))
    if generation_get_visible(request, generation.id):
        return redirect("generations:detail", id=generation.id)
    return redirect("generations:gallery")


def generation_get_visible(request: AuthenticatedRequest, id) -> bool:
    try:
        generation_get_for_viewer(viewer=request.user, id=id)
    except Http404:
        return False
    return True


@login_not_required
@require_GET
def shared_page(request: StudioRequest, token: str) -> HttpResponse:
    generation = generation_get_shared(token=token)
    response = render(
        request, "generations/shared.html", {"generation": generation, "token": token}
    )
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


@login_not_required
@require_GET
def shared_video(request: StudioRequest, token: str) -> HttpResponseBase:
    generation = generation_get_shared(token=token)
    return stored_file_response(request, generation.video.name, content_type="video/mp4")


@login_not_required
@require_GET
def shared_poster(request: StudioRequest, token: str) -> HttpResponseBase:
    generation = generation_get_shared(token=token)
    return stored_file_response(request, generation.poster.name, content_type="image/jpeg")
