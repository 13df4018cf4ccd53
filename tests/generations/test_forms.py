"""The schema-built forms enforce every rule of both models, whatever a browser or API sent.

Bounds, steps, options, defaults and conditions are written here by hand from the providers'
documents (../shared/seeds/), never read back from the catalog.
"""

from __future__ import annotations

import uuid

import pytest

from generations.catalog import catalog_get
from generations.forms import generation_form_class, values_carry_by_role
from generations.services import reference_store
from tests.factories import image_upload, make_user, wav_bytes

pytestmark = pytest.mark.django_db

MODELSTREAM = "wan2.6-i2v-flash"
APIFRAME = "wan-2.6-flash"


@pytest.fixture
def image_ref(user):
    from generations.forms import upload_inspect

    spec = catalog_get(MODELSTREAM).field("img_url")
    return reference_store(owner=user, upload=upload_inspect(spec, image_upload()))


@pytest.fixture
def audio_ref(user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from generations.forms import upload_inspect

    spec = catalog_get(MODELSTREAM).field("audio_url")
    upload = SimpleUploadedFile("voice.wav", wav_bytes(seconds=4), content_type="audio/wav")
    return reference_store(owner=user, upload=upload_inspect(spec, upload))


def bound(user, key, data, *, fill_defaults=False, files=None):
    form = generation_form_class(catalog_get(key))(
        data, files or {}, owner=user, fill_defaults=fill_defaults
    )
    form.is_valid()
    return form


def modelstream(user, image_ref, **data):
    return bound(user, MODELSTREAM, {"img_url": str(image_ref.id), "prompt": "A cat", **data})


def apiframe(user, image_ref, **data):
    return bound(user, APIFRAME, {"image": str(image_ref.id), "prompt": "A cat", **data})


# --- Defaults -----------------------------------------------------------------------------


def test_a_new_modelstream_form_is_filled_with_the_documents_defaults(user):
    form = generation_form_class(catalog_get(MODELSTREAM))(owner=user)
    initial = {name: form[name].value() for name in form.fields}
    assert initial == {
        "img_url": None,
        "prompt": None,
        "audio_url": None,
        "negative_prompt": None,
        "resolution": "1080P",
        "duration": 5,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": True,
        "watermark": False,
        "seed": None,
    }


def test_a_new_apiframe_form_is_filled_with_the_documents_defaults(user):
    form = generation_form_class(catalog_get(APIFRAME))(owner=user)
    initial = {name: form[name].value() for name in form.fields}
    assert initial == {
        "image": None,
        "prompt": None,
        "duration": 5,
        "resolution": "720p",
        "negative_prompt": None,
        "audio": None,
        "audio_enabled": True,
        # The document gives no default for these two: off.
        "enable_prompt_expansion": None,
        "multi_shots": None,
        "seed": None,
    }


def test_the_page_sends_unticked_switches_as_off_and_blank_choices_as_defaults(user, image_ref):
    form = modelstream(user, image_ref)
    assert form.is_valid(), form.errors
    assert form.values() == {
        "prompt": "A cat",
        "negative_prompt": "",
        "resolution": "1080P",
        "duration": 5,
        "prompt_extend": False,
        "shot_type": None,  # prompt_extend is off, so shot_type is not sent
        "audio": False,
        "watermark": False,
        "seed": None,
    }


def test_an_api_caller_leaving_fields_out_gets_the_documents_defaults(user, image_ref):
    form = bound(
        user,
        MODELSTREAM,
        {"img_url": str(image_ref.id), "prompt": "A cat"},
        fill_defaults=True,
    )
    assert form.is_valid(), form.errors
    values = form.values()
    assert (values["resolution"], values["duration"]) == ("1080P", 5)
    assert (values["prompt_extend"], values["shot_type"]) == (True, "single")
    assert (values["audio"], values["watermark"]) == (True, False)

    form = bound(
        user, APIFRAME, {"image": str(image_ref.id), "prompt": "A cat"}, fill_defaults=True
    )
    assert form.is_valid(), form.errors
    values = form.values()
    assert (values["duration"], values["resolution"], values["audio_enabled"]) == (5, "720p", True)
    assert (values["enable_prompt_expansion"], values["multi_shots"]) == (False, None)


def test_an_api_caller_can_turn_a_switch_off_with_false(user, image_ref):
    form = bound(
        user,
        MODELSTREAM,
        {"img_url": str(image_ref.id), "prompt": "x", "audio": False, "prompt_extend": "false"},
        fill_defaults=True,
    )
    assert form.is_valid(), form.errors
    assert (form.values()["audio"], form.values()["prompt_extend"]) == (False, False)


# --- ModelStream: duration 2–15 step 1, resolution 1080P/720P, seed 0–2147483647 -----------


@pytest.mark.parametrize("duration", ["2", "5", "9", "15"])
def test_modelstream_duration_accepts_whole_seconds_from_2_to_15(user, image_ref, duration):
    form = modelstream(user, image_ref, duration=duration)
    assert form.is_valid(), form.errors
    assert form.values()["duration"] == int(duration)


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("1", "Choose a value from 2 to 15 s."),
        ("16", "Choose a value from 2 to 15 s."),
        ("7.5", "Enter a whole number."),
        ("five", "Enter a whole number."),
    ],
)
def test_modelstream_duration_refuses_what_the_document_does_not_allow(
    user, image_ref, duration, message
):
    form = modelstream(user, image_ref, duration=duration)
    assert form.errors["duration"] == [message]


