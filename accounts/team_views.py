"""Team pages: the list, a team's gallery and members, invitations. Thin: parse, call, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.http import AuthenticatedRequest

from .forms import InviteLinkForm, InviteUserForm, MemberCapForm, MemberRoleForm, TeamCreateForm
from .models import Membership, User
from .selectors import (
    invitation_get_for_manager,
    invitation_get_for_user,
    invitations_for_user,
    storage_used_by_team,
    team_get_for_member,
    team_invitations_open,
    team_members,
    teams_for_user,
)
from .services import (
    TeamActionRefused,
    invitation_accept,
    invitation_decline,
    invitation_revoke,
    invitation_usable,
    team_create,
    team_invite_link,
    team_invite_user,
    team_leave,
    team_member_remove,
    team_member_set_cap,
    team_member_set_role,
    team_permissions,
)


@require_http_methods(["GET", "POST"])
def team_list(request: AuthenticatedRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(name=form.cleaned_data["name"], creator=request.user)
        except TeamActionRefused as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"{team.name} is ready. Invite people from its members page.")
            return redirect("teams:members", slug=team.slug)
    context = {
        "memberships": teams_for_user(user=request.user),
        "invitations": invitations_for_user(user=request.user),
        "form": form,
    }
    return render(request, "teams/list.html", context)


@require_GET
def team_detail(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    """The team's gallery: the same grid, filters, search and paging as the personal one."""
    from generations.views import gallery_context, gallery_response

    team, membership = team_get_for_member(user=request.user, slug=slug)
    context = gallery_context(
        request, base_url=reverse("teams:detail", args=[team.slug]), team=team
    )
    context.update(
        {
            "team": team,
            "membership": membership,
            "gallery_title": team.name,
            "storage": storage_used_by_team(team=team),
        }
    )
    return gallery_response(request, template="generations/gallery.html", context=context)


@require_GET
def team_members_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    team, membership = team_get_for_member(user=request.user, slug=slug)
    return _members_page(request, team, membership)


def _members_page(request, team, membership, **forms) -> HttpResponse:
    members = team_members(team=team)
    rows = [
        {
            "membership": member,
            "can": team_permissions(actor=membership, target=member),
            "role_form": MemberRoleForm(
                initial={"role": member.role}, prefix=f"role-{member.user_id}"
            ),
            "cap_form": MemberCapForm(
                initial={"cap": member.monthly_credit_cap}, prefix=f"cap-{member.user_id}"
            ),
        }
        for member in members
    ]
    context = {
        "team": team,
        "membership": membership,
        "permissions": team_permissions(actor=membership),
        "rows": rows,
        "invitations": team_invitations_open(team=team),
        "invite_form": forms.get("invite_form") or InviteUserForm(),
        "link_form": forms.get("link_form") or InviteLinkForm(),
        "storage": storage_used_by_team(team=team),
        "new_link": forms.get("new_link"),
    }
    return render(request, "teams/members.html", context, status=forms.get("status", 200))


