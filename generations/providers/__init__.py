"""Provider clients: one small module per provider, all with the same two calls.

`provider_client(name)` builds the client for a provider from settings (base URL and key);
the rest of the studio only ever sees the types of `base`.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from .apiframe import ApiframeClient
from .base import ErrorKind, ProviderClient, ProviderError, ProviderTask, TaskStatus
from .modelstream import ModelStreamClient

__all__ = [
    "ErrorKind",
    "ProviderClient",
    "ProviderError",
    "ProviderTask",
    "TaskStatus",
    "provider_client",
]


def provider_client(name: str) -> ProviderClient:
    """The client for `name`, configured from the environment."""
    if name == "modelstream":
        return ModelStreamClient(
            base_url=settings.MODELSTREAM_API_BASE, api_key=settings.MODELSTREAM_API_KEY
        )
    if name == "apiframe":
        webhook_url = None
        if settings.APIFRAME_WEBHOOKS:
            webhook_url = settings.STUDIO_PUBLIC_URL + reverse("generations:webhook-apiframe")
        return ApiframeClient(
            base_url=settings.APIFRAME_API_BASE,
            api_key=settings.APIFRAME_API_KEY,
            webhook_url=webhook_url,
        )
    raise KeyError(f"No provider named {name!r}")
