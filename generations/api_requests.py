"""Turning a JSON request in ModelStream's layout into the same form input the page submits.

Every catalog model is accepted with its own field names: the fields with the roles `prompt`
and `duration` at the top level beside `model`; the reference image, the audio track and the
negative prompt in `metadata.input`; everything else in `metadata.parameters`. Unknown fields
are refused, naming them; the values are then validated by the model's own form.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .catalog import CatalogField, CatalogModel

TOP_ROLES = {"prompt", "duration"}
INPUT_ROLES = {"reference_image", "reference_audio", "negative_prompt"}
TOP_EXTRA = {"model", "team", "webhook", "webhook_events"}


class ApiError(Exception):
    """An API error answered as `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = (
            status,
            message,
            param,
            code,
            type,
        )
        self.headers = headers or {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def api_location(field: CatalogField) -> str:
    """Where a field goes in the API's body: `top`, `input` or `parameters`."""
    if field.role in TOP_ROLES:
        return "top"
    if field.role in INPUT_ROLES:
        return "input"
    return "parameters"


@dataclass
class FormInput:
    data: dict[str, Any]
    urls: dict[str, str]
    # Fields the body gave a value for (not filled from the schema's defaults).
    given: dict[str, Any] = dataclasses.field(default_factory=dict)


def body_sha256(body: Any) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _type_error(field: CatalogField, expected: str) -> ApiError:
    return ApiError(400, f"{field.name} must be {expected}.", param=field.name, code="invalid_type")


def _as_form_value(field: CatalogField, value: Any) -> Any:
    if field.type == "boolean":
        if not isinstance(value, bool):
            raise _type_error(field, "true or false")
        return "on" if value else None
    if field.type == "integer" or (
        field.type == "enum" and field.options and isinstance(field.options[0].value, int)
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(field, "an integer")
        if isinstance(value, float) and not value.is_integer():
            raise _type_error(field, "an integer")
        return str(int(value))
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(field, "a number")
        return str(value)
    if field.is_file:
        if not isinstance(value, str) or not value.strip():
            raise _type_error(field, "a URL")
        return value.strip()
    if not isinstance(value, str):
        raise _type_error(field, "a string")
    return value


def api_form_input(*, model: CatalogModel, body: dict[str, Any]) -> FormInput:
    """The form data (and the file URLs to fetch) for a JSON body; ApiError for what is wrong."""
    by_location: dict[str, dict[str, CatalogField]] = {"top": {}, "input": {}, "parameters": {}}
    for field in model.fields:
        by_location[api_location(field)][field.name] = field
    for key in body:
        if key not in TOP_EXTRA and key != "metadata" and key not in by_location["top"]:
            raise ApiError(
                400, f"Unknown field {key!r} for {model.key}.", param=key, code="unknown_parameter"
            )
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata must be an object.", param="metadata", code="invalid_type")
    sections: dict[str, dict[str, Any]] = {"top": body}
    for section in metadata:
        if section not in ("input", "parameters"):
            raise ApiError(
                400, f"Unknown field 'metadata.{section}'.", param=section, code="unknown_parameter"
            )
    for section in ("input", "parameters"):
        part = metadata.get(section, {})
        if not isinstance(part, dict):
            raise ApiError(
                400, f"metadata.{section} must be an object.", param=section, code="invalid_type"
            )
        for key in part:
            if key not in by_location[section]:
                raise ApiError(
                    400,
                    f"Unknown field {key!r} in metadata.{section} for {model.key}.",
                    param=key,
                    code="unknown_parameter",
                )
        sections[section] = part

    data: dict[str, Any] = {"model": model.key}
    urls: dict[str, str] = {}
    given: dict[str, Any] = {}
    for field in model.fields:
        part = sections[api_location(field)]
        if field.name in part and part[field.name] is not None:
            given[field.name] = part[field.name]
            value = _as_form_value(field, part[field.name])
            if field.is_file:
                urls[field.name] = value
            elif value is not None:
                data[field.name] = value
        elif field.default is not None and not field.is_file:
            # Left out: the schema's default, as the page would have pre-filled it.
            value = _as_form_value(field, field.default)
            if value is not None:
                data[field.name] = value
    return FormInput(data=data, urls=urls, given=given)


def dropped_values_refused(*, model: CatalogModel, given: dict[str, Any], values: dict) -> None:
    """Refuse (400, naming it) a value the body gave that the request would silently drop: a
    field whose condition is off (`multi_shots: true` while `enable_prompt_expansion` is
    false). Giving such a field its off value (false, or its default) is harmless."""
    for spec in model.fields:
        if spec.condition is None or spec.name not in given:
            continue
        if values.get(spec.condition.field) == spec.condition.equals:
            continue
        value = given[spec.name]
        harmless = value is False or (spec.default is not None and value == spec.default)
        if harmless:
            continue
        wanted = json.dumps(spec.condition.equals)
        raise ApiError(
            400,
            f"{spec.name}: only used when {spec.condition.field} is {wanted}, so it would be "
            f"dropped; set {spec.condition.field} to {wanted}, or leave {spec.name} out.",
            param=spec.name,
            code="invalid_value",
        )