@require_POST
def team_invite(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    team, membership = team_get_for_member(user=request.user, slug=slug)
    form = InviteUserForm(request.POST)
    if form.is_valid():
        try:
            invitation = team_invite_user(
                team=team,
                by=request.user,
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
        except TeamActionRefused as error:
            form.add_error("username", str(error))
        else:
            invited = invitation.invited_user
            name = invited.username if invited else form.cleaned_data["username"]
            messages.success(request, f"Invited {name}; they accept it on their Teams page.")
            return redirect("teams:members", slug=team.slug)
    return _members_page(request, team, membership, invite_form=form, status=400)


@require_POST
def team_invite_link_create(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    team, membership = team_get_for_member(user=request.user, slug=slug)
    form = InviteLinkForm(request.POST)
    if form.is_valid():
        try:
            invitation = team_invite_link(
                team=team,
                by=request.user,
                role=form.cleaned_data["role"],
                days=form.cleaned_data["days"],
            )
        except TeamActionRefused as error:
            messages.error(request, str(error))
            return redirect("teams:members", slug=team.slug)
        link = request.build_absolute_uri(reverse("teams:join", args=[invitation.token]))
        messages.success(request, "A new invite link is ready; it works once.")
        return _members_page(request, team, membership, new_link=link)
    return _members_page(request, team, membership, link_form=form, status=400)


@require_POST
def team_invitation_revoke(request: AuthenticatedRequest, slug: str, id: int) -> HttpResponse:
    team, _ = team_get_for_member(user=request.user, slug=slug)
    invitation = invitation_get_for_manager(user=request.user, team=team, id=id)
    try:
        invitation_revoke(invitation=invitation, by=request.user)
    except TeamActionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Invitation withdrawn.")
    return redirect("teams:members", slug=team.slug)


def _member(team, user_id: int) -> User:
    return get_object_or_404(
        Membership.objects.select_related("user"), team=team, user_id=user_id
    ).user


@require_POST
def team_member_role(request: AuthenticatedRequest, slug: str, user_id: int) -> HttpResponse:
    team, _ = team_get_for_member(user=request.user, slug=slug)
    member = _member(team, user_id)
    form = MemberRoleForm(request.POST, prefix=f"role-{user_id}")
    if form.is_valid():
        try:
            team_member_set_role(
                team=team, by=request.user, user=member, role=form.cleaned_data["role"]
            )
        except TeamActionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{member.username} is now {form.cleaned_data['role']}.")
    else:
        messages.error(request, "Choose a role: member, admin or owner.")
    return redirect("teams:members", slug=team.slug)


@require_POST
def team_member_cap(request: AuthenticatedRequest, slug: str, user_id: int) -> HttpResponse:
    team, _ = team_get_for_member(user=request.user, slug=slug)
    member = _member(team, user_id)
    form = MemberCapForm(request.POST, prefix=f"cap-{user_id}")
    if form.is_valid():
        try:
            team_member_set_cap(
                team=team, by=request.user, user=member, cap=form.cleaned_data["cap"]
            )
        except TeamActionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Cap for {member.username} saved.")
    else:
        messages.error(request, "A cap is a whole number of credits, 0 or more.")
    return redirect("teams:members", slug=team.slug)


@require_POST
def team_member_remove_view(request: AuthenticatedRequest, slug: str, user_id: int) -> HttpResponse:
    team, _ = team_get_for_member(user=request.user, slug=slug)
    member = _member(team, user_id)
    try:
        team_member_remove(team=team, by=request.user, user=member)
    except TeamActionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"{member.username} was removed; what they made for the team stays."
        )
    return redirect("teams:members", slug=team.slug)


@require_POST
def team_leave_view(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    team, _ = team_get_for_member(user=request.user, slug=slug)
    try:
        team_leave(team=team, user=request.user)
    except TeamActionRefused as error:
        messages.error(request, str(error))
        return redirect("teams:members", slug=team.slug)
    messages.success(request, f"You left {team.name}.")
    return redirect("teams:list")


@require_http_methods(["GET", "POST"])
def team_join(request: AuthenticatedRequest, token: str) -> HttpResponse:
    """An invite link: shows the team and joins it on POST (once, before it expires)."""
    from .models import Invitation

    invitation = Invitation.objects.filter(token=token).select_related("team").first()
    problem = (
        "This invitation does not exist."
        if invitation is None
        else invitation_usable(invitation, user=request.user)
    )
    if request.method == "POST" and problem is None and invitation is not None:
        try:
            invitation_accept(token=token, user=request.user)
        except TeamActionRefused as error:
            problem = str(error)
        else:
            messages.success(request, f"Welcome to {invitation.team.name}.")
            return redirect("teams:detail", slug=invitation.team.slug)
    status = 200 if problem is None else 410 if invitation is not None else 404
    return render(
        request, "teams/join.html", {"invitation": invitation, "problem": problem}, status=status
    )


@require_POST
def invitation_respond(request: AuthenticatedRequest, id: int, answer: str) -> HttpResponse:
    invitation = invitation_get_for_user(user=request.user, id=id)
    try:
        if answer == "accept":
            invitation_accept(token=invitation.token, user=request.user)
            messages.success(request, f"You joined {invitation.team.name}.")
            return redirect("teams:detail", slug=invitation.team.slug)
        invitation_decline(invitation=invitation, user=request.user)
        messages.success(request, "Invitation declined.")
    except TeamActionRefused as error:
        messages.error(request, str(error))
    return redirect("teams:list")
