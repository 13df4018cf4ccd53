import pytest


@pytest.mark.django_db
def test_healthz_is_public_and_reports_a_missing_worker_as_unavailable(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is False
    assert body["checks"]["queue"]["broker"] == "orm"
    assert "no worker" in body["checks"]["queue"]["error"]


@pytest.mark.django_db
def test_healthz_shows_no_secrets(client, settings):
    settings.MODELSTREAM_API_KEY = "sk-very-secret"
    text = client.get("/healthz").content.decode()
    assert "sk-very-secret" not in text
    assert settings.SECRET_KEY not in text
