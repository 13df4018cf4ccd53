"""Provider clients: one small module per provider, all with the same two calls.

`provider_client(name)` builds the client for a provider from settings (base URL and key);
the rest of the studio only ever sees the types of `base`. `health` keeps each provider's
circuit breaker. docs/providers.md says how to add a provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse

from .apiframe import ApiframeClient
from .base import ErrorKind, ProviderClient, ProviderError, ProviderTask, TaskStatus
from .modelstream import ModelStreamClient

if TYPE_CHECKING:
    from generations.catalog import CatalogModel

__all__ = [
    "ErrorKind",
    "ProviderClient",
    "ProviderError",
    "ProviderTask",
    "TaskStatus",
    "catalog_field_for_param",
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


def catalog_field_for_param(model: CatalogModel, param: str) -> str:
    """The form field a provider's `error.param` names, or '' when none matches.

    Providers name a parameter by its leaf (`duration`), its full path
    (`metadata.parameters.duration`, `wanParams.duration`) or with brackets; the catalog
    knows where each field goes on the wire, so the match is made there.
    """
    wanted = param.replace("[", ".").replace("]", "").strip(". ")
    if not wanted:
        return ""
    for field in model.fields:
        if field.wire == wanted or field.name == wanted:
            return field.name
    for field in model.fields:
        if field.wire.endswith("." + wanted) or wanted.endswith("." + field.wire_path[-1]):
            return field.name
    return ""
