"""Settings for the test suite: fast hashers, temporary media, and no network beyond loopback."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")

from studio import netguard

from .base import *  # noqa: F403
from .base import DATABASES
from .base import Q_CLUSTER as BASE_Q_CLUSTER

# No test may reach the internet or a private network by mistake: every connection and every
# name lookup outside 127.0.0.0/8 raises. Subprocesses started with these settings get it too.
netguard.install()

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or tempfile.mkdtemp(prefix="studio-test-media-"))
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="studio-test-static-"))

# The test database is a file, not memory: the live stack's web server and qcluster run in
# other processes, and a worker process cannot see an in-memory database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("STUDIO_TEST_DB")
        or os.path.join(tempfile.gettempdir(), f"studio-test-{os.getpid()}.sqlite3")
    }

Q_CLUSTER = {**BASE_Q_CLUSTER, "poll": 0.05}
STUDIO_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
