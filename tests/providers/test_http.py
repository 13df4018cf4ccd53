"""Retries, Retry-After, timeouts and error mapping, against a real HTTP server on loopback."""

from __future__ import annotations

import email.utils
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from generations.providers import ErrorKind, ProviderError
from generations.providers.apiframe import ApiframeClient
from generations.providers.http import retry_after_seconds
from generations.providers.modelstream import ModelStreamClient
from tests.providers.conftest import Answer

BODY = {"model": "wan2.6-i2v-flash", "prompt": "p", "metadata": {"input": {}, "parameters": {}}}
ACCEPTED = Answer(200, {"task_id": "t-1", "status": "queued"})


def _modelstream(provider, **kwargs) -> ModelStreamClient:
    return ModelStreamClient(base_url=provider.url, api_key="sk-live-0123456789abcdef", **kwargs)


def _gaps(provider) -> list[float]:
    times = [request.at for request in provider.requests]
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


# --- Retry-After -----------------------------------------------------------------------------


def test_retry_after_is_read_in_seconds_and_as_an_http_date():
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now=now) == 7
    assert retry_after_seconds(" 1.5 ", now=now) == 1.5
    in_ten = email.utils.format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert retry_after_seconds(in_ten, now=now) == 10
    past = email.utils.format_datetime(now - timedelta(seconds=10), usegmt=True)
    assert retry_after_seconds(past, now=now) == 0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds("", now=now) is None
    assert retry_after_seconds("-3", now=now) == 0


def test_a_submit_waits_out_retry_after_in_seconds_then_goes_through(provider):
    provider.script(Answer(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}))
    provider.script(ACCEPTED)

    task = _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert task.task_id == "t-1"
    assert len(provider.requests) == 2
    assert _gaps(provider)[0] >= 0.95
    # The retry is the same request: same key, same body.
    assert {r.headers["idempotency-key"] for r in provider.requests} == {"g1"}
    assert provider.requests[0].body == provider.requests[1].body


def test_a_submit_waits_out_retry_after_as_an_http_date(provider):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1 < wait <= 2
    provider.script(Answer(429, {}, {"Retry-After": when}), ACCEPTED)

    _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert len(provider.requests) == 2
    assert _gaps(provider)[0] >= 0.95


def test_a_retry_after_beyond_the_cap_ends_the_call_at_once_and_says_when(provider):
    provider.script(Answer(429, {}, {"Retry-After": "120"}))

    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert time.monotonic() - started < 1
    assert len(provider.requests) == 1
    error = raised.value
    assert (error.kind, error.status, error.delivered) == (ErrorKind.UNAVAILABLE, 429, False)
    assert error.retry_after == pytest.approx(120)


def test_a_read_hands_a_429_back_at_once_with_its_retry_after(provider):
    provider.script(Answer(429, {}, {"Retry-After": "3"}))

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).read(task_id="t-1")

    assert len(provider.requests) == 1
    assert raised.value.retry_after == 3 and raised.value.status == 429


def test_a_429_without_retry_after_backs_off_and_retries(provider):
    provider.script(Answer(429, {}), Answer(429, {}), ACCEPTED)

    _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert len(provider.requests) == 3


# --- 5xx, connection errors, timeouts ------------------------------------------------------


def test_5xx_answers_are_retried_with_back_off(provider):
    provider.script(Answer(503, {}), Answer(502, "<html>bad gateway</html>"), ACCEPTED)

    task = _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert task.task_id == "t-1" and len(provider.requests) == 3


def test_a_5xx_with_retry_after_is_waited_out(provider):
    provider.script(Answer(503, {}, {"Retry-After": "1"}), ACCEPTED)

    _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert _gaps(provider)[0] >= 0.95


def test_a_provider_that_keeps_failing_is_given_up_on_as_not_delivered(provider):
    provider.default = Answer(500, {"error": {"message": "upstream exploded", "code": "boom"}})

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert len(provider.requests) == 4  # the submit policy's attempts
    error = raised.value
    assert (error.kind, error.status, error.delivered) == (ErrorKind.UNAVAILABLE, 500, False)
    assert error.message == "upstream exploded"
    assert error.counts_against_provider


def test_connection_refused_is_retried_then_reported_as_not_delivered():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ModelStreamClient(base_url=f"http://127.0.0.1:{port}", api_key="k")

    with pytest.raises(ProviderError) as raised:
        client.submit(body=BODY, idempotency_key="g1")

    assert raised.value.kind is ErrorKind.UNAVAILABLE and not raised.value.delivered


def test_a_submit_that_times_out_after_sending_is_lost_and_never_sent_again(provider):
    provider.script(Answer(hang=5))
    quick = httpx.Client(timeout=httpx.Timeout(0.4))

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider, client=quick).submit(body=BODY, idempotency_key="g1")

    assert raised.value.kind is ErrorKind.LOST and raised.value.delivered
    assert len(provider.requests) == 1
    quick.close()


def test_a_read_that_times_out_is_retried(provider):
    provider.script(Answer(hang=5), Answer(200, {"task_id": "t-1", "status": "in_progress"}))
    quick = httpx.Client(timeout=httpx.Timeout(0.4))

    task = _modelstream(provider, client=quick).read(task_id="t-1")

    assert task.status == "running" and len(provider.requests) == 2
    quick.close()


def test_a_connection_closed_without_an_answer_loses_a_submit(provider):
    provider.script(Answer(close=True))

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert raised.value.kind is ErrorKind.LOST
    assert len(provider.requests) == 1


