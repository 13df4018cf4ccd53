"""Where media lives: local files (the default) or an S3-compatible bucket, chosen by settings.

Every read and write of media goes through Django's storage API (`default_storage`, file
fields), so switching `STUDIO_MEDIA_STORAGE` from `local` to `s3` changes nothing else. With
object storage, pages never get a public bucket URL: the media views check permission first
and then answer with a presigned link that lives `OBJECT_LINK_SECONDS` (5 minutes).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .settings.env import env_str

# The lifetime of a presigned link to page media in object storage (DESIGN: at most 5 min).
OBJECT_LINK_SECONDS = 300

S3_BACKEND = "storages.backends.s3.S3Storage"


def media_storage_from_env() -> dict[str, Any]:
    """The `STORAGES["default"]` entry the environment asks for."""
    kind = env_str("STUDIO_MEDIA_STORAGE", "local").strip().lower() or "local"
    if kind == "local":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if kind != "s3":
        raise ImproperlyConfigured(f"STUDIO_MEDIA_STORAGE must be 'local' or 's3', not {kind!r}.")
    bucket = env_str("STUDIO_S3_BUCKET")
    if not bucket:
        raise ImproperlyConfigured("STUDIO_MEDIA_STORAGE=s3 needs STUDIO_S3_BUCKET.")
    options: dict[str, Any] = {
        "bucket_name": bucket,
        # Objects stay private; access is a presigned link issued after the permission check.
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": OBJECT_LINK_SECONDS,
        "custom_domain": None,
        # Keep Django's semantics: a name in use gets a new name, never overwrites.
        "file_overwrite": False,
        "signature_version": "s3v4",
        "location": env_str("STUDIO_S3_PREFIX").strip("/"),
    }
    optional = {
        "endpoint_url": env_str("STUDIO_S3_ENDPOINT_URL"),
        "region_name": env_str("STUDIO_S3_REGION"),
        "addressing_style": env_str("STUDIO_S3_ADDRESSING_STYLE"),
        # Without these, boto3's own chain applies (AWS_* variables, an instance role, ...).
        "access_key": env_str("STUDIO_S3_ACCESS_KEY_ID"),
        "secret_key": env_str("STUDIO_S3_SECRET_ACCESS_KEY"),
    }
    options.update({name: value for name, value in optional.items() if value})
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}


def media_origins(storage: dict[str, Any]) -> list[str]:
    """Origins other than the studio's own that pages load media from (for the CSP)."""
    if storage.get("BACKEND") != S3_BACKEND:
        return []
    options = storage["OPTIONS"]
    endpoint = options.get("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        if options.get("addressing_style") == "virtual":
            return [f"{parts.scheme}://{options['bucket_name']}.{parts.netloc}"]
        return [origin]
    region = options.get("region_name")
    host = f"s3.{region}.amazonaws.com" if region else "s3.amazonaws.com"
    return [f"https://{options['bucket_name']}.{host}", f"https://{host}"]


def uses_object_storage() -> bool:
    """Whether media is in a bucket (links are presigned) rather than on local disk."""
    from django.conf import settings

    return settings.STORAGES["default"]["BACKEND"] == S3_BACKEND
