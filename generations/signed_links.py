"""Signed, expiring links to one stored file: the studio's only bearer URLs besides share pages.

Lifetimes: a reference handed to a provider lives 24 h; a result link given out by the API
lives 1 h. A link names one file by its row's id and kind; the signature (django.core.signing,
keyed with SECRET_KEY and a salt per kind) covers both and the time it was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

LIFETIMES = {
    "reference": timedelta(hours=24),
    "result": timedelta(hours=1),
}


@dataclass(frozen=True)
class SignedFile:
    kind: str
    object_id: str


def _signer(kind: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"studio.signed-file.{kind}")


def signed_path(*, kind: str, object_id: str, filename: str) -> str:
    """The path (under the site) of a new signed link to one file."""
    if kind not in LIFETIMES:
        raise ValueError(f"unknown signed link kind {kind!r}")
    token = _signer(kind).sign(str(object_id))
    return reverse("generations:signed-file", args=[kind, token, filename])


def signed_url(*, kind: str, object_id: str, filename: str) -> str:
    """An absolute signed link under STUDIO_PUBLIC_URL, for providers and API callers."""
    return settings.STUDIO_PUBLIC_URL + signed_path(
        kind=kind, object_id=object_id, filename=filename
    )


def signed_file_resolve(*, kind: str, token: str) -> SignedFile | None:
    """The file a link names, or None when the signature is wrong, expired or of another kind."""
    lifetime = LIFETIMES.get(kind)
    if lifetime is None:
        return None
    try:
        object_id = _signer(kind).unsign(token, max_age=lifetime)
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return None
    return SignedFile(kind=kind, object_id=object_id)
