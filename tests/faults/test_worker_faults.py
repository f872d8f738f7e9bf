"""Workers dying, being stopped and running out of time (F1–F5, F14, F15 in
docs/RELIABILITY.md). Every test ends with the job in the right final state and the
sandbox holding exactly one dataset with the right versions."""

import os
import signal
import time

import pytest

from datasets import kaggle
from datasets.models import JobState
from datasets.services import jobs
from datasets.tasks import job_publish
from tests.builders import actions, finished, sandbox_refs
from tests.conftest import wait_until
from tests.faults.conftest import approve_when_checked

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def state_is(job, *states, bytes_done=False):
    def check():
        job.refresh_from_db()
        return job.state in states and (not bytes_done or job.bytes_done > 0)

    return check


def sweep_until_requeued(settings, timeout=30):
    """What beat does every minute, with the test settings' short staleness (4 s)."""
    wait_until(lambda: jobs.jobs_sweep()["requeued"] or None, timeout=timeout, interval=0.5,
               message="the sweep never requeued the job")  # fmt: skip


def published_once(team, kaggle_sandbox, dataset, version=1):
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]
    state = kaggle.dataset_state(kaggle.credentials_for(team.account), dataset.ref)
    assert state["current_version_number"] == version


def big_upload(team, dataset, mib=3):
    return team.upload(dataset, "big.bin", os.urandom(mib * 1024 * 1024))


def test_f1_pool_child_killed_during_staging(team, kaggle_sandbox, own_workers, settings):
    worker = own_workers()
    dataset = team.dataset(slug="f1-killed-staging")
    # A large sparse file: staging reads and hashes 1.5 GB, long enough to be caught at it.
    big = team.storage / "big.raw"
    with open(big, "wb") as f:
        f.truncate(1536 * 1024 * 1024)
    team.add_storage(dataset, "big.raw")
    job = approve_when_checked(team, team.submit(dataset))
    wait_until(state_is(job, JobState.STAGING), timeout=30, interval=0.01)
    for pid in worker.pool_children():
        os.kill(pid, signal.SIGKILL)
    big.unlink()  # keep the retry cheap: the file is gone, so the retry fails cleanly
    sweep_until_requeued(settings)
    job = finished(job, timeout=60)
    assert job.state == JobState.FAILED and job.error_code == "source_missing"
    assert job.attempts == 2 and "job.requeued" in actions(job)
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []  # nothing half-staged published


def test_f2_whole_worker_killed_during_upload_then_restarted(
    team, kaggle_sandbox, own_workers, settings
):
    first = own_workers()
    dataset = team.dataset(slug="f2-worker-killed")
    big_upload(team, dataset)
    kaggle_sandbox.set_upload_bandwidth(1024 * 1024)
    job = team.approve(team.submit(dataset))
    wait_until(state_is(job, JobState.UPLOADING, bytes_done=True), timeout=60)
    first.stop(signal.SIGKILL)
    kaggle_sandbox.set_upload_bandwidth(None)
    own_workers(name="fault-worker-2")
    sweep_until_requeued(settings)
    job = finished(job, timeout=90)
    assert job.state == JobState.PUBLISHED, job.error_message
    published_once(team, kaggle_sandbox, dataset)


def test_f3_sigterm_during_upload_finishes_the_job_first(team, kaggle_sandbox, own_workers):
    worker = own_workers()
    dataset = team.dataset(slug="f3-deploy")
    big_upload(team, dataset, mib=2)
    kaggle_sandbox.set_upload_bandwidth(1024 * 1024)
    job = team.approve(team.submit(dataset))
    wait_until(state_is(job, JobState.UPLOADING, bytes_done=True), timeout=60)
    kaggle_sandbox.set_upload_bandwidth(None)
    worker.stop(signal.SIGTERM, timeout=90)  # a warm shutdown waits for the running task
    job = finished(job, timeout=30)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.attempts == 1
    published_once(team, kaggle_sandbox, dataset)


def test_f4_f5_redelivery_past_the_visibility_timeout_does_not_publish_twice(
    team, kaggle_sandbox, own_workers
):
    # The broker hands the message to another worker while the first still runs it
    # (the first also waits out a Retry-After longer than the visibility timeout).
    env = {"WHARF_BROKER_VISIBILITY_TIMEOUT": "2"}
    own_workers(env=env)
    own_workers(env=env, name="fault-worker-2")
    dataset = team.dataset(slug="f4-redelivered")
    big_upload(team, dataset, mib=2)
    kaggle_sandbox.set_upload_bandwidth(512 * 1024)
    kaggle_sandbox.inject_fault("CreateDataset", "429", retry_after=3)
    job = team.approve(team.submit(dataset))
    job = finished(job, timeout=90)
    kaggle_sandbox.set_upload_bandwidth(None)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.attempts == 1  # the redelivered message found nothing to claim
    published_once(team, kaggle_sandbox, dataset)


def limits(monkeypatch, soft, hard):
    """Time limits travel in the task message, set by the sender from its settings.
    (Celery schedules the hard limit after the soft one: the soft limit is what fires.)"""
    monkeypatch.setattr(job_publish, "soft_time_limit", soft)
    monkeypatch.setattr(job_publish, "time_limit", hard)
    monkeypatch.setattr(job_publish, "_exec_options", None)  # Celery caches them


def test_f15_a_job_that_crashes_its_worker_every_time_ends_failed(
    team, kaggle_sandbox, own_workers, settings
):
    settings.JOB_MAX_ATTEMPTS = 2
    worker = own_workers()
    dataset = team.dataset(slug="f15-always-crashing")
    big_upload(team, dataset, mib=4)
    kaggle_sandbox.set_upload_bandwidth(256 * 1024)
    job = team.approve(team.submit(dataset))
    try:
        for attempt in (1, 2):
            # The pool child dies mid-upload each time, as on a poison input.
            wait_until(lambda n=attempt: state_is(job, JobState.UPLOADING)() and
                       job.attempts == n, timeout=60)  # fmt: skip
            for pid in worker.pool_children():
                os.kill(pid, signal.SIGKILL)
            time.sleep(settings.JOB_STALE_AFTER + 1)
            counts = jobs.jobs_sweep()
            assert counts["requeued" if attempt == 1 else "failed"] == 1, counts
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "worker_lost"
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []


def test_f14_the_soft_time_limit_fails_the_job_with_its_reason(
    team, kaggle_sandbox, own_workers, monkeypatch
):
    limits(monkeypatch, 3, 60)
    own_workers()
    dataset = team.dataset(slug="f14-soft-limit")
    big_upload(team, dataset, mib=3)
    kaggle_sandbox.set_upload_bandwidth(256 * 1024)
    try:
        job = finished(team.approve(team.submit(dataset)), timeout=60)
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)
    assert job.state == JobState.FAILED and job.error_code == "time_limit", job.worker
    time.sleep(1)  # the killed client must not finish the upload on its own
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []
