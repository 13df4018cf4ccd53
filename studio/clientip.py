"""The client's address, trusting X-Forwarded-For only as far as the configured proxies."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or with STUDIO_TRUSTED_PROXY_COUNT = N, the address N hops back in
    X-Forwarded-For (what the first trusted proxy saw), so a client cannot forge it."""
    proxies = getattr(settings, "STUDIO_TRUSTED_PROXY_COUNT", 0)
    if proxies:
        hops = [
            hop.strip()
            for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if hop.strip()
        ]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
