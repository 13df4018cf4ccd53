"""Request types for type checking: what the middleware guarantees about a request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from accounts.models import ApiToken, User


class StudioRequest(HttpRequest):
    """Any request that went through the studio's middleware (django-htmx included)."""

    htmx: HtmxDetails


class AuthenticatedRequest(StudioRequest):
    """A page behind LoginRequiredMiddleware: `user` is a signed-in person."""

    user: User  # the middleware refused anonymous requests


class ApiRequest(StudioRequest):
    """A /v1/ request that passed bearer-token authentication."""

    api_token: ApiToken
    api_user: User
