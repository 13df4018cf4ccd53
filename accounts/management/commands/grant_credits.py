"""`manage.py grant_credits USERNAME_OR_TEAM AMOUNT --reason "..."` for operations."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.ledger import (
    InsufficientCredits,
    credits_adjust,
    credits_grant,
    wallet_for_team,
    wallet_for_user,
)
from accounts.models import Team, User


class Command(BaseCommand):
    help = "Grant (or, with a negative amount, deduct) credits for a user (by username) or a team (by slug)."

    def add_arguments(self, parser):
        parser.add_argument(
            "target", help="a username, or a team's slug (team:SLUG to be explicit)"
        )
        parser.add_argument("amount", type=int, help="credits to add; negative deducts")
        parser.add_argument("--reason", required=True, help="kept in the ledger")

    def handle(self, *args, target: str, amount: int, reason: str, **options):
        if amount == 0:
            raise CommandError("The amount must not be 0.")
        if not reason.strip():
            raise CommandError("A reason is required.")
        explicit_team = target.startswith("team:")
        name = target.removeprefix("team:")
        user = None if explicit_team else User.objects.filter(username=name).first()
        team = None if user else Team.objects.filter(slug=name).first()
        if user is None and team is None:
            raise CommandError(f"No user or team called {name!r}.")
        if user is not None and Team.objects.filter(slug=name).exists():
            self.stderr.write(
                f"Both a user and a team are called {name!r}; using the user (write team:{name} for the team)."
            )
        if user is not None:
            wallet = wallet_for_user(user=user)
        else:
            assert team is not None  # checked above
            wallet = wallet_for_team(team=team)
        try:
            if amount > 0:
                credits_grant(wallet=wallet, amount=amount, actor=None, reason=reason)
            else:
                credits_adjust(wallet=wallet, amount=amount, actor=None, reason=reason)
        except InsufficientCredits as error:
            raise CommandError(str(error)) from None
        wallet.refresh_from_db()
        self.stdout.write(
            f"{wallet.owner_label}: {amount:+d} credits; balance now {wallet.balance}."
        )
