"""The fault matrix: every row of docs/simulator.md's fault table, crossed with both models, with
a real qcluster doing the work and the simulator (fast mode) throwing the fault.

For each cell: the generation ends in the row's state, its page says what the row says the
person sees, the ledger holds exactly one charge and at most one refund (a refund exactly when
the generation ended without a video), and the simulator made no duplicate job. The cells of
a phase run at once (every generation created, then every one awaited), so the whole matrix
takes well under a minute of waiting:

- phase A, webhooks off (the default): every row but the two below;
- phase B: `submit.error=always` pauses the provider (its circuit breaker), which would hold
  back every other cell of that provider, so it runs alone;
- phase C, with `APIFRAME_WEBHOOKS` on: the callback rows.

The cluster runs with short timings for the duration (download cap 2 s, retries 0.3 s apart,
reads at least every second, no in-flight limit) and the stack's usual cluster comes back
afterwards. tests/simulator/test_outcomes.py proves the same rows one by one in-process.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pytest
from django.test import Client

from generations.models import Generation
from generations.providers.health import breaker_reset, breaker_state
from tests.factories import make_user
from tests.integration.lifecycle import (
    MODELS,
    create,
    ledger_kinds,
    page,
    visible_text,
    wait_final,
)
from tests.live_stack import LiveStack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MATRIX_ENV = {
    "STUDIO_MAX_IN_FLIGHT_PER_USER": "0",
    "STUDIO_RESULT_DOWNLOAD_SECONDS": "2",
    "STUDIO_RESULT_RETRY_SECONDS": "0.3",
    "STUDIO_POLL_MAX_INTERVAL": "1",
    "STUDIO_Q_WORKERS": "6",
}
EXPIRES = 10.0  # seconds from creation to the deadline, for the rows that end there
TOO_LONG = "It took too long and was stopped; your credits were refunded."
STORE_FAILED = "The finished video could not be copied into the studio:"


@dataclass(frozen=True)
class Row:
    """One row of the fault table: what is done to the request, and how it must end."""

    name: str
    markers: str  # sim: markers in the prompt (the simulator's per-request faults)
    state: str = "succeeded"
    sees: tuple[str, ...] = ()  # each shown on the page (for a video: the player)
    kind: str = ""  # the generation's error kind
    jobs: int = 1  # jobs the simulator creates for it (0: refused before any job exists)
    deadline: float | None = None
    no_reference_file: bool = False
    # The same row for the other provider's wire format, where the markers differ.
    apiframe_markers: str | None = None
    extra: dict = field(default_factory=dict)

    def prompt(self, model_key: str) -> str:
        markers = self.markers
        if model_key == "wan-2.6-flash" and self.apiframe_markers is not None:
            markers = self.apiframe_markers
        return f"{self.name}: a lighthouse at dusk {markers}".strip()


ROWS_A = [
    Row("none", ""),
    Row("latency", "sim:latency=0.2"),
    Row(
        "429 seconds",
        "sim:submit.rate_limit=1 sim:retry_after=2 sim:retry_after_form=seconds",
    ),
    Row("429 date", "sim:submit.rate_limit=1 sim:retry_after=2 sim:retry_after_form=date"),
    Row(
        "429 long",
        "sim:submit.rate_limit=always sim:retry_after=90",
        state="expired",
        sees=(TOO_LONG,),
        kind="expired",
        jobs=0,
        deadline=EXPIRES,
    ),
    Row("5xx twice", "sim:submit.error=2 sim:error_status=502"),
    Row(
        "submit timeout",
        "sim:submit.timeout=always sim:timeout_seconds=2",
        state="failed",
        sees=("The provider did not answer in time, so the studio cannot know the outcome.",),
        kind="lost",
    ),
    Row(
        "submit malformed",
        "sim:submit.malformed=always",
        state="failed",
        sees=("The provider answered something the studio could not read.",),
        kind="lost",
    ),
    Row(
        "refused",
        "sim:reject=metadata.parameters.resolution",
        apiframe_markers="sim:reject=wanParams.resolution",
        state="failed",
        sees=("The provider refused this request:", "is not accepted for this model."),
        kind="refused",
        jobs=0,
        extra={"param": "resolution"},
    ),
    *[
        Row(
            f"account {status}",
            f"sim:account={status}",
            state="failed",
            sees=("The studio could not use this provider right now.",),
            kind="account",
            jobs=0,
            extra={"not_shown": ("API key", "out of credit", "Your account")},
        )
        for status in (401, 402, 403)
    ],
    Row("read 5xx", "sim:read.error=4"),
    Row("read 429", "sim:read.rate_limit=1 sim:retry_after=2"),
    Row("read timeout", "sim:read.timeout=1 sim:timeout_seconds=1"),
    Row("read malformed twice", "sim:read.malformed=2"),
    Row(
        "read malformed always",
        "sim:read.malformed=always",
        state="failed",
        sees=("The provider keeps answering something the studio cannot read.",),
        kind="provider",
    ),
    Row(
        "task fails",
        "sim:fail",
        state="failed",
        sees=("The content was flagged by the provider's safety system.",),
        kind="provider",
    ),
    Row("stall that ends", "sim:stall=1.5"),
    Row(
        "stall forever",
        "sim:stall",
        state="expired",
        sees=(TOO_LONG,),
        kind="expired",
        deadline=EXPIRES,
    ),
    Row(
        "never starts",
        "sim:never",
        state="expired",
        sees=(TOO_LONG,),
        kind="expired",
        deadline=EXPIRES,
    ),
    Row(
        "reference unreachable",
        "",
        state="failed",
        sees=("Could not download the file:",),
        kind="provider",
        no_reference_file=True,
    ),
    Row(
        "result 404",
        "sim:result=404",
        state="failed",
        sees=(STORE_FAILED,),
        kind="download",
        extra={"attempts": 4},
    ),
    Row(
        "result html",
        "sim:result=html",
        state="failed",
        sees=(STORE_FAILED, "text/html"),
        kind="download",
        extra={"attempts": 1},
    ),
    Row(
        "result garbage",
        "sim:result=garbage",
        state="failed",
        sees=(STORE_FAILED,),
        kind="download",
        extra={"attempts": 1, "any_of": ("not a readable video", "no video stream")},
    ),
    Row(
        "result too slow",
        "sim:result=slow sim:result_rate=4000",
        state="failed",
        sees=(STORE_FAILED, "Fetching took too long."),
        kind="download",
        extra={"attempts": 4},
    ),
    Row("result slow within the cap", "sim:result=slow sim:result_rate=400000"),
    Row("dashscope words", "sim:statuses=dashscope"),
    Row("lower-case words", "sim:statuses=lower"),
    Row("unknown words", "sim:statuses=odd"),
    Row("video_url key", "sim:url_key=video_url"),
    Row("result as a string", "sim:result_shape=string"),
    Row(
        "failure as a string",
        "sim:fail=nsfw sim:error_shape=string",
        state="failed",
        sees=("The provider could not generate this video (nsfw).",),
        kind="provider",
    ),
]


def _cells(rows: list[Row]) -> list[tuple[Row, str]]:
    return [(row, model_key) for row in rows for model_key in MODELS]


def _start(cells: list[tuple[Row, str]]) -> list[tuple[Row, str, Generation]]:
    """Create every cell's generation (each for a person of its own), all at once."""
    started = []
    for row, model_key in cells:
        owner = make_user(credits=500)
        generation = create(
            owner,
            model_key,
            row.prompt(model_key),
            deadline_seconds=row.deadline,
            without_reference_file=row.no_reference_file,
        )
        started.append((row, model_key, generation))
    return started


