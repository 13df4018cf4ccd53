"""People, teams, their memberships, and the credit wallets with their append-only ledger."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class User(AbstractUser):
    """A person who signs in with a username and a password."""

    preferred_team = models.ForeignKey(
        "Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where new videos are paid from unless chosen otherwise: a team the person chose "
        "on their account page (empty: their own credits).",
    )

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]  # the stubs do not declare it
        swappable = "AUTH_USER_MODEL"


class Team(models.Model):
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)
    monthly_credit_cap = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most credits this member may spend from the team's wallet per calendar month "
        "(UTC); empty for no cap.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Wallet(models.Model):
    """Credits of one person or one team. The balance always equals the sum of the ledger."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="wallet",
    )
    team = models.OneToOneField(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="wallet"
    )
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    # Not stored: a member's cap on a team wallet and what they spent of it this month,
    # set by accounts.selectors for the pages that show them.
    cap: int | None
    spent: int | None

    class Meta:
        permissions = [
            ("adjust_credits", "Can grant or deduct credits"),
            ("view_usage", "Can see credit usage"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="wallet_balance_never_negative"
            ),
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="wallet_belongs_to_exactly_one_owner",
            ),
        ]

    def __str__(self) -> str:
        owner = self.user or self.team
        return f"Wallet of {owner}"

    @property
    def owner_label(self) -> str:
        if self.team_id:
            return f"Team {self.team}"
        return str(self.user)


class LedgerEntry(models.Model):
    """One append-only movement of credits; entries are never changed or deleted."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField(
        help_text="Signed: positive adds credits, negative spends them."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who made this entry (the person, or the admin who granted).",
    )
    reason = models.CharField(max_length=300, blank=True)
    generation = models.ForeignKey(
        "generations.Generation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["generation"],
                condition=Q(kind="refund"),
                name="ledger_one_refund_per_generation",
            ),
            models.UniqueConstraint(
                fields=["generation"],
                condition=Q(kind="charge"),
                name="ledger_one_charge_per_generation",
            ),
            models.CheckConstraint(
                condition=~Q(kind="charge") | Q(amount__lte=0), name="ledger_charge_is_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind="refund") | Q(amount__gte=0), name="ledger_refund_is_positive"
            ),
        ]
        indexes = [models.Index(fields=["wallet", "-created_at"], name="ledger_wallet_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} on {self.wallet}"


class Invitation(models.Model):
    """An invitation to join a team: addressed to one person, or an expiring link that works once."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    invited_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="invitations",
        help_text="Empty for a link anyone holding it may use (once).",
    )
    token = models.CharField(max_length=64, unique=True)
    role = models.CharField(
        max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="owner"), name="invitation_never_grants_ownership"
            ),
        ]

    def __str__(self) -> str:
        target = self.invited_user or "link"
        return f"Invitation to {self.team} ({target})"


def webhook_secret_new() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes, base64."""
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ApiToken(models.Model):
    """A bearer token for the studio's API: shown once, stored only as a hash. Its webhook
    signing secret signs the events sent for generations it made (shown once too)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(
        max_length=16, help_text="The token's visible start, to recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    webhook_secret = models.CharField(max_length=64, default=webhook_secret_new)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class CreditGrantRequest(models.Model):
    """A grant made in the admin above STUDIO_CREDIT_APPROVAL_THRESHOLD: held until a second
    staff member who may move credits approves it (never the one who asked) or refuses it."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REFUSED = "refused", "Refused"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="grant_requests")
    amount = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=300)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    entry = models.OneToOneField(
        LedgerEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grant_request",
        help_text="The ledger's grant, once approved.",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="approved") | Q(entry__isnull=False),
                name="grant_request_approved_has_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} credits for {self.wallet.owner_label} ({self.get_state_display()})"
