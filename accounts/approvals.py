"""Credit grants made in the admin above STUDIO_CREDIT_APPROVAL_THRESHOLD: one staff member asks,
a second one who may move credits (`accounts.adjust_credits`) approves or refuses; the one who
asked never approves their own. Below the threshold, and for deductions, the admin's change is
applied at once. The `grant_credits` command (an operator's tool) is never held.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .ledger import ChargeRefused, credits_adjust_many, credits_grant
from .models import CreditGrantRequest, LedgerEntry, User, Wallet

MOVE_CREDITS = "accounts.adjust_credits"


class ApprovalRefused(Exception):
    """The approval or refusal may not happen; the message says why."""


@dataclass
class AdminAdjustment:
    changed: list[Wallet] = field(default_factory=list)
    held: list[CreditGrantRequest] = field(default_factory=list)
    refused: list[tuple[Wallet, ChargeRefused]] = field(default_factory=list)


def grant_needs_approval(amount: int) -> bool:
    return amount > settings.STUDIO_CREDIT_APPROVAL_THRESHOLD


def credits_adjust_from_admin(
    *, wallets: list[Wallet], amount: int, actor: User, reason: str
) -> AdminAdjustment:
    """An admin's grant or deduction on each wallet: applied now, or (a grant above the
    threshold) held as a request for a second admin to approve."""
    if not reason.strip():
        raise ValueError("A reason is required.")
    if not grant_needs_approval(amount):
        changed, refused = credits_adjust_many(
            wallets=wallets, amount=amount, actor=actor, reason=reason
        )
        return AdminAdjustment(changed=changed, refused=refused)
    held = [
        CreditGrantRequest.objects.create(
            wallet=wallet, amount=amount, reason=reason, requested_by=actor
        )
        for wallet in wallets
    ]
    return AdminAdjustment(held=held)


def _pending_for_decision(grant_id: int, by: User) -> CreditGrantRequest:
    grant = (
        CreditGrantRequest.objects.select_for_update()
        .select_related("wallet", "requested_by")
        .get(pk=grant_id)
    )
    if grant.state != CreditGrantRequest.State.PENDING:
        raise ApprovalRefused(f"Already {grant.get_state_display().lower()}.")
    if not by.has_perm(MOVE_CREDITS):
        raise ApprovalRefused("Only staff who may move credits decide on grants.")
    return grant


@transaction.atomic
def grant_request_approve(*, grant_id: int, by: User) -> LedgerEntry:
    """Approve a held grant: the ledger gets the grant, with who asked and who approved."""
    grant = _pending_for_decision(grant_id, by)
    if grant.requested_by_id == by.pk:
        raise ApprovalRefused("You asked for this grant; another admin has to approve it.")
    entry = credits_grant(
        wallet=grant.wallet,
        amount=grant.amount,
        actor=by,
        reason=f"{grant.reason} (asked by {grant.requested_by}, approved by {by})"[:300],
    )
    grant.state = CreditGrantRequest.State.APPROVED
    grant.decided_by, grant.decided_at, grant.entry = by, timezone.now(), entry
    grant.save(update_fields=["state", "decided_by", "decided_at", "entry"])
    return entry


@transaction.atomic
def grant_request_refuse(*, grant_id: int, by: User) -> CreditGrantRequest:
    """Refuse a held grant (the one who asked may withdraw it): nothing moves."""
    grant = _pending_for_decision(grant_id, by)
    grant.state = CreditGrantRequest.State.REFUSED
    grant.decided_by, grant.decided_at = by, timezone.now()
    grant.save(update_fields=["state", "decided_by", "decided_at"])
    return grant