def test_an_api_caller_cannot_send_true_as_a_duration(user, image_ref):
    form = bound(
        user,
        MODELSTREAM,
        {"img_url": str(image_ref.id), "prompt": "x", "duration": True},
        fill_defaults=True,
    )
    assert form.errors["duration"] == ["Enter a whole number."]


@pytest.mark.parametrize("resolution", ["1080P", "720P"])
def test_modelstream_resolution_takes_its_upper_case_options(user, image_ref, resolution):
    form = modelstream(user, image_ref, resolution=resolution)
    assert form.is_valid(), form.errors
    assert form.values()["resolution"] == resolution


@pytest.mark.parametrize("resolution", ["720p", "480P", "4K"])
def test_modelstream_resolution_refuses_anything_else(user, image_ref, resolution):
    form = modelstream(user, image_ref, resolution=resolution)
    assert "resolution" in form.errors
    assert "Select a valid choice" in form.errors["resolution"][0]


@pytest.mark.parametrize("seed", ["0", "1", "2147483647"])
def test_the_seed_takes_0_to_2147483647(user, image_ref, seed):
    form = modelstream(user, image_ref, seed=seed)
    assert form.is_valid(), form.errors
    assert form.values()["seed"] == int(seed)


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ("-1", "Choose a value from 0 to 2147483647."),
        ("2147483648", "Choose a value from 0 to 2147483647."),
        ("1.5", "Enter a whole number."),
    ],
)
def test_the_seed_refuses_values_outside_its_range(user, image_ref, seed, message):
    assert modelstream(user, image_ref, seed=seed).errors["seed"] == [message]
    assert apiframe(user, image_ref, seed=seed).errors["seed"] == [message]


def test_a_blank_seed_is_left_for_the_studio_to_draw(user, image_ref):
    form = modelstream(user, image_ref, seed="")
    assert form.is_valid() and form.values()["seed"] is None


# --- Conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize("shot_type", ["single", "multi"])
def test_shot_type_is_sent_only_while_prompt_extend_is_on(user, image_ref, shot_type):
    on = modelstream(user, image_ref, prompt_extend="on", shot_type=shot_type)
    assert on.is_valid(), on.errors
    assert on.values()["shot_type"] == shot_type
    off = modelstream(user, image_ref, shot_type=shot_type)
    assert off.is_valid(), off.errors
    assert off.values()["shot_type"] is None


def test_shot_type_is_checked_against_its_options_only_when_it_counts(user, image_ref):
    assert (
        "Select a valid choice"
        in (
            modelstream(user, image_ref, prompt_extend="on", shot_type="triple").errors[
                "shot_type"
            ][0]
        )
    )
    # With prompt_extend off the field is ignored, whatever it holds.
    assert modelstream(user, image_ref, shot_type="triple").is_valid()


def test_multi_shots_is_sent_only_with_prompt_expansion(user, image_ref):
    on = apiframe(user, image_ref, enable_prompt_expansion="on", multi_shots="on")
    assert on.is_valid(), on.errors
    assert (on.values()["enable_prompt_expansion"], on.values()["multi_shots"]) == (True, True)
    off = apiframe(user, image_ref, multi_shots="on")
    assert off.is_valid(), off.errors
    assert (off.values()["enable_prompt_expansion"], off.values()["multi_shots"]) == (False, None)


# --- Apiframe: duration 5/10/15, resolution 720p/1080p ---------------------------------------


@pytest.mark.parametrize("duration", [5, 10, 15])
def test_apiframe_duration_is_one_of_5_10_15(user, image_ref, duration):
    form = apiframe(user, image_ref, duration=str(duration))
    assert form.is_valid(), form.errors
    assert form.values()["duration"] == duration
    assert isinstance(form.values()["duration"], int)


