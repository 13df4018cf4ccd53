from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import User


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        required=True, help_text="For password resets. Never shown to anyone else."
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")