# --- Refusals: no retry, mapped to the studio's error ----------------------------------------


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_other_4xx_answers_are_final_and_carry_the_providers_words(provider, status):
    provider.script(
        Answer(
            status,
            {
                "error": {
                    "message": "duration must be an integer in [2, 15].",
                    "type": "invalid_request_error",
                    "param": "duration",
                    "code": "invalid_value",
                }
            },
        )
    )

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert len(provider.requests) == 1
    error = raised.value
    assert error.kind is ErrorKind.REFUSED and error.status == status
    assert (error.code, error.param) == ("invalid_value", "duration")
    assert error.person_message == "duration must be an integer in [2, 15]."


def test_an_apiframe_refusal_with_a_string_error_is_read_too(provider):
    provider.script(Answer(400, {"error": "Invalid resolution", "param": "resolution"}))

    with pytest.raises(ProviderError) as raised:
        ApiframeClient(base_url=provider.url, api_key="afk").submit(body={}, idempotency_key="g")

    assert (raised.value.message, raised.value.param) == ("Invalid resolution", "resolution")


@pytest.mark.parametrize(
    ("status", "admin_words"),
    [
        (401, "rejected the studio's API key"),
        (402, "out of credit"),
        (403, "refused the studio's account"),
    ],
)
def test_account_problems_tell_the_admin_and_keep_the_person_neutral(provider, status, admin_words):
    key = "sk-live-0123456789abcdef"
    provider.script(
        Answer(status, {"error": {"message": f"Incorrect API key provided: {key}", "code": "x"}})
    )

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    error = raised.value
    assert error.kind is ErrorKind.ACCOUNT and len(provider.requests) == 1
    assert admin_words in error.admin_message
    assert "Incorrect API key" not in error.person_message
    assert "refunded" in error.person_message
    # The key the provider echoed (whole or cut short) is in no message.
    for text in (error.message, error.admin_message, error.person_message, repr(error)):
        assert key not in text and key[:8] not in text


def test_a_success_whose_body_is_not_json_is_malformed(provider):
    provider.script(Answer(200, '{"task_id": "t-1", "sta'))

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert raised.value.kind is ErrorKind.MALFORMED


def test_a_success_without_a_task_id_is_malformed(provider):
    provider.script(Answer(200, {"status": "queued"}))

    with pytest.raises(ProviderError) as raised:
        _modelstream(provider).submit(body=BODY, idempotency_key="g1")

    assert raised.value.kind is ErrorKind.MALFORMED


def test_the_api_key_never_shows_in_a_clients_repr_or_a_broken_header_error(provider):
    client = ModelStreamClient(base_url=provider.url, api_key="sk-secret\nvalue")
    assert "sk-secret" not in repr(client)

    with pytest.raises(ProviderError) as raised:
        client.submit(body=BODY, idempotency_key="g1")

    assert raised.value.kind is ErrorKind.ACCOUNT
    assert "sk-secret" not in raised.value.message
    assert provider.requests == []


# --- Reading tasks: both vocabularies, both result shapes ------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "url"),
    [
        ({"task_id": "t", "status": "queued"}, "queued", None),
        ({"task_id": "t", "status": "in_progress", "progress": 40}, "running", None),
        ({"task_id": "t", "status": "processing"}, "running", None),
        ({"task_id": "t", "status": "completed", "url": "https://v/1.mp4"}, "succeeded", "1"),
        ({"task_id": "t", "status": "succeeded", "video_url": "https://v/2.mp4"}, "succeeded", "2"),
        ({"task_id": "t", "status": "warming_up"}, "unknown", None),
        ({"status": 7}, "unknown", None),
    ],
)
def test_modelstream_task_reads_accept_both_vocabularies(provider, answer, status, url):
    provider.script(Answer(200, answer))

    task = _modelstream(provider).read(task_id="t")

    assert provider.requests[0].path == "/v1/video/generations/t"
    assert provider.requests[0].headers["authorization"].startswith("Bearer ")
    assert task.status == status and task.task_id == "t"
    assert task.video_url == (f"https://v/{url}.mp4" if url else None)


@pytest.mark.parametrize(
    ("answer", "status", "url", "message"),
    [
        ({"id": "j", "status": "PROCESSING", "progress": 55}, "running", None, ""),
        ({"id": "j", "status": "COMPLETED", "result": "https://v/a.mp4"}, "succeeded", "a", ""),
        (
            {"id": "j", "status": "COMPLETED", "result": {"videoUrl": "https://v/b.mp4"}},
            "succeeded",
            "b",
            "",
        ),
        ({"id": "j", "status": "FAILED", "error": "NSFW content"}, "failed", None, "NSFW content"),
        (
            {"id": "j", "status": "FAILED", "error": {"message": "Bad image", "code": "img"}},
            "failed",
            None,
            "Bad image",
        ),
    ],
)
def test_apiframe_job_reads_accept_both_result_and_error_shapes(
    provider, answer, status, url, message
):
    provider.script(Answer(200, {**answer, "creditCost": 3}))

    task = ApiframeClient(base_url=provider.url, api_key="afk").read(task_id="j")

    assert provider.requests[0].path == "/v2/jobs/j"
    assert provider.requests[0].headers["x-api-key"] == "afk"
    assert task.status == status and task.error_message == message
    assert task.video_url == (f"https://v/{url}.mp4" if url else None)
    assert task.provider_cost == 3
