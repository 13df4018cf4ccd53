from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import User


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        required=True, help_text="For password resets. Never shown to anyone else."
    )

    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]
        model = User
        fields = ("username", "email")


class CreditAdjustmentForm(forms.Form):
    """An admin's grant (positive) or deduction (negative), with the reason the ledger keeps."""

    amount = forms.IntegerField(
        help_text="Credits to add (to each wallet, when several are chosen); a negative number deducts.",
        min_value=-1_000_000,
        max_value=1_000_000,
    )
    reason = forms.CharField(
        max_length=300, help_text="Kept in the ledger with your name, for everyone to see why."
    )

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter an amount other than 0.")
        return amount

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why: the ledger keeps the reason.")
        return reason


class UsagePeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The end must not be before the start.")
            elif (end - start).days > 366:
                self.add_error("end", "Choose a period of at most a year.")
        return cleaned


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="You can invite people once the team exists.")


ROLE_CHOICES = [("member", "Member"), ("admin", "Admin")]


class InviteUserForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="member")


class InviteLinkForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="member")
    days = forms.IntegerField(min_value=1, max_value=30, initial=7, label="Valid for (days)")

    def __init__(self, *args, **kwargs):
        # It shares its page with InviteUserForm, which has a `role` too: ids must differ so
        # each label names its own control (the field names stay as they are).
        kwargs.setdefault("auto_id", "id_link_%s")
        super().__init__(*args, **kwargs)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=[("member", "Member"), ("admin", "Admin"), ("owner", "Owner")])


class MemberCapForm(forms.Form):
    cap = forms.IntegerField(
        min_value=0,
        required=False,
        label="Monthly cap",
        help_text="Credits a month; empty for no cap.",
        widget=forms.NumberInput(attrs={"placeholder": "No cap"}),
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, initial="My script", help_text="To recognise it later.")
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        label="Expires after (days)",
        help_text="Empty: it lasts until you revoke it.",
    )
