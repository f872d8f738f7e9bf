"""Kaggle misbehaving and refusing, the staging disk filling up, two approvals at once
(F9–F13, F16 in docs/RELIABILITY.md)."""

import os
import subprocess
import threading
from pathlib import Path

import pytest
from django.db import connection

from datasets import kaggle
from datasets.models import Dataset, JobState, PublishJob
from datasets.services.errors import ServiceError
from datasets.services.jobs import job_enqueue
from datasets.services.review import submission_approve
from tests.builders import PublishingTeam, actions, finished, sandbox_refs
from tests.conftest import wait_until
from tests.factories import member
from tests.faults.conftest import approve_when_checked

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "faults",
    [
        [("CreateDataset", "502", 2), ("GetDatasetStatus", "503", 1)],
        [("GetDatasetStatus", "drop", 2), ("CreateDataset", "429", 1)],
        [("StartBlobUpload", "500", 1), ("GetDatasetStatus", "hang", 1)],
    ],
    ids=["502-503", "reset-429", "500-hang"],
)
def test_f9_transient_kaggle_faults_then_success(team, kaggle_sandbox, faults):
    dataset = team.dataset(slug=f"f9-{faults[0][1]}-{faults[1][1]}")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n" * 500)
    for method, kind, count in faults:
        kaggle_sandbox.inject_fault(method, kind, count, seconds=30 if kind == "hang" else None)
    job = finished(team.approve(team.submit(dataset)), timeout=120)
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    assert "job.retrying" in actions(job)
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]


def test_f10_a_dataset_created_by_an_earlier_attempt_is_not_created_again(team, kaggle_sandbox):
    dataset = team.dataset(slug="f10-created-earlier")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    first = finished(team.approve(team.submit(dataset)))
    assert first.state == JobState.PUBLISHED
    # As if that attempt had died right after Kaggle created the dataset: Wharf never
    # recorded the success, and the job is sent again.
    Dataset.objects.filter(pk=dataset.pk).update(latest_version=None, status="approved")
    PublishJob.objects.filter(pk=first.pk).update(
        state=JobState.QUEUED, kaggle_version=None, finished_at=None, kaggle_version_before=None
    )
    job_enqueue(first.pk)
    job = finished(first, timeout=60)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]
    state = kaggle.dataset_state(kaggle.credentials_for(team.account), dataset.ref)
    assert state["current_version_number"] == 1


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("bad-request", "rejected"),
        ("bad-key", "credentials_rejected"),
        ("other-owner", "forbidden"),
    ],
)
def test_f11_kaggle_refusals_fail_at_once_with_an_actionable_message(
    tmp_path, kaggle_sandbox, celery_worker, setup, code
):
    kaggle_sandbox.clear_faults()
    team = PublishingTeam(
        tmp_path / "storage",
        owner="someone-else" if setup == "other-owner" else "demo-lab",
        key="not-the-right-key-0000" if setup == "bad-key" else "wharf-demo-key",
    )
    dataset = team.dataset(slug=f"f11-{setup}")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    if setup == "bad-request":
        kaggle_sandbox.inject_fault("CreateDataset", "400", message="Invalid license.")
    job = finished(team.approve(team.submit(dataset)), timeout=60)
    kaggle_sandbox.clear_faults()
    assert job.state == JobState.FAILED and job.error_code == code
    assert "job.retrying" not in actions(job)
    assert job.error_message and "Traceback" not in job.error_message


@pytest.fixture
def tiny_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("F12 mounts a 1 MB tmpfs and needs root (CI runs as root)")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_f12_a_full_staging_disk_fails_cleanly(team, kaggle_sandbox, own_workers, tiny_disk):
    own_workers(env={"WHARF_STAGING_DIR": str(tiny_disk)})
    dataset = team.dataset(slug="f12-disk-full")
    team.upload(dataset, "big.bin", os.urandom(3 * 1024 * 1024))
    job = finished(team.approve(team.submit(dataset)), timeout=60)
    assert job.state == JobState.FAILED and job.error_code == "disk_full"
    assert list(Path(tiny_disk).iterdir()) == []  # no partial file left behind
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []


def test_f13_a_source_file_changed_during_the_copy_is_refused(team, kaggle_sandbox, own_workers):
    own_workers()
    dataset = team.dataset(slug="f13-changed-mid-copy")
    big = team.storage / "growing.raw"
    with open(big, "wb") as f:
        f.truncate(1024 * 1024 * 1024)
    team.add_storage(dataset, "growing.raw")
    job = approve_when_checked(team, team.submit(dataset))

    def grow():
        def staging():
            job.refresh_from_db()
            return job.state == JobState.STAGING

        wait_until(staging, timeout=30, interval=0.005)
        with open(big, "r+b") as f:
            f.seek(10)
            f.write(b"changed while being copied")

    writer = threading.Thread(target=grow)
    writer.start()
    job = finished(job, timeout=90)
    writer.join()
    assert job.state == JobState.FAILED and job.error_code == "source_changed", job.error_code
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []


def test_f16_two_engineers_approving_at_once_make_one_job(team, django_capture_on_commit_callbacks):
    dataset = team.dataset(slug="f16-two-approvals")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    submission = team.submit(dataset)
    other = member(team.lab, "engineer")
    results, barrier = [], threading.Barrier(2)

    def approve(actor):
        barrier.wait()
        try:
            results.append(submission_approve(submission, actor=actor))
        except ServiceError as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(a,)) for a in (team.grace, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs_made = [r for r in results if isinstance(r, PublishJob)]
    assert len(jobs_made) == 1, results
    assert PublishJob.objects.filter(dataset=dataset).count() == 1
    finished(jobs_made[0], timeout=60)
