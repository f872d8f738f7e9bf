"""/healthz/live (the web container's health check: database and broker) and
/healthz/ready, also at /healthz (dashboard and monitoring: a worker on every queue)."""

import pytest
import redis

from portal import health


@pytest.mark.django_db
def test_readiness_is_503_naming_workers_when_no_worker_answers(client, monkeypatch):
    monkeypatch.setattr(health, "worker_queues", lambda: {})
    for url in ("/healthz", "/healthz/ready"):
        response = client.get(url)
        assert response.status_code == 503
        body = response.json()
        assert body["database"] == "ok"
        assert body["broker"] == "ok"
        assert body["workers"] == 0
        assert body["failing"] == ["workers"]


@pytest.mark.django_db
def test_liveness_does_not_depend_on_workers(client, monkeypatch):
    monkeypatch.setattr(health, "worker_queues", lambda: {})
    response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readiness_names_a_queue_nobody_consumes(client, monkeypatch):
    monkeypatch.setattr(health, "worker_queues", lambda: {"default@h": {"default"}})
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["queues"] == {"default": 1, "publish": 0}
    assert body["failing"] == ["queue publish"]


@pytest.mark.django_db
def test_liveness_is_503_naming_the_broker_when_redis_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    for url in ("/healthz/live", "/healthz/ready"):
        response = client.get(url)
        assert response.status_code == 503
        body = response.json()
        assert body["broker"].startswith("error")
        assert "broker" in body["failing"]


@pytest.mark.integration
def test_readiness_is_200_with_database_broker_and_a_live_worker(
    transactional_db, celery_worker, client, broker_url
):
    redis.Redis.from_url(broker_url).ping()
    response = client.get("/healthz/ready")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["workers"] >= 1
    assert body["queues"]["default"] >= 1 and body["queues"]["publish"] >= 1
    assert "failing" not in body


def test_compose_checks_the_web_container_with_liveness_only():
    from tests.portal.test_deployment import _compose

    check = " ".join(_compose()["services"]["web"]["healthcheck"]["test"])
    assert "/healthz/live" in check and "/healthz/ready" not in check
