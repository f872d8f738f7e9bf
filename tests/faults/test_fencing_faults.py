"""Fenced job ownership (F17–F22 in docs/RELIABILITY.md): each numbered race of issue 17,
and the resume path's retries. The unit-level halves of F17, F19 and F20 are in
tests/datasets/test_jobs.py."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.models import F

from datasets import kaggle, publishing
from datasets.kaggle.child import CLIENT_NAME
from datasets.models import Dataset, JobState, PublishJob
from datasets.services import jobs
from datasets.services.jobs import job_enqueue
from tests.builders import actions, finished, sandbox_refs
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def client_children(worker) -> list[int]:
    """The Kaggle client processes the worker's pool children run, holding credentials
    (a warm spare, named kaggle-spare, holds none and is not a job's client)."""
    pids = []
    for pid in worker.pool_children():
        for path in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                children = [int(p) for p in path.read_text().split()]
            except FileNotFoundError:  # the thread ended meanwhile
                continue
            pids += [p for p in children if _comm(p) == CLIENT_NAME.decode()]
    return pids


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def uploading(job):
    def check():
        job.refresh_from_db()
        return job.state == JobState.UPLOADING and job.bytes_done > 0

    return check


def test_f17_a_worker_fenced_off_stops_and_kills_its_client(team, kaggle_sandbox, own_workers):
    """Race 1, end to end: the sweep gave the job to another attempt (simulated by the
    attempt number moving on); worker A notices within seconds, kills its client child,
    and writes nothing more."""
    worker = own_workers()
    dataset = team.dataset(slug="f17-fenced-off")
    team.upload(dataset, "big.bin", os.urandom(3 * 1024 * 1024))
    kaggle_sandbox.set_upload_bandwidth(256 * 1024)
    job = team.approve(team.submit(dataset))
    wait_until(uploading(job), timeout=60, message="the upload never started")
    assert client_children(worker), "no client child while uploading"
    PublishJob.objects.filter(pk=job.pk).update(attempts=F("attempts") + 1)  # B claimed it
    fenced_at = time.monotonic()
    wait_until(lambda: not client_children(worker), timeout=10, interval=0.1,
               message="the fenced-off worker's client kept running")  # fmt: skip
    assert time.monotonic() - fenced_at < 5
    kaggle_sandbox.set_upload_bandwidth(None)
    job.refresh_from_db()
    before = job.bytes_done
    time.sleep(2)
    job.refresh_from_db()
    assert job.state == JobState.UPLOADING and job.bytes_done == before  # A wrote nothing
    assert "job.failed" not in actions(job) and "job.cancelled" not in actions(job)
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []
    # Attempt "B" (here: a requeue) publishes it, once.
    PublishJob.objects.filter(pk=job.pk).update(state=JobState.QUEUED)
    job_enqueue(job.pk)
    job = finished(job, timeout=60)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]


def test_f18_the_heartbeat_survives_database_errors(team, monkeypatch):
    """Race 2: an OperationalError (PostgreSQL restart, SQLite locked) no longer ends the
    heartbeat thread for good."""
    dataset = team.dataset(slug="f18-pulse-survives")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    job = team.approve(team.submit(dataset))
    job = finished(job, timeout=60)  # the session worker publishes it; reuse the row
    PublishJob.objects.filter(pk=job.pk).update(state=JobState.UPLOADING, heartbeat_at=None)
    real_watch, failures = jobs.job_watch, {"left": 3}

    def flaky_watch(job_id, *, attempt):
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("database is locked")
        return real_watch(job_id, attempt=attempt)

    monkeypatch.setattr(jobs, "job_watch", flaky_watch)
    pulse = publishing.Pulse(job.pk, job.attempts)
    pulse.start()
    try:
        time.sleep(5)
        assert pulse.is_alive() and failures["left"] == 0
        first = PublishJob.objects.get(pk=job.pk).heartbeat_at
        assert first is not None
        pulse.add(10)
        wait_until(lambda: PublishJob.objects.get(pk=job.pk).bytes_done == 10, timeout=5)
        assert not pulse.lost
    finally:
        pulse.stop()
        PublishJob.objects.filter(pk=job.pk).update(state=JobState.PUBLISHED)


def test_f21_an_old_attempts_staging_folder_is_kept_while_it_runs(settings, tmp_path):
    """Race 5: a new attempt no longer deletes the folder an old one may still upload
    from; it goes once the old attempt's process let go of it."""
    settings.STAGING_ROOT = str(tmp_path / "staging")
    old = publishing.AttemptFolder(4242, 1).__enter__()
    (old.path / "files").mkdir()
    (old.path / "files" / "big.bin").write_bytes(b"x" * 10)
    new = publishing.AttemptFolder(4242, 2).__enter__()
    try:
        assert publishing.remove_dead_attempts(4242, keep=new.path) == 0
        assert (old.path / "files" / "big.bin").exists()
        old.__exit__(None, None, None)  # the old attempt's process ended
        assert publishing.remove_dead_attempts(4242, keep=new.path) == 1
        assert not old.path.exists() and new.path.exists()
    finally:
        new.__exit__(None, None, None)


