from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views

from . import health

urlpatterns = [
    path("admin/usage/", account_views.usage, name="admin-usage"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("account/", account_views.account, name="account"),
    path("teams/", include("accounts.team_urls")),
    path("healthz", health.healthz, name="healthz"),
    path("", include("generations.urls")),
]
