from django.contrib.auth import views as auth_views
from django.urls import include, path

from studio.ratelimit import throttle_post

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        throttle_post(scope="login", setting="STUDIO_LOGIN_RATE")(auth_views.LoginView.as_view()),
        name="login",
    ),
    path("password_reset/", views.password_reset, name="password_reset"),
    path("", include("django.contrib.auth.urls")),
]
