"""/healthz says how long the oldest queued job has waited, on either broker."""

import time

import pytest
from django_q.tasks import async_task


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_healthz_reports_the_age_of_the_oldest_queued_job(client):
    async_task("generations.tasks.tracker_ensure_task", task_name="queue-age-probe")
    time.sleep(0.3)
    queue = client.get("/healthz").json()["checks"]["queue"]
    assert queue["queued"] >= 1
    assert queue["oldest_queued_seconds"] is not None
    assert queue["oldest_queued_seconds"] >= 0.2
