"""Helpers for the lifecycle tests that run on the live stack (a real qcluster, the simulator).

Generations are made in this process through the services, as the create page makes them
(charged, `pending`, the submit enqueued on commit); the live stack's cluster does the rest.
"""

from __future__ import annotations

import html
import re
import time
from datetime import timedelta

from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from accounts.models import LedgerEntry, User
from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.services import generation_create, reference_store
from generations.uploads import image_inspect
from tests.factories import image_upload

MODELS = ("wan2.6-i2v-flash", "wan-2.6-flash")


def create(
    owner: User,
    model_key: str,
    prompt: str = "A lake at dawn",
    *,
    deadline_seconds: float | None = None,
    without_reference_file: bool = False,
    **values,
) -> Generation:
    """A pending generation of `model_key` (its shortest video), charged to `owner`.

    `deadline_seconds` ends it that long after creation instead of the configured deadline;
    `without_reference_file` removes the stored reference before the provider can fetch it.
    """
    upload = image_upload(size=(320, 180))
    reference = reference_store(
        owner=owner, upload=UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
    )
    if without_reference_file:
        default_storage.delete(reference.file.name)
    model = catalog_get(model_key)
    if model.provider == "modelstream":
        defaults = {"resolution": "720P", "duration": 2, "prompt_extend": False}
        defaults |= {"audio": False, "watermark": False}
    else:
        defaults = {"resolution": "720p", "duration": 5, "audio_enabled": False}
        defaults |= {"enable_prompt_expansion": False}
    image_field = model.field_for_role("reference_image").name
    generation = generation_create(
        user=owner,
        model=model,
        values={**defaults, "prompt": prompt, "seed": 7, **values},
        references={image_field: reference},
    )
    if deadline_seconds is not None:
        deadline = generation.created_at + timedelta(seconds=deadline_seconds)
        Generation.objects.filter(pk=generation.id).update(deadline_at=deadline)
    return generation


def wait_final(ids, *, timeout: float) -> dict:
    """Wait until every generation in `ids` is final; returns them by id (AssertionError
    naming the ones still unfinished otherwise)."""
    ids = [str(i) for i in ids]
    deadline = time.monotonic() + timeout
    while True:
        rows = {str(g.id): g for g in Generation.objects.filter(pk__in=ids)}
        unfinished = [g for g in rows.values() if not g.is_final]
        if not unfinished:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(
                "still unfinished after "
                f"{timeout:.0f} s: {[(g.prompt, g.state, g.error_message) for g in unfinished]}"
            )
        time.sleep(0.3)


def ledger_kinds(generation: Generation) -> list[str]:
    return sorted(LedgerEntry.objects.filter(generation=generation).values_list("kind", flat=True))


def page(generation: Generation) -> tuple[str, str]:
    """The generation's page as its owner gets it: (the HTML, the text a person reads)."""
    client = Client()
    client.force_login(generation.owner)
    response = client.get(f"/generations/{generation.id}/")
    assert response.status_code == 200
    markup = response.content.decode()
    return markup, visible_text(markup)


def visible_text(markup: str) -> str:
    """The text of a page as a person reads it: no tags, scripts or styles; entities decoded;
    white space collapsed."""
    markup = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", markup)
    text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", markup))
    return re.sub(r"\s+", " ", text)


def expire_soon(generation: Generation, seconds: float) -> None:
    """Move a generation's deadline to `seconds` from now."""
    Generation.objects.filter(pk=generation.id).update(
        deadline_at=timezone.now() + timedelta(seconds=seconds)
    )
