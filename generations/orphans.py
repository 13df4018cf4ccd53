"""Removing files in storage that no row references.

The studio writes a file before the row that names it commits (a video is stored, then the
generation becomes `succeeded`; an upload is stored, then its `Reference` row is saved), so a
process killed between the two leaves a file behind; so does a row deleted without its files
(an account removed in the admin). `media_orphans_prune` runs with the hourly clean-up and
removes such files once no write can still be on its way to them:

- under `results/`: a file no generation names, unless the generation it was written for is
  still `running` (its result may be being stored right now);
- under `references/`: a file no `Reference` names, once it is older than `references_older_than`
  (the upload that wrote it has long finished or died).

Nothing outside those two folders is touched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.core.files.storage import Storage, default_storage
from django.db.models import Q
from django.utils import timezone

from .models import Generation, Reference

logger = logging.getLogger(__name__)

RESULTS = "results"
REFERENCES = "references"
BATCH = 500


def _files_by_folder(storage: Storage, top: str) -> Iterator[tuple[str, list[str]]]:
    """(folder, names of its files) for `top` and every folder below it."""
    folders = [top]
    while folders:
        folder = folders.pop()
        try:
            subfolders, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        folders.extend(f"{folder}/{name}" for name in subfolders)
        if files:
            yield folder, [f"{folder}/{name}" for name in files]


def _generation_id(name: str) -> uuid.UUID | None:
    """The generation a results file belongs to: its name starts with the generation's id."""
    try:
        return uuid.UUID(name.rsplit("/", 1)[-1][:36])
    except ValueError:
        return None


def _result_orphans(names: list[str]) -> list[str]:
    # Any generation may name a file (seeded demo data shares them), not only its own.
    named: set[str] = set()
    for video, poster in Generation.objects.filter(
        Q(video__in=names) | Q(poster__in=names)
    ).values_list("video", "poster"):
        named |= {video, poster}
    ids = {gid for name in names if (gid := _generation_id(name)) is not None}
    # Only a running generation's result may still be being stored.
    storing = set(
        Generation.objects.filter(pk__in=ids, state=Generation.State.RUNNING).values_list(
            "pk", flat=True
        )
    )
    return [name for name in names if name not in named and _generation_id(name) not in storing]


def _reference_orphans(storage: Storage, names: list[str], cutoff) -> list[str]:
    named = set(Reference.objects.filter(file__in=names).values_list("file", flat=True))
    orphans = []
    for name in names:
        if name in named:
            continue
        try:
            if storage.get_modified_time(name) >= cutoff:
                continue  # its upload may still be on its way to saving the row
        except (FileNotFoundError, NotImplementedError):
            continue
        orphans.append(name)
    return orphans


def media_orphans_prune(
    *, references_older_than: timedelta = timedelta(hours=1), storage: Storage | None = None
) -> list[str]:
    """Delete files under `results/` and `references/` that no row references; returns them."""
    storage = storage or default_storage
    cutoff = timezone.now() - references_older_than
    removed: list[str] = []
    for top in (RESULTS, REFERENCES):
        for _, names in _files_by_folder(storage, top):
            for start in range(0, len(names), BATCH):
                batch = names[start : start + BATCH]
                if top == RESULTS:
                    orphans = _result_orphans(batch)
                else:
                    orphans = _reference_orphans(storage, batch, cutoff)
                for name in orphans:
                    storage.delete(name)
                    removed.append(name)
    if removed:
        logger.info("removed %d files no row referenced", len(removed))
    return removed
