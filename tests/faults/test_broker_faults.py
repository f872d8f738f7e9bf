"""The broker misbehaving (F6–F8 in docs/RELIABILITY.md): nothing approved is lost."""

import subprocess

import pytest
import redis
from celery import Celery

from datasets.models import JobState
from datasets.services import jobs
from datasets.tasks import job_publish
from portal.celery import app as celery_app
from portal.embedded_redis import start_embedded_redis, wait_for_port
from tests.builders import finished, sandbox_refs
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def approve_paused(team, dataset):
    """Approves while the session's worker does not consume: its message waits."""
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    return team.approve(team.submit(dataset))


def test_f6_queued_jobs_survive_a_redis_restart(team, kaggle_sandbox, own_workers, tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = start_embedded_redis(port, tmp_path / "redis", stdout=subprocess.DEVNULL)
    try:
        dataset = team.dataset(slug="f6-redis-restart")
        job = approve_paused(team, dataset)  # also sent to the session's Redis: unused here
        sender = Celery(broker=url, set_as_current=False)
        sender.conf.update(celery_app.conf.table(with_defaults=False))
        sender.conf.broker_url = url
        with sender.connection_for_write() as connection:
            job_publish.apply_async(args=[job.pk], connection=connection, queue="publish")
        server.terminate()  # redis-server writes its AOF on the way down
        server.wait(timeout=10)
        server = start_embedded_redis(port, tmp_path / "redis", stdout=subprocess.DEVNULL)
        wait_for_port(port, timeout=10)
        assert redis.Redis.from_url(url).llen("publish") == 1
        own_workers(broker=url)
        job = finished(job, timeout=60)
        assert job.state == JobState.PUBLISHED, job.error_message
        assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_f7_an_emptied_redis_loses_nothing_approved(
    team, kaggle_sandbox, own_workers, broker_url, settings
):
    dataset = team.dataset(slug="f7-redis-emptied")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    submission = team.submit(dataset)
    job = team.approve(submission)  # sent on commit; nobody consumes "publish" right now
    client = redis.Redis.from_url(broker_url)
    assert client.llen("publish") >= 1
    client.delete("publish")  # the message is gone, as after a FLUSHALL without AOF
    own_workers()
    settings.JOB_QUEUED_STALE_AFTER = 0
    assert jobs.jobs_sweep()["resent"] == 1
    job = finished(job, timeout=60)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]


def use_broker(url: str) -> None:
    """Points this process's Celery app at another broker (connection pools rebuilt)."""
    # kombu keeps one pool per broker URL: forgetting ours picks the pool for `url`.
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_f8_the_broker_down_at_approval_still_approves(
    team, kaggle_sandbox, own_workers, broker_url, settings, client
):
    dataset = team.dataset(slug="f8-broker-down")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    submission = team.submit(dataset)
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        client.force_login(team.grace)
        response = client.post(f"/review/{submission.pk}/approve/", {"note": "ok"})
    finally:
        use_broker(broker_url)
    assert response.status_code == 302  # the approval is committed, no error page
    job = submission.jobs.get()
    assert job.state == JobState.QUEUED and not job.task_id
    own_workers()
    settings.JOB_QUEUED_STALE_AFTER = 0
    assert jobs.jobs_sweep()["resent"] == 1
    job = finished(job, timeout=60)
    assert job.state == JobState.PUBLISHED, job.error_message
