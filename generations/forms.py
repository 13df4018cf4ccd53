"""Forms built from a catalog model's form schema: the same validation for the page and the API.

`generation_form_class(model)` makes a Django form whose fields are the schema's fields, in
order and named as in the schema. Every rule of the schema is enforced here, whatever a browser
or an API caller sent: required, ranges, steps, enum values, lengths in code points,
conditions, and the files' content (through `uploads`). A file field takes either an upload or
the id of a reference its owner stored before, under the same name.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.datastructures import MultiValueDict

from .catalog import CatalogField, CatalogModel
from .models import Reference
from .uploads import (
    EXTENSION_ALIASES,
    AudioInfo,
    ImageInfo,
    audio_inspect,
    corrected_name,
    image_inspect,
)
from .wire import condition_met

IMAGE_ACCEPT = "image/jpeg,image/png,image/bmp,image/webp,.jpg,.jpeg,.png,.bmp,.webp"
AUDIO_ACCEPT = "audio/wav,audio/x-wav,audio/wave,audio/mpeg,.wav,.mp3"


@dataclass
class UploadCandidate:
    """A freshly uploaded file that passed validation and is not stored yet."""

    file: UploadedFile
    info: ImageInfo | AudioInfo
    kind: str

    @property
    def name(self) -> str:
        """The uploaded name with the extension its content calls for."""
        aliases = EXTENSION_ALIASES.get(self.info.format, set())
        return corrected_name(self.file.name or "", self.info.extension, aliases)


def upload_inspect(spec: CatalogField, upload: UploadedFile) -> UploadCandidate:
    """Validate an uploaded file for a file field of the schema; ValidationError when refused."""
    if spec.type == "image":
        info: ImageInfo | AudioInfo = image_inspect(upload, max_bytes=spec.max_bytes or 0)
    else:
        info = audio_inspect(
            upload,
            max_bytes=spec.max_bytes or 0,
            min_seconds=spec.min_seconds if spec.min_seconds is not None else 0,
            max_seconds=spec.max_seconds if spec.max_seconds is not None else math.inf,
        )
    return UploadCandidate(file=upload, info=info, kind=spec.type)


# --- Fields -------------------------------------------------------------------------------


class TextField(forms.CharField):
    """Text whose length is counted in Unicode code points, with line breaks as one (browsers
    send CRLF; their own `value` has LF), the same as the page's counter.

    No `maxlength` attribute: browsers count it in UTF-16 units (an emoji is two), so the page's
    counter shows the limit and the server enforces it.
    """

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.pop("maxlength", None)
        attrs.pop("minlength", None)
        return attrs

    def to_python(self, value: Any) -> str:
        if value not in self.empty_values and not isinstance(value, str):
            raise ValidationError("Enter text.", code="invalid")
        text = super().to_python(value) or ""
        return text.replace("\r\n", "\n").replace("\r", "\n")


class StrictIntegerField(forms.IntegerField):
    """An integer; true/false and fractions are refused rather than turned into numbers."""

    def to_python(self, value: Any) -> int | None:
        if isinstance(value, bool):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class StrictFloatField(forms.FloatField):
    def to_python(self, value: Any) -> float | None:  # type: ignore[override]
        if isinstance(value, bool):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class ReferenceWidget(forms.FileInput):
    """A file input that also accepts the id of a stored reference under the same name."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        upload = files.get(name) if files else None
        if upload is not None:
            return upload
        value = data.get(name)
        return value.strip() if isinstance(value, str) else value

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in (files or {}) and name not in data


class ReferenceField(forms.Field):
    """An uploaded file (validated by its content) or a stored reference's id."""

    widget = ReferenceWidget
    default_error_messages = {
        "required": "Choose a file.",
        "invalid_reference": "That stored file is not available any more; upload it again.",
    }

    def __init__(self, *, catalog_field: CatalogField, **kwargs: Any):
        self.catalog_field = catalog_field
        super().__init__(**kwargs)

    def clean(self, value: Any) -> UploadCandidate | uuid.UUID | None:
        if isinstance(value, UploadedFile):
            return upload_inspect(self.catalog_field, value)
        if value not in (None, ""):
            try:
                return uuid.UUID(str(value))
            except ValueError:
                raise ValidationError(
                    self.error_messages["invalid_reference"], code="invalid_reference"
                ) from None
        if self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        return None


def _enum_coerce(spec: CatalogField) -> Any:
    values = spec.option_values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return int
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return float
    return str


