"""Every price of Apiframe's table, and the ModelStream default for each duration, by hand."""

import pytest

from generations.catalog import catalog_get
from generations.pricing import price_quote

APIFRAME_TABLE = {
    ("720p", 5, True): 3, ("720p", 10, True): 5, ("720p", 15, True): 7,
    ("1080p", 5, True): 4, ("1080p", 10, True): 7, ("1080p", 15, True): 10,
    ("720p", 5, False): 2, ("720p", 10, False): 3, ("720p", 15, False): 5,
    ("1080p", 5, False): 3, ("1080p", 10, False): 5, ("1080p", 15, False): 7,
}  # fmt: skip


@pytest.mark.parametrize(("key", "credits"), APIFRAME_TABLE.items())
def test_apiframe_prices_follow_its_credit_table(key, credits):
    resolution, duration, audio = key
    quote = price_quote(
        model=catalog_get("wan-2.6-flash"),
        values={"resolution": resolution, "duration": duration, "audio_enabled": audio},
    )
    assert quote.credits == credits


MODELSTREAM_720P_AUDIO = {
    2: 3,
    3: 3,
    4: 3,
    5: 3,
    6: 5,
    7: 5,
    8: 5,
    9: 5,
    10: 5,
    11: 7,
    12: 7,
    13: 7,
    14: 7,
    15: 7,
}
MODELSTREAM_1080P_SILENT = {
    2: 3,
    3: 3,
    4: 3,
    5: 3,
    6: 5,
    7: 5,
    8: 5,
    9: 5,
    10: 5,
    11: 7,
    12: 7,
    13: 7,
    14: 7,
    15: 7,
}
MODELSTREAM_1080P_AUDIO = {
    2: 4,
    3: 4,
    4: 4,
    5: 4,
    6: 7,
    7: 7,
    8: 7,
    9: 7,
    10: 7,
    11: 10,
    12: 10,
    13: 10,
    14: 10,
    15: 10,
}


@pytest.mark.parametrize("duration", range(2, 16))
def test_modelstream_durations_cost_the_next_step_up(duration):
    model = catalog_get("wan2.6-i2v-flash")
    assert (
        price_quote(
            model=model, values={"resolution": "720P", "duration": duration, "audio": True}
        ).credits
        == MODELSTREAM_720P_AUDIO[duration]
    )
    assert (
        price_quote(
            model=model, values={"resolution": "1080P", "duration": duration, "audio": False}
        ).credits
        == MODELSTREAM_1080P_SILENT[duration]
    )
    assert (
        price_quote(
            model=model, values={"resolution": "1080P", "duration": duration, "audio": True}
        ).credits
        == MODELSTREAM_1080P_AUDIO[duration]
    )


def test_an_uploaded_track_on_modelstream_is_priced_with_audio_even_with_the_switch_off():
    model = catalog_get("wan2.6-i2v-flash")
    quote = price_quote(
        model=model,
        values={
            "resolution": "1080P",
            "duration": 5,
            "audio": False,
            "audio_url": "a-reference-id",
        },
    )
    assert quote.with_audio and quote.credits == 4


def test_apiframe_with_audio_off_is_silent_even_with_a_track():
    model = catalog_get("wan-2.6-flash")
    quote = price_quote(
        model=model,
        values={
            "resolution": "720p",
            "duration": 5,
            "audio_enabled": False,
            "audio": "a-reference-id",
        },
    )
    assert not quote.with_audio and quote.credits == 2
