"""Fixed-window rate limits in the shared cache (database cache by default, Redis in production).

A rate is written like `30/m`: at most 30 hits per minute (`s`, `m`, `h`, `d` windows);
`0` or an empty string turns the limit off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

_WINDOWS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def rate_parse(text: str) -> Rate | None:
    """`'30/m'` → Rate(30, 60); `'0'` or `''` → None (no limit)."""
    text = (text or "").strip().lower()
    if text in ("", "0"):
        return None
    try:
        count, window = text.split("/", 1)
        number = int(count)
        unit = window.strip()
        multiple = int(unit[:-1]) if len(unit) > 1 else 1
        seconds = _WINDOWS[unit[-1]] * multiple
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(f"{text!r} is not a rate such as 30/m") from None
    if number <= 0:
        return None
    return Rate(count=number, seconds=seconds)


def rate_limit_hit(*, key: str, rate: Rate | None, now: float | None = None) -> float | None:
    """Count one hit for `key`; returns the seconds to wait when over the limit, else None."""
    if rate is None:
        return None
    now = time.time() if now is None else now
    window = int(now // rate.seconds)
    cache_key = f"ratelimit:{key}:{rate.seconds}:{window}"
    if cache.add(cache_key, 1, timeout=rate.seconds + 5):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # it expired between the two calls
            cache.set(cache_key, 1, timeout=rate.seconds + 5)
            count = 1
    if count > rate.count:
        return max(1.0, (window + 1) * rate.seconds - now)
    return None


def throttle_post(*, scope: str, setting: str):
    """Limit POSTs to a view per client address with the rate in settings.<setting>.

    Over the limit, the view is not run: the person gets a 429 page saying when to try again.
    """
    import functools

    from django.conf import settings
    from django.shortcuts import render

    from .clientip import client_ip

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method == "POST":
                wait = rate_limit_hit(
                    key=f"{scope}:{client_ip(request)}", rate=rate_parse(getattr(settings, setting))
                )
                if wait is not None:
                    response = render(
                        request, "429.html", {"retry_after": int(wait + 0.999)}, status=429
                    )
                    response["Retry-After"] = str(int(wait + 0.999))
                    return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