def _shown_options(spec: CatalogField) -> list:
    """The options in the order the create page shows them: resolutions from low to high on
    every model (providers list them either way), others as the catalog lists them."""
    options = list(spec.options)
    if spec.role == "resolution":
        options.sort(key=lambda option: int(re.sub(r"\D", "", str(option.value)) or 0))
    return options


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _form_field(spec: CatalogField) -> forms.Field:
    common: dict[str, Any] = {
        "label": spec.shown_label,
        "help_text": spec.shown_help,
        "required": spec.required,
    }
    if spec.default is not None:
        common["initial"] = spec.default
    placeholder = spec.placeholder
    if spec.type in ("text", "textarea"):
        if not placeholder and isinstance(spec.example, str):
            placeholder = f"e.g., {spec.example}"
        attrs: dict[str, Any] = {"data-max-codepoints": spec.max_length}
        if placeholder:
            attrs["placeholder"] = placeholder
        if spec.type == "textarea":
            attrs["rows"] = 5 if spec.role == "prompt" else 2
            widget: forms.Widget = forms.Textarea(attrs=attrs)
        else:
            widget = forms.TextInput(attrs=attrs)
        return TextField(max_length=spec.max_length, strip=True, widget=widget, **common)
    if spec.type in ("integer", "number"):
        if spec.role == "seed" and not placeholder:
            placeholder = "Leave blank for random"
        attrs = {"inputmode": "numeric" if spec.type == "integer" else "decimal"}
        if placeholder:
            attrs["placeholder"] = placeholder
        validators = [_step_validator(spec)] if spec.step else []
        if spec.min is not None and spec.max is not None:
            # One sentence for both bounds, said alike by the server and by the page as one types.
            unit = f" {spec.unit}" if spec.unit else ""
            message = (
                f"Choose a value from {_number_text(spec.min)} to {_number_text(spec.max)}{unit}."
            )
            common["error_messages"] = {
                **common.get("error_messages", {}),
                "min_value": message,
                "max_value": message,
            }
            attrs["data-range-message"] = message
        if spec.type == "integer":
            attrs["step"] = int(spec.step or 1)
            return StrictIntegerField(
                min_value=None if spec.min is None else int(spec.min),
                max_value=None if spec.max is None else int(spec.max),
                validators=validators,
                widget=forms.NumberInput(attrs=attrs),
                **common,
            )
        attrs["step"] = spec.step or "any"
        return StrictFloatField(
            min_value=spec.min,
            max_value=spec.max,
            validators=validators,
            widget=forms.NumberInput(attrs=attrs),
            **common,
        )
    if spec.type == "boolean":
        common["required"] = False
        return forms.BooleanField(widget=forms.CheckboxInput(attrs={"role": "switch"}), **common)
    if spec.type == "enum":
        return forms.TypedChoiceField(
            choices=[(option.value, option.shown_label) for option in _shown_options(spec)],
            coerce=_enum_coerce(spec),
            empty_value=None,
            widget=forms.RadioSelect,
            **common,
        )
    if spec.type in ("image", "audio"):
        field = ReferenceField(catalog_field=spec, **common)
        field.widget.attrs.update(
            {"accept": IMAGE_ACCEPT if spec.type == "image" else AUDIO_ACCEPT}
        )
        return field
    raise ValueError(f"unknown field type {spec.type!r}")


def _step_validator(spec: CatalogField):
    """Values on the schema's step from its minimum (a step of 1 on integers is the type)."""
    assert spec.step is not None  # only fields with a step get this validator
    step, offset = spec.step, spec.min or 0

    def validate(value: float) -> None:
        if value is None:
            return
        steps = (value - offset) / step
        if not math.isclose(steps, round(steps), abs_tol=1e-9):
            low = offset + math.floor(steps) * step
            raise ValidationError(
                f"Enter a value on a step of {step:g} from {offset:g}: "
                f"the nearest are {low:g} and {low + step:g}.",
                code="step_size",
            )

    return validate


# --- The form -----------------------------------------------------------------------------


