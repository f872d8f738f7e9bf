"""Cancel at each point of a publish (F23–F26 in docs/RELIABILITY.md): queued, staging,
uploading (the client child is killed, nothing is created), and after the create was
sent (refused with the reason; the job publishes)."""

import os
import time

import pytest

from datasets.models import JobState
from datasets.services import jobs
from datasets.services.errors import Conflict
from tests.builders import actions, finished, sandbox_refs
from tests.conftest import wait_until
from tests.faults.conftest import approve_when_checked
from tests.faults.test_fencing_faults import client_children, uploading

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_f23_cancel_while_queued_is_immediate(team, kaggle_sandbox, own_workers):
    dataset = team.dataset(slug="f23-cancel-queued")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    job = team.approve(team.submit(dataset))  # no worker takes publish jobs yet
    job = jobs.job_cancel(job, actor=team.grace)
    assert job.state == JobState.CANCELLED
    own_workers()  # the message is still in the queue: it finds nothing to claim
    time.sleep(3)
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED and job.attempts == 0
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []


def test_f24_cancel_while_staging_stops_it(team, kaggle_sandbox, own_workers):
    own_workers()
    dataset = team.dataset(slug="f24-cancel-staging")
    big = team.storage / "big.raw"
    with open(big, "wb") as f:
        f.truncate(1536 * 1024 * 1024)  # sparse: staging reads 1.5 GB, long enough
    team.add_storage(dataset, "big.raw")
    job = approve_when_checked(team, team.submit(dataset))

    def staging():
        job.refresh_from_db()
        return job.state == JobState.STAGING

    wait_until(staging, timeout=30, interval=0.01)
    jobs.job_cancel(job, actor=team.grace)
    asked = time.monotonic()
    job = finished(job, timeout=30)
    assert job.state == JobState.CANCELLED, f"{job.state}: {job.error_message}"
    assert time.monotonic() - asked < 10
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []


def test_f25_cancel_while_uploading_kills_the_client_and_creates_nothing(
    team, kaggle_sandbox, own_workers
):
    worker = own_workers()
    dataset = team.dataset(slug="f25-cancel-uploading")
    team.upload(dataset, "big.bin", os.urandom(3 * 1024 * 1024))
    kaggle_sandbox.set_upload_bandwidth(256 * 1024)
    try:
        job = team.approve(team.submit(dataset))
        wait_until(uploading(job), timeout=60, message="the upload never started")
        job = jobs.job_cancel(job, actor=team.grace)
        assert job.cancel_requested and job.state == JobState.UPLOADING
        asked = time.monotonic()
        job = finished(job, timeout=30)
        took = time.monotonic() - asked
        assert not client_children(worker)
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)
    assert job.state == JobState.CANCELLED, f"{job.state}: {job.error_message}"
    assert took < 5, f"the cancel took {took:.1f} s"
    assert job.publish_requested_at is None
    time.sleep(2)  # nothing finishes the upload on its own
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []
    assert "job.cancel_requested" in actions(job) and "job.cancelled" in actions(job)


def test_f26_cancel_after_the_create_was_sent_is_refused_with_the_reason(
    team, kaggle_sandbox, own_workers
):
    own_workers()
    dataset = team.dataset(slug="f26-cancel-too-late")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n" * 100)
    # Kaggle takes its time answering the create: the request is on its way.
    kaggle_sandbox.inject_fault("CreateDataset", "hang", 1, seconds=3)
    job = team.approve(team.submit(dataset))

    def requested():
        job.refresh_from_db()
        return job.publish_requested_at is not None

    wait_until(requested, timeout=60, interval=0.05)
    with pytest.raises(Conflict) as refused:
        jobs.job_cancel(job, actor=team.grace)
    assert "Kaggle is already creating the dataset" in refused.value.message
    job = finished(job, timeout=60)
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    assert not job.cancel_requested
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]


def test_the_job_page_shows_no_cancel_once_kaggle_acts(team, kaggle_sandbox, own_workers, client):
    own_workers()
    dataset = team.dataset(slug="page-cancel-too-late")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    kaggle_sandbox.inject_fault("CreateDataset", "hang", 1, seconds=4)
    job = team.approve(team.submit(dataset))

    def requested():
        job.refresh_from_db()
        return job.publish_requested_at is not None and job.state == JobState.UPLOADING

    wait_until(requested, timeout=60, interval=0.05)
    client.force_login(team.grace)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Kaggle is already creating the dataset" in page
    assert f"/jobs/{job.pk}/cancel/" not in page
    finished(job, timeout=60)
