from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from generations import views as generation_views

from . import health
from .ratelimit import throttle_post

# The admin says whose it is: the studio's name, not the framework's.
admin.site.site_header = "Studio administration"
admin.site.site_title = "Studio admin"
admin.site.index_title = "Run the studio"

urlpatterns = [
    path("admin/usage/", account_views.usage, name="admin-usage"),
    # The admin's sign-in shares the studio's login limit (per client address) and lockout.
    path(
        "admin/login/",
        throttle_post(scope="login", setting="STUDIO_LOGIN_RATE")(admin.site.login),
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("account/", account_views.account, name="account"),
    path("account/tokens/", account_views.api_token_new, name="api-token-new"),
    path("account/default-wallet/", account_views.default_wallet, name="account-default-wallet"),
    path(
        "account/webhooks/<str:id>/send-again/",
        generation_views.webhook_send_again,
        name="webhook-send-again",
    ),
    path(
        "account/tokens/<int:id>/revoke/",
        account_views.api_token_revoke_view,
        name="api-token-revoke",
    ),
    path("teams/", include("accounts.team_urls")),
    path("healthz", health.healthz, name="healthz"),
    path("v1/", include("generations.api_urls")),
    path("api/", generation_views.api_reference, name="api-reference"),
    path("", include("generations.urls")),
]
