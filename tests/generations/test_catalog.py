"""The catalog loads at start-up, holds both seed models exactly as their documents give them,
and a broken document names its file, its field and the fault.

Every expected value below is written by hand from ../shared/seeds/ (000_… ModelStream,
004_… Apiframe), never read back from the catalog.
"""

import json
import shutil

import pytest

from generations.catalog import CATALOG_DIR, CatalogError, catalog, load_catalog

MB = 1024 * 1024

# ModelStream's form_schema, field by field, in the document's order.
MODELSTREAM_FIELDS = [
    {
        "name": "img_url",
        "type": "image",
        "role": "reference_image",
        "required": True,
        "wire": "metadata.input.img_url",
        "max_bytes": 20 * MB,
        "example": "https://static.modelstream.ai/demo/wan/wan2.6-i2v-flash_reference.png",
        "help": "Required. The starting reference image for video generation. "
        "JPEG/PNG/BMP/WEBP, ≤20MB.",
    },
    {
        "name": "prompt",
        "type": "textarea",
        "role": "prompt",
        "required": True,
        "wire": "prompt",
        "max_length": 1500,
        "placeholder": "e.g., A high-fashion model walking in a neon corridor...",
        "example": "A high-fashion model walking gracefully in a neon-lit futuristic corridor, "
        "hair swaying naturally, eyes reflecting flickering lights, cinematic camera movement "
        "with a slight tilt, ultra-realistic textures and smooth motion.",
        "help": "Describe the actions, scene changes, and artistic style in the video. Use "
        "natural language to control single/multi-shot.",
    },
    {
        "name": "audio_url",
        "type": "audio",
        "role": "reference_audio",
        "required": False,
        "wire": "metadata.input.audio_url",
        "max_bytes": 15 * MB,
        "min_seconds": 3,
        "max_seconds": 30,
        "help": "Optional. Upload an audio file (WAV/MP3, 3-30s, ≤15MB) to generate "
        "synchronized video effects.",
    },
    {
        "name": "negative_prompt",
        "type": "textarea",
        "role": "negative_prompt",
        "required": False,
        "wire": "metadata.input.negative_prompt",
        "max_length": 500,
        "example": "blurry, low quality, distorted, deformed, watermark, ugly",
        "help": "Describe what you do not want to see in the video. Supports Chinese and "
        "English, max 500 chars.",
    },
    {
        "name": "resolution",
        "type": "enum",
        "role": "resolution",
        "required": False,
        "wire": "metadata.parameters.resolution",
        "default": "1080P",
        "example": "1080P",
        "options": [("1080P", "1080P"), ("720P", "720P")],
        "help": "Video output resolution. Options: 720P, 1080P. Default 1080P.",
    },
    {
        "name": "duration",
        "type": "integer",
        "role": "duration",
        "required": False,
        "wire": "duration",
        "default": 5,
        "example": 5,
        "min": 2,
        "max": 15,
        "step": 1,
        "help": "Length of the generated video, an integer in [2, 15], default 5s.",
    },
    {
        "name": "prompt_extend",
        "type": "boolean",
        "role": "prompt_expansion",
        "required": False,
        "wire": "metadata.parameters.prompt_extend",
        "default": True,
        "example": True,
        "help": "When enabled, the model intelligently rewrites and refines the input prompt. "
        "Enabled by default.",
    },
    {
        "name": "shot_type",
        "type": "enum",
        "role": "multi_shot",
        "required": False,
        "wire": "metadata.parameters.shot_type",
        "default": "single",
        "example": "single",
        "options": [("single", "Single"), ("multi", "Multi")],
        "condition": ("prompt_extend", True),
        "help": "Shot type; effective only when Prompt Extend is on. Single outputs a "
        "continuous single-shot video; Multi outputs a multi-shot video. Default single.",
    },
    {
        "name": "audio",
        "type": "boolean",
        "role": "audio_track",
        "required": False,
        "wire": "metadata.parameters.audio",
        "default": True,
        "example": True,
        "help": "Whether to generate an audio track (speech/SFX/BGM). Enabled by default. When "
        "a Sync Audio file is provided, the uploaded audio takes precedence.",
    },
    {
        "name": "watermark",
        "type": "boolean",
        "role": "watermark",
        "required": False,
        "wire": "metadata.parameters.watermark",
        "default": False,
        "example": False,
        "help": "When enabled, adds an 'AI-generated' watermark in the lower-right corner. "
        "Disabled by default.",
    },
    {
        "name": "seed",
        "type": "integer",
        "role": "seed",
        "required": False,
        "wire": "metadata.parameters.seed",
        "min": 0,
        "max": 2147483647,
        "step": 1,
        "placeholder": "Leave blank for random",
        "help": "Controls randomness, range [0, 2147483647]. Leave empty for random.",
    },
]

