"""The catalog of models: one JSON document per model in this folder, validated at start-up.

Each document holds the model's form schema (ordered fields with types, ranges, defaults,
conditions, roles and their place in the provider's request body) and its price rule. This is
the single source of truth: the form, the server-side validation, the provider request, the
request preview, the price and the API's OpenAPI document are all built from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from django.core.exceptions import ImproperlyConfigured

CATALOG_DIR = Path(__file__).resolve().parent
FORMAT_SCHEMA_PATH = CATALOG_DIR / "format.schema.json"

FILE_TYPES = frozenset({"image", "audio"})
PROVIDER_NAMES = {"modelstream": "ModelStream", "apiframe": "Apiframe"}
ROLES = (
    "prompt",
    "negative_prompt",
    "reference_image",
    "reference_audio",
    "duration",
    "resolution",
    "audio_track",
    "seed",
    "prompt_expansion",
    "multi_shot",
    "watermark",
)


class CatalogError(ImproperlyConfigured):
    """A catalog document is broken; the message names the file, the field and the problem."""


@dataclass(frozen=True)
class Option:
    value: Any
    label: str
    # What the option means for its field's role; a model switch carries this, not the value.
    role_value: Any = None
    person_label: str = ""  # how the create page shows it (display only)

    @property
    def shown_label(self) -> str:
        return self.person_label or self.label

    @property
    def meaning(self) -> Any:
        return self.value if self.role_value is None else self.role_value


@dataclass(frozen=True)
class Condition:
    field: str
    equals: Any
    hint: str = ""


@dataclass(frozen=True)
class CatalogField:
    name: str
    label: str
    type: str
    wire: str
    role: str | None = None
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    max_length: int | None = None
    options: tuple[Option, ...] = ()
    example: Any = None
    placeholder: str = ""
    help: str = ""
    unit: str = ""
    condition: Condition | None = None
    wire_type: str | None = None
    max_bytes: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    # What the create page says to a person (the provider's `label` and `help` describe the
    # API); empty where the catalog gives none, and then the provider's words are shown.
    person_label: str = ""
    person_help: str = ""

    @property
    def shown_label(self) -> str:
        return self.person_label or self.label

    @property
    def shown_help(self) -> str:
        return self.person_help if self.person_label else self.help

    @property
    def is_file(self) -> bool:
        return self.type in FILE_TYPES

    @property
    def max_size_text(self) -> str:
        """The file size limit as people read it: "20 MB" (20 × 1024 × 1024 bytes)."""
        return f"{(self.max_bytes or 0) / (1024 * 1024):g} MB"

    @property
    def wire_path(self) -> tuple[str, ...]:
        return tuple(self.wire.split("."))

    @property
    def option_values(self) -> list[Any]:
        return [option.value for option in self.options]

    def option_label(self, value: Any) -> str:
        for option in self.options:
            if option.value == value:
                return option.label
        return str(value)


@dataclass(frozen=True)
class PriceRule:
    duration_steps: tuple[int, ...]
    credits: dict[str, dict[int, dict[str, int]]]
    uploaded_audio_means_audio: bool = False
    note: str = ""


@dataclass(frozen=True)
class CatalogModel:
    key: str
    name: str
    provider: str
    provider_model: str
    description: str
    fields: tuple[CatalogField, ...]
    price: PriceRule
    source: str = ""
    position: int = 100
    document: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def provider_name(self) -> str:
        return PROVIDER_NAMES.get(self.provider, self.provider)

    def field(self, name: str) -> CatalogField:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)

    def field_for_role(self, role: str) -> CatalogField | None:
        for item in self.fields:
            if item.role == role:
                return item
        return None

    def required_field(self, role: str) -> CatalogField:
        """The field with `role`, for callers that cannot go on without it."""
        found = self.field_for_role(role)
        if found is None:
            raise KeyError(f"{self.key} has no field with the role {role!r}")
        return found

    @property
    def field_names(self) -> list[str]:
        return [item.name for item in self.fields]

    def defaults(self) -> dict[str, Any]:
        return {item.name: item.default for item in self.fields if item.default is not None}


def _format_schema() -> dict:
    return json.loads(FORMAT_SCHEMA_PATH.read_text(encoding="utf-8"))


def _where(error: jsonschema.ValidationError, document: dict) -> str:
    path = list(error.absolute_path)
    if len(path) >= 2 and path[0] == "fields" and isinstance(path[1], int):
        try:
            name = document["fields"][path[1]].get("name", f"#{path[1]}")
        except (IndexError, AttributeError, KeyError):
            name = f"#{path[1]}"
        rest = ".".join(str(part) for part in path[2:])
        return f"field {name!r}" + (f" ({rest})" if rest else "")
    return ".".join(str(part) for part in path) or "the document"


def _fail(source: str, where: str, problem: str) -> CatalogError:
    return CatalogError(f"Catalog document {source}: {where}: {problem}")


def _number_ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Which field types can carry each role, so a model switch and the price can rely on them.
ROLE_TYPES: dict[str, frozenset[str]] = {
    "prompt": frozenset({"text", "textarea"}),
    "negative_prompt": frozenset({"text", "textarea"}),
    "reference_image": frozenset({"image"}),
    "reference_audio": frozenset({"audio"}),
    "duration": frozenset({"integer", "number", "enum"}),
    "resolution": frozenset({"enum"}),
    "audio_track": frozenset({"boolean"}),
    "seed": frozenset({"integer"}),
    "prompt_expansion": frozenset({"boolean"}),
    "multi_shot": frozenset({"boolean", "enum"}),
    "watermark": frozenset({"boolean"}),
}


def _value_fits(item: CatalogField, value: Any) -> str | None:
    """Why `value` cannot be a value of this field, or None when it can."""
    if item.type == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if item.type in ("integer", "number"):
        if not _number_ok(value) or (item.type == "integer" and not isinstance(value, int)):
            return f"{value!r} is not a valid {item.type}"
        if item.min is not None and value < item.min or item.max is not None and value > item.max:
            return f"{value!r} is outside [{item.min}, {item.max}]"
        if item.step and ((value - (item.min or 0)) / item.step) % 1:
            return f"{value!r} is not on a step of {item.step} from {item.min or 0}"
        return None
    if item.type == "enum":
        if value not in item.option_values:
            return f"{value!r} is not one of the options {item.option_values}"
        return None
    if item.type in ("text", "textarea"):
        if not isinstance(value, str):
            return f"{value!r} is not text"
        if item.max_length is not None and len(value) > item.max_length:
            return f"it is longer than max_length ({item.max_length})"
        return None
    return None


def _check_field(source: str, item: CatalogField, by_name: dict[str, CatalogField]) -> None:
    where = f"field {item.name!r}"
    if item.role and item.type not in ROLE_TYPES[item.role]:
        raise _fail(
            source,
            f"{where} (role)",
            f"the role {item.role!r} needs a field of type {sorted(ROLE_TYPES[item.role])}",
        )
    if item.type == "enum":
        values = item.option_values
        if len(set(map(repr, values))) != len(values):
            raise _fail(source, f"{where} (options)", "two options have the same value")
        kinds = {type(value) for value in values}
        if len(kinds) > 1:
            raise _fail(source, f"{where} (options)", "the option values mix types")
        wire_types: dict[str, type | tuple[type, ...]] = {
            "integer": int,
            "number": (int, float),
            "string": str,
        }
        expected = wire_types.get(item.wire_type or "")
        if expected and not all(isinstance(value, expected) for value in values):
            raise _fail(
                source, f"{where} (wire_type)", f"the options are not all {item.wire_type}s"
            )
    elif item.options:
        raise _fail(source, f"{where} (options)", f"a {item.type} field has no options")
    if item.type not in ("integer", "number") and (item.min, item.max, item.step) != (
        None,
        None,
        None,
    ):
        raise _fail(source, f"{where} (min)", f"a {item.type} field has no range")
    if item.is_file:
        low, high = item.min_seconds, item.max_seconds
        if low is not None and high is not None and low > high:
            raise _fail(source, f"{where} (min_seconds)", "min_seconds is above max_seconds")
    elif item.max_bytes is not None or item.min_seconds is not None:
        raise _fail(source, f"{where} (max_bytes)", "only a file field has a size or a length")
    if item.example is not None and not item.is_file:
        problem = _value_fits(item, item.example)
        if problem:
            raise _fail(source, f"{where} (example)", problem)
    if item.condition:
        target = by_name[item.condition.field]
        problem = _value_fits(target, item.condition.equals)
        if problem or target.is_file:
            raise _fail(
                source,
                f"{where} (condition)",
                f"{item.condition.field!r} can never equal {item.condition.equals!r}",
            )


def _check_default(source: str, item: CatalogField) -> None:
    value = item.default
    if value is None:
        return
    where = f"field {item.name!r} (default)"
    if item.type in FILE_TYPES:
        raise _fail(source, where, "a file field cannot have a default")
    problem = _value_fits(item, value)
    if problem:
        raise _fail(source, where, problem)


def model_from_document(document: dict, source: str) -> CatalogModel:
    """Validate one document against the catalog format and its cross-field rules."""
    validator = jsonschema.Draft202012Validator(_format_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        raise _fail(source, _where(error, document), error.message)

    fields: list[CatalogField] = []
    for raw in document["fields"]:
        condition = raw.get("condition")
        fields.append(
            CatalogField(
                name=raw["name"],
                label=raw["label"],
                type=raw["type"],
                wire=raw["wire"],
                role=raw.get("role"),
                required=raw.get("required", False),
                default=raw.get("default"),
                min=raw.get("min"),
                max=raw.get("max"),
                step=raw.get("step"),
                max_length=raw.get("max_length"),
                options=tuple(
                    Option(o["value"], o["label"], o.get("role_value"), o.get("person_label", ""))
                    for o in raw.get("options", ())
                ),
                example=raw.get("example"),
                placeholder=raw.get("placeholder", ""),
                help=raw.get("help", ""),
                unit=raw.get("unit", ""),
                condition=Condition(**condition) if condition else None,
                wire_type=raw.get("wire_type"),
                max_bytes=raw.get("max_bytes"),
                min_seconds=raw.get("min_seconds"),
                max_seconds=raw.get("max_seconds"),
                person_label=raw.get("person", {}).get("label", ""),
                person_help=raw.get("person", {}).get("help", ""),
            )
        )

    names = [item.name for item in fields]
    by_name = {item.name: item for item in fields}
    for item in fields:
        if names.count(item.name) > 1:
            raise _fail(source, f"field {item.name!r}", "the name is used twice")
        if item.role and [f.role for f in fields].count(item.role) > 1:
            raise _fail(source, f"field {item.name!r} (role)", f"role {item.role!r} is used twice")
        if item.min is not None and item.max is not None and item.min > item.max:
            raise _fail(source, f"field {item.name!r} (min)", "min is above max")
        if item.type in ("text", "textarea") and item.max_length is None:
            raise _fail(source, f"field {item.name!r} (max_length)", "a text field needs a limit")
        if item.condition:
            target = by_name.get(item.condition.field)
            if target is None:
                raise _fail(
                    source,
                    f"field {item.name!r} (condition)",
                    f"it depends on {item.condition.field!r}, which is not a field",
                )
            if names.index(target.name) > names.index(item.name):
                raise _fail(
                    source, f"field {item.name!r} (condition)", "it must come after its field"
                )
        _check_default(source, item)
        _check_field(source, item, by_name)
    wires = [item.wire for item in fields]
    for item in fields:
        if wires.count(item.wire) > 1:
            raise _fail(source, f"field {item.name!r} (wire)", f"{item.wire!r} is used twice")
        if item.wire == "model":
            raise _fail(source, f"field {item.name!r} (wire)", "'model' is set by the catalog")
    for role in ("prompt", "reference_image", "resolution", "duration"):
        if role not in {item.role for item in fields}:
            raise _fail(source, "fields", f"no field has the role {role!r}")

    raw_price = document["price"]
    credits: dict[str, dict[int, dict[str, int]]] = {}
    for resolution, by_duration in raw_price["credits"].items():
        credits[resolution.lower()] = {}
        for duration, cost in by_duration.items():
            try:
                credits[resolution.lower()][int(duration)] = cost
            except ValueError:
                raise _fail(
                    source, f"price.credits.{resolution}", f"{duration!r} is not a duration"
                ) from None
    price = PriceRule(
        duration_steps=tuple(sorted(raw_price["duration_steps"])),
        credits=credits,
        uploaded_audio_means_audio=raw_price.get("uploaded_audio_means_audio", False),
        note=raw_price.get("note", ""),
    )
    resolution_field = next(item for item in fields if item.role == "resolution")
    for value in resolution_field.option_values:
        table = credits.get(str(value).lower())
        if table is None:
            raise _fail(source, "price.credits", f"no prices for the resolution {value!r}")
        for step in price.duration_steps:
            if step not in table:
                raise _fail(source, f"price.credits.{value}", f"no price for {step} s")
    duration_field = next(item for item in fields if item.role == "duration")
    longest = max(duration_field.option_values or [duration_field.max or 0])
    if longest > price.duration_steps[-1]:
        raise _fail(
            source, "price.duration_steps", f"the model allows {longest} s, beyond the last step"
        )

    return CatalogModel(
        key=document["key"],
        name=document["name"],
        provider=document["provider"],
        provider_model=document["provider_model"],
        description=document["description"],
        fields=tuple(fields),
        price=price,
        source=document.get("source", ""),
        position=document.get("position", 100),
        document=document,
    )


def load_catalog(directory: Path = CATALOG_DIR) -> dict[str, CatalogModel]:
    """Read and validate every model document in `directory`, keyed by model key."""
    models: dict[str, CatalogModel] = {}
    for path in sorted(directory.glob("*.json")):
        if path.name == FORMAT_SCHEMA_PATH.name:
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise _fail(
                path.name, f"line {error.lineno}", f"not valid JSON ({error.msg})"
            ) from None
        model = model_from_document(document, path.name)
        if model.key in models:
            raise _fail(path.name, "key", f"{model.key!r} is already used by another document")
        if path.stem != model.key:
            raise _fail(path.name, "key", f"the file must be named {model.key}.json")
        models[model.key] = model
    if not models:
        raise CatalogError(f"The catalog in {directory} holds no model.")
    return dict(sorted(models.items(), key=lambda item: (item[1].position, item[0])))


@cache
def catalog() -> dict[str, CatalogModel]:
    """The studio's catalog, loaded once per process."""
    return load_catalog()


def catalog_get(key: str) -> CatalogModel:
    """One model by key; KeyError when there is none."""
    return catalog()[key]
