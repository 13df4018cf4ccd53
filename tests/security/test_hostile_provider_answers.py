"""Whatever a provider answers — any JSON, broken JSON, bytes — the studio reads it without
crashing, stores only what a database can hold, and never leaves a generation stuck.

Properties (hypothesis):
- `parse_task` (ModelStream) and `parse_job` (Apiframe) never raise, for any value;
- what they return is bounded and storable: a known status, progress in 0–100, strings without
  NUL or lone surrogates, within their columns' lengths;
- the real clients, given any body over HTTP, return a task or raise `ProviderError`;
- a tracker tick applying any answer to a followed generation leaves it final (and refunded
  when it has no video), handed to the storing task, or with its next read scheduled — and a
  generation past its deadline is expired, whatever the provider says.
"""

from __future__ import annotations

import http.server
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from accounts.models import LedgerEntry
from generations.models import Generation
from generations.providers import ProviderError, ProviderTask, TaskStatus
from generations.providers.apiframe import ApiframeClient, parse_job
from generations.providers.modelstream import ModelStreamClient, parse_task
from generations.tracker import tracker_tick
from tests.factories import make_user
from tests.security.strategies import as_wire, json_values, near_miss, wire_bodies

MODELSTREAM_KEYS = [
    "task_id",
    "id",
    "status",
    "task_status",
    "progress",
    "url",
    "video_url",
    "error",
    "message",
    "code",
    "actual_prompt",
    "revised_prompt",
    "cost",
]
APIFRAME_KEYS = ["id", "jobId", "job_id", "status", "progress", "result", "error", "creditCost"]
WORDS = [
    "queued",
    "in_progress",
    "processing",
    "completed",
    "succeeded",
    "failed",
    "error",
    "http://127.0.0.1:1/v.mp4",
    "javascript:alert(1)",
    "0.5",
    "100",
    "-5",
]


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


DEEP = _deep(5000)  # as deep as json.loads lets through: printing it exhausts the stack

answers = st.one_of(
    json_values,
    near_miss(MODELSTREAM_KEYS, WORDS),
    near_miss(APIFRAME_KEYS, WORDS),
    near_miss(["result"], WORDS).map(lambda inner: {"status": "COMPLETED", "result": inner}),
    near_miss(["message", "code"], WORDS).map(lambda inner: {"status": "failed", "error": inner}),
)


def storable(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def assert_well_formed(task: ProviderTask) -> None:
    assert isinstance(task.status, TaskStatus)
    assert task.progress is None or 0 <= task.progress <= 100
    for text, limit in (
        (task.task_id, 128),
        (task.raw_status, 64),
        (task.error_code, 64),
        (task.error_message, 4000),
        (task.rewritten_prompt, 4000),
        (task.video_url or "", 8000),
    ):
        assert isinstance(text, str) and len(text) <= limit and storable(text), repr(text)
    assert task.video_url is None or task.video_url.strip()


@settings(max_examples=400, deadline=None)
@given(answers)
@example({"status": "running", "progress": float("inf")})
@example({"status": "running", "progress": 10**400})
@example({"status": "failed", "error": "\ud800\x00<b>x</b>", "task_id": "\x00"})
@example({"status": "completed", "url": "\x00", "result": {"videoUrl": "\udfff"}})
@example({"status": "failed", "task_id": DEEP, "error": {"message": DEEP, "code": DEEP}})
def test_a_modelstream_answer_of_any_shape_is_read_without_raising(answer):
    assert_well_formed(parse_task(answer))


@settings(max_examples=400, deadline=None)
@given(answers)
@example({"status": "running", "progress": float("inf")})
@example({"status": "running", "progress": 10**400})
@example({"status": "failed", "error": "\ud800\x00<b>x</b>", "task_id": "\x00"})
@example({"status": "completed", "url": "\x00", "result": {"videoUrl": "\udfff"}})
@example({"status": "FAILED", "id": DEEP, "error": {"message": DEEP}, "result": {"prompt": DEEP}})
def test_an_apiframe_answer_of_any_shape_is_read_without_raising(answer):
    assert_well_formed(parse_job(answer))


# --- Through the real clients, over HTTP ---------------------------------------------------


def _client_answering(status: int, body: bytes) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"Content-Type": "application/json"})

    return httpx.Client(transport=httpx.MockTransport(answer))


@settings(max_examples=200, deadline=None)
@given(body=wire_bodies, status=st.sampled_from([200, 201, 400, 401, 402, 404, 409, 422]))
def test_a_client_given_any_body_returns_a_task_or_a_provider_error(body, status):
    for client in (
        ModelStreamClient(base_url="http://p", api_key="k", client=_client_answering(status, body)),
        ApiframeClient(base_url="http://p", api_key="k", client=_client_answering(status, body)),
    ):
        for call in (
            lambda c=client: c.read(task_id="t-1"),
            lambda c=client: c.submit(body={"prompt": "x"}, idempotency_key="k-1"),
        ):
            try:
                task = call()
            except ProviderError as error:
                assert storable(error.message) and storable(error.code) and storable(error.param)
            else:
                assert status < 400
                assert_well_formed(task)


