"""Settings shared by every environment; each value can be set from the environment.

The embedded default (SQLite, django-q2's ORM broker, the database cache, local files) needs
nothing but Python. `production.py` tightens these for a deployment; `test.py` for the suite.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from studio.logs import logging_config
from studio.storage import media_storage_from_env

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("STUDIO_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (`make run` generates one for you)."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_q",
    "axes",
    "studio.apps.StudioConfig",
    "accounts",
    "generations",
]

MIDDLEWARE = [
    # First: a body larger than anything the studio accepts is refused before it is read.
    "studio.request_limits.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a signed-in person unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: refuses logins while a lock-out lasts.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "generations.notices.context",
            ],
        },
    }
]


# Database: SQLite by default; any other engine through DATABASE_URL.
def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=env_int("CONN_MAX_AGE", 0))
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web and workers write at once: WAL lets readers run beside a writer, the busy
        # timeout makes a writer wait instead of failing, and IMMEDIATE takes the write
        # lock at BEGIN so a transaction never has to upgrade (and deadlock) half-way.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA busy_timeout=30000;"
                "PRAGMA foreign_keys=ON;"
            ),
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")

# A cache shared by every process (web and workers are separate processes, so a
# local-memory cache would be wrong): the database by default, Redis when configured.
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "studio",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "studio_cache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# django-q2: the ORM broker by default, Redis when REDIS_URL is set.
Q_CLUSTER: dict[str, Any] = {
    "name": "studio",
    # Set explicitly: the tracker holds one worker while anything is in flight, and
    # submits, downloads and probes need the others.
    "workers": env_int("STUDIO_Q_WORKERS", 4),
    "recycle": 500,
    # A task running longer than `timeout` is killed. `retry` must be longer: the broker
    # hands a task to another worker when it has not been acknowledged after `retry`
    # seconds, so with retry <= timeout a slow task would run twice at once.
    "timeout": env_int("STUDIO_Q_TIMEOUT", 120),
    "retry": env_int("STUDIO_Q_RETRY", 180),
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 500,
    "poll": env_float("STUDIO_Q_POLL", 0.1),
    "bulk": 1,
    "cache": "default",
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_USER_MODEL = "accounts.User"
# django-axes counts failed logins (per username and address, in the shared cache) and locks
# out after AXES_FAILURE_LIMIT for AXES_COOLOFF_TIME.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "generations:create"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Media is never served from a public URL; MEDIA_URL only names storage paths.
MEDIA_URL = "/media-not-public/"
# Local files by default; an S3-compatible bucket with STUDIO_MEDIA_STORAGE=s3 (studio/storage.py).
STORAGES = {
    "default": media_storage_from_env(),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files come straight from static/ and the apps, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# Uploads go to a temporary file past this size, never held whole in memory, and stop being
# stored past their field's limit (the page still answers, with that field's error).
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
FILE_UPLOAD_HANDLERS = ["generations.uploads.LimitedUploadHandler"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# No request may be larger than this at all (413 before reading): the largest form carries a
# 20 MB image and a 15 MB audio track. The proxy's limit (docs/deploy.md) should match it.
STUDIO_MAX_REQUEST_BYTES = env_int("STUDIO_MAX_REQUEST_BYTES", 40 * 1024 * 1024)
FILE_UPLOAD_PERMISSIONS = 0o640

# Mail: the console by default, SMTP when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Studio <studio@localhost>")

# One handler for every logger, adding the generation id to lines about a generation and
# redacting secrets; STUDIO_LOG_FORMAT=json writes one JSON object per line (studio/logs.py).
LOGGING = logging_config(
    fmt=env_str("STUDIO_LOG_FORMAT", "plain"), level=env_str("LOG_LEVEL", "INFO")
)

# --- The studio's own settings -------------------------------------------------------------

PORT = env_int("PORT", 8000)
STUDIO_PUBLIC_URL = env_str("STUDIO_PUBLIC_URL", f"http://127.0.0.1:{PORT}").rstrip("/")

MODELSTREAM_API_BASE = env_str("MODELSTREAM_API_BASE", "https://api.modelstream.ai").rstrip("/")
MODELSTREAM_API_KEY = env_str("MODELSTREAM_API_KEY")
APIFRAME_API_BASE = env_str("APIFRAME_API_BASE", "https://api.apiframe.ai").rstrip("/")
APIFRAME_API_KEY = env_str("APIFRAME_API_KEY")
APIFRAME_WEBHOOKS = env_bool("APIFRAME_WEBHOOKS", False)

# With a proxy in front (production), media views answer with only an X-Accel-Redirect to
# this internal location and the proxy sends the bytes (see docs/deploy.md).
STUDIO_MEDIA_ACCEL_PREFIX = env_str("STUDIO_MEDIA_ACCEL_PREFIX")

# Hosts or CIDRs the guarded fetcher may reach although they are internal.
STUDIO_FETCH_ALLOWED_HOSTS = env_list("STUDIO_FETCH_ALLOWED_HOSTS", [])

STUDIO_SIGNUP_CREDITS = env_int("STUDIO_SIGNUP_CREDITS", 10)
STUDIO_MAX_IN_FLIGHT_PER_USER = env_int("STUDIO_MAX_IN_FLIGHT_PER_USER", 4)
STUDIO_POLL_MAX_INTERVAL = env_float("STUDIO_POLL_MAX_INTERVAL", 3.0)
STUDIO_SUBMIT_RATE = env_str("STUDIO_SUBMIT_RATE", "30/m")
STUDIO_API_SUBMIT_RATE = env_str("STUDIO_API_SUBMIT_RATE", "60/m")

# How long a generation may take from creation to a final state.
STUDIO_GENERATION_DEADLINE = env_int("STUDIO_GENERATION_DEADLINE", 30 * 60)
# How long one tracker task runs before handing over to its successor; well under the
# cluster timeout so the cluster never kills a tracker in the middle of a tick.
STUDIO_TRACKER_RUN_SECONDS = env_float("STUDIO_TRACKER_RUN_SECONDS", 50.0)
STUDIO_TRACKER_CONCURRENCY = env_int("STUDIO_TRACKER_CONCURRENCY", 50)
# A generation whose submit has not completed after this long was lost by a dead worker.
STUDIO_SUBMIT_LOST_AFTER = env_int("STUDIO_SUBMIT_LOST_AFTER", 180)
# Result videos: size and time caps for the download.
STUDIO_RESULT_MAX_BYTES = env_int("STUDIO_RESULT_MAX_BYTES", 512 * 1024 * 1024)
STUDIO_RESULT_DOWNLOAD_SECONDS = env_int("STUDIO_RESULT_DOWNLOAD_SECONDS", 300)
# A download that failed in a way another try may fix waits this long, doubling each time
# (at most 60 s), before the next of its four attempts.
STUDIO_RESULT_RETRY_SECONDS = env_float("STUDIO_RESULT_RETRY_SECONDS", 3.0)

# Provider calls: per-attempt timeouts (each call also has an overall deadline).
STUDIO_PROVIDER_CONNECT_TIMEOUT = env_float("STUDIO_PROVIDER_CONNECT_TIMEOUT", 5.0)
STUDIO_PROVIDER_READ_TIMEOUT = env_float("STUDIO_PROVIDER_READ_TIMEOUT", 30.0)
# Each provider's circuit breaker (generations/providers/health.py): this many failures in a
# row (connection errors, 5xx, timeouts), each within the window of the last, pause the
# provider for OPEN_SECONDS, doubling on each failed trial up to MAX_OPEN_SECONDS. The trial
# slot outlives one submit call's deadline.
STUDIO_BREAKER_THRESHOLD = env_int("STUDIO_BREAKER_THRESHOLD", 5)
STUDIO_BREAKER_WINDOW = env_float("STUDIO_BREAKER_WINDOW", 120.0)
STUDIO_BREAKER_OPEN_SECONDS = env_float("STUDIO_BREAKER_OPEN_SECONDS", 30.0)
STUDIO_BREAKER_MAX_OPEN_SECONDS = env_float("STUDIO_BREAKER_MAX_OPEN_SECONDS", 600.0)
STUDIO_BREAKER_TRIAL_SECONDS = env_int("STUDIO_BREAKER_TRIAL_SECONDS", 90)

# A credit grant in the admin strictly above this many credits waits for a second staff member's
# approval (accounts/approvals.py); the grant_credits command is never held.
STUDIO_CREDIT_APPROVAL_THRESHOLD = env_int("STUDIO_CREDIT_APPROVAL_THRESHOLD", 1000)

# --- Abuse limits -----------------------------------------------------------------------------

# Proxies in front of the studio that append to X-Forwarded-For (0: use REMOTE_ADDR).
STUDIO_TRUSTED_PROXY_COUNT = env_int("STUDIO_TRUSTED_PROXY_COUNT", 0)
STUDIO_SIGNUP_RATE = env_str("STUDIO_SIGNUP_RATE", "10/h")
# Reference uploads per person (each is validated and kept for a day even if never used).
STUDIO_UPLOAD_RATE = env_str("STUDIO_UPLOAD_RATE", "60/m")
STUDIO_LOGIN_RATE = env_str("STUDIO_LOGIN_RATE", "30/m")
# Password reset emails asked for, per client address and per email address typed.
STUDIO_PASSWORD_RESET_RATE = env_str("STUDIO_PASSWORD_RESET_RATE", "10/h")
STUDIO_PASSWORD_RESET_EMAIL_RATE = env_str("STUDIO_PASSWORD_RESET_EMAIL_RATE", "3/h")
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env_int("STUDIO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("STUDIO_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "studio.clientip.client_ip"
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False
# A deleted generation can be brought back (undo) this long; then its files are removed.
STUDIO_DELETE_UNDO_SECONDS = env_int("STUDIO_DELETE_UNDO_SECONDS", 24 * 3600)
# Cards per gallery page (each page links to the next; infinite scroll follows the links).
STUDIO_GALLERY_PAGE_SIZE = env_int("STUDIO_GALLERY_PAGE_SIZE", 24)