@pytest.mark.parametrize("duration", ["2", "7", "20"])
def test_apiframe_duration_refuses_any_other_length(user, image_ref, duration):
    form = apiframe(user, image_ref, duration=duration)
    assert form.errors["duration"] == [
        f"Select a valid choice. {duration} is not one of the available choices."
    ]


@pytest.mark.parametrize(
    ("resolution", "valid"), [("720p", True), ("1080p", True), ("1080P", False)]
)
def test_apiframe_resolution_keeps_its_lower_case_options(user, image_ref, resolution, valid):
    assert apiframe(user, image_ref, resolution=resolution).is_valid() is valid


def test_apiframe_audio_switch_and_audio_file_are_different_fields(user, image_ref, audio_ref):
    form = apiframe(user, image_ref, audio=str(audio_ref.id))
    assert form.is_valid(), form.errors
    assert form.values()["audio_enabled"] is False  # unticked on the page
    assert form.references["audio"] == audio_ref


# --- Text: required, lengths in code points ----------------------------------------------


@pytest.mark.parametrize("key", [MODELSTREAM, APIFRAME])
def test_the_prompt_is_required(user, image_ref, key):
    image = "img_url" if key == MODELSTREAM else "image"
    form = bound(user, key, {image: str(image_ref.id), "prompt": "   "})
    assert form.errors["prompt"] == ["This field is required."]


@pytest.mark.parametrize("key", [MODELSTREAM, APIFRAME])
def test_the_prompt_holds_1500_code_points_and_no_more(user, image_ref, key):
    image = "img_url" if key == MODELSTREAM else "image"
    # Emoji are one code point each (two UTF-16 units, which a browser's maxlength would count).
    assert bound(user, key, {image: str(image_ref.id), "prompt": "🎬" * 1500}).is_valid()
    form = bound(user, key, {image: str(image_ref.id), "prompt": "🎬" * 1501})
    assert form.errors["prompt"] == ["Ensure this value has at most 1500 characters (it has 1501)."]


@pytest.mark.parametrize("key", [MODELSTREAM, APIFRAME])
def test_the_negative_prompt_holds_500_code_points(user, image_ref, key):
    image = "img_url" if key == MODELSTREAM else "image"
    data = {image: str(image_ref.id), "prompt": "x"}
    assert bound(user, key, {**data, "negative_prompt": "é" * 500}).is_valid()
    form = bound(user, key, {**data, "negative_prompt": "é" * 501})
    assert form.errors["negative_prompt"] == [
        "Ensure this value has at most 500 characters (it has 501)."
    ]


def test_a_line_break_counts_once_as_in_the_browser(user, image_ref):
    # Browsers send CRLF; the page's counter sees LF. 200 lines are 400 code points, not 600.
    form = modelstream(user, image_ref, negative_prompt="a\r\n" * 200)
    assert form.is_valid(), form.errors
    assert form.values()["negative_prompt"] == ("a\n" * 200).strip()


def test_the_page_has_no_maxlength_the_browser_would_count_differently(user):
    html = str(generation_form_class(catalog_get(MODELSTREAM))(owner=user)["prompt"])
    assert "maxlength" not in html
    assert 'data-max-codepoints="1500"' in html


# --- Files --------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "name"), [(MODELSTREAM, "img_url"), (APIFRAME, "image")])
def test_the_reference_image_is_required(user, key, name):
    form = bound(user, key, {"prompt": "x"})
    assert form.errors[name] == ["Choose a file."]


def test_a_reference_of_someone_else_or_of_another_kind_is_refused(user, image_ref, audio_ref):
    stranger = make_user(username="stranger2")
    form = bound(stranger, MODELSTREAM, {"img_url": str(image_ref.id), "prompt": "x"})
    assert form.errors["img_url"] == [
        "That stored file is not available any more; upload it again."
    ]
    form = modelstream(user, image_ref, audio_url=str(image_ref.id))
    assert "not available any more" in form.errors["audio_url"][0]
    form = bound(user, MODELSTREAM, {"img_url": str(uuid.uuid4()), "prompt": "x"})
    assert "img_url" in form.errors
    form = bound(user, MODELSTREAM, {"img_url": "../../etc/passwd", "prompt": "x"})
    assert "img_url" in form.errors


def test_an_uploaded_file_is_judged_by_content_and_named_for_it(user):
    upload = image_upload(name="holiday.png", format="JPEG")
    form = bound(user, MODELSTREAM, {"prompt": "x"}, files={"img_url": upload})
    assert form.is_valid(), form.errors
    candidate = form.valid_uploads()["img_url"]
    assert (candidate.info.format, candidate.name) == ("JPEG", "holiday.jpg")


