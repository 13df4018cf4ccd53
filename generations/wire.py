"""Turning validated form values into the exact request body a provider receives.

The rules, for every model: a boolean is always sent (an unticked box is `false`); a field
whose condition is off is not sent; an optional text or file field left blank is not sent; the
seed is always sent (the studio draws a blank one before this point); values take the type the
provider documents and enum values keep the provider's own case.
"""

from __future__ import annotations

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