def _check(row: Row, model_key: str, generation: Generation) -> list[str]:
    """What is wrong with one finished cell, as readable lines (empty when it is right)."""
    cell = f"{row.name} × {model_key}"
    problems = []
    if generation.state != row.state:
        problems.append(
            f"{cell}: {generation.state} ({generation.error_kind}: "
            f"{generation.error_message!r}), expected {row.state}"
        )
        return problems
    if row.kind and generation.error_kind != row.kind:
        problems.append(f"{cell}: error kind {generation.error_kind}, expected {row.kind}")
    markup, text = page(generation)
    plays = bool(generation.video) and f'src="/generations/{generation.id}/video/"' in markup
    if row.state == "succeeded" and not plays:
        problems.append(f"{cell}: the page does not play the stored video")
    for words in row.sees:
        if words not in text:
            problems.append(f"{cell}: the page does not say {words!r}")
    if "any_of" in row.extra and not any(w in text for w in row.extra["any_of"]):
        problems.append(f"{cell}: the page says none of {row.extra['any_of']}")
    for words in row.extra.get("not_shown", ()):
        if words in text:
            problems.append(f"{cell}: the page shows {words!r} to the person")
    if row.state != "succeeded" and "Try again" not in text:
        problems.append(f"{cell}: no way to try again")
    if "param" in row.extra:
        if generation.error_param != row.extra["param"]:
            problems.append(f"{cell}: refusal names {generation.error_param!r}, not the field")
        problems += _fix_and_try_again(cell, generation, markup, row.extra["param"])
    if "attempts" in row.extra and generation.result_attempts != row.extra["attempts"]:
        problems.append(f"{cell}: {generation.result_attempts} download attempts")
    expected = ["charge"] if row.state == "succeeded" else ["charge", "refund"]
    if ledger_kinds(generation) != expected:
        problems.append(f"{cell}: ledger {ledger_kinds(generation)}, expected {expected}")
    return problems


