"""Turning validated form values into the exact request body a provider receives.

The rules, for every model: a boolean is always sent (an unticked box is `false`); a field
whose condition is off is not sent; an optional text or file field left blank is not sent; the
seed is always sent (the studio draws a blank one before this point); values take the type the
provider documents and enum values keep the provider's own case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .catalog import CatalogField, CatalogModel


def condition_met(field: CatalogField, values: dict[str, Any]) -> bool:
    """Whether a field's condition (if any) holds for these values."""
    if field.condition is None:
        return True
    return values.get(field.condition.field) == field.condition.equals


def wire_value(field: CatalogField, value: Any) -> Any:
    """A value converted to the type the provider expects for this field."""
    if field.type == "boolean":
        return bool(value)
    kind = field.wire_type
    if kind is None:
        kind = {"integer": "integer", "number": "number"}.get(field.type, "string")
        if field.type == "enum" and field.options and isinstance(field.options[0].value, int):
            kind = "integer"
    if kind == "integer":
        return int(value)
    if kind == "number":
        number = float(value)
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        return bool(value)
    return str(value)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def provider_request_build(
    *, model: CatalogModel, values: dict[str, Any], file_links: dict[str, str]
) -> dict[str, Any]:
    """The provider's request body for `values` (clean values keyed by schema field name).

    `file_links` maps each file field that has a file to the absolute URL the provider fetches.
    """
    body: dict[str, Any] = {"model": model.provider_model}
    for field in model.fields:
        if not condition_met(field, values):
            continue
        if field.is_file:
            link = file_links.get(field.name)
            if not link:
                continue
            value: Any = link
        elif field.type == "boolean":
            value = bool(values.get(field.name, False))
        else:
            raw = values.get(field.name)
            if _is_blank(raw):
                continue
            value = wire_value(field, raw)
        target = body
        *parents, leaf = field.wire_path
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    # Scalars first, then nested objects, as the providers' own examples lay them out.
    return dict(
        sorted(body.items(), key=lambda item: (isinstance(item[1], dict), item[0] != "model"))
    )


# --- The "API request" preview on the create page -------------------------------------------

# Where each provider takes a new job and how it is authenticated (as the provider clients in
# `providers/` send it); the preview shows the same request, with the key masked.
PROVIDER_SUBMIT = {
    "modelstream": {
        "path": "/v1/video/generations",
        "base_setting": "MODELSTREAM_API_BASE",
        "key_setting": "MODELSTREAM_API_KEY",
        "header": "Authorization",
        "value": "Bearer {key}",
    },
    "apiframe": {
        "path": "/v2/videos/generate",
        "base_setting": "APIFRAME_API_BASE",
        "key_setting": "APIFRAME_API_KEY",
        "header": "X-API-Key",
        "value": "{key}",
    },
}


def key_mask(key: str) -> str:
    """A key as the page may show it: its conventional prefix at most, never a secret part."""
    prefix = ""
    for separator in ("-", "_"):
        head, found, _ = key.partition(separator)
        if found and 0 < len(head) <= 4 and len(key) > 12:
            prefix = head + separator
            break
    return prefix + "*" * 8


@dataclass(frozen=True)
class RequestPreview:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    notes: tuple[str, ...]

    @property
    def body_json(self) -> str:
        return json.dumps(self.body, indent=2, ensure_ascii=False)

    @property
    def curl(self) -> str:
        lines = [f'curl -X POST "{self.url}"']
        lines += [f'  -H "{name}: {value}"' for name, value in self.headers.items()]
        quoted = self.body_json.replace("'", "'\\''")
        lines.append(f"  -d '{quoted}'")
        return " \\\n".join(lines)


def provider_request_preview(
    *, model: CatalogModel, values: dict[str, Any], files: dict[str, str]
) -> RequestPreview:
    """The request the provider would receive for these values, as the create page shows it.

    `files` maps each file field that holds a file to the file's extension (".png"): its link
    is shown with the token elided, since a real signed link is made when the job is sent.
    """
    from django.conf import settings

    spec = PROVIDER_SUBMIT[model.provider]
    links = {
        name: f"{settings.STUDIO_PUBLIC_URL}/files/reference/<signed-token>/"
        f"{model.field(name).type}{extension}"
        for name, extension in files.items()
    }
    body = provider_request_build(model=model, values=values, file_links=links)
    key = getattr(settings, spec["key_setting"], "") or ""
    headers = {
        spec["header"]: spec["value"].format(key=key_mask(key)),
        "Content-Type": "application/json",
        "Idempotency-Key": "<generation id>",
    }
    notes = []
    seed = model.field_for_role("seed")
    if seed is not None and values.get(seed.name) in (None, ""):
        notes.append(
            f"{seed.label} left blank: the studio draws one when you submit, sends it, and "
            "keeps it with the video."
        )
    for name in links:
        notes.append(
            f"{model.field(name).label}: the provider fetches it from a signed link that "
            "lasts 24 hours."
        )
    base = getattr(settings, spec["base_setting"], "").rstrip("/")
    return RequestPreview(
        url=f"{base}{spec['path']}", headers=headers, body=body, notes=tuple(notes)
    )
