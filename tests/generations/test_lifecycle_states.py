"""The state machine: every transition through one service, checked under a row lock, recorded;
final states are final."""

from __future__ import annotations

import pytest

from generations.models import Generation, GenerationEvent
from generations.services import IllegalTransition, generation_transition
from generations.tracker import tracker_run
from tests.factories import make_user
from tests.generations.test_lifecycle import _create

pytestmark = pytest.mark.django_db

State = Generation.State
PATH = ["submitting", "queued", "running", "succeeded"]


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled", "expired"])
def test_a_final_state_refuses_every_transition_and_changes_nothing(final):
    person = make_user(credits=50)
    generation = _create(person)
    steps = {"succeeded": PATH, "failed": ["failed"], "cancelled": ["cancelled"]}
    for step in steps.get(final, ["expired"]):
        generation_transition(generation_id=generation.id, to=step)
    events = GenerationEvent.objects.filter(generation=generation).count()
    entries = person.wallet.entries.count()

    for target in State.values:
        with pytest.raises(IllegalTransition):
            generation_transition(generation_id=generation.id, to=target, detail="nope")

    generation.refresh_from_db()
    assert generation.state == final
    assert GenerationEvent.objects.filter(generation=generation).count() == events
    assert person.wallet.entries.count() == entries  # never a second refund


def test_a_skipped_step_is_illegal_and_every_step_is_recorded_with_the_provider_word():
    generation = _create(make_user(credits=50))
    with pytest.raises(IllegalTransition):
        generation_transition(generation_id=generation.id, to="running")
    with pytest.raises(IllegalTransition):
        generation_transition(generation_id=generation.id, to="submitting", expect=["queued"])
    for step, word in zip(PATH, ["", "queued", "in_progress", "completed"], strict=True):
        generation_transition(generation_id=generation.id, to=step, provider_status=word)
    events = list(generation.events.values_list("from_state", "to_state", "provider_status"))
    assert events == [
        ("", "pending", ""),
        ("pending", "submitting", ""),
        ("submitting", "queued", "queued"),
        ("queued", "running", "in_progress"),
        ("running", "succeeded", "completed"),
    ]


def test_the_tracker_holds_no_worker_while_nothing_is_in_flight():
    assert tracker_run(run_seconds=30) == "nothing in flight"
