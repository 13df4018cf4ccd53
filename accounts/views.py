from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .forms import SignupForm
from .selectors import ledger_recent_for_user, wallets_for_user
from .services import user_signup


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("generations:create")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_signup(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("generations:create")
    return render(request, "registration/signup.html", {"form": form})


@require_GET
def account(request: HttpRequest) -> HttpResponse:
    context = {
        "wallets": wallets_for_user(user=request.user),
        "entries": ledger_recent_for_user(user=request.user),
    }
    return render(request, "accounts/account.html", context)