# --- Carrying values across a model switch, by role ----------------------------------------


def test_switching_to_apiframe_carries_values_by_role(user, image_ref, audio_ref):
    data = {
        "img_url": str(image_ref.id),
        "prompt": "Waves at dusk",
        "negative_prompt": "blur",
        "audio_url": str(audio_ref.id),
        "resolution": "720P",
        "duration": "7",
        "prompt_extend": "on",
        "shot_type": "multi",
        "watermark": "on",
        "seed": "42",
        # "audio" (the switch) is unticked
    }
    carried = values_carry_by_role(
        source=catalog_get(MODELSTREAM), target=catalog_get(APIFRAME), data=data
    ).initial
    assert carried == {
        "image": str(image_ref.id),
        "prompt": "Waves at dusk",
        "duration": 5,  # Apiframe has 5, 10, 15: 7 s is nearest to 5 s
        "resolution": "720p",
        "negative_prompt": "blur",
        "audio": str(audio_ref.id),  # the file goes to the file
        "audio_enabled": False,  # the switch goes to the switch
        "enable_prompt_expansion": True,
        "multi_shots": True,
        "seed": 42,
    }  # watermark has no counterpart


def test_switching_to_modelstream_never_puts_the_audio_file_in_the_audio_switch(
    user, image_ref, audio_ref
):
    data = {
        "image": str(image_ref.id),
        "prompt": "Waves",
        "duration": "15",
        "resolution": "1080p",
        "audio": str(audio_ref.id),
        "audio_enabled": "on",
        "seed": "",
    }
    carried = values_carry_by_role(
        source=catalog_get(APIFRAME), target=catalog_get(MODELSTREAM), data=data
    ).initial
    assert carried == {
        "img_url": str(image_ref.id),
        "prompt": "Waves",
        "audio_url": str(audio_ref.id),
        "resolution": "1080P",
        "duration": 15,
        "prompt_extend": False,
        "shot_type": "single",
        "audio": True,
    }


@pytest.mark.parametrize(
    ("typed", "carried"),
    [("2", 5), ("3", 5), ("5", 5), ("7", 5), ("8", 10), ("12", 10), ("13", 15), ("15", 15)],
)
def test_a_duration_between_steps_carries_as_the_nearest_step(typed, carried):
    values = values_carry_by_role(
        source=catalog_get(MODELSTREAM), target=catalog_get(APIFRAME), data={"duration": typed}
    )
    assert values.initial["duration"] == carried
    if int(typed) == carried:
        assert not values.notes
    else:
        assert values.notes == {
            "duration": f"This model takes 5 s, 10 s or 15 s: your {typed} s is now {carried} s, "
            f"the nearest. Switching back to {catalog_get(MODELSTREAM).name} brings {typed} s back."
        }


def test_switching_back_restores_what_was_typed_unless_it_was_changed_since():
    modelstream, apiframe = catalog_get(MODELSTREAM), catalog_get(APIFRAME)
    there = values_carry_by_role(
        source=modelstream, target=apiframe, data={"duration": "12", "watermark": "on"}
    )
    assert there.initial["duration"] == 10
    # The page posts Apiframe's form with what the switch remembered.
    back = values_carry_by_role(
        source=apiframe, target=modelstream, data={"duration": "10", **there.remembered}
    )
    assert back.initial["duration"] == 12
    assert back.initial["watermark"] is True  # Apiframe has no watermark; it comes back too
    assert not back.notes and not back.remembered
    # Once the person picks another length on Apiframe, that choice is what goes back.
    changed = values_carry_by_role(
        source=apiframe, target=modelstream, data={"duration": "15", **there.remembered}
    )
    assert changed.initial["duration"] == 15


def test_a_remembered_value_that_cannot_be_read_is_ignored():
    values = values_carry_by_role(
        source=catalog_get(APIFRAME),
        target=catalog_get(MODELSTREAM),
        data={"duration": "10", "typed_duration": "{not json"},
    )
    assert values.initial["duration"] == 10


def test_values_that_cannot_be_read_are_left_to_the_defaults():
    values = values_carry_by_role(
        source=catalog_get(MODELSTREAM),
        target=catalog_get(APIFRAME),
        data={"duration": "abc", "resolution": "8K", "img_url": "not-an-id", "seed": "nan"},
    )
    assert not {"duration", "resolution", "image", "seed"} & set(values.initial)
