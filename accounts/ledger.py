"""The ledger services: every movement of credits goes through these functions.

A wallet's balance is kept beside its entries and changed only here, in the same transaction
as the entry, so the balance always equals the sum of the ledger. The database refuses a
negative balance and a second refund for one generation; these functions rely on that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from .models import LedgerEntry, Membership, Team, User, Wallet

if TYPE_CHECKING:
    from generations.models import Generation


class ChargeRefused(Exception):
    """A charge that must not happen; its message says why and what would fix it."""


@dataclass
class InsufficientCredits(ChargeRefused):
    """The wallet cannot pay `price`; `balance` is what it holds."""

    price: int
    balance: int
    wallet_label: str = ""
    deduction: bool = False

    @property
    def shortfall(self) -> int:
        return max(self.price - self.balance, 0)

    def __str__(self) -> str:
        holder = self.wallet_label or "the wallet"
        if self.deduction:
            return f"cannot deduct {self.price} credits: {holder} holds only {self.balance}."
        return (
            f"This costs {self.price} credits but {holder} holds {self.balance}: "
            f"{self.shortfall} more needed."
        )


@dataclass
class MonthlyCapExceeded(ChargeRefused):
    """A team member would spend more of the team's credits this month than their cap allows."""

    price: int
    cap: int
    spent: int
    team_name: str

    def __str__(self) -> str:
        left = max(self.cap - self.spent, 0)
        return (
            f"This costs {self.price} credits, but your monthly cap for {self.team_name} is "
            f"{self.cap} and you have {left} left this month. A team admin can raise the cap."
        )


@dataclass
class NotATeamMember(ChargeRefused):
    team_name: str

    def __str__(self) -> str:
        return f"You are not a member of {self.team_name}, so you cannot spend its credits."


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month, in UTC."""
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def credits_member_spent_this_month(*, team: Team, user: User, now: datetime | None = None) -> int:
    """Credits net of refunds that `user` spent from the team's wallet on this month's generations."""
    total = LedgerEntry.objects.filter(
        wallet__team=team,
        generation__owner=user,
        generation__created_at__gte=month_start(now),
        kind__in=[LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.REFUND],
    ).aggregate(total=Sum("amount"))["total"]
    return -(total or 0)


def wallet_for_user(*, user: User) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(user=user)
    return wallet


def wallet_for_team(*, team: Team) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(team=team)
    return wallet


def _credit(*, wallet: Wallet, amount: int) -> None:
    Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)


def _debit(*, wallet: Wallet, amount: int, deduction: bool = False) -> None:
    """Take `amount` (>= 0) if and only if the wallet holds it, in one conditional UPDATE."""
    updated = Wallet.objects.filter(pk=wallet.pk, balance__gte=amount).update(
        balance=F("balance") - amount
    )
    if not updated:
        balance = Wallet.objects.values_list("balance", flat=True).get(pk=wallet.pk)
        raise InsufficientCredits(
            price=amount, balance=balance, wallet_label=wallet.owner_label, deduction=deduction
        )


@transaction.atomic
def credits_grant(*, wallet: Wallet, amount: int, actor: User | None, reason: str) -> LedgerEntry:
    """Add `amount` (> 0) credits to a wallet."""
    if amount <= 0:
        raise ValueError("A grant must be positive; use credits_adjust to deduct.")
    _credit(wallet=wallet, amount=amount)
    return LedgerEntry.objects.create(
        wallet=wallet, amount=amount, kind=LedgerEntry.Kind.GRANT, actor=actor, reason=reason
    )


@transaction.atomic
def credits_adjust(*, wallet: Wallet, amount: int, actor: User | None, reason: str) -> LedgerEntry:
    """Add (amount > 0) or deduct (amount < 0) credits by hand; never below zero."""
    if amount == 0:
        raise ValueError("An adjustment of 0 changes nothing.")
    if amount > 0:
        _credit(wallet=wallet, amount=amount)
    else:
        _debit(wallet=wallet, amount=-amount, deduction=True)
    return LedgerEntry.objects.create(
        wallet=wallet, amount=amount, kind=LedgerEntry.Kind.ADJUSTMENT, actor=actor, reason=reason
    )


def credits_charge(
    *, wallet: Wallet, amount: int, actor: User, generation: Generation, reason: str = ""
) -> LedgerEntry:
    """Charge a generation's price. Call inside the transaction that creates the generation.

    For a team's wallet the person must be a member, and the charge must fit their monthly cap;
    the membership row is locked for the check, so concurrent submits cannot both slip under it.
    Raises a ChargeRefused (and changes nothing) when the charge must not happen.
    """
    if amount < 0:
        raise ValueError("A price cannot be negative.")
    with transaction.atomic():
        if wallet.team_id:
            membership = (
                Membership.objects.select_for_update(no_key=True)
                .select_related("team")
                .filter(team_id=wallet.team_id, user=actor)
                .first()
            )
            if membership is None:
                raise NotATeamMember(team_name=str(wallet.team))
            if membership.monthly_credit_cap is not None:
                spent = credits_member_spent_this_month(team=membership.team, user=actor)
                if spent + amount > membership.monthly_credit_cap:
                    raise MonthlyCapExceeded(
                        price=amount,
                        cap=membership.monthly_credit_cap,
                        spent=spent,
                        team_name=membership.team.name,
                    )
        _debit(wallet=wallet, amount=amount)
        return LedgerEntry.objects.create(
            wallet=wallet,
            amount=-amount,
            kind=LedgerEntry.Kind.CHARGE,
            actor=actor,
            generation=generation,
            reason=reason or f"{generation.model_key}",
        )


def credits_refund(
    *, generation: Generation, reason: str, actor: User | None = None
) -> LedgerEntry | None:
    """Give back what a generation was charged, at most once whatever retries or races happen.

    Returns the refund entry, or None when there was nothing to refund or it was refunded before.
    """
    charge = (
        LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE)
        .select_related("wallet")
        .first()
    )
    if charge is None or charge.amount == 0:
        return None
    if LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND).exists():
        return None
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                wallet=charge.wallet,
                amount=-charge.amount,
                kind=LedgerEntry.Kind.REFUND,
                actor=actor,
                generation=generation,
                reason=reason[:300],
            )
            _credit(wallet=charge.wallet, amount=-charge.amount)
    except IntegrityError:
        # Another process refunded it between our check and our insert: the unique
        # constraint kept it to one refund.
        return None
    return entry


def credits_adjust_many(
    *, wallets: list[Wallet], amount: int, actor: User, reason: str
) -> tuple[list[Wallet], list[tuple[Wallet, ChargeRefused]]]:
    """Grant (amount > 0) or deduct (amount < 0) the same amount on several wallets.

    Each wallet is its own transaction: a deduction a wallet cannot cover is refused for that
    wallet alone. Returns the wallets changed and the refusals.
    """
    if not reason.strip():
        raise ValueError("A reason is required.")
    changed: list[Wallet] = []
    refused: list[tuple[Wallet, ChargeRefused]] = []
    for wallet in wallets:
        try:
            if amount > 0:
                credits_grant(wallet=wallet, amount=amount, actor=actor, reason=reason)
            else:
                credits_adjust(wallet=wallet, amount=amount, actor=actor, reason=reason)
        except InsufficientCredits as error:
            refused.append((wallet, error))
        else:
            changed.append(wallet)
    return changed, refused
