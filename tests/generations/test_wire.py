"""Request bodies, compared with vectors written by hand from the providers' documents."""

from generations.catalog import catalog_get
from generations.wire import provider_request_build

MS_IMAGE = "https://static.modelstream.ai/demo/wan/wan2.6-i2v-flash_reference.png"
MS_PROMPT = (
    "A high-fashion model walking gracefully in a neon-lit futuristic corridor, hair swaying "
    "naturally, eyes reflecting flickering lights, cinematic camera movement with a slight tilt, "
    "ultra-realistic textures and smooth motion."
)


def test_the_modelstream_seed_example_body_is_reproduced():
    values = {
        "prompt": MS_PROMPT,
        "negative_prompt": "blurry, low quality, distorted, deformed, watermark, ugly",
        "resolution": "1080P",
        "duration": 5,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": True,
        "watermark": False,
        "seed": None,
    }
    body = provider_request_build(
        model=catalog_get("wan2.6-i2v-flash"), values=values, file_links={"img_url": MS_IMAGE}
    )
    # The seed's own example (it omits the seed, which the studio leaves blank here).
    assert body == {
        "model": "wan2.6-i2v-flash",
        "prompt": MS_PROMPT,
        "duration": 5,
        "metadata": {
            "input": {
                "negative_prompt": "blurry, low quality, distorted, deformed, watermark, ugly",
                "img_url": MS_IMAGE,
            },
            "parameters": {
                "resolution": "1080P",
                "prompt_extend": True,
                "shot_type": "single",
                "audio": True,
                "watermark": False,
            },
        },
    }


def test_modelstream_drops_shot_type_when_prompt_extend_is_off_and_always_sends_booleans():
    values = {
        "prompt": "x",
        "negative_prompt": "",
        "resolution": "720P",
        "duration": 12,
        "prompt_extend": False,
        "shot_type": "multi",
        "audio": False,
        "watermark": True,
        "seed": 2147483647,
    }
    body = provider_request_build(
        model=catalog_get("wan2.6-i2v-flash"),
        values=values,
        file_links={"img_url": "https://s/i.png", "audio_url": "https://s/a.mp3"},
    )
    assert body == {
        "model": "wan2.6-i2v-flash",
        "prompt": "x",
        "duration": 12,
        "metadata": {
            "input": {"img_url": "https://s/i.png", "audio_url": "https://s/a.mp3"},
            "parameters": {
                "resolution": "720P",
                "prompt_extend": False,
                "audio": False,
                "watermark": True,
                "seed": 2147483647,
            },
        },
    }


def test_the_apiframe_seed_examples_are_reproduced():
    model = catalog_get("wan-2.6-flash")
    body = provider_request_build(
        model=model,
        values={
            "prompt": "The race car driver pulls down her helmet visor as the camera zooms out",
            "duration": 5,
            "resolution": "720p",
            "audio_enabled": True,
            "enable_prompt_expansion": False,
            "multi_shots": False,
            "seed": 7,
        },
        file_links={"image": "https://example.com/driver.jpg"},
    )
    assert body == {
        "prompt": "The race car driver pulls down her helmet visor as the camera zooms out",
        "model": "wan-2.6-flash",
        "wanParams": {
            "image": "https://example.com/driver.jpg",
            "duration": 5,
            "resolution": "720p",
            "audio_enabled": True,
            "enable_prompt_expansion": False,
            "seed": 7,
        },
    }


def test_apiframe_non_default_values_keep_their_documented_types():
    model = catalog_get("wan-2.6-flash")
    body = provider_request_build(
        model=model,
        values={
            "prompt": "A figure skater performing in a bioluminescent cavern",
            "duration": 15,
            "resolution": "1080p",
            "negative_prompt": "blur",
            "audio_enabled": False,
            "enable_prompt_expansion": True,
            "multi_shots": True,
            "seed": 0,
        },
        file_links={
            "image": "https://example.com/skater.jpg",
            "audio": "https://example.com/a.wav",
        },
    )
    assert body["wanParams"] == {
        "image": "https://example.com/skater.jpg",
        "duration": 15,
        "resolution": "1080p",
        "negative_prompt": "blur",
        "audio": "https://example.com/a.wav",
        "audio_enabled": False,
        "enable_prompt_expansion": True,
        "multi_shots": True,
        "seed": 0,
    }
    assert isinstance(body["wanParams"]["duration"], int)


# --- The create page's "API request" preview ----------------------------------------------


def test_a_key_is_masked_down_to_its_conventional_prefix():
    from generations.wire import key_mask

    assert key_mask("sk-0123456789abcdef") == "sk-********"
    assert key_mask("afk_0123456789abcdef") == "afk_********"
    assert key_mask("") == "********"
    assert key_mask("sk-short") == "********"
    assert key_mask("averylongsecretwithoutprefix") == "********"


def test_the_preview_is_the_request_the_provider_would_get_and_its_curl_runs_in_a_shell(
    settings,
):
    import json
    import shlex

    from generations.wire import provider_request_preview

    settings.APIFRAME_API_BASE = "https://api.apiframe.ai"
    settings.APIFRAME_API_KEY = "afk_0123456789abcdef"
    settings.STUDIO_PUBLIC_URL = "https://studio.example"
    preview = provider_request_preview(
        model=catalog_get("wan-2.6-flash"),
        values={
            "prompt": "Don't stop",
            "duration": 10,
            "resolution": "1080p",
            "negative_prompt": "",
            "audio_enabled": True,
            "enable_prompt_expansion": False,
            "multi_shots": None,
            "seed": 5,
        },
        files={"image": ".jpg"},
    )
    assert preview.url == "https://api.apiframe.ai/v2/videos/generate"
    assert preview.headers["X-API-Key"] == "afk_********"
    assert preview.body == {
        "model": "wan-2.6-flash",
        "prompt": "Don't stop",
        "wanParams": {
            "image": "https://studio.example/files/reference/<signed-token>/image.jpg",
            "duration": 10,
            "resolution": "1080p",
            "audio_enabled": True,
            "enable_prompt_expansion": False,
            "seed": 5,
        },
    }
    words = shlex.split(preview.curl.replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", "https://api.apiframe.ai/v2/videos/generate"]
    assert "X-API-Key: afk_********" in words
    assert json.loads(words[words.index("-d") + 1]) == preview.body
    assert "0123456789abcdef" not in preview.curl
