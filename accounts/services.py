"""Writes about people: creating accounts (with their starting credits)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from .ledger import credits_grant, wallet_for_team, wallet_for_user
from .models import ApiToken, Invitation, Membership, Team, User


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str = "",
    password: str | None,
    starting_credits: int = 0,
    is_staff: bool = False,
    is_superuser: bool = False,
    reason: str = "",
) -> User:
    """Create an account and its wallet; grant `starting_credits` as a ledger entry."""
    user = User(username=username, email=email, is_staff=is_staff, is_superuser=is_superuser)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    wallet = wallet_for_user(user=user)
    if starting_credits > 0:
        credits_grant(
            wallet=wallet, amount=starting_credits, actor=None, reason=reason or "Starting credits"
        )
    return user


def user_signup(*, username: str, email: str, password: str) -> User:
    """An account made through the sign-up page starts with STUDIO_SIGNUP_CREDITS."""
    return user_create(
        username=username,
        email=email,
        password=password,
        starting_credits=max(settings.STUDIO_SIGNUP_CREDITS, 0),
        reason="Sign-up credits",
    )


# --- Teams --------------------------------------------------------------------------------

INVITE_LINK_DAYS = 7
INVITE_USER_DAYS = 30


class TeamActionRefused(Exception):
    """A team action the person may not take; the message says why."""


def _can_manage(membership: Membership | None) -> bool:
    return membership is not None and membership.role in (
        Membership.Role.OWNER,
        Membership.Role.ADMIN,
    )


def team_permissions(
    *, actor: Membership | None, target: Membership | None = None
) -> dict[str, bool]:
    """What `actor` may do in the team (and to `target`, a membership of the same team).

    Owners and admins invite, remove and change roles; only owners touch owners or make owners;
    nobody removes themselves (that is leaving). Monthly caps: admins set members' caps, owners
    set admins' and members' caps too, and no one sets their own (nor an owner's).
    """
    manage = _can_manage(actor)
    is_owner = actor is not None and actor.role == Membership.Role.OWNER
    on_other = target is not None and actor is not None and target.pk != actor.pk
    target_is_owner = target is not None and target.role == Membership.Role.OWNER
    return {
        "view": actor is not None,
        "invite": manage,
        "remove": manage and on_other and (is_owner or not target_is_owner),
        "change_role": manage and on_other and (is_owner or not target_is_owner),
        "make_owner": is_owner,
        "set_cap": manage,  # someone's cap on this page (which ones: `set_cap_of`)
        "set_cap_of": manage
        and on_other
        and not target_is_owner
        and (is_owner or (target is not None and target.role == Membership.Role.MEMBER)),
        "rename": is_owner,
        "manage_generations": manage,
    }


def _locked_memberships(team: Team) -> list[Membership]:
    return list(Membership.objects.select_for_update(no_key=True).filter(team=team).order_by("pk"))


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "team"
    slug, number = base, 2
    while Team.objects.filter(slug=slug).exists():
        slug, number = f"{base}-{number}", number + 1
    return slug


@transaction.atomic
def team_create(*, name: str, creator: User) -> Team:
    """A new team with its wallet; the creator is its owner."""
    name = name.strip()
    if not name:
        raise TeamActionRefused("A team needs a name.")
    team = Team.objects.create(name=name, slug=_unique_slug(name), created_by=creator)
    wallet_for_team(team=team)
    Membership.objects.create(team=team, user=creator, role=Membership.Role.OWNER)
    return team


def _invitation(
    *, team: Team, by: User, role: str, invited_user: User | None, days: int
) -> Invitation:
    actor = Membership.objects.filter(team=team, user=by).first()
    if not team_permissions(actor=actor)["invite"]:
        raise TeamActionRefused("Only the team's owners and admins can invite people.")
    if role not in (Membership.Role.MEMBER, Membership.Role.ADMIN):
        raise TeamActionRefused("An invitation makes a member or an admin.")
    return Invitation.objects.create(
        team=team,
        created_by=by,
        invited_user=invited_user,
        role=role,
        token=secrets.token_urlsafe(24),
        expires_at=timezone.now() + timedelta(days=days),
    )


def team_invite_user(*, team: Team, by: User, username: str, role: str = "member") -> Invitation:
    """Invite one person by username; they accept it on their teams page."""
    invited = User.objects.filter(username__iexact=username.strip()).first()
    if invited is None:
        raise TeamActionRefused(f"Nobody is called {username.strip()!r}.")
    if Membership.objects.filter(team=team, user=invited).exists():
        raise TeamActionRefused(f"{invited.username} is already in {team.name}.")
    Invitation.objects.filter(
        team=team, invited_user=invited, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    return _invitation(team=team, by=by, role=role, invited_user=invited, days=INVITE_USER_DAYS)


def team_invite_link(
    *, team: Team, by: User, role: str = "member", days: int = INVITE_LINK_DAYS
) -> Invitation:
    """An invite link that works once, until it expires."""
    return _invitation(team=team, by=by, role=role, invited_user=None, days=days)


def invitation_usable(invitation: Invitation, *, user: User) -> str | None:
    """Why the invitation cannot be used by `user`, or None when it can."""
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn."
    if invitation.used_at is not None:
        return "This invitation has already been used."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask the team for a new one."
    if invitation.invited_user_id and invitation.invited_user_id != user.pk:
        return "This invitation is for someone else."
    return None


def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the team of an invitation; it works once (the row is locked while it is used)."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update(no_key=True).filter(token=token).first()
        if invitation is None:
            raise TeamActionRefused("This invitation does not exist.")
        problem = invitation_usable(invitation, user=user)
        if problem:
            raise TeamActionRefused(problem)
        membership, created = Membership.objects.get_or_create(
            team=invitation.team, user=user, defaults={"role": invitation.role}
        )
        if not created:
            raise TeamActionRefused(f"You are already in {invitation.team.name}.")
        invitation.used_at = timezone.now()
        invitation.used_by = user
        invitation.save(update_fields=["used_at", "used_by"])
    return membership


def invitation_decline(*, invitation: Invitation, user: User) -> None:
    if invitation.invited_user_id != user.pk:
        raise TeamActionRefused("This invitation is for someone else.")
    Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def invitation_revoke(*, invitation: Invitation, by: User) -> None:
    actor = Membership.objects.filter(team=invitation.team, user=by).first()
    if not team_permissions(actor=actor)["invite"]:
        raise TeamActionRefused("Only the team's owners and admins can withdraw invitations.")
    Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def team_member_remove(*, team: Team, by: User, user: User) -> None:
    """Remove someone from the team; they lose access at once, their team work stays."""
    with transaction.atomic():
        memberships = {m.user_id: m for m in _locked_memberships(team)}
        actor, target = memberships.get(by.pk), memberships.get(user.pk)
        if target is None:
            raise TeamActionRefused(f"{user.username} is not in {team.name}.")
        if not team_permissions(actor=actor, target=target)["remove"]:
            raise TeamActionRefused("You may not remove this person.")
        owners = [m for m in memberships.values() if m.role == Membership.Role.OWNER]
        if target.role == Membership.Role.OWNER and len(owners) == 1:
            raise TeamActionRefused("The last owner cannot be removed.")
        target.delete()
        User.objects.filter(pk=user.pk, preferred_team=team).update(preferred_team=None)


def team_leave(*, team: Team, user: User) -> None:
    """Leave a team; the last owner cannot (make someone else an owner first)."""
    with transaction.atomic():
        memberships = {m.user_id: m for m in _locked_memberships(team)}
        mine = memberships.get(user.pk)
        if mine is None:
            raise TeamActionRefused(f"You are not in {team.name}.")
        owners = [m for m in memberships.values() if m.role == Membership.Role.OWNER]
        if mine.role == Membership.Role.OWNER and len(owners) == 1:
            raise TeamActionRefused(
                "You are the team's last owner: make someone else an owner before you leave."
            )
        mine.delete()
        User.objects.filter(pk=user.pk, preferred_team=team).update(preferred_team=None)


def team_member_set_role(*, team: Team, by: User, user: User, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise TeamActionRefused("Unknown role.")
    with transaction.atomic():
        memberships = {m.user_id: m for m in _locked_memberships(team)}
        actor, target = memberships.get(by.pk), memberships.get(user.pk)
        if target is None:
            raise TeamActionRefused(f"{user.username} is not in {team.name}.")
        allowed = team_permissions(actor=actor, target=target)
        if not allowed["change_role"] or (
            role == Membership.Role.OWNER and not allowed["make_owner"]
        ):
            raise TeamActionRefused("You may not give this person that role.")
        owners = [m for m in memberships.values() if m.role == Membership.Role.OWNER]
        if (
            target.role == Membership.Role.OWNER
            and role != Membership.Role.OWNER
            and len(owners) == 1
        ):
            raise TeamActionRefused("The last owner cannot stop being an owner.")
        target.role = role
        target.save(update_fields=["role"])
    return target


def team_member_set_cap(*, team: Team, by: User, user: User, cap: int | None) -> Membership:
    """Set a member's monthly credit cap on the team's wallet (None: no cap)."""
    actor = Membership.objects.filter(team=team, user=by).first()
    if not team_permissions(actor=actor)["set_cap"]:
        raise TeamActionRefused("Only the team's owners and admins can set caps.")
    if cap is not None and cap < 0:
        raise TeamActionRefused("A cap cannot be negative.")
    target = Membership.objects.filter(team=team, user=user).first()
    if target is None:
        raise TeamActionRefused(f"{user.username} is not in {team.name}.")
    if not team_permissions(actor=actor, target=target)["set_cap_of"]:
        if actor is not None and target.pk == actor.pk:
            raise TeamActionRefused("No one sets their own cap; another owner can.")
        if target.role == Membership.Role.OWNER:
            raise TeamActionRefused("An owner's spending has no cap set by others.")
        raise TeamActionRefused("Only the team's owners set an admin's cap.")
    target.monthly_credit_cap = cap
    target.save(update_fields=["monthly_credit_cap"])
    return target


def user_set_default_team(*, user: User, team: Team | None) -> None:
    """Set where the create page pays from by default (None: the person's own credits).

    Only the person's own choice on their account page sets it: paying once for a team never
    changes it, so personal work is not paid by a team by accident."""
    if team is not None and not team.memberships.filter(user=user).exists():
        raise TeamActionRefused(f"{user.username} is not in {team.name}.")
    if user.preferred_team_id != (team.pk if team else None):
        User.objects.filter(pk=user.pk).update(preferred_team=team)
        user.preferred_team = team


# --- API tokens ---------------------------------------------------------------------------

TOKEN_MARK = "stk"


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


API_TOKENS_PER_PERSON = 20


class TokenLimitReached(Exception):
    """The person already holds API_TOKENS_PER_PERSON live tokens."""


def api_tokens_live(*, user: User):
    now = timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(expires_at__lte=now)


@transaction.atomic
def api_token_create(
    *, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token; returns the row and the token itself, which is shown once and never stored.
    A person holds at most API_TOKENS_PER_PERSON live tokens."""
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    if api_tokens_live(user=user).count() >= API_TOKENS_PER_PERSON:
        raise TokenLimitReached(
            f"You hold {API_TOKENS_PER_PERSON} tokens, the most one person may; revoke one you "
            "no longer use first."
        )
    name = name.strip() or "API token"
    prefix = f"{TOKEN_MARK}_{secrets.token_hex(4)}"
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user, name=name[:80], prefix=prefix, key_hash=_token_hash(raw), expires_at=expires_at
    )
    return token, raw


def api_token_revoke(*, token: ApiToken, by: User) -> None:
    if token.user_id != by.pk:
        raise PermissionError("Only the token's owner can revoke it.")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token `raw` names (not revoked, not expired, its person active), or None."""
    if not raw or not raw.startswith(f"{TOKEN_MARK}_") or len(raw) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
