"""Forms built from a catalog model's form schema: the same validation for the page and the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import StepValueValidator

from .catalog import CatalogField, CatalogModel
from .models import Reference
from .uploads import AudioInfo, ImageInfo, audio_inspect, image_inspect
from .wire import condition_met


@dataclass
class UploadCandidate:
    """A freshly uploaded file that passed validation and is not stored yet."""

    file: UploadedFile
    info: ImageInfo | AudioInfo
    kind: str


class ReferenceWidget(forms.FileInput):
    """A file input that also accepts the id of a stored reference under the same name."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        upload = files.get(name)
        if upload is not None:
            return upload
        value = data.get(name)
        return value.strip() if isinstance(value, str) else None

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in files and name not in data


class ReferenceField(forms.Field):
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
            spec = self.catalog_field
            if spec.type == "image":
                info: ImageInfo | AudioInfo = image_inspect(value, max_bytes=spec.max_bytes or 0)
            else:
                info = audio_inspect(
                    value,
                    max_bytes=spec.max_bytes or 0,
                    min_seconds=spec.min_seconds if spec.min_seconds is not None else 0,
                    max_seconds=spec.max_seconds if spec.max_seconds is not None else 1e9,
                )
            return UploadCandidate(file=value, info=info, kind=spec.type)
        if value:
            try:
                return uuid.UUID(str(value))
            except ValueError:
                raise ValidationError(
                    self.error_messages["invalid_reference"], code="invalid_reference"
                ) from None
        if self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        return None


def _form_field(spec: CatalogField) -> forms.Field:
    common: dict[str, Any] = {
        "label": spec.label,
        "help_text": spec.help,
        "required": spec.required,
    }
    if spec.default is not None:
        common["initial"] = spec.default
    if spec.type in ("text", "textarea"):
        attrs = {"maxlength": spec.max_length, "data-counter": "codepoints"}
        if spec.placeholder:
            attrs["placeholder"] = spec.placeholder
        widget = forms.Textarea(attrs={**attrs, "rows": 4 if spec.role == "prompt" else 2})
        if spec.type == "text":
            widget = forms.TextInput(attrs=attrs)
        return forms.CharField(max_length=spec.max_length, strip=True, widget=widget, **common)
    if spec.type == "integer":
        validators = []
        if spec.step and spec.step != 1:
            validators.append(StepValueValidator(int(spec.step), offset=int(spec.min or 0)))
        attrs = {"step": int(spec.step or 1)}
        if spec.placeholder:
            attrs["placeholder"] = spec.placeholder
        return forms.IntegerField(
            min_value=None if spec.min is None else int(spec.min),
            max_value=None if spec.max is None else int(spec.max),
            validators=validators,
            widget=forms.NumberInput(attrs=attrs),
            **common,
        )
    if spec.type == "number":
        validators = []
        if spec.step:
            validators.append(StepValueValidator(spec.step, offset=spec.min or 0))
        return forms.FloatField(
            min_value=spec.min,
            max_value=spec.max,
            validators=validators,
            widget=forms.NumberInput(attrs={"step": spec.step or "any"}),
            **common,
        )
    if spec.type == "boolean":
        common["required"] = False
        return forms.BooleanField(**common)
    if spec.type == "enum":
        values = spec.option_values
        coerce: Any = str
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            coerce = int
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            coerce = float
        return forms.TypedChoiceField(
            choices=[(option.value, option.label) for option in spec.options],
            coerce=coerce,
            empty_value=None,
            widget=forms.RadioSelect,
            **common,
        )
    if spec.type in ("image", "audio"):
        accept = "image/jpeg,image/png,image/bmp,image/webp"
        if spec.type == "audio":
            accept = "audio/wav,audio/x-wav,audio/mpeg,.wav,.mp3"
        field = ReferenceField(catalog_field=spec, **common)
        field.widget.attrs.update({"accept": accept})
        return field
    raise ValueError(f"unknown field type {spec.type!r}")


class GenerationForm(forms.Form):
    """A form for one catalog model; build it with `generation_form_class(model)`."""

    catalog_model: CatalogModel

    def __init__(self, *args: Any, owner: Any, **kwargs: Any):
        self.owner = owner
        self.references: dict[str, Reference] = {}
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        model = self.catalog_model
        # Booleans first, so conditions see the values that were sent.
        values = {f.name: cleaned.get(f.name) for f in model.fields if not f.is_file}
        for spec in model.fields:
            if spec.condition and not condition_met(spec, values):
                # A field whose condition is off is neither validated nor sent.
                self.errors.pop(spec.name, None)
                cleaned[spec.name] = spec.default if spec.type == "boolean" else None
        for spec in model.fields:
            if spec.name in self.errors:
                continue
            value = cleaned.get(spec.name)
            if value is None and spec.default is not None and spec.type not in ("text", "textarea"):
                # Left out (e.g. by an API caller): the schema's default is what gets sent.
                cleaned[spec.name] = value = spec.default
            if spec.is_file and isinstance(value, uuid.UUID):
                from .selectors import reference_get_for_owner

                reference = reference_get_for_owner(owner=self.owner, id=value, kind=spec.type)
                if reference is None:
                    self.add_error(
                        spec.name, ReferenceField.default_error_messages["invalid_reference"]
                    )
                    cleaned[spec.name] = None
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
        """Clean non-file values by schema field name."""
        return {
            spec.name: self.cleaned_data.get(spec.name)
            for spec in self.catalog_model.fields
            if not spec.is_file
        }


def generation_form_class(model: CatalogModel) -> type[GenerationForm]:
    """A Form class whose fields are the model's schema fields, in order, named as in the schema."""
    fields = {spec.name: _form_field(spec) for spec in model.fields}
    return type(
        f"GenerationForm_{model.key.replace('.', '_').replace('-', '_')}",
        (GenerationForm,),
        {**fields, "catalog_model": model},
    )
