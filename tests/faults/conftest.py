"""Fault tests run their own worker processes (killed, restarted, given short limits);
the session's worker stops taking publish jobs meanwhile, so the job goes where the
test expects."""

import signal

import pytest

from portal.celery import app as celery_app
from tests.builders import PublishingTeam
from tests.conftest import WorkerProcess


@pytest.fixture
def team(tmp_path, kaggle_sandbox, celery_worker):
    kaggle_sandbox.clear_faults()
    kaggle_sandbox.set_upload_bandwidth(None)
    yield PublishingTeam(tmp_path / "storage")
    kaggle_sandbox.clear_faults()
    kaggle_sandbox.set_upload_bandwidth(None)


@pytest.fixture
def own_workers(celery_worker, kaggle_sandbox, broker_url):
    """`start(env={...})` starts a worker of the test's own; the session worker pauses."""
    celery_app.control.cancel_consumer("publish", destination=[celery_worker.name], reply=True)
    started: list[WorkerProcess] = []

    def start(env=None, broker=None, name="fault-worker") -> WorkerProcess:
        worker = WorkerProcess(broker or broker_url, kaggle_sandbox.url, env=env,
                               queues="publish", log_name=name)  # fmt: skip
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)
    celery_app.control.add_consumer("publish", destination=[celery_worker.name], reply=True)


def approve_when_checked(team, submission, timeout: float = 180):
    """Approves once the checks a submission starts (content scan, data checks) are done:
    on the gigabyte files some fault tests use they take a while."""
    import time

    from datasets.services.errors import Conflict

    deadline = time.monotonic() + timeout
    while True:
        try:
            return team.approve(submission)
        except Conflict as exc:
            waiting = exc.code in ("scan_pending", "data_checks_pending")
            if not waiting or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
