"""Writes about people: creating accounts (with their starting credits)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from .ledger import credits_grant, wallet_for_user
from .models import User


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