def _fix_and_try_again(cell: str, generation: Generation, markup: str, name: str) -> list[str]:
    """ "Fix and try again" opens the create page with the provider's refusal on its field."""
    link = re.search(r'href="([^"]+)">Fix and try again<', markup)
    if not link:
        return [f"{cell}: no 'Fix and try again' link"]
    client = Client()
    client.force_login(generation.owner)
    create = client.get(html.unescape(link.group(1))).content.decode()
    error = re.search(rf'<p class="field-error" id="id_{name}_error">([^<]*)</p>', create)
    if not error or "is not accepted for this model" not in html.unescape(error.group(1)):
        return [f"{cell}: the create page does not show the refusal beside {name}"]
    return []


def _run_phase(stack: LiveStack, rows: list[Row], *, timeout: float) -> dict:
    before = stack.simulator_stats()
    started = _start(_cells(rows))
    done = wait_final([g.id for _, _, g in started], timeout=timeout)
    after = stack.simulator_stats()
    problems = []
    for row, model_key, generation in started:
        problems += _check(row, model_key, done[str(generation.id)])
    jobs = sum(row.jobs for row, _, _ in started)
    if after["submits"] - before["submits"] != jobs:
        problems.append(
            f"the simulator made {after['submits'] - before['submits']} jobs, not {jobs}"
        )
    if after["duplicate_submits"] != before["duplicate_submits"]:
        problems.append("the simulator saw a duplicate submit")
    assert not problems, "\n".join(problems)
    return {"before": before, "after": after, "generations": done}


@pytest.fixture(scope="module")
def matrix_stack(live_stack):
    with live_stack.cluster_with(**MATRIX_ENV):
        yield live_stack


@pytest.fixture(autouse=True)
def _providers_not_paused():
    """Every test starts, and leaves the stack, with no provider paused."""
    for provider in ("modelstream", "apiframe"):
        breaker_reset(provider=provider)
    yield
    for provider in ("modelstream", "apiframe"):
        breaker_reset(provider=provider)