# Apiframe's wanParams table (plus the top-level prompt), in the document's order.
APIFRAME_FIELDS = [
    {
        "name": "image",
        "type": "image",
        "role": "reference_image",
        "required": True,
        "wire": "wanParams.image",
        "max_bytes": 20 * MB,
        "example": "https://example.com/driver.jpg",
        "help": "Image URL for video generation. This model is image-to-video only — the "
        "image parameter is required.",
    },
    {
        "name": "prompt",
        "type": "textarea",
        "role": "prompt",
        "required": True,
        "wire": "prompt",
        "max_length": 1500,
        "example": "The race car driver pulls down her helmet visor as the camera zooms out",
        # The document describes no prompt (it is a common field): the studio's own help.
        "help": "What the video should show: the motion, the camera and the style.",
    },
    {
        "name": "duration",
        "type": "enum",
        "role": "duration",
        "required": False,
        "wire": "wanParams.duration",
        "wire_type": "integer",
        "default": 5,
        "example": 5,
        "options": [(5, "5 s"), (10, "10 s"), (15, "15 s")],
        "help": "Video duration in seconds: 5, 10, or 15",
    },
    {
        "name": "resolution",
        "type": "enum",
        "role": "resolution",
        "required": False,
        "wire": "wanParams.resolution",
        "default": "720p",
        "example": "720p",
        "options": [("720p", "720p"), ("1080p", "1080p")],
        "help": 'Video resolution: "720p", "1080p"',
    },
    {
        "name": "negative_prompt",
        "type": "textarea",
        "role": "negative_prompt",
        "required": False,
        "wire": "wanParams.negative_prompt",
        "max_length": 500,
        "help": "Elements to avoid in the generated video",
    },
    {
        "name": "audio",
        "type": "audio",
        "role": "reference_audio",
        "required": False,
        "wire": "wanParams.audio",
        "max_bytes": 15 * MB,
        "min_seconds": 3,
        "max_seconds": 30,
        "help": "Audio file URL (wav/mp3, 3–30s, ≤15 MB) for synchronization",
    },
    {
        "name": "audio_enabled",
        "type": "boolean",
        "role": "audio_track",
        "required": False,
        "wire": "wanParams.audio_enabled",
        "default": True,
        "help": "Set to false for silent video output",
    },
    {
        "name": "enable_prompt_expansion",
        "type": "boolean",
        "role": "prompt_expansion",
        "required": False,
        "wire": "wanParams.enable_prompt_expansion",
        "help": "Enable automatic prompt optimization",
    },
    {
        "name": "multi_shots",
        "type": "boolean",
        "role": "multi_shot",
        "required": False,
        "wire": "wanParams.multi_shots",
        "condition": ("enable_prompt_expansion", True),
        "help": "Enable multi-shot narrative segmentation (requires enable_prompt_expansion: true)",
    },
    {
        "name": "seed",
        "type": "integer",
        "role": "seed",
        "required": False,
        "wire": "wanParams.seed",
        "min": 0,
        "max": 2147483647,
        "step": 1,
        "help": "Random seed for reproducible generation",
    },
]

UNSET = object()
ATTRIBUTES = (
    "type",
    "role",
    "required",
    "wire",
    "default",
    "example",
    "min",
    "max",
    "step",
    "max_length",
    "max_bytes",
    "min_seconds",
    "max_seconds",
    "placeholder",
    "help",
)


def _expected(field: dict, attribute: str):
    if attribute in field:
        return field[attribute]
    return "" if attribute in ("placeholder", "help") else None


