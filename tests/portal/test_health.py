import pytest
import redis

from portal import health


@pytest.mark.django_db
def test_health_is_503_naming_workers_when_no_worker_answers(client, monkeypatch):
    monkeypatch.setattr(health, "count_workers", lambda: 0)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["workers"] == 0
    assert body["failing"] == ["workers"]


@pytest.mark.django_db
def test_health_is_503_naming_the_broker_when_redis_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("error")
    assert "broker" in body["failing"]


@pytest.mark.integration
def test_health_is_200_with_database_broker_and_a_live_worker(
    transactional_db, celery_worker, client, broker_url
):
    redis.Redis.from_url(broker_url).ping()
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {"database": "ok", "broker": "ok", "workers": body["workers"]}
    assert body["workers"] >= 1
