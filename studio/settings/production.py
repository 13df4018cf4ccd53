"""Production: PostgreSQL, Redis and gunicorn behind a TLS proxy; secrets only from the environment.

Start-up is refused, naming every problem at once, when something production needs is missing:
a strong SECRET_KEY, DATABASE_URL (PostgreSQL), REDIS_URL, ALLOWED_HOSTS and STUDIO_PUBLIC_URL
(https). docs/deploy.md lists the variables and what each machine needs.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from studio.logs import logging_config
from studio.security import content_security_policy
from studio.storage import media_origins

from .base import *  # noqa: F403
from .base import DATABASES, DEBUG, MIDDLEWARE, SECRET_KEY, STORAGES, STUDIO_PUBLIC_URL
from .env import env_int, env_str


def _problems() -> list[str]:
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off.")
    if (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure")
        or "insecure" in SECRET_KEY
    ):
        problems.append(
            "SECRET_KEY must be a random value of at least 50 characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    if not os.environ.get("DATABASE_URL"):
        problems.append("DATABASE_URL must name the PostgreSQL database (postgres://...).")
    elif DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL must be a PostgreSQL database (postgres://...).")
    if not os.environ.get("REDIS_URL"):
        problems.append("REDIS_URL must name the Redis server (redis://...) for jobs and cache.")
    if not os.environ.get("ALLOWED_HOSTS"):
        problems.append("ALLOWED_HOSTS must list the host names the studio answers to.")
    if not os.environ.get("STUDIO_PUBLIC_URL"):
        problems.append("STUDIO_PUBLIC_URL must be the studio's public https:// address.")
    elif urlsplit(STUDIO_PUBLIC_URL).scheme != "https":
        problems.append("STUDIO_PUBLIC_URL must be an https:// address.")
    return problems


_refused = _problems()
if _refused:
    raise ImproperlyConfigured(
        "The production settings refuse to start:\n" + "\n".join(f"  - {p}" for p in _refused)
    )

# Connections are kept between requests (health-checked before reuse) to spare PostgreSQL.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 60)

# Static files: collected once per release, hashed names (cached forever) and .gz/.br copies
# that whitenoise serves.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
WHITENOISE_MAX_AGE = 60 * 60 * 24 * 365

# TLS ends at the proxy, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
# The proxy and orchestrators probe /healthz over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [
    *CSRF_TRUSTED_ORIGINS,  # noqa: F405
    f"{urlsplit(STUDIO_PUBLIC_URL).scheme}://{urlsplit(STUDIO_PUBLIC_URL).netloc}",
]

# Content-Security-Policy: no inline script, no inline style, nothing from other origins except
# the object store's presigned media links.
_MEDIA = media_origins(STORAGES["default"])
MIDDLEWARE = [*MIDDLEWARE]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "csp.middleware.CSPMiddleware")  # fmt: skip
INSTALLED_APPS = [*INSTALLED_APPS, "csp"]  # noqa: F405
CONTENT_SECURITY_POLICY = content_security_policy(media_origins=_MEDIA)

# One JSON object per line, for the log collector.
LOGGING = logging_config(
    fmt=env_str("STUDIO_LOG_FORMAT", "json"), level=env_str("LOG_LEVEL", "INFO")
)
