"""The web never waits on a stalled broker (issue 17): with Redis frozen (SIGSTOP), a
submission and an approval return within about two seconds, their writes commit, and
the sweep sends the publish job once Redis is back."""

import contextlib
import os
import signal
import subprocess
import threading
import time

import pytest
import redis

from datasets.models import JobState, SubmissionState
from datasets.services import jobs
from portal import celery as wharf_celery
from portal.celery import app as celery_app
from portal.embedded_redis import start_embedded_redis
from tests.builders import Team
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def use_broker(url: str) -> None:
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def frozen_redis(tmp_path, broker_url, settings):
    """A redis-server of this test's own, and a way to freeze it like a stalled host."""
    port = free_port()
    process = start_embedded_redis(port, tmp_path / "redis", stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL = url
    use_broker(url)
    wharf_celery.breaker.reset()

    class Frozen:
        def freeze(self):
            os.kill(process.pid, signal.SIGSTOP)
            # A freeze of 15 s at most: an unbounded send then fails the timing asserts
            # instead of hanging the suite.
            self.timer = threading.Timer(15, self.thaw)
            self.timer.daemon = True
            self.timer.start()

        timer = None

        def thaw(self):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)

        client = redis.Redis.from_url(url)

    frozen = Frozen()
    yield frozen
    if frozen.timer:
        frozen.timer.cancel()
    frozen.thaw()
    process.terminate()
    process.wait(timeout=10)
    use_broker(broker_url)
    wharf_celery.breaker.reset()


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def test_a_frozen_broker_holds_neither_submission_nor_approval(
    transactional_db, tmp_path, frozen_redis, client, settings
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    team = Team(tmp_path / "storage")
    dataset = team.dataset(slug="frozen-broker")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    frozen_redis.freeze()

    submission, took_submit = timed(lambda: team.submit(dataset, notes="During the freeze."))
    assert took_submit < 3.0, f"submitting waited {took_submit:.1f} s on the frozen broker"
    submission.refresh_from_db()
    assert submission.state == SubmissionState.PENDING_REVIEW

    client.force_login(team.grace)
    wharf_celery.breaker.reset()  # the approval alone, as a fresh web process meets it
    response, took_approve = timed(
        lambda: client.post(f"/review/{submission.pk}/approve/", {"note": "ok"})
    )
    assert response.status_code == 302
    assert took_approve < 3.0, f"approving waited {took_approve:.1f} s on the frozen broker"
    job = submission.jobs.get()
    assert job.state == JobState.QUEUED and not job.task_id  # committed, not sent

    frozen_redis.thaw()
    wharf_celery.breaker.reset()
    settings.JOB_QUEUED_STALE_AFTER = 0
    assert jobs.jobs_sweep()["resent"] == 1
    assert frozen_redis.client.llen("publish") == 1
    job.refresh_from_db()
    assert job.task_id


def test_after_one_timeout_the_next_sends_fail_at_once(frozen_redis, settings):
    from datasets.tasks import jobs_sweep

    frozen_redis.freeze()
    _, first = timed(lambda: wharf_celery.enqueue(jobs_sweep))
    results, rest = timed(
        lambda: [wharf_celery.enqueue("datasets.tasks.jobs_sweep") for _ in range(5)]
    )
    assert results == [None] * 5
    assert 0.5 < first < 3.0
    assert rest < 0.5, "a request that enqueues twice must not wait twice"
    frozen_redis.thaw()
    wharf_celery.breaker.reset()
    assert wharf_celery.enqueue("datasets.tasks.jobs_sweep")
    assert frozen_redis.client.llen("default") == 1