class GenerationForm(forms.Form):
    """A form for one catalog model; build it with `generation_form_class(model)`.

    `fill_defaults`: a field absent from the data takes the schema's default (the API, whose
    callers leave out what they do not change). On the page an unticked switch is absent, and
    means off.
    """

    catalog_model: CatalogModel

    def __init__(self, *args: Any, owner: Any, fill_defaults: bool = False, **kwargs: Any):
        self.owner = owner
        self.fill_defaults = fill_defaults
        self.references: dict[str, Reference] = {}
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        model = self.catalog_model
        if self.fill_defaults:
            for spec in model.fields:
                absent = spec.name not in self.data and spec.name not in (self.files or {})
                if absent and spec.default is not None and spec.name not in self.errors:
                    cleaned[spec.name] = spec.default
        values = {f.name: cleaned.get(f.name) for f in model.fields if not f.is_file}
        off = set()
        for spec in model.fields:
            if spec.condition and not condition_met(spec, values):
                # A field whose condition is off is neither validated nor sent.
                self.errors.pop(spec.name, None)
                cleaned[spec.name] = None
                off.add(spec.name)
        for spec in model.fields:
            if spec.name in self.errors or spec.name in off:
                continue
            value = cleaned.get(spec.name)
            if value is None and spec.default is not None and spec.type in ("integer", "enum"):
                # Left blank: the schema's default is what gets sent (and priced).
                cleaned[spec.name] = value = spec.default
            if spec.is_file and isinstance(value, uuid.UUID):
                from .selectors import reference_get_for_owner

                reference = reference_get_for_owner(owner=self.owner, id=value, kind=spec.type)
                if reference is None:
                    self.add_error(
                        spec.name, ReferenceField.default_error_messages["invalid_reference"]
                    )
                else:
                    cleaned[spec.name] = reference
                    self.references[spec.name] = reference
        return cleaned

    def valid_uploads(self) -> dict[str, UploadCandidate]:
        """Uploads that passed validation, also when other fields failed (to keep them)."""
        cleaned = getattr(self, "cleaned_data", {})
        return {
            name: value for name, value in cleaned.items() if isinstance(value, UploadCandidate)
        }

    def values(self) -> dict[str, Any]:
        """Clean non-file values by schema field name (files go as references)."""
        return {
            spec.name: self.cleaned_data.get(spec.name)
            for spec in self.catalog_model.fields
            if not spec.is_file
        }

    def loose_values(self) -> dict[str, Any]:
        """What the data says for each field, as far as it can be read, errors or not: for the
        live price and the request preview while a person is still typing."""
        if self.is_bound and hasattr(self, "cleaned_data"):
            values: dict[str, Any] = {}
            for spec in self.catalog_model.fields:
                if spec.name in self.errors:
                    values[spec.name] = None
                else:
                    value = self.cleaned_data.get(spec.name)
                    if isinstance(value, Reference | UploadCandidate | uuid.UUID):
                        value = True
                    values[spec.name] = value
            return values
        values = {}
        for spec in self.catalog_model.fields:
            value = self.get_initial_for_field(self.fields[spec.name], spec.name)
            values[spec.name] = None if value == "" else value
        return values


def generation_form_class(model: CatalogModel) -> type[GenerationForm]:
    """A Form class whose fields are the model's schema fields, in order, named as in the schema."""
    fields = {spec.name: _form_field(spec) for spec in model.fields}
    return type(
        f"GenerationForm_{model.key.replace('.', '_').replace('-', '_')}",
        (GenerationForm,),
        {**fields, "catalog_model": model},
    )


# --- Carrying values across a model switch ------------------------------------------------


def _read_value(spec: CatalogField, data: Mapping[str, Any]) -> Any:
    """A source field's value as sent by the page, or None when it cannot be read."""
    if spec.type == "boolean":
        return forms.CheckboxInput().value_from_datadict(data, MultiValueDict(), spec.name)
    raw = data.get(spec.name)
    if raw is None or raw == "":
        return None
    try:
        if spec.is_file:
            return str(uuid.UUID(str(raw)))
        if spec.type in ("text", "textarea"):
            return str(raw).replace("\r\n", "\n")
        if spec.type in ("integer", "number"):
            number = float(raw)
            if not math.isfinite(number):
                return None
            return int(number) if spec.type == "integer" and number.is_integer() else number
        if spec.type == "enum":
            for option in spec.options:
                if str(option.value) == str(raw):
                    return option.meaning
    except (TypeError, ValueError):
        return None
    return None


def _fit(spec: CatalogField, meaning: Any) -> Any:
    """The target field's value nearest to `meaning`, or None when nothing fits."""
    if meaning is None:
        return None
    if spec.type == "boolean":
        return meaning if isinstance(meaning, bool) else None
    if spec.is_file or spec.type in ("text", "textarea"):
        return meaning if isinstance(meaning, str) else None
    numeric = isinstance(meaning, (int, float)) and not isinstance(meaning, bool)
    if spec.type == "enum":
        for option in spec.options:
            if option.meaning == meaning or str(option.value).lower() == str(meaning).lower():
                return option.value
        numbers = [
            option.value
            for option in spec.options
            if isinstance(option.value, (int, float)) and not isinstance(option.value, bool)
        ]
        if numeric and numbers:
            # The nearest step; halfway between two goes up.
            return min(numbers, key=lambda value: (abs(value - meaning), -value))
        return None
    if spec.type in ("integer", "number") and numeric:
        value = meaning
        if spec.min is not None:
            value = max(value, spec.min)
        if spec.max is not None:
            value = min(value, spec.max)
        if spec.step:
            base = spec.min or 0
            value = base + math.floor((value - base) / spec.step + 0.5) * spec.step
            if spec.max is not None and value > spec.max:
                value -= spec.step
        return int(value) if spec.type == "integer" else value
    return None