def test_every_fault_row_ends_as_the_table_says_for_both_models(matrix_stack, settings):
    settings.STUDIO_PUBLIC_URL = matrix_stack.url
    result = _run_phase(matrix_stack, ROWS_A, timeout=150)

    stats = result["after"]["faults"]
    for fault in ("submit.rate_limit", "submit.error", "read.error", "read.malformed"):
        assert stats.get(fault, 0) > result["before"]["faults"].get(fault, 0), fault
    # Nothing is left half-done: no generation still holds a claim on its result.
    assert not Generation.objects.filter(
        pk__in=list(result["generations"]), result_claimed_until__isnull=False
    ).exclude(state="failed")


def test_a_provider_that_keeps_failing_is_paused_and_its_work_waits_then_expires(
    matrix_stack, settings
):
    """`submit.error=always`: after a run of failures the provider is paused; its generations,
    and new ones, wait unsent with a banner on the create page, and end refunded at their
    deadline. Each provider's breaker is its own, so both models run at once."""
    settings.STUDIO_PUBLIC_URL = matrix_stack.url
    before = matrix_stack.simulator_stats()
    # Five failures in a row pause a provider (STUDIO_BREAKER_THRESHOLD) for 30 s; every
    # deadline here comes before that pause is over, so no trial runs meanwhile.
    down = Row("provider down", "sim:submit.error=always sim:error_status=503", deadline=16)
    failing = _start(_cells([down] * 5))

    def paused():
        return all(breaker_state(provider=p).is_open() for p in ("modelstream", "apiframe"))

    wait_until(paused, timeout=15, interval=0.1, what="both providers to be paused")
    person = make_user(credits=100)
    client = Client()
    client.force_login(person)
    banner = visible_text(client.get("/").content.decode())
    assert "ModelStream is not answering right now" in banner
    assert "Apiframe is not answering right now" in banner
    waiting = [create(person, m, "made while paused", deadline_seconds=6) for m in MODELS]

    done = wait_final([g.id for _, _, g in failing] + [g.id for g in waiting], timeout=60)

    for generation in waiting:
        ended = done[str(generation.id)]
        assert ended.state == "expired", (ended.state, ended.error_message)
        assert ended.events.filter(to_state="submitting").count() == 0  # never sent
        assert TOO_LONG in page(ended)[1]
        assert ledger_kinds(ended) == ["charge", "refund"]
    for _, _, generation in failing:
        ended = done[str(generation.id)]
        assert ended.state == "expired" and ledger_kinds(ended) == ["charge", "refund"]
    after = matrix_stack.simulator_stats()
    assert after["submits"] == before["submits"]  # a 5xx creates no job
    assert after["duplicate_submits"] == before["duplicate_submits"]


@pytest.fixture
def webhook_stack(matrix_stack):
    with matrix_stack.cluster_with(**MATRIX_ENV, APIFRAME_WEBHOOKS="1"):
        yield matrix_stack


def test_with_webhooks_on_a_callback_finishes_the_job_and_a_bad_one_is_refused(
    webhook_stack, settings
):
    settings.STUDIO_PUBLIC_URL = webhook_stack.url
    before = webhook_stack.simulator_stats()
    # Apiframe's reads are held off for 30 s (429), so only its callback can finish it in
    # time; ModelStream has no callbacks, and the setting changes nothing for it.
    rows = [
        Row(
            "webhooks on",
            "",
            apiframe_markers="sim:read.rate_limit=always sim:retry_after=30",
        ),
        Row("badly signed callbacks", "sim:webhook=bad_signature"),
    ]
    result = _run_phase(webhook_stack, rows, timeout=25)
    after = result["after"]
    assert after["webhooks_sent"] > before["webhooks_sent"]
    assert after["webhooks_failed"] > before["webhooks_failed"]  # refused: bad signature
    called_back = [
        g
        for g in result["generations"].values()
        if g.model_key == "wan-2.6-flash" and g.prompt.startswith("webhooks on")
    ]
    assert called_back and all(g.state == "succeeded" for g in called_back)