def test_f22_the_resume_path_retries_like_the_rest(team, kaggle_sandbox):
    """Race 6: a 503 while a resumed attempt looks whether Kaggle already has the version
    is retried, not fatal."""
    dataset = team.dataset(slug="f22-resume-retries")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    first = finished(team.approve(team.submit(dataset)))
    assert first.state == JobState.PUBLISHED, first.error_message
    Dataset.objects.filter(pk=dataset.pk).update(latest_version=None, status="approved")
    PublishJob.objects.filter(pk=first.pk).update(
        state=JobState.QUEUED, kaggle_version=None, finished_at=None, kaggle_version_before=None
    )
    kaggle_sandbox.inject_fault("GetDatasetStatus", "503", 2)
    job_enqueue(first.pk)
    job = finished(first, timeout=60)
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    assert "job.retrying" in actions(job)
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]
    state = kaggle.dataset_state(kaggle.credentials_for(team.account), dataset.ref)
    assert state["current_version_number"] == 1


def test_f19_a_cancelled_job_whose_worker_died_is_cancelled_by_the_sweep(
    team, kaggle_sandbox, own_workers
):
    """Race 3, end to end: cancel asked, the worker killed before it saw it."""
    worker = own_workers()
    dataset = team.dataset(slug="f19-cancel-then-died")
    team.upload(dataset, "big.bin", os.urandom(3 * 1024 * 1024))
    kaggle_sandbox.set_upload_bandwidth(256 * 1024)
    job = team.approve(team.submit(dataset))
    wait_until(uploading(job), timeout=60, message="the upload never started")
    children = worker.pool_children()
    for pid in children:
        os.kill(pid, signal.SIGSTOP)  # frozen: it cannot see the cancel
    jobs.job_cancel(job, actor=team.grace)
    for pid in children:
        os.kill(pid, signal.SIGKILL)  # its client child dies with it (PDEATHSIG)
    kaggle_sandbox.set_upload_bandwidth(None)
    time.sleep(5)  # the test settings' staleness (4 s)
    wait_until(lambda: jobs.jobs_sweep()["cancelled"] or None, timeout=30, interval=0.5)
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []
    # The dataset is free for a new job again.
    assert not PublishJob.objects.filter(dataset=dataset, state__in=JobState.active()).exists()


def test_f20_sweeps_racing_a_live_job_never_publish_twice(team, kaggle_sandbox, settings):
    """Race 4 under load: a sweep every 50 ms with a 1 s staleness window against a job
    whose heartbeat lands every second. Whether a sweep wins (the attempt is fenced off
    and the job runs again) or the heartbeat does, Kaggle gets one dataset, version 1."""
    settings.JOB_STALE_AFTER = 1
    dataset = team.dataset(slug="f20-sweep-race")
    team.upload(dataset, "big.bin", os.urandom(2 * 1024 * 1024))
    kaggle_sandbox.set_upload_bandwidth(512 * 1024)
    job = team.approve(team.submit(dataset))
    stop = threading.Event()
    counts = {"requeued": 0}

    def sweeping():
        from django.db import connection

        try:
            while not stop.is_set():
                current = PublishJob.objects.get(pk=job.pk)
                if current.state in JobState.running():
                    counts["requeued"] += jobs.jobs_sweep()["requeued"]
                time.sleep(0.05)
        finally:
            connection.close()

    thread = threading.Thread(target=sweeping)
    thread.start()
    try:
        job = finished(job, timeout=90)
    finally:
        stop.set()
        thread.join()
        kaggle_sandbox.set_upload_bandwidth(None)
    # A 1 s window against a 1 s heartbeat: on a busy machine the sweep may win every
    # attempt, and the job then fails (JOB_MAX_ATTEMPTS). Either way, never twice.
    assert job.state in (JobState.PUBLISHED, JobState.FAILED), job.state
    refs = sandbox_refs(kaggle_sandbox, dataset.slug)
    assert refs in ([], [dataset.ref]), refs
    if job.state == JobState.FAILED:
        assert "stopped answering" in job.error_message, job.error_message
    else:
        assert refs == [dataset.ref]
    if refs:
        state = kaggle.dataset_state(kaggle.credentials_for(team.account), dataset.ref)
        assert state["current_version_number"] in (None, 1), state