# --- Through the tracker, against a provider that answers anything -------------------------


class _Provider(http.server.ThreadingHTTPServer):
    """A loopback provider whose every answer is `self.body`."""

    body = b"{}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def any_provider():
    server = _Provider(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def followed(transactional_db, settings, any_provider):
    """A person with generations at a provider that answers anything. (A tracker tick closes
    its database connections, so these tests commit for real.)"""
    base = f"http://127.0.0.1:{any_provider.server_address[1]}"
    settings.MODELSTREAM_API_BASE = settings.APIFRAME_API_BASE = base
    settings.MODELSTREAM_API_KEY = settings.APIFRAME_API_KEY = "k"
    return make_user(credits=1_000_000)


def _in_flight(owner, provider: str, *, overdue: bool = False) -> Generation:
    from generations.services import generation_transition
    from tests.generations.test_lifecycle import _create

    model = "wan2.6-i2v-flash" if provider == "modelstream" else "wan-2.6-flash"
    generation = _create(owner, model)
    generation_transition(generation_id=generation.pk, to=Generation.State.SUBMITTING)
    generation = generation_transition(
        generation_id=generation.pk,
        to=Generation.State.QUEUED,
        provider_task_id="task-1",
        submitted_at=timezone.now(),
        next_poll_at=timezone.now() - timedelta(seconds=1),
    )
    if overdue:
        Generation.objects.filter(pk=generation.pk).update(
            deadline_at=timezone.now() - timedelta(seconds=1)
        )
    return generation


def _refunds(generation: Generation) -> int:
    return LedgerEntry.objects.filter(generation=generation, kind="refund").count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=wire_bodies | answers.map(as_wire), provider=st.sampled_from(["modelstream", "apiframe"])
)
def test_a_tracker_tick_with_any_answer_leaves_no_generation_stuck(
    followed, any_provider, body, provider
):
    any_provider.body = body
    Generation.objects.filter(next_poll_at__isnull=False).update(  # earlier examples' rest
        next_poll_at=timezone.now() + timedelta(hours=1)
    )
    generation = _in_flight(followed, provider)
    with ThreadPoolExecutor(4) as pool:
        tracker_tick(pool=pool)  # never raises
    generation.refresh_from_db()
    now = timezone.now()
    event(generation.state + (" (storing)" if generation.result_url else ""))
    if generation.is_final:
        assert generation.state == Generation.State.FAILED
        assert generation.error_message and _refunds(generation) == 1
    elif generation.result_url:
        assert generation.state == Generation.State.RUNNING  # handed to the storing task
        assert generation.dispatch_requested_at is not None
    else:
        assert generation.state in (Generation.State.QUEUED, Generation.State.RUNNING)
        assert generation.next_poll_at is not None and generation.next_poll_at > now - timedelta(
            seconds=1
        ), "no next read scheduled"
        assert _refunds(generation) == 0


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=wire_bodies, provider=st.sampled_from(["modelstream", "apiframe"]))
def test_a_generation_past_its_deadline_ends_whatever_the_provider_answers(
    followed, any_provider, body, provider
):
    any_provider.body = body
    generation = _in_flight(followed, provider, overdue=True)
    with ThreadPoolExecutor(4) as pool:
        tracker_tick(pool=pool)
    generation.refresh_from_db()
    assert generation.state == Generation.State.EXPIRED
    assert _refunds(generation) == 1


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=wire_bodies
    | answers.map(as_wire)
    | answers.map(lambda a: {"id": "task-1", **a} if isinstance(a, dict) else a).map(as_wire)
)
@example(body=b"[" * 5000)  # nested past the parser's recursion limit
@example(body=b"9" * 5000)  # an integer past Python's digit limit
@example(
    body=b'{"id": "task-1", "status": "FAILED", "error": {"message": '
    + b"[" * 900
    + b"]" * 900
    + b"}}"
)
@example(body=b'{"id": "task-1", "status": "PROCESSING", "progress": 1e999}')
@example(body=b'{"id": "task-1", "status": "FAILED", "error": "\\ud800\\u0000<b>x</b>"}')
def test_a_signed_webhook_with_any_body_is_answered_never_with_a_server_error(
    followed, client, settings, body
):
    """Only a holder of the API key can sign a callback, but even a signed one may carry
    anything: it is applied like a poll or refused with 400, and the generation stays sane."""
    from generations.providers.apiframe import webhook_signature

    settings.APIFRAME_WEBHOOKS = True
    generation = _in_flight(followed, "apiframe")
    response = client.post(
        "/webhooks/apiframe/",
        data=body,
        content_type="application/json",
        headers={"X-Webhook-Signature": webhook_signature(api_key="k", body=body)},
    )
    assert response.status_code in (200, 400), response.status_code
    generation.refresh_from_db()
    if generation.state == Generation.State.FAILED:
        assert _refunds(generation) == 1
    else:
        assert generation.state in (Generation.State.QUEUED, Generation.State.RUNNING)
    Generation.objects.filter(pk=generation.pk).update(provider_task_id="done")
