import pytest


@pytest.mark.services
@pytest.mark.django_db
def test_healthz_is_public_and_reports_a_missing_worker_as_unavailable(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is False
    assert body["checks"]["queue"]["broker"] == (
        "redis" if "redis" in settings.Q_CLUSTER else "orm"
    )
    assert "no worker" in body["checks"]["queue"]["error"]


@pytest.mark.django_db
def test_healthz_shows_no_secrets(client, settings):
    settings.MODELSTREAM_API_KEY = "sk-very-secret"
    text = client.get("/healthz").content.decode()
    assert "sk-very-secret" not in text
    assert settings.SECRET_KEY not in text


@pytest.mark.django_db
def test_healthz_counts_generations_lost_between_studio_and_provider_apart_from_failures(client):
    from datetime import timedelta

    from django.utils import timezone

    from generations.models import Generation
    from generations.services import generation_fail, generation_mark_lost, generation_transition
    from tests.factories import make_user
    from tests.generations.test_lifecycle import _create

    person = make_user(credits=100)
    lost = _create(person)
    generation_transition(generation_id=lost.id, to="submitting")
    generation_mark_lost(generation_id=lost.id)
    refused = _create(person)
    generation_fail(generation_id=refused.id, kind="refused", message="No.")
    _create(person)  # waiting
    followed = _create(person)
    Generation.objects.filter(pk=followed.id).update(
        state="running", next_poll_at=timezone.now() - timedelta(seconds=2)
    )

    section = client.get("/healthz").json()["checks"]["generations"]

    assert (section["lost_24h"], section["failed_24h"]) == (1, 1)
    assert (section["in_flight"], section["waiting"]) == (1, 1)
    assert section["ok"] is True and 1 < section["overdue_seconds"] < 60

    Generation.objects.filter(pk=followed.id).update(
        next_poll_at=timezone.now() - timedelta(minutes=10)
    )
    response = client.get("/healthz")
    section = response.json()["checks"]["generations"]
    assert response.status_code == 503 and section["ok"] is False
    assert "not being followed" in section["error"]