# A hidden input per role remembers what the person typed when a switch had to change it (or
# drop it, for a role the new model lacks), with what it became: switching back while the field
# still shows that, restores what was typed.
REMEMBERED_PREFIX = "typed_"


@dataclass(frozen=True)
class CarriedValues:
    initial: dict[str, Any]  # the target form's initial values, by field name
    notes: dict[str, str]  # target field name -> what the switch changed, in words
    remembered: dict[str, str]  # hidden input name -> what it remembers (JSON)


def _remembered(data: Mapping[str, Any], role: str) -> tuple[Any, Any] | None:
    raw = data.get(REMEMBERED_PREFIX + role)
    if not raw:
        return None
    try:
        memo = json.loads(raw)
        return memo["typed"], memo["as"]
    except (TypeError, ValueError, KeyError):
        return None


def _same(one: Any, other: Any) -> bool:
    """Whether two meanings are the same value (`720P` and `720p` are)."""
    if isinstance(one, bool) or isinstance(other, bool):
        return one is other
    if isinstance(one, str) and isinstance(other, str):
        return one.lower() == other.lower()
    return one == other


def _said(spec: CatalogField, meaning: Any) -> str:
    """A value as the create page says it ("12 s", "1080p")."""
    if spec.type == "enum":
        for option in spec.options:
            if option.meaning == meaning or option.value == meaning:
                return option.shown_label
    if isinstance(meaning, float) and meaning.is_integer():
        meaning = int(meaning)
    return f"{meaning} {spec.unit}".strip()


def _switch_note(spec: CatalogField, typed: Any, fitted: Any, source: CatalogModel) -> str:
    if spec.type == "enum":
        offered = [option.shown_label for option in spec.options]
        takes = ", ".join(offered[:-1]) + " or " + offered[-1] if len(offered) > 1 else offered[0]
    else:
        takes = f"{_said(spec, spec.min)} to {_said(spec, spec.max)}"
    typed_text = f"{typed:g} {spec.unit}".strip() if isinstance(typed, (int, float)) else str(typed)
    return (
        f"This model takes {takes}: your {typed_text} is now {_said(spec, fitted)}, the nearest. "
        f"Switching back to {source.name} brings {typed_text} back."
    )


def values_carry_by_role(
    *, source: CatalogModel, target: CatalogModel, data: Mapping[str, Any]
) -> CarriedValues:
    """Initial values for `target`'s form from what was typed in `source`'s, matched by role
    (never by name: `audio` is a switch in one model and a file in the other). A value the
    target cannot take becomes its nearest allowed value, with a note beside the field; what was
    typed is remembered, so switching back restores it. Roles the target lacks are remembered
    too; a value that fits nowhere leaves the target's default."""
    if source.key == target.key:
        same = {spec.name: _read_value(spec, data) for spec in target.fields}
        return CarriedValues(same, {}, _memos_kept(data, handled=set()))
    initial: dict[str, Any] = {}
    notes: dict[str, str] = {}
    remembered: dict[str, str] = {}
    handled: set[str] = set()
    for spec in target.fields:
        if spec.role is None:
            continue
        handled.add(spec.role)
        origin = source.field_for_role(spec.role)
        if origin is not None and origin.type in ("image", "audio") and origin.type != spec.type:
            origin = None
        current = _read_value(origin, data) if origin is not None else None
        meaning = current
        memo = _remembered(data, spec.role)
        if memo is not None and _same(memo[1], current):
            meaning = memo[0]  # untouched since the switch that changed it
        value = _fit(spec, meaning)
        if value is None:
            continue
        initial[spec.name] = value
        became = _read_value(spec, {spec.name: value})
        if not _same(became, meaning):
            notes[spec.name] = _switch_note(spec, meaning, value, source)
            remembered[REMEMBERED_PREFIX + spec.role] = json.dumps({"typed": meaning, "as": became})
    for origin in source.fields:
        if origin.role is None or origin.role in handled:
            continue
        handled.add(origin.role)
        meaning = _read_value(origin, data)
        memo = _remembered(data, origin.role)
        if memo is not None and _same(memo[1], meaning):
            meaning = memo[0]
        if meaning is not None:
            remembered[REMEMBERED_PREFIX + origin.role] = json.dumps({"typed": meaning, "as": None})
    remembered.update(_memos_kept(data, handled=handled))
    return CarriedValues(initial, notes, remembered)


def _memos_kept(data: Mapping[str, Any], *, handled: set[str]) -> dict[str, str]:
    """What earlier switches remembered for roles neither model of this switch has."""
    return {
        name: data[name]
        for name in data
        if name.startswith(REMEMBERED_PREFIX)
        and name[len(REMEMBERED_PREFIX) :] not in handled
        and _remembered(data, name[len(REMEMBERED_PREFIX) :]) is not None
    }
