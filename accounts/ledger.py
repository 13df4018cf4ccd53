"""The ledger services: every movement of credits goes through these functions.

A wallet's balance is kept beside its entries and changed only here, in the same transaction
as the entry, so the balance always equals the sum of the ledger. The database refuses a
negative balance and a second refund for one generation; these functions rely on that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import LedgerEntry, Team, User, Wallet

if TYPE_CHECKING:
    from generations.models import Generation


@dataclass
class InsufficientCredits(Exception):
    """The wallet cannot pay `price`; `balance` is what it holds."""

    price: int
    balance: int
    wallet_label: str = ""

    @property
    def shortfall(self) -> int:
        return max(self.price - self.balance, 0)

    def __str__(self) -> str:
        return (
            f"This costs {self.price} credits but {self.wallet_label or 'the wallet'} holds "
            f"{self.balance}: {self.shortfall} more needed."
        )


def wallet_for_user(*, user: User) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(user=user)
    return wallet


def wallet_for_team(*, team: Team) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(team=team)
    return wallet


def _credit(*, wallet: Wallet, amount: int) -> None:
    Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)


def _debit(*, wallet: Wallet, amount: int) -> None:
    """Take `amount` (>= 0) if and only if the wallet holds it, in one conditional UPDATE."""
    updated = Wallet.objects.filter(pk=wallet.pk, balance__gte=amount).update(
        balance=F("balance") - amount
    )
    if not updated:
        balance = Wallet.objects.values_list("balance", flat=True).get(pk=wallet.pk)
        raise InsufficientCredits(price=amount, balance=balance, wallet_label=wallet.owner_label)


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
        _debit(wallet=wallet, amount=-amount)
    return LedgerEntry.objects.create(
        wallet=wallet, amount=amount, kind=LedgerEntry.Kind.ADJUSTMENT, actor=actor, reason=reason
    )


def credits_charge(
    *, wallet: Wallet, amount: int, actor: User, generation: Generation, reason: str = ""
) -> LedgerEntry:
    """Charge a generation's price. Call inside the transaction that creates the generation.

    Raises InsufficientCredits (and changes nothing) when the wallet cannot pay.
    """
    if amount < 0:
        raise ValueError("A price cannot be negative.")
    with transaction.atomic():
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
