import csv
import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.http import AuthenticatedRequest, StudioRequest
from studio.ratelimit import rate_limit_hit, rate_parse, throttle_post

from .charts import bar_chart, column_chart
from .forms import ApiTokenForm, SignupForm, UsagePeriodForm
from .selectors import (
    api_token_get_for_owner,
    api_tokens_for_user,
    ledger_recent_for_user,
    storage_used_by_user,
    teams_for_user,
    wallets_for_user,
)
from .services import (
    TokenLimitReached,
    api_token_create,
    api_token_revoke,
    user_set_default_team,
    user_signup,
)
from .usage import usage_csv_rows, usage_report


@login_not_required
@require_http_methods(["GET", "POST"])
@throttle_post(scope="signup", setting="STUDIO_SIGNUP_RATE")
def signup(request: StudioRequest) -> HttpResponse:
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
        credits = max(settings.STUDIO_SIGNUP_CREDITS, 0)
        if credits:
            messages.success(
                request,
                f"Welcome, {user.username}! You have {credits} free credits to start with.",
            )
        return redirect("generations:create")
    context = {"form": form, "signup_credits": max(settings.STUDIO_SIGNUP_CREDITS, 0)}
    return render(request, "registration/signup.html", context)


@require_GET
def account(request: AuthenticatedRequest) -> HttpResponse:
    return _account_page(request)


def _account_page(
    request: AuthenticatedRequest,
    *,
    token_form=None,
    new_token=None,
    new_token_secret=None,
    status=200,
) -> HttpResponse:
    from generations.api_webhooks import webhook_deliveries_for
    from generations.sharing import generations_shared_by

    context = {
        "wallets": wallets_for_user(user=request.user),
        "entries": ledger_recent_for_user(user=request.user),
        "storage": storage_used_by_user(user=request.user),
        "shared": generations_shared_by(user=request.user),
        "tokens": api_tokens_for_user(user=request.user),
        "token_form": token_form or ApiTokenForm(),
        "new_token": new_token,
        "new_token_secret": new_token_secret,
        "deliveries": webhook_deliveries_for(user=request.user),
    }
    return render(request, "accounts/account.html", context, status=status)


@require_POST
def api_token_new(request: AuthenticatedRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _account_page(request, token_form=form, status=400)
    try:
        token, raw = api_token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except TokenLimitReached as error:
        form.add_error("name", str(error))
        return _account_page(request, token_form=form, status=400)
    # Shown in this one response only; it is stored hashed and cannot be shown again.
    response = _account_page(request, new_token=raw, new_token_secret=token.webhook_secret)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def default_wallet(request: AuthenticatedRequest) -> HttpResponse:
    """Choose where the create page pays from by default: one's own credits or a team."""
    slug = request.POST.get("team", "")
    team = None
    if slug:
        team = next(
            (m.team for m in teams_for_user(user=request.user) if m.team.slug == slug), None
        )
        if team is None:
            messages.error(request, "Choose one of your teams, or your own credits.")
            return redirect("account")
    user_set_default_team(user=request.user, team=team)
    where = f"team {team.name}" if team else "your own credits"
    messages.success(request, f"New videos are now paid from {where} unless you choose otherwise.")
    return redirect("account")


@require_POST
def api_token_revoke_view(request: AuthenticatedRequest, id: int) -> HttpResponse:
    token = api_token_get_for_owner(user=request.user, id=id)
    api_token_revoke(token=token, by=request.user)
    messages.success(request, f"Revoked {token.name} ({token.prefix}…); it stops working at once.")
    return redirect("account")


@staff_member_required
@permission_required("accounts.view_usage", raise_exception=True)
@require_GET
def usage(request: AuthenticatedRequest) -> HttpResponse:
    """Credits spent per day, model, person and team over a chosen period; CSV on request."""
    today = timezone.now().date()
    form = UsagePeriodForm(request.GET or {"start": today - timedelta(days=29), "end": today})
    if form.is_valid():
        report = usage_report(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    else:
        report = usage_report(start=today - timedelta(days=29), end=today)
    if request.GET.get("format") == "csv" and form.is_valid():
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="usage-{report.start}-{report.end}.csv"'
        )
        writer = csv.writer(response)
        for row in usage_csv_rows(report):
            # Cells a spreadsheet would read as a formula are neutralised so it never runs them.
            writer.writerow(
                ["'" + c if c[:1] in FORMULA_STARTS and not _number(c) else c for c in row]
            )
        return response
    context = {
        **admin.site.each_context(request),
        "title": "Credit usage",
        "form": form,
        "report": report,
        "day_chart": column_chart(
            [(r.label, r.credits) for r in report.by_day], title="Credits per day"
        ),
        "model_chart": bar_chart(
            [(r.label, r.credits) for r in report.by_model], title="Credits per model"
        ),
        "user_chart": bar_chart(
            [(r.label, r.credits) for r in report.by_user[:15]], title="Credits per person"
        ),
        "team_chart": bar_chart(
            [(r.label, r.credits) for r in report.by_team[:15]], title="Credits per team"
        ),
        "csv_query": request.GET.urlencode(),
    }
    return render(request, "admin/usage.html", context)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_password_reset_view = auth_views.PasswordResetView.as_view()


@login_not_required
@throttle_post(scope="password-reset", setting="STUDIO_PASSWORD_RESET_RATE")
def password_reset(request: HttpRequest) -> HttpResponseBase:
    """Django's password reset, limited per client address (the decorator) and per email
    address typed: over either limit no email goes out and the page says when to try again.
    The same answer whether or not an account has that address."""
    if request.method == "POST":
        email = (request.POST.get("email") or "").strip().lower()
        if email:
            digest = hashlib.sha256(email.encode()).hexdigest()[:32]
            wait = rate_limit_hit(
                key=f"password-reset-email:{digest}",
                rate=rate_parse(settings.STUDIO_PASSWORD_RESET_EMAIL_RATE),
            )
            if wait is not None:
                response = render(
                    request, "429.html", {"retry_after": int(wait + 0.999)}, status=429
                )
                response["Retry-After"] = str(int(wait + 0.999))
                return response
    return _password_reset_view(request)