@pytest.mark.parametrize(
    ("key", "expected"),
    [("wan2.6-i2v-flash", MODELSTREAM_FIELDS), ("wan-2.6-flash", APIFRAME_FIELDS)],
)
def test_every_field_is_as_the_providers_document_gives_it(key, expected):
    model = catalog()[key]
    assert model.field_names == [field["name"] for field in expected]
    for field in expected:
        spec = model.field(field["name"])
        for attribute in ATTRIBUTES:
            assert getattr(spec, attribute) == _expected(field, attribute), (
                f"{key}.{field['name']}.{attribute}"
            )
        assert [(o.value, o.label) for o in spec.options] == field.get("options", [])
        condition = (spec.condition.field, spec.condition.equals) if spec.condition else None
        assert condition == field.get("condition"), f"{key}.{field['name']}.condition"
        if "wire_type" in field:
            assert spec.wire_type == field["wire_type"]


def test_the_models_are_who_and_what_their_documents_say():
    modelstream = catalog()["wan2.6-i2v-flash"]
    assert (modelstream.provider, modelstream.provider_model) == ("modelstream", "wan2.6-i2v-flash")
    assert modelstream.name == "Wan2.6-I2V-Flash"
    assert modelstream.description.startswith(
        "Wan2.6 image to video flash, faster and more cost-effective generation."
    )
    apiframe = catalog()["wan-2.6-flash"]
    assert (apiframe.provider, apiframe.provider_model) == ("apiframe", "wan-2.6-flash")
    assert apiframe.name == "Wan 2.6 Flash"
    assert apiframe.description.startswith(
        "Fast image-to-video generation with optional audio, multi-shot support, and up to 15 "
        "seconds at 1080p."
    )
    # ModelStream first: it is the picker's default.
    assert list(catalog())[:2] == ["wan2.6-i2v-flash", "wan-2.6-flash"]


def test_shot_type_options_mean_single_or_multi_shot_for_a_model_switch():
    shot_type = catalog()["wan2.6-i2v-flash"].field("shot_type")
    assert [(o.value, o.meaning) for o in shot_type.options] == [("single", False), ("multi", True)]


def test_a_file_limit_reads_as_whole_megabytes():
    assert catalog()["wan2.6-i2v-flash"].field("img_url").max_size_text == "20 MB"
    assert catalog()["wan-2.6-flash"].field("audio").max_size_text == "15 MB"


# --- Broken documents ---------------------------------------------------------------------


def _broken(tmp_path, mutate, source="wan2.6-i2v-flash.json"):
    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(CATALOG_DIR / "format.schema.json", folder)
    document = json.loads((CATALOG_DIR / source).read_text())
    mutate(document)
    (folder / source).write_text(json.dumps(document))
    return folder


def _field(document, name):
    return next(f for f in document["fields"] if f["name"] == name)


def test_the_shipped_catalog_loads_from_its_folder():
    assert set(load_catalog()) == {"wan2.6-i2v-flash", "wan-2.6-flash"}


def test_a_field_of_the_wrong_type_names_file_field_and_problem(tmp_path):
    def mutate(document):
        _field(document, "duration")["type"] = "slider"

    with pytest.raises(CatalogError) as excinfo:
        load_catalog(_broken(tmp_path, mutate))
    message = str(excinfo.value)
    assert "wan2.6-i2v-flash.json" in message
    assert "'duration'" in message
    assert "slider" in message


def test_a_missing_required_key_is_named(tmp_path):
    def mutate(document):
        del _field(document, "prompt")["label"]

    with pytest.raises(CatalogError, match=r"wan2.6-i2v-flash.json: field 'prompt'.*'label'"):
        load_catalog(_broken(tmp_path, mutate))


