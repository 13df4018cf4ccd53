"""Side-by-side compare: two to four generations the viewer may see, and the settings that
differ between them (the page is `/compare/?ids=<uuid>,<uuid>[,…]`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from accounts.models import User

from .catalog import catalog
from .models import Generation
from .selectors import generation_get_for_viewer

COMPARED_MIN, COMPARED_MAX = 2, 4


class CompareRefused(ValueError):
    """Not two to four well-formed ids; the message says what to choose."""


@dataclass(frozen=True)
class CompareRow:
    label: str
    values: list[str]
    differs: bool


def compare_ids(raw: list[str]) -> list[uuid.UUID]:
    """The ids asked for, from `ids=a,b` or `ids=a&ids=b`, in order and once each."""
    ids: list[uuid.UUID] = []
    for part in (piece for value in raw for piece in value.split(",")):
        if not part.strip():
            continue
        try:
            key = uuid.UUID(part.strip())
        except ValueError:
            raise CompareRefused(f"{part.strip()[:40]!r} is not a video's id.") from None
        if key not in ids:
            ids.append(key)
    if not COMPARED_MIN <= len(ids) <= COMPARED_MAX:
        raise CompareRefused(
            f"Choose {COMPARED_MIN} to {COMPARED_MAX} videos to compare ({len(ids)} chosen)."
        )
    return ids


def _said(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "on"
    if value is False:
        return "off"
    return str(value)


def compare_for_viewer(*, viewer: User, ids: list[uuid.UUID]) -> tuple[list[Generation], list]:
    """The generations (Http404 if the viewer may not see one) and the rows of their settings,
    each marked when its values differ."""
    generations = [generation_get_for_viewer(viewer=viewer, id=key) for key in ids]
    models = catalog()
    columns: list[dict[str, tuple[str, str]]] = []
    order: list[str] = []
    labels: dict[str, str] = {}
    for generation in generations:
        model = models.get(generation.model_key)
        shown: dict[str, tuple[str, str]] = {
            "model": ("Model", model.name if model else generation.model_key),
            "prompt": ("Prompt", generation.prompt),
        }
        for name, value in (generation.params or {}).items():
            spec = model.field(name) if model and name in {f.name for f in model.fields} else None
            if spec is not None and spec.is_file:
                continue  # the picture and the sound are shown, not their ids
            key = spec.role if spec is not None and spec.role else name
            label = spec.shown_label if spec is not None else name
            shown[key] = (label, _said(value))
        shown["cost"] = ("Credits", _said(generation.cost))
        for key, (label, _) in shown.items():
            if key not in labels:
                labels[key] = label
                order.append(key)
        columns.append(shown)
    rows = []
    for key in order:
        values = [column.get(key, (labels[key], "—"))[1] for column in columns]
        rows.append(CompareRow(label=labels[key], values=values, differs=len(set(values)) > 1))
    return generations, rows