def test_an_unknown_key_in_a_field_is_refused(tmp_path):
    def mutate(document):
        _field(document, "seed")["maximum"] = 3

    with pytest.raises(CatalogError, match=r"field 'seed'.*'maximum'"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_default_outside_the_range_is_refused(tmp_path):
    def mutate(document):
        _field(document, "duration")["default"] = 20

    with pytest.raises(CatalogError, match=r"field 'duration' \(default\).*outside"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_default_off_the_step_is_refused(tmp_path):
    def mutate(document):
        _field(document, "duration")["step"] = 2

    with pytest.raises(CatalogError, match=r"field 'duration' \(default\).*step"):
        load_catalog(_broken(tmp_path, mutate))


def test_an_enum_default_that_is_not_an_option_is_refused(tmp_path):
    def mutate(document):
        _field(document, "resolution")["default"] = "1080p"  # the other provider's case

    with pytest.raises(CatalogError, match=r"field 'resolution' \(default\).*not one of"):
        load_catalog(_broken(tmp_path, mutate))


def test_an_example_that_breaks_the_fields_rules_is_refused(tmp_path):
    def mutate(document):
        _field(document, "duration")["example"] = 16

    with pytest.raises(CatalogError, match=r"field 'duration' \(example\)"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_condition_on_a_missing_field_is_refused(tmp_path):
    def mutate(document):
        _field(document, "shot_type")["condition"]["field"] = "nope"

    with pytest.raises(CatalogError, match=r"field 'shot_type' \(condition\)"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_condition_its_field_can_never_meet_is_refused(tmp_path):
    def mutate(document):
        _field(document, "shot_type")["condition"]["equals"] = "yes"

    with pytest.raises(CatalogError, match=r"field 'shot_type' \(condition\).*never equal"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_role_on_a_field_of_the_wrong_type_is_refused(tmp_path):
    def mutate(document):
        _field(document, "watermark")["role"] = "seed"
        _field(document, "seed").pop("role")

    with pytest.raises(CatalogError, match=r"field 'watermark' \(role\).*'seed' needs"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_role_used_twice_is_refused(tmp_path):
    def mutate(document):
        _field(document, "negative_prompt")["role"] = "prompt"

    with pytest.raises(CatalogError, match=r"role 'prompt' is used twice"):
        load_catalog(_broken(tmp_path, mutate))


def test_two_fields_on_one_wire_path_are_refused(tmp_path):
    def mutate(document):
        _field(document, "watermark")["wire"] = "metadata.parameters.audio"

    with pytest.raises(CatalogError, match=r"\(wire\).*used twice"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_text_field_without_a_length_limit_is_refused(tmp_path):
    def mutate(document):
        del _field(document, "prompt")["max_length"]

    with pytest.raises(CatalogError, match=r"field 'prompt' \(max_length\)"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_file_field_without_a_size_limit_is_refused(tmp_path):
    def mutate(document):
        del _field(document, "img_url")["max_bytes"]

    with pytest.raises(CatalogError, match=r"field 'img_url'.*'max_bytes'"):
        load_catalog(_broken(tmp_path, mutate))


def test_invalid_json_names_the_line(tmp_path):
    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(CATALOG_DIR / "format.schema.json", folder)
    (folder / "broken.json").write_text('{"key": "broken",\n  oops}')
    with pytest.raises(CatalogError, match=r"broken.json: line 2"):
        load_catalog(folder)


def test_a_file_named_unlike_its_key_is_refused(tmp_path):
    folder = _broken(tmp_path, lambda document: None)
    (folder / "wan2.6-i2v-flash.json").rename(folder / "other.json")
    with pytest.raises(CatalogError, match=r"other.json: key: the file must be named"):
        load_catalog(folder)


def test_a_price_table_missing_a_resolution_is_refused(tmp_path):
    def mutate(document):
        del document["price"]["credits"]["1080p"]

    with pytest.raises(CatalogError, match="no prices for the resolution '1080P'"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_duration_beyond_the_last_priced_step_is_refused(tmp_path):
    def mutate(document):
        document["price"]["duration_steps"] = [5, 10]

    with pytest.raises(CatalogError, match=r"price.duration_steps.*15 s"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_broken_document_stops_start_up(tmp_path, monkeypatch):
    """The app's ready() loads the catalog; a fault there is ImproperlyConfigured."""
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    from generations import catalog as catalog_module

    folder = _broken(tmp_path, lambda document: _field(document, "seed").update(min=-5, max=-10))
    monkeypatch.setattr(catalog_module, "catalog", lambda: load_catalog(folder))
    with pytest.raises(ImproperlyConfigured, match=r"field 'seed' \(min\).*above max"):
        apps.get_app_config("generations").ready()
